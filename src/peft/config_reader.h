#pragma once
// Typed reads of adapter_config.json fields, with errors naming the file, the field and the value;
// and the JSON forms peft writes them in. Internal to src/peft.
#include <fmt/format.h>

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

}  // namespace shadowpeft::peft::detail
