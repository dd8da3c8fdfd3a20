#pragma once
// JSON files as Hugging Face writes them. Objects keep their key order (unknown keys survive a
// read-modify-write), and output is byte-identical to Python's `json.dumps(obj, indent=2[,
// sort_keys=True])`, which is what transformers and shadow-peft write.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace shadowpeft::io {

using Json = nlohmann::ordered_json;

// Parses a JSON file; LoadError names the file and the position of a syntax error.
Json read_json_file(const std::filesystem::path& path);

struct JsonStyle {
  int indent = 2;           // negative: compact, like json.dumps without indent
  bool sort_keys = false;   // transformers' config.json and shadow-peft's files sort keys
  bool trailing_newline = true;
};

// Serialises like Python's json.dumps (ensure_ascii, separators (', ', ': ') / (',', ': ')).
std::string dump_json_like_python(const Json& value, const JsonStyle& style = {});

void write_json_file(const std::filesystem::path& path, const Json& value, const JsonStyle& style = {});

// Typed access to a required field, with an error naming the file and field on absence or type mismatch.
const Json& require_field(const Json& object, const std::string& field, const std::filesystem::path& file);

}  // namespace shadowpeft::io
