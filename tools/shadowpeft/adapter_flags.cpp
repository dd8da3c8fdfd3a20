#include "adapter_flags.h"

#include <fmt/format.h>

#include "shadowpeft/core/error.h"

namespace shadowpeft::cli {
namespace {

// A typo in a hand-written config must not silently train with a default: every key of the
// adapter_config section must be one the method's config file has.
void require_known_keys(const io::Json& config, const io::Json& defaults, const std::string& where, const char* method) {
  for (const auto& [key, value] : config.items())
    if (!defaults.contains(key))
      throw ConfigError(fmt::format("{}: unknown key '{}': not a field of the {} method's config file", where, key, method));
}

// A fresh shadow's injection scale when neither a flag nor --config sets it. The libraries default
// to 0.1; measured on real data (README "Choosing a method"), 0.5 trains faster and matches LoRA at
// the same budget where 0.1 falls behind.
constexpr double kFreshShadowAlpha = 0.5;

template <typename Field, typename Flag>
void set_if(Field& field, const std::optional<Flag>& flag) {
  if (flag) field = *flag;
}

}  // namespace

TrainConfigFile TrainConfigFile::read(const std::filesystem::path& path) {
  io::Json json = io::read_json_file(path);
  if (!json.is_object()) throw ConfigError(fmt::format("{}: must hold a JSON object of TrainingArguments fields", path.string()));
  TrainConfigFile out;
  out.adapter.file = path.string();
  if (json.contains("method")) {
    const io::Json& method = json["method"];
    if (!method.is_string() || (method != "shadow" && method != "peft-shadow" && method != "lora"))
      throw ConfigError(fmt::format("{}: field 'method' must be \"shadow\", \"peft-shadow\" or \"lora\", got {}", path.string(),
                                    method.dump()));
    out.adapter.method = method.get<std::string>();
    json.erase("method");
  }
  if (json.contains("adapter_config")) {
    if (!json["adapter_config"].is_object())
      throw ConfigError(fmt::format("{}: field 'adapter_config' must be an object of the method's config fields, got {}",
                                    path.string(), json["adapter_config"].dump()));
    out.adapter.adapter_config = json["adapter_config"];
    json.erase("adapter_config");
  }
  if (json.contains("shadow_loss_weight")) {
    if (!json["shadow_loss_weight"].is_number())
      throw ConfigError(fmt::format("{}: field 'shadow_loss_weight' must be a number, got {}", path.string(),
                                    json["shadow_loss_weight"].dump()));
    out.adapter.shadow_loss_weight = json["shadow_loss_weight"].get<double>();
    json.erase("shadow_loss_weight");
  }
  out.training_arguments = std::move(json);
  return out;
}

std::string AdapterFlags::first_shape_flag() const {
  const std::pair<bool, const char*> flags[] = {
      {num_shadow_layers.has_value(), "--num-shadow-layers"}, {injection_hidden_size.has_value(), "--injection-hidden-size"},
      {gate_hidden_size.has_value(), "--gate-hidden-size"}, {shadow_intermediate_size.has_value(), "--shadow-intermediate-size"},
      {shadow_num_attention_heads.has_value(), "--shadow-num-attention-heads"}, {shadow_hidden_size.has_value(), "--shadow-hidden-size"},
      {alpha.has_value(), "--alpha"}, {dropout.has_value(), "--dropout"}, {!target_modules.empty(), "--target-modules"},
      {!modules_to_save.empty(), "--modules-to-save"}, {lora_alpha.has_value(), "--lora-alpha"},
      {use_rslora, "--use-rslora"}, {file.adapter_config.has_value(), "adapter_config in --config"}};
  for (const auto& [set, name] : flags)
    if (set) return name;
  return "";
}

void AdapterFlags::no_lora_flags(const char* method) const {
  if (lora_alpha) throw ConfigError(fmt::format("--lora-alpha applies to --method lora (this is {})", method));
  if (use_rslora) throw ConfigError(fmt::format("--use-rslora applies to --method lora (this is {})", method));
}

template <typename Config>
Config AdapterFlags::fresh_peft_config(const char* peft_type, const char* method, peft::TaskType task) const {
  Config c;
  c.task_type = task;
  if (!file.adapter_config) return c;
  const std::string where = fmt::format("{}: adapter_config", file.file);
  require_known_keys(*file.adapter_config, Config{}.to_json(), where, method);
  io::Json json = *file.adapter_config;
  if (!json.contains("peft_type")) json["peft_type"] = peft_type;
  const std::string task_name = to_string(task);
  if (json.contains("task_type") && json["task_type"] != task_name)
    throw ConfigError(fmt::format("{}: task_type is {} but this is {} training (--task)", where, json["task_type"].dump(), task_name));
  json["task_type"] = task_name;
  return Config::from_json(json, where);
}

ShadowConfig AdapterFlags::shadow_peft() const {
  no_lora_flags("shadow");
  if (shadow_hidden_size)
    throw ConfigError("--shadow-hidden-size applies to --method peft-shadow (shadow-peft's implicit shadow has the base's "
                      "width; give a narrower explicit shadow with --shadow-model)");
  if (!target_modules.empty()) throw ConfigError("--target-modules applies to --method peft-shadow (shadow-peft wraps every block)");
  ShadowConfig c;
  if (file.adapter_config) {
    const std::string where = fmt::format("{}: adapter_config", file.file);
    require_known_keys(*file.adapter_config, ShadowConfig{}.to_json(), where, "shadow");
    c = ShadowConfig::from_json(*file.adapter_config, where);
  }
  if (!file.adapter_config || !file.adapter_config->contains("alpha")) c.alpha = kFreshShadowAlpha;
  set_if(c.num_shadow_layers, num_shadow_layers);
  set_if(c.injection_hidden_size, injection_hidden_size);
  set_if(c.gate_hidden_size, gate_hidden_size);
  set_if(c.alpha, alpha);
  set_if(c.dropout, dropout);
  if (shadow_intermediate_size) c.shadow_intermediate_size = shadow_intermediate_size;
  if (shadow_num_attention_heads) c.shadow_num_attention_heads = shadow_num_attention_heads;
  if (!modules_to_save.empty()) c.modules_to_save = modules_to_save;
  return c;
}

peft::ShadowConfig AdapterFlags::peft_shadow(peft::TaskType task, const std::string& shadow_model) const {
  no_lora_flags("peft-shadow");
  auto c = fresh_peft_config<peft::ShadowConfig>("SHADOW", "peft-shadow", task);
  set_if(c.r, injection_hidden_size);
  set_if(c.shadow_alpha, alpha);
  set_if(c.shadow_dropout, dropout);
  set_if(c.auxiliary_loss_weight, shadow_loss_weight);
  if (!shadow_loss_weight && file.shadow_loss_weight) c.auxiliary_loss_weight = *file.shadow_loss_weight;
  if (gate_hidden_size) c.update_hidden_size = gate_hidden_size;
  if (!shadow_model.empty()) {
    c.shadow_model = shadow_model;
  } else {
    if (num_shadow_layers) c.shadow_num_hidden_layers = num_shadow_layers;
    if (shadow_intermediate_size) c.shadow_intermediate_size = shadow_intermediate_size;
    if (shadow_num_attention_heads) c.shadow_num_attention_heads = shadow_num_attention_heads;
    if (shadow_hidden_size) c.shadow_hidden_size = shadow_hidden_size;
  }
  if (!target_modules.empty()) c.target_modules = peft::ModuleSelector{.names = target_modules};
  if (!modules_to_save.empty()) c.modules_to_save = modules_to_save;
  c.validate();
  return c;
}

peft::LoraConfig AdapterFlags::lora(peft::TaskType task) const {
  const std::pair<bool, const char*> shadow_only[] = {
      {num_shadow_layers.has_value(), "--num-shadow-layers"}, {gate_hidden_size.has_value(), "--gate-hidden-size"},
      {shadow_intermediate_size.has_value(), "--shadow-intermediate-size"},
      {shadow_num_attention_heads.has_value(), "--shadow-num-attention-heads"},
      {shadow_hidden_size.has_value(), "--shadow-hidden-size"}, {alpha.has_value(), "--alpha (use --lora-alpha)"},
      {shadow_loss_weight.has_value(), "--shadow-loss-weight"},
      {file.shadow_loss_weight.has_value(), "shadow_loss_weight in --config"}};
  for (const auto& [set, name] : shadow_only)
    if (set) throw ConfigError(fmt::format("{} applies to the shadow methods, not to --method lora", name));
  auto c = fresh_peft_config<peft::LoraConfig>("LORA", "lora", task);
  set_if(c.r, injection_hidden_size);
  set_if(c.lora_alpha, lora_alpha);
  set_if(c.lora_dropout, dropout);
  if (use_rslora) c.use_rslora = true;
  if (!target_modules.empty()) c.target_modules = peft::ModuleSelector{.names = target_modules};
  else if (!c.target_modules) c.target_modules = peft::ModuleSelector{.names = {"all-linear"}};
  if (!modules_to_save.empty()) c.modules_to_save = modules_to_save;
  c.validate();
  return c;
}

}  // namespace shadowpeft::cli
