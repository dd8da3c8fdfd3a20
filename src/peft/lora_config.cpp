#include "shadowpeft/peft/lora_config.h"

#include <fmt/format.h>

#include <cmath>

#include "config_reader.h"
#include "shadowpeft/core/error.h"

namespace shadowpeft::peft {
namespace fs = std::filesystem;
using namespace detail;

namespace {

constexpr const char* kOwnKeys[] = {"task_type", "target_modules", "exclude_modules", "r", "lora_alpha", "lora_dropout",
                                    "use_rslora", "fan_in_fan_out", "init_lora_weights", "layers_to_transform",
                                    "layers_pattern", "modules_to_save", "base_model_name_or_path", "inference_mode",
                                    "peft_type"};

// peft's LoRA variants, each off at the value peft writes for it; anything else changes the math.
struct Variant {
  const char* key;
  const char* off;  // the JSON of the value that leaves plain LoRA
  const char* what;
};
constexpr Variant kVariants[] = {
    {"bias", "\"none\"", "training biases"},
    {"use_dora", "false", "DoRA"},
    {"lora_bias", "false", "a bias on lora_B"},
    {"rank_pattern", "{}", "per-module ranks"},
    {"alpha_pattern", "{}", "per-module alphas"},
    {"use_qalora", "false", "QALoRA"},
    {"target_parameters", "null", "LoRA on parameters (target_parameters)"},
    {"layer_replication", "null", "layer replication"},
    {"trainable_token_indices", "null", "trainable tokens"},
    {"alora_invocation_tokens", "null", "activated LoRA"},
    {"megatron_config", "null", "Megatron layers"},
    {"use_bdlora", "null", "block-diagonal LoRA"},
    {"arrow_config", "null", "Arrow routing"},
    {"monteclora_config", "null", "MonteCLoRA"},
    {"velora_config", "null", "VeLoRA"},
    {"kasa_config", "null", "KaSA"},
};

// What peft writes for a LoraConfig with every variant off (peft 0.21), so that a fresh adapter's
// file reads like peft's.
io::Json default_other_keys() {
  io::Json json = {{"auto_mapping", nullptr}, {"corda_config", nullptr},     {"ensure_weight_tying", false},
                   {"eva_config", nullptr},   {"loftq_config", io::Json::object()}, {"lora_ga_config", nullptr},
                   {"megatron_core", "megatron.core"}, {"peft_version", "0.21.2"}, {"qalora_group_size", 16},
                   {"revision", nullptr}};
  for (const Variant& v : kVariants) json[v.key] = io::Json::parse(v.off);
  return json;
}

bool is_whole(double v) { return std::isfinite(v) && v == std::trunc(v) && std::abs(v) < 9e15; }

}  // namespace

double LoraConfig::scaling() const {
  return use_rslora ? lora_alpha / std::sqrt(static_cast<double>(r)) : lora_alpha / static_cast<double>(r);
}

bool LoraConfig::targets_all_linear() const {
  return target_modules && !target_modules->pattern && target_modules->names == std::vector<std::string>{"all-linear"};
}

void LoraConfig::validate() const {
  if (r < 1) throw ConfigError(fmt::format("LoraConfig.r must be >= 1, got {}", r));
  if (!std::isfinite(lora_alpha)) throw ConfigError(fmt::format("LoraConfig.lora_alpha must be a number, got {}", lora_alpha));
  if (!(lora_dropout >= 0.0 && lora_dropout < 1.0))
    throw ConfigError(fmt::format("LoraConfig.lora_dropout must be in [0, 1), got {}", lora_dropout));
  if (!target_modules)
    throw ConfigError("LoraConfig.target_modules is required (module names, a regular expression, or \"all-linear\")");
  if (target_modules->pattern && layers_to_transform)
    throw ConfigError("LoraConfig: `layers_to_transform` cannot be used when `target_modules` is a str.");
  if (target_modules->pattern && layers_pattern)
    throw ConfigError("LoraConfig: `layers_pattern` cannot be used when `target_modules` is a str.");
  if (layers_pattern && !layers_pattern->empty() && !layers_to_transform)
    throw ConfigError("LoraConfig: When `layers_pattern` is specified, `layers_to_transform` must also be specified.");
}

io::Json LoraConfig::to_json() const {
  io::Json json = other.empty() ? default_other_keys() : other;
  json["peft_type"] = "LORA";
  json["task_type"] = to_string(task_type);
  // "all-linear" is a string in peft's files, not a list.
  json["target_modules"] = targets_all_linear() ? io::Json("all-linear") : selector_json(target_modules);
  json["r"] = r;
  json["lora_alpha"] = is_whole(lora_alpha) ? io::Json(static_cast<int64_t>(lora_alpha)) : io::Json(lora_alpha);
  json["lora_dropout"] = lora_dropout;
  json["use_rslora"] = use_rslora;
  json["fan_in_fan_out"] = fan_in_fan_out;
  json["init_lora_weights"] = init_lora_weights;
  write_common_fields(*this, json);
  return json;
}

LoraConfig LoraConfig::from_json(const io::Json& json, const fs::path& source) {
  if (!json.is_object()) throw ConfigError(fmt::format("{}: must hold a JSON object", source.string()));
  const FieldReader f(json, source);
  require_peft_type(f, "LORA");
  for (const Variant& v : kVariants) {
    const auto it = json.find(v.key);
    if (it != json.end() && *it != io::Json::parse(v.off) && !(it->is_null() && std::string(v.off) == "{}"))
      throw UnsupportedError(fmt::format("{}: field '{}' is {}: {} is not supported (only plain LoRA, {} = {})",
                                         source.string(), v.key, it->dump(), v.what, v.key, v.off));
  }
  LoraConfig c;
  c.r = f.integer("r", c.r);
  c.lora_alpha = f.number("lora_alpha", c.lora_alpha);
  c.lora_dropout = f.number("lora_dropout", c.lora_dropout);
  c.use_rslora = f.boolean("use_rslora", c.use_rslora);
  c.fan_in_fan_out = f.boolean("fan_in_fan_out", c.fan_in_fan_out);
  if (const io::Json* v = f.get("init_lora_weights"); v && !v->is_boolean())
    throw UnsupportedError(fmt::format("{} is {}: only true (B = 0) and false (random) initialisations are supported",
                                       f.where("init_lora_weights"), v->dump()));
  c.init_lora_weights = f.boolean("init_lora_weights", c.init_lora_weights);
  read_common_fields(f, json, c, kOwnKeys);
  if (c.target_modules && c.target_modules->pattern == "all-linear")  // peft stores the keyword as a string
    c.target_modules = ModuleSelector{.names = {"all-linear"}};
  validate_read(c, source);
  return c;
}

void LoraConfig::save_pretrained(const fs::path& dir) const { write_adapter_config(dir, to_json()); }

LoraConfig LoraConfig::from_pretrained(const fs::path& dir) { return read_adapter_config<LoraConfig>(dir); }

}  // namespace shadowpeft::peft
