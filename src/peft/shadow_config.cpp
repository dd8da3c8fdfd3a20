#include "shadowpeft/peft/shadow_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config_reader.h"
#include "shadowpeft/core/error.h"

namespace shadowpeft::peft {
namespace fs = std::filesystem;
using namespace detail;

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
  write_common_fields(*this, json);
  for (const char* key : {"auto_mapping", "revision"})
    if (!json.contains(key)) json[key] = nullptr;
  return json;
}

ShadowConfig ShadowConfig::from_json(const io::Json& json, const fs::path& source) {
  if (!json.is_object()) throw ConfigError(fmt::format("{}: must hold a JSON object", source.string()));
  const FieldReader f(json, source);
  require_peft_type(f, "SHADOW");
  ShadowConfig c;
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
  read_common_fields(f, json, c, kOwnKeys);
  validate_read(c, source);
  return c;
}

void ShadowConfig::save_pretrained(const fs::path& dir) const { write_adapter_config(dir, to_json()); }

ShadowConfig ShadowConfig::from_pretrained(const fs::path& dir) { return read_adapter_config<ShadowConfig>(dir); }

}  // namespace shadowpeft::peft
