#include "pattern.h"

#include "shadowpeft/core/error.h"

namespace shadowpeft::tokenizer {

Regex read_pattern(const Node& pattern) {
  if (pattern.has("String") && pattern.value()["String"].is_string())
    return Regex::literal(pattern.value()["String"].get<std::string>(), pattern.where("String"));
  if (pattern.has("Regex") && pattern.value()["Regex"].is_string())
    return Regex(pattern.value()["Regex"].get<std::string>(), pattern.where("Regex"));
  throw ConfigError(pattern.where() + ": expected {\"String\": ...} or {\"Regex\": ...}, found " + pattern.value().dump());
}

}  // namespace shadowpeft::tokenizer
