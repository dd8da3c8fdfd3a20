#include "tokenizer_config.h"

#include <fstream>
#include <sstream>

#include "shadowpeft/core/error.h"

namespace shadowpeft::tokenizer {

JsonValue load_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LoadError(path.string() + ": cannot open file (" + (std::filesystem::exists(path) ? "unreadable" : "no such file") + ")");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  try {
    return JsonValue::parse(buffer.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw LoadError(path.string() + ": malformed JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {  // a number past double (out_of_range)
    throw LoadError(path.string() + ": malformed JSON: " + e.what());
  }
}

namespace {

// A special token is a string, or an AddedToken object {"content": ...}, or null.
std::optional<SpecialToken> special(const Node& root, const std::string& key) {
  const auto node = root.find(key);
  if (!node) return std::nullopt;
  if (node->value().is_string()) return SpecialToken{node->value().get<std::string>(), std::nullopt};
  if (node->value().is_object()) return SpecialToken{node->str("content"), std::nullopt};
  root.fail(key, "a string, an object with \"content\", or null");
}

std::optional<bool> optional_flag(const Node& root, const std::string& key) {
  if (!root.has(key)) return std::nullopt;
  return root.flag(key, false);
}

}  // namespace

TokenizerConfig read_tokenizer_config(const JsonValue& json, const std::filesystem::path& file) {
  const Node root(json, file, "$");
  if (!json.is_object()) throw ConfigError(root.where() + ": expected an object, found " + json_kind(json));
  TokenizerConfig config;
  config.bos = special(root, "bos_token");
  config.eos = special(root, "eos_token");
  config.pad = special(root, "pad_token");
  config.unk = special(root, "unk_token");
  config.add_bos_token = optional_flag(root, "add_bos_token");
  config.add_eos_token = optional_flag(root, "add_eos_token");
  if (const auto t = root.find("chat_template")) {
    if (t->value().is_string()) {
      config.chat_templates.push_back({"default", t->value().get<std::string>()});
    } else if (t->value().is_array()) {
      for (std::size_t i = 0; i < t->value().size(); ++i) {
        const Node item = t->at(i);
        config.chat_templates.push_back({item.str("name"), item.str("template")});
      }
    } else {
      root.fail("chat_template", "a string or a list of {name, template}");
    }
  }
  return config;
}

}  // namespace shadowpeft::tokenizer
