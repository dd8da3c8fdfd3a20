#include "shadowpeft/shadow/shadow_config.h"

#include <fmt/format.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/core/logging.h"

namespace shadowpeft {
namespace fs = std::filesystem;

void ShadowConfig::validate() const {
  auto positive = [](const char* field, int64_t v, int64_t min) {
    if (v < min) throw ConfigError(fmt::format("ShadowConfig.{} must be >= {}, got {}", field, min, v));
  };
  positive("num_shadow_layers", num_shadow_layers, 1);
  positive("injection_hidden_size", injection_hidden_size, 1);
  positive("gate_hidden_size", gate_hidden_size, 2);
  if (!(dropout >= 0.0 && dropout < 1.0)) throw ConfigError(fmt::format("ShadowConfig.dropout must be in [0, 1), got {}", dropout));
  for (auto [field, v] : {std::pair{"shadow_intermediate_size", shadow_intermediate_size},
                          std::pair{"shadow_num_attention_heads", shadow_num_attention_heads},
                          std::pair{"shadow_num_key_value_heads", shadow_num_key_value_heads},
                          std::pair{"shadow_head_dim", shadow_head_dim}})
    if (v) positive(field, *v, 1);
}

io::Json ShadowConfig::to_json() const {
  auto opt = [](const std::optional<int64_t>& v) { return v ? io::Json(*v) : io::Json(); };
  return {{"alpha", alpha},
          {"dropout", dropout},
          {"gate_hidden_size", gate_hidden_size},
          {"injection_hidden_size", injection_hidden_size},
          {"modules_to_save", modules_to_save},
          {"num_shadow_layers", num_shadow_layers},
          {"shadow_head_dim", opt(shadow_head_dim)},
          {"shadow_intermediate_size", opt(shadow_intermediate_size)},
          {"shadow_num_attention_heads", opt(shadow_num_attention_heads)},
          {"shadow_num_key_value_heads", opt(shadow_num_key_value_heads)}};
}

ShadowConfig ShadowConfig::from_json(const io::Json& json, const fs::path& source) {
  if (!json.is_object()) throw ConfigError(fmt::format("{}: must hold a JSON object", source.string()));
  ShadowConfig c;
  auto where = [&](const std::string& key) { return fmt::format("{}: field '{}'", source.string(), key); };
  auto integer = [&](const std::string& key, const io::Json& v) -> int64_t {
    if (!v.is_number_integer()) throw ConfigError(fmt::format("{} must be an integer, got {}", where(key), v.dump()));
    return v.get<int64_t>();
  };
  auto number = [&](const std::string& key, const io::Json& v) -> double {
    if (!v.is_number()) throw ConfigError(fmt::format("{} must be a number, got {}", where(key), v.dump()));
    return v.get<double>();
  };
  for (const auto& [key, v] : json.items()) {
    if (key == "num_shadow_layers") c.num_shadow_layers = integer(key, v);
    else if (key == "injection_hidden_size") c.injection_hidden_size = integer(key, v);
    else if (key == "gate_hidden_size") c.gate_hidden_size = integer(key, v);
    else if (key == "alpha") c.alpha = number(key, v);
    else if (key == "dropout") c.dropout = number(key, v);
    else if (key == "shadow_intermediate_size") c.shadow_intermediate_size = v.is_null() ? std::nullopt : std::optional(integer(key, v));
    else if (key == "shadow_num_attention_heads") c.shadow_num_attention_heads = v.is_null() ? std::nullopt : std::optional(integer(key, v));
    else if (key == "shadow_num_key_value_heads") c.shadow_num_key_value_heads = v.is_null() ? std::nullopt : std::optional(integer(key, v));
    else if (key == "shadow_head_dim") c.shadow_head_dim = v.is_null() ? std::nullopt : std::optional(integer(key, v));
    else if (key == "modules_to_save") {
      if (!v.is_array()) throw ConfigError(fmt::format("{} must be a list of module names, got {}", where(key), v.dump()));
      for (const auto& m : v) {
        if (!m.is_string()) throw ConfigError(fmt::format("{} must hold strings, got {}", where(key), m.dump()));
        c.modules_to_save.push_back(m.get<std::string>());
      }
    } else {
      log_warning(fmt::format("{}: ignoring unknown key '{}'", source.string(), key));
    }
  }
  try {
    c.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", source.string(), e.what()));
  }
  return c;
}

void ShadowConfig::save_pretrained(const fs::path& dir) const {
  validate();
  fs::create_directories(dir);
  io::write_json_file(dir / "shadow_config.json", to_json(), {.indent = 2, .sort_keys = true});
}

ShadowConfig ShadowConfig::from_pretrained(const fs::path& dir) {
  const fs::path path = dir / "shadow_config.json";
  if (!fs::exists(path)) throw LoadError(fmt::format("Missing shadow config at: {}", path.string()));
  return from_json(io::read_json_file(path), path);
}

}  // namespace shadowpeft
