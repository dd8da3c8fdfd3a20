#include "record_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "shadowpeft/core/error.h"
#include "shadowpeft/core/format.h"

namespace shadowpeft::data {

namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LoadError(fmt::format("{}: cannot open dataset file (no such file or not readable)", path.string()));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  // Excel and Notepad write a byte order mark; it is not part of the first field or key.
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  return text;
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// nlohmann reports "parse error at line L, column C: ..."; the part after the position is enough
// once we name the file and line ourselves.
std::string json_reason(const std::exception& e) {
  std::string what = e.what();
  const auto colon = what.find(": ", what.find("parse error"));
  return printable(colon == std::string::npos ? what : what.substr(colon + 2));
}

}  // namespace

std::vector<RawRecord> read_jsonl(const std::string& text) {
  std::vector<RawRecord> records;
  std::size_t line_no = 0, start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    const std::string_view line(text.data() + start, end - start);
    if (!is_blank(line)) {
      RawRecord record{line_no, nullptr, {}};
      try {
        record.value = io::Json::parse(line);
      } catch (const io::Json::exception& e) {  // syntax, and numbers past double (out_of_range)
        record.error = "invalid JSON: " + json_reason(e);
      }
      records.push_back(std::move(record));
    }
    if (end == text.size()) break;
    start = end + 1;
  }
  return records;
}

namespace {

// The line on which each top-level element of a JSON array starts. nlohmann does not report
// positions of parsed values, so the (already validated) text is scanned once for them.
std::vector<std::size_t> array_element_lines(const std::string& text) {
  std::vector<std::size_t> lines;
  std::size_t line = 1;
  int depth = 0;
  bool in_string = false, expect_value = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') ++line;
    if (in_string) {
      if (c == '\\') ++i;  // an escaped character never ends the string (escapes contain no newline)
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (depth == 1 && expect_value && c != ']') {
      lines.push_back(line);
      expect_value = false;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth == 1) expect_value = true;
    } else if (c == ']' || c == '}') --depth;
    else if (c == ',' && depth == 1) expect_value = true;
  }
  return lines;
}

}  // namespace

std::vector<RawRecord> read_json_list(const std::filesystem::path& path, const std::string& text) {
  io::Json root;
  try {
    root = io::Json::parse(text);
  } catch (const io::Json::exception& e) {  // syntax, and numbers past double (out_of_range)
    // The byte offset becomes a line so that the message reads like the JSONL ones.
    const auto* syntax = dynamic_cast<const io::Json::parse_error*>(&e);
    const std::size_t offset = std::min<std::size_t>(syntax ? syntax->byte : 0, text.size());
    const std::size_t line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset ? offset - 1 : 0), '\n');
    throw LoadError(fmt::format("{}:{}: invalid JSON: {}", path.string(), line, json_reason(e)));
  }
  if (!root.is_array())
    throw LoadError(fmt::format("{}:1: expected a JSON list of records, got {}", path.string(), root.type_name()));
  const auto lines = array_element_lines(text);
  std::vector<RawRecord> records;
  records.reserve(root.size());
  for (std::size_t i = 0; i < root.size(); ++i)
    records.push_back({i < lines.size() ? lines[i] : 1, std::move(root[i]), {}});
  return records;
}

std::vector<RawRecord> read_records(const std::filesystem::path& path, const std::string& label_field) {
  const std::string ext = path.extension().string();
  if (ext != ".jsonl" && ext != ".json" && ext != ".csv")
    throw LoadError(fmt::format("{}: unknown dataset file extension \"{}\" (expected .jsonl, .json or .csv)",
                                path.string(), ext));
  const std::string text = read_text(path);
  if (ext == ".jsonl") return read_jsonl(text);
  if (ext == ".json") return read_json_list(path, text);
  return read_csv(path, text, label_field);
}

}  // namespace shadowpeft::data
