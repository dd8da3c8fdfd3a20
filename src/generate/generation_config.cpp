#include "shadowpeft/generate/generation_config.h"

#include <fmt/format.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"

namespace shadowpeft::generate {
namespace {

template <typename T>
void read_field(const io::Json& json, const std::filesystem::path& path, const char* name, T& out) {
  const auto it = json.find(name);
  if (it == json.end() || it->is_null()) return;
  try {
    out = it->get<T>();
  } catch (const std::exception&) {
    throw ConfigError(fmt::format("{}: field '{}' has the wrong type ({})", path.string(), name, it->dump()));
  }
}

std::vector<int64_t> read_ids(const io::Json& value, const std::filesystem::path& path, const char* name) {
  if (value.is_null()) return {};
  if (value.is_number_integer()) return {value.get<int64_t>()};
  if (value.is_array() && std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_number_integer(); }))
    return value.get<std::vector<int64_t>>();
  throw ConfigError(fmt::format("{}: field '{}' must be a token id or a list of ids, got {}", path.string(), name, value.dump()));
}

}  // namespace

GenerationConfig GenerationConfig::from_file(const std::filesystem::path& path) {
  const io::Json json = io::read_json_file(path);
  if (!json.is_object()) throw ConfigError(fmt::format("{}: expected a JSON object", path.string()));
  GenerationConfig config;
  read_field(json, path, "max_new_tokens", config.max_new_tokens);
  read_field(json, path, "do_sample", config.do_sample);
  read_field(json, path, "temperature", config.temperature);
  read_field(json, path, "top_k", config.top_k);
  read_field(json, path, "top_p", config.top_p);
  read_field(json, path, "min_p", config.min_p);
  read_field(json, path, "repetition_penalty", config.repetition_penalty);
  read_field(json, path, "use_cache", config.use_cache);
  if (json.contains("eos_token_id")) config.eos_token_ids = read_ids(json["eos_token_id"], path, "eos_token_id");
  if (json.contains("pad_token_id") && !json["pad_token_id"].is_null()) {
    const auto ids = read_ids(json["pad_token_id"], path, "pad_token_id");
    if (!ids.empty()) config.pad_token_id = ids.front();
  }
  if (json.contains("stop_strings") && !json["stop_strings"].is_null()) {
    const io::Json& stops = json["stop_strings"];
    if (stops.is_string()) config.stop_strings = {stops.get<std::string>()};
    else read_field(json, path, "stop_strings", config.stop_strings);
  }
  config.validate();
  return config;
}

void GenerationConfig::validate() const {
  if (max_new_tokens < 0) throw ConfigError(fmt::format("max_new_tokens must be >= 0, got {}", max_new_tokens));
  if (!(temperature > 0.0)) throw ConfigError(fmt::format("temperature must be > 0, got {}", temperature));
  if (top_k < 0) throw ConfigError(fmt::format("top_k must be >= 0, got {}", top_k));
  if (!(top_p > 0.0 && top_p <= 1.0)) throw ConfigError(fmt::format("top_p must be in (0, 1], got {}", top_p));
  if (!(min_p >= 0.0 && min_p <= 1.0)) throw ConfigError(fmt::format("min_p must be in [0, 1], got {}", min_p));
  if (!(repetition_penalty > 0.0))
    throw ConfigError(fmt::format("repetition_penalty must be > 0, got {}", repetition_penalty));
  for (const std::string& stop : stop_strings)
    if (stop.empty()) throw ConfigError("stop_strings must not contain an empty string");
}

int64_t GenerationConfig::padding_id() const {
  if (pad_token_id) return *pad_token_id;
  return eos_token_ids.empty() ? 0 : eos_token_ids.front();
}

}  // namespace shadowpeft::generate
