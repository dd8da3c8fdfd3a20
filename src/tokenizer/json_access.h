#pragma once
// Reading tokenizer.json components: a JSON node together with where it lives (file + JSON path), so
// every error names the file, the field, what was expected and what was found.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace shadowpeft::tokenizer {

// Plain (unordered) JSON: tokenizer.json vocabularies hold 100k+ keys, which ordered_json would
// insert with a linear search each.
using JsonValue = nlohmann::json;

class Node {
 public:
  Node(const JsonValue& value, const std::filesystem::path& file, std::string path)
      : value_(&value), file_(&file), path_(std::move(path)) {}

  const JsonValue& value() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::filesystem::path& file() const { return *file_; }
  // "FILE: PATH" for messages.
  std::string where() const { return file_->string() + ": " + path_; }
  std::string where(const std::string& key) const { return file_->string() + ": " + path_ + "." + key; }

  bool has(const std::string& key) const { return value_->is_object() && value_->contains(key) && !(*value_)[key].is_null(); }
  Node at(const std::string& key) const;        // ConfigError when absent
  Node at(std::size_t index) const;
  std::optional<Node> find(const std::string& key) const;  // nullopt when absent or null

  std::string type() const;  // the component's "type" field
  std::string str(const std::string& key) const;
  std::string str(const std::string& key, const std::string& fallback) const;
  bool flag(const std::string& key, bool fallback) const;
  int64_t integer(const std::string& key) const;
  int64_t integer(const std::string& key, int64_t fallback) const;

  [[noreturn]] void fail(const std::string& key, const std::string& expected) const;  // ConfigError
  [[noreturn]] void unsupported() const;  // UnsupportedError naming the component type

 private:
  const JsonValue* value_;
  const std::filesystem::path* file_;
  std::string path_;
};

std::string json_kind(const JsonValue& v);  // "string", "object", ... for messages

}  // namespace shadowpeft::tokenizer
