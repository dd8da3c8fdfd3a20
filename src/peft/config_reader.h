#pragma once
// Typed reads of adapter_config.json fields, with errors naming the file, the field and the value;
// and the JSON forms peft writes them in. Internal to src/peft.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/peft/peft_config.h"

namespace shadowpeft::peft::detail {

inline constexpr const char* kAdapterConfigFile = "adapter_config.json";

class FieldReader {
 public:
  FieldReader(const io::Json& json, const std::filesystem::path& source) : json_(json), source_(source) {}
  std::string where(const std::string& key) const { return fmt::format("{}: field '{}'", source_.string(), key); }
  const io::Json* get(const std::string& key) const {
    const auto it = json_.find(key);
    return it == json_.end() || it->is_null() ? nullptr : &*it;
  }
  int64_t integer(const std::string& key, int64_t fallback) const {
    const io::Json* v = get(key);
    if (!v) return fallback;
    if (!v->is_number_integer()) throw ConfigError(fmt::format("{} must be an integer, got {}", where(key), v->dump()));
    return v->get<int64_t>();
  }
  std::optional<int64_t> optional_integer(const std::string& key) const {
    return get(key) ? std::optional(integer(key, 0)) : std::nullopt;
  }
  double number(const std::string& key, double fallback) const {
    const io::Json* v = get(key);
    if (!v) return fallback;
    if (!v->is_number()) throw ConfigError(fmt::format("{} must be a number, got {}", where(key), v->dump()));
    return v->get<double>();
  }
  bool boolean(const std::string& key, bool fallback) const {
    const io::Json* v = get(key);
    if (!v) return fallback;
    if (!v->is_boolean()) throw ConfigError(fmt::format("{} must be true or false, got {}", where(key), v->dump()));
    return v->get<bool>();
  }
  std::string string(const std::string& key, const std::string& fallback) const {
    const io::Json* v = get(key);
    if (!v) return fallback;
    if (!v->is_string()) throw ConfigError(fmt::format("{} must be a string, got {}", where(key), v->dump()));
    return v->get<std::string>();
  }
  // A list of strings, or (when `one_allowed`) a single string standing for a list of one.
  std::optional<std::vector<std::string>> strings(const std::string& key, bool one_allowed) const {
    const io::Json* v = get(key);
    if (!v) return std::nullopt;
    if (one_allowed && v->is_string()) return std::vector{v->get<std::string>()};
    if (!v->is_array()) throw ConfigError(fmt::format("{} must be a list of strings, got {}", where(key), v->dump()));
    std::vector<std::string> out;
    for (const auto& item : *v) {
      if (!item.is_string()) throw ConfigError(fmt::format("{} must hold strings, got {}", where(key), item.dump()));
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  std::optional<ModuleSelector> selector(const std::string& key) const {
    const io::Json* v = get(key);
    if (!v) return std::nullopt;
    ModuleSelector s;
    if (v->is_string()) {
      s.pattern = v->get<std::string>();
      try {
        (void)std::regex(*s.pattern);
      } catch (const std::regex_error& e) {
        throw ConfigError(fmt::format("{} is not a valid regular expression ({}): {}", where(key), e.what(), *s.pattern));
      }
    } else {
      s.names = *strings(key, false);
    }
    return s;
  }

 private:
  const io::Json& json_;
  const std::filesystem::path& source_;
};

// A ModuleSelector as peft writes it: a list of names, one pattern, or null.
inline io::Json selector_json(const std::optional<ModuleSelector>& s) {
  if (!s) return nullptr;
  if (s->pattern) return *s->pattern;
  return s->names;
}

template <typename T>
io::Json optional_json(const std::optional<T>& v) {
  return v ? io::Json(*v) : io::Json(nullptr);
}

// The fields every peft config here has, read into `c` (a ShadowConfig or LoraConfig): the task,
// module selection, modules_to_save, base_model_name_or_path, inference_mode, and in `other` every key not
// in `own_keys`. layers_to_transform and layers_pattern may each be one value or a list.
inline void require_peft_type(const FieldReader& f, const std::string& expected) {
  const std::string found = f.string("peft_type", "");
  if (found != expected) throw ConfigError(fmt::format("{} is '{}', expected '{}'", f.where("peft_type"), found, expected));
}

template <typename Config, std::size_t N>
void read_common_fields(const FieldReader& f, const io::Json& json, Config& c, const char* const (&own_keys)[N]) {
  const std::string task = f.string("task_type", "CAUSAL_LM");
  if (task == "CAUSAL_LM") c.task_type = TaskType::CausalLM;
  else if (task == "SEQ_CLS") c.task_type = TaskType::SequenceClassification;
  else
    throw UnsupportedError(fmt::format("{} is '{}'; supported task types: CAUSAL_LM, SEQ_CLS", f.where("task_type"), task));
  c.target_modules = f.selector("target_modules");
  c.exclude_modules = f.selector("exclude_modules");
  if (const io::Json* v = f.get("layers_to_transform")) {
    if (!v->is_number_integer() && !v->is_array())
      throw ConfigError(fmt::format("{} must be an integer or a list of them, got {}", f.where("layers_to_transform"), v->dump()));
    c.layers_to_transform.emplace();
    c.layers_to_transform_is_one = v->is_number_integer();
    for (const io::Json& i : v->is_array() ? *v : io::Json::array({*v})) {
      if (!i.is_number_integer())
        throw ConfigError(fmt::format("{} must hold layer indices, got {}", f.where("layers_to_transform"), i.dump()));
      c.layers_to_transform->push_back(i.get<int64_t>());
    }
  }
  c.layers_pattern = f.strings("layers_pattern", true);
  c.layers_pattern_is_one = f.get("layers_pattern") && f.get("layers_pattern")->is_string();
  c.modules_to_save = f.strings("modules_to_save", false);
  if (f.get("base_model_name_or_path")) c.base_model_name_or_path = f.string("base_model_name_or_path", "");
  c.inference_mode = f.boolean("inference_mode", false);
  for (const auto& [key, v] : json.items())
    if (std::find(std::begin(own_keys), std::end(own_keys), key) == std::end(own_keys)) c.other[key] = v;
}

// The same fields into `json`, in the form they were read.
template <typename Config>
void write_common_fields(const Config& c, io::Json& json) {
  json["exclude_modules"] = selector_json(c.exclude_modules);
  json["layers_to_transform"] = c.layers_to_transform && c.layers_to_transform_is_one && c.layers_to_transform->size() == 1
                                    ? io::Json(c.layers_to_transform->front())
                                    : optional_json(c.layers_to_transform);
  json["layers_pattern"] = c.layers_pattern && c.layers_pattern_is_one && c.layers_pattern->size() == 1
                               ? io::Json(c.layers_pattern->front())
                               : optional_json(c.layers_pattern);
  json["modules_to_save"] = optional_json(c.modules_to_save);
  json["base_model_name_or_path"] = optional_json(c.base_model_name_or_path);
  json["inference_mode"] = c.inference_mode;
}

// adapter_config.json as peft writes it (keys sorted, no trailing newline).
inline void write_adapter_config(const std::filesystem::path& dir, const io::Json& json) {
  std::filesystem::create_directories(dir);
  io::write_json_file(dir / kAdapterConfigFile, json, {.indent = 2, .sort_keys = true, .trailing_newline = false});
}

// adapter_config.json in `dir`, parsed by `Config::from_json`.
template <typename Config>
Config read_adapter_config(const std::filesystem::path& dir) {
  const std::filesystem::path file = dir / kAdapterConfigFile;
  if (!std::filesystem::exists(file))
    throw LoadError(fmt::format("{}: no {} (not a peft adapter directory)", dir.string(), kAdapterConfigFile));
  return Config::from_json(io::read_json_file(file), file);
}

// validate(), its errors prefixed with the file.
template <typename Config>
void validate_read(const Config& c, const std::filesystem::path& source) {
  try {
    c.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", source.string(), e.what()));
  }
}

}  // namespace shadowpeft::peft::detail
