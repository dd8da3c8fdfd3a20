#include "shadowpeft/io/json_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "shadowpeft/core/atomic_file.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/core/format.h"

namespace shadowpeft::io {
namespace fs = std::filesystem;

Json read_json_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw LoadError(fmt::format("{}: {}", path.string(),
                                fs::exists(path) ? "cannot be read" : "file not found"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return Json::parse(buffer.str());
  } catch (const Json::exception& e) {
    throw LoadError(fmt::format("{}: invalid JSON: {}", path.string(), printable(e.what())));
  }
}

namespace {

// Python's json.dumps(ensure_ascii=True) string escaping: non-ASCII as \uXXXX (surrogate pairs
// above the BMP), control characters and DEL as short escapes where JSON has them, else \\u00XX.
void append_python_string(std::string& out, const std::string& s) {
  out += '"';
  std::size_t i = 0;
  auto hex4 = [&out](uint32_t v) { out += fmt::format("\\u{:04x}", v); };
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || c == 0x7f) hex4(c);
          else out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // nlohmann::json has validated UTF-8 on parse, so the sequence is well formed.
    const int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    uint32_t cp = c & (len == 4 ? 0x07 : len == 3 ? 0x0F : 0x1F);
    for (int k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      hex4(0xD800 + (cp >> 10));
      hex4(0xDC00 + (cp & 0x3FF));
    } else {
      hex4(cp);
    }
    i += static_cast<std::size_t>(len);
  }
  out += '"';
}

// Python's float repr: the shortest round-trip digits, positional when the decimal exponent is in
// [-4, 16) (with ".0" for integral values), otherwise d.ddde+XX.
std::string python_float_repr(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  std::array<char, 64> buf{};
  const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), d, std::chars_format::scientific);
  const std::string sci(buf.data(), res.ptr);  // e.g. "-1.2345e-05"
  const auto e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  const int exponent = std::stoi(sci.substr(e + 1));
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  } else if (exponent < 0) {
    out += "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
  } else {
    const auto int_len = static_cast<std::size_t>(exponent + 1);
    if (digits.size() <= int_len) {
      out += digits + std::string(int_len - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
  }
  return out;
}

void append_value(std::string& out, const Json& v, const JsonStyle& style, int depth) {
  const bool pretty = style.indent >= 0;
  auto newline = [&](int d) {
    if (pretty) {
      out += '\n';
      out.append(static_cast<std::size_t>(style.indent * d), ' ');
    }
  };
  const char* item_sep = pretty ? "," : ", ";
  switch (v.type()) {
    case Json::value_t::object: {
      if (v.empty()) { out += "{}"; return; }
      std::vector<const std::string*> keys;
      for (auto it = v.begin(); it != v.end(); ++it) keys.push_back(&it.key());
      if (style.sort_keys) std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a < *b; });
      out += '{';
      for (std::size_t k = 0; k < keys.size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        append_python_string(out, *keys[k]);
        out += ": ";
        append_value(out, v.at(*keys[k]), style, depth + 1);
      }
      newline(depth);
      out += '}';
      return;
    }
    case Json::value_t::array: {
      if (v.empty()) { out += "[]"; return; }
      out += '[';
      for (std::size_t k = 0; k < v.size(); ++k) {
        if (k) out += item_sep;
        newline(depth + 1);
        append_value(out, v[k], style, depth + 1);
      }
      newline(depth);
      out += ']';
      return;
    }
    case Json::value_t::string: append_python_string(out, v.get_ref<const std::string&>()); return;
    case Json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return;
    case Json::value_t::null: out += "null"; return;
    case Json::value_t::number_float: out += python_float_repr(v.get<double>()); return;
    default: out += v.dump(); return;  // integers
  }
}

}  // namespace

std::string dump_json_like_python(const Json& value, const JsonStyle& style) {
  std::string out;
  append_value(out, value, style, 0);
  if (style.trailing_newline) out += '\n';
  return out;
}

void write_json_file(const fs::path& path, const Json& value, const JsonStyle& style) {
  write_text_file_atomically(path, dump_json_like_python(value, style));
}

const Json& require_field(const Json& object, const std::string& field, const fs::path& file) {
  if (!object.is_object() || !object.contains(field))
    throw ConfigError(fmt::format("{}: missing required field '{}'", file.string(), field));
  return object.at(field);
}

}  // namespace shadowpeft::io
