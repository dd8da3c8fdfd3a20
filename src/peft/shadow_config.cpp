#include "shadowpeft/peft/shadow_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config_reader.h"
#include "shadowpeft/core/error.h"

namespace shadowpeft::peft {
namespace fs = std::filesystem;
using detail::FieldReader, detail::kAdapterConfigFile, detail::optional_json, detail::selector_json;

namespace {

// The keys this struct owns; every other key of adapter_config.json is kept in `other`.
constexpr const char* kOwnKeys[] = {
    "task_type", "target_modules", "exclude_modules", "r", "shadow_alpha", "shadow_dropout", "init_weights",
    "shadow_model", "shadow_num_hidden_layers", "shadow_hidden_size", "shadow_num_attention_heads",
    "shadow_intermediate_size", "share_embeddings", "update_hidden_size", "auxiliary_loss_weight",
    "layers_to_transform", "layers_pattern", "modules_to_save", "base_model_name_or_path", "inference_mode", "peft_type"};

}  // namespace

void ShadowConfig::validate() const {
  auto at_least = [](const char* field, int64_t v, int64_t min) {
    if (v < min) throw ConfigError(fmt::format("ShadowConfig.{} must be >= {}, got {}", field, min, v));
  };
  at_least("r", r, 1);
  if (!(shadow_dropout >= 0.0 && shadow_dropout < 1.0))
    throw ConfigError(fmt::format("ShadowConfig.shadow_dropout must be in [0, 1), got {}", shadow_dropout));
  if (auxiliary_loss_weight < 0)
    throw ConfigError(fmt::format("ShadowConfig.auxiliary_loss_weight must be >= 0, got {}", auxiliary_loss_weight));
  for (auto [field, v] : {std::pair{"shadow_num_hidden_layers", shadow_num_hidden_layers},
                          std::pair{"shadow_hidden_size", shadow_hidden_size},
                          std::pair{"shadow_num_attention_heads", shadow_num_attention_heads},
                          std::pair{"shadow_intermediate_size", shadow_intermediate_size},
                          std::pair{"update_hidden_size", update_hidden_size}})
    if (v) at_least(field, *v, 1);
  if (target_modules && target_modules->pattern && layers_to_transform)
    throw ConfigError("ShadowConfig: `layers_to_transform` cannot be used when `target_modules` is a str.");
  if (target_modules && target_modules->pattern && layers_pattern)
    throw ConfigError("ShadowConfig: `layers_pattern` cannot be used when `target_modules` is a str.");
  if (layers_pattern && !layers_pattern->empty() && !layers_to_transform)
    throw ConfigError("ShadowConfig: When `layers_pattern` is specified, `layers_to_transform` must also be specified.");
  if (!is_mirror()) {
    std::vector<std::string> set;
    if (shadow_num_hidden_layers) set.push_back("shadow_num_hidden_layers");
    if (shadow_hidden_size) set.push_back("shadow_hidden_size");
    if (shadow_num_attention_heads) set.push_back("shadow_num_attention_heads");
    if (shadow_intermediate_size) set.push_back("shadow_intermediate_size");
    if (!set.empty())
      throw ConfigError(fmt::format("ShadowConfig: explicit `shadow_model` checkpoints define their architecture; unset "
                                    "these mirror-only overrides: {}",
                                    fmt::join(set, ", ")));
  }
}

io::Json ShadowConfig::to_json() const {
  io::Json json = other;
  json["peft_type"] = "SHADOW";
  json["task_type"] = to_string(task_type);
  json["target_modules"] = selector_json(target_modules);
  json["exclude_modules"] = selector_json(exclude_modules);
  json["r"] = r;
  json["shadow_alpha"] = shadow_alpha;
  json["shadow_dropout"] = shadow_dropout;
  json["init_weights"] = init_weights;
  json["shadow_model"] = shadow_model;
  json["shadow_num_hidden_layers"] = optional_json(shadow_num_hidden_layers);
  json["shadow_hidden_size"] = optional_json(shadow_hidden_size);
  json["shadow_num_attention_heads"] = optional_json(shadow_num_attention_heads);
  json["shadow_intermediate_size"] = optional_json(shadow_intermediate_size);
  json["share_embeddings"] = share_embeddings;
  json["update_hidden_size"] = optional_json(update_hidden_size);
  json["auxiliary_loss_weight"] = auxiliary_loss_weight;
  json["layers_to_transform"] = layers_to_transform && layers_to_transform_is_one && layers_to_transform->size() == 1
                                    ? io::Json(layers_to_transform->front())
                                    : optional_json(layers_to_transform);
  json["layers_pattern"] = layers_pattern && layers_pattern_is_one && layers_pattern->size() == 1
                               ? io::Json(layers_pattern->front())
                               : optional_json(layers_pattern);
  json["modules_to_save"] = optional_json(modules_to_save);
  json["base_model_name_or_path"] = optional_json(base_model_name_or_path);
  json["inference_mode"] = inference_mode;
  for (const char* key : {"auto_mapping", "revision"})
    if (!json.contains(key)) json[key] = nullptr;
  return json;
}

ShadowConfig ShadowConfig::from_json(const io::Json& json, const fs::path& source) {
  if (!json.is_object()) throw ConfigError(fmt::format("{}: must hold a JSON object", source.string()));
  const FieldReader f(json, source);
  const std::string peft_type = f.string("peft_type", "");
  if (peft_type != "SHADOW")
    throw ConfigError(fmt::format("{}: peft_type is '{}', expected 'SHADOW'", source.string(), peft_type));
  ShadowConfig c;
  const std::string task = f.string("task_type", "CAUSAL_LM");
  if (task == "CAUSAL_LM") c.task_type = TaskType::CausalLM;
  else if (task == "SEQ_CLS") c.task_type = TaskType::SequenceClassification;
  else
    throw UnsupportedError(fmt::format("{} is '{}'; supported task types: CAUSAL_LM, SEQ_CLS", f.where("task_type"), task));
  c.target_modules = f.selector("target_modules");
  c.exclude_modules = f.selector("exclude_modules");
  c.r = f.integer("r", c.r);
  c.shadow_alpha = f.number("shadow_alpha", c.shadow_alpha);
  c.shadow_dropout = f.number("shadow_dropout", c.shadow_dropout);
  c.init_weights = f.boolean("init_weights", c.init_weights);
  c.shadow_model = f.string("shadow_model", c.shadow_model);
  c.shadow_num_hidden_layers = f.optional_integer("shadow_num_hidden_layers");
  c.shadow_hidden_size = f.optional_integer("shadow_hidden_size");
  c.shadow_num_attention_heads = f.optional_integer("shadow_num_attention_heads");
  c.shadow_intermediate_size = f.optional_integer("shadow_intermediate_size");
  c.share_embeddings = f.boolean("share_embeddings", c.share_embeddings);
  c.update_hidden_size = f.optional_integer("update_hidden_size");
  c.auxiliary_loss_weight = f.number("auxiliary_loss_weight", c.auxiliary_loss_weight);
  if (const io::Json* v = f.get("layers_to_transform")) {
    if (v->is_number_integer()) {
      c.layers_to_transform = std::vector{v->get<int64_t>()};
      c.layers_to_transform_is_one = true;
    } else if (v->is_array()) {
      c.layers_to_transform.emplace();
      for (const auto& i : *v) {
        if (!i.is_number_integer())
          throw ConfigError(fmt::format("{} must hold layer indices, got {}", f.where("layers_to_transform"), i.dump()));
        c.layers_to_transform->push_back(i.get<int64_t>());
      }
    } else {
      throw ConfigError(fmt::format("{} must be an integer or a list of them, got {}", f.where("layers_to_transform"), v->dump()));
    }
  }
  c.layers_pattern = f.strings("layers_pattern", true);
  c.layers_pattern_is_one = f.get("layers_pattern") && f.get("layers_pattern")->is_string();
  c.modules_to_save = f.strings("modules_to_save", false);
  if (const io::Json* v = f.get("base_model_name_or_path")) c.base_model_name_or_path = f.string("base_model_name_or_path", "");
  c.inference_mode = f.boolean("inference_mode", false);
  for (const auto& [key, v] : json.items())
    if (std::find(std::begin(kOwnKeys), std::end(kOwnKeys), key) == std::end(kOwnKeys)) c.other[key] = v;
  try {
    c.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", source.string(), e.what()));
  }
  return c;
}

void ShadowConfig::save_pretrained(const fs::path& dir) const {
  fs::create_directories(dir);
  io::write_json_file(dir / kAdapterConfigFile, to_json(), {.indent = 2, .sort_keys = true, .trailing_newline = false});
}

ShadowConfig ShadowConfig::from_pretrained(const fs::path& dir) {
  const fs::path file = dir / kAdapterConfigFile;
  if (!fs::exists(file)) throw LoadError(fmt::format("{}: no {} (not a peft adapter directory)", dir.string(), kAdapterConfigFile));
  return from_json(io::read_json_file(file), file);
}

}  // namespace shadowpeft::peft
