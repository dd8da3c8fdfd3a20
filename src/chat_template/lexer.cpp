#include "lexer.h"

#include <algorithm>
#include <cstring>

#include "shadowpeft/core/error.h"
#include "unicode.h"

namespace shadowpeft::jinja {
namespace {

bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Python str.isspace for the UTF-8 text between a newline and a tag (lstrip_blocks checks \s*).
bool all_space(const std::string& s, size_t from) {
  for (char32_t c : utf8_decode(std::string_view(s).substr(from)))
    if (!is_space(c)) return false;
  return true;
}

std::string rstrip_space(const std::string& s) {
  auto cps = utf8_decode(s);
  size_t n = cps.size();
  while (n > 0 && is_space(cps[n - 1])) --n;
  return utf8_encode(std::u32string_view(cps).substr(0, n));
}

class Lexer {
 public:
  Lexer(std::string src, const std::string& name) : src_(std::move(src)), name_(name) {
    line_starts_.push_back(0);
    for (size_t k = 0; k < src_.size(); ++k)
      if (src_[k] == '\n') line_starts_.push_back(k + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      size_t at = find_tag(pos);
      if (at == std::string::npos) {
        emit(Tok::Text, src_.substr(pos), pos);
        break;
      }
      std::string text = src_.substr(pos, at - pos);
      char kind = src_[at + 1];
      char sign = (at + 2 < src_.size() && (src_[at + 2] == '-' || src_[at + 2] == '+')) ? src_[at + 2] : 0;
      size_t raw_end = kind == '%' ? match_raw_begin(at + 2 + (sign ? 1 : 0)) : std::string::npos;
      text = strip_before(text, sign, kind != '{', line_starting);
      emit(Tok::Text, text, pos);
      size_t inner = at + 2 + (sign ? 1 : 0);
      if (raw_end != std::string::npos) {
        pos = lex_raw(raw_end, line_starting);
      } else if (kind == '#') {
        pos = lex_comment(inner, at, line_starting);
      } else {
        pos = lex_tag(kind == '{', inner, at, line_starting);
      }
    }
    tokens_.push_back({Tok::Eof, "", line_at(src_.size()), 1});
    return std::move(tokens_);
  }

 private:
  std::string src_;
  const std::string& name_;
  std::vector<Token> tokens_;
  std::vector<size_t> line_starts_;  // byte offset where each line begins

  [[noreturn]] void error(size_t pos, const std::string& msg) {
    throw ConfigError(name_ + ": syntax error at line " + std::to_string(line_at(pos)) + ", column " +
                      std::to_string(column_at(pos)) + ": " + msg);
  }
  int line_at(size_t pos) const {
    return static_cast<int>(std::upper_bound(line_starts_.begin(), line_starts_.end(), pos) - line_starts_.begin());
  }
  int column_at(size_t pos) const { return static_cast<int>(pos - line_starts_[line_at(pos) - 1]) + 1; }
  void emit(Tok t, std::string value, size_t pos) {
    if (t == Tok::Text && value.empty()) return;
    tokens_.push_back({t, std::move(value), line_at(pos), column_at(pos)});
  }

  size_t find_tag(size_t pos) const {
    for (size_t k = pos; k + 1 < src_.size(); ++k)
      if (src_[k] == '{' && (src_[k + 1] == '{' || src_[k + 1] == '%' || src_[k + 1] == '#')) return k;
    return std::string::npos;
  }

  std::string strip_before(const std::string& text, char sign, bool block_or_comment, bool line_starting) const {
    if (sign == '-') return rstrip_space(text);
    if (sign == '+' || !block_or_comment) return text;
    size_t nl = text.rfind('\n');
    size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if ((l_pos > 0 || line_starting) && all_space(text, l_pos)) return text.substr(0, l_pos);
    return text;
  }

  // After `{%[-+]`: `\s*raw\s*(-%}\s*|%})` → the position after it, else npos.
  size_t match_raw_begin(size_t p) const {
    while (p < src_.size() && ascii_space(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0) return std::string::npos;
    p += 3;
    while (p < src_.size() && ascii_space(src_[p])) ++p;
    if (src_.compare(p, 3, "-%}") == 0) {
      p += 3;
      while (p < src_.size() && ascii_space(src_[p])) ++p;
      return p;
    }
    if (src_.compare(p, 2, "%}") == 0) return p + 2;
    return std::string::npos;
  }

  size_t lex_raw(size_t body, bool& line_starting) {
    line_starting = src_[body - 1] == '\n';
    for (size_t k = body; k + 1 < src_.size(); ++k) {
      if (src_[k] != '{' || src_[k + 1] != '%') continue;
      size_t p = k + 2;
      char sign = (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ? src_[p] : 0;
      if (sign) ++p;
      while (p < src_.size() && ascii_space(src_[p])) ++p;
      if (src_.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      while (p < src_.size() && ascii_space(src_[p])) ++p;
      size_t end = block_end_at(p);
      if (end == std::string::npos) continue;
      emit(Tok::Text, strip_before(src_.substr(body, k - body), sign, true, line_starting), body);
      line_starting = src_[end - 1] == '\n';
      return end;
    }
    error(body, "Missing end of raw directive");
  }

  // `+%}` | `-%}\s*` | `%}\n?` at p → the position after it, else npos.
  size_t block_end_at(size_t p) const {
    if (src_.compare(p, 3, "+%}") == 0) return p + 3;
    if (src_.compare(p, 3, "-%}") == 0) {
      p += 3;
      while (p < src_.size() && ascii_space(src_[p])) ++p;
      return p;
    }
    if (src_.compare(p, 2, "%}") == 0) return p + 2 + (p + 2 < src_.size() && src_[p + 2] == '\n');
    return std::string::npos;
  }

  size_t lex_comment(size_t p, size_t at, bool& line_starting) {
    size_t q = src_.find("#}", p);
    if (q == std::string::npos) error(at, "Missing end of comment tag");
    size_t end;
    if (q > p && src_[q - 1] == '-') {
      end = q + 2;
      while (end < src_.size() && ascii_space(src_[end])) ++end;
    } else if (q > p && src_[q - 1] == '+') {
      end = q + 2;
    } else {
      end = q + 2 + (q + 2 < src_.size() && src_[q + 2] == '\n');
    }
    line_starting = src_[end - 1] == '\n';
    return end;
  }

  size_t lex_tag(bool variable, size_t p, size_t at, bool& line_starting) {
    emit(variable ? Tok::VarBegin : Tok::BlockBegin, "", at);
    std::vector<char> brackets;
    while (true) {
      while (p < src_.size() && ascii_space(src_[p])) ++p;
      if (p >= src_.size()) error(at, variable ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
      if (brackets.empty()) {
        size_t end = std::string::npos;
        if (variable) {
          if (src_.compare(p, 3, "-}}") == 0) {
            end = p + 3;
            while (end < src_.size() && ascii_space(src_[end])) ++end;
          } else if (src_.compare(p, 2, "}}") == 0) {
            end = p + 2;
          }
        } else {
          end = block_end_at(p);
        }
        if (end != std::string::npos) {
          emit(variable ? Tok::VarEnd : Tok::BlockEnd, "", p);
          line_starting = src_[end - 1] == '\n';
          return end;
        }
      }
      p = lex_one(p, brackets);
    }
  }

  size_t lex_one(size_t p, std::vector<char>& brackets) {
    char c = src_[p];
    if (std::isdigit(static_cast<unsigned char>(c))) return lex_number(p);
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t q = p;
      while (q < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[q])) || src_[q] == '_')) ++q;
      emit(Tok::Name, src_.substr(p, q - p), p);
      return q;
    }
    if (c == '\'' || c == '"') return lex_string(p);
    static const char* two[] = {"//", "**", "==", "!=", "<=", ">="};
    for (const char* op : two)
      if (src_.compare(p, 2, op) == 0) {
        emit(Tok::Op, op, p);
        return p + 2;
      }
    if (std::strchr("+-/*%~[](){}<>=.:|,;", c) && c != 0) {
      if (c == '(' || c == '[' || c == '{') {
        brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      } else if (c == ')' || c == ']' || c == '}') {
        if (brackets.empty()) error(p, std::string("unexpected '") + c + "'");
        if (brackets.back() != c) error(p, std::string("unexpected '") + c + "', expected '" + brackets.back() + "'");
        brackets.pop_back();
      }
      emit(Tok::Op, std::string(1, c), p);
      return p + 1;
    }
    error(p, "unexpected char '" + std::string(1, c) + "'");
  }

  size_t digits(size_t p) const {
    while (p < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[p])) ||
                               (src_[p] == '_' && p + 1 < src_.size() && std::isdigit(static_cast<unsigned char>(src_[p + 1])))))
      ++p;
    return p;
  }

  size_t lex_number(size_t p) {
    size_t q = digits(p);
    bool is_float = false;
    if (q + 1 < src_.size() && src_[q] == '.' && std::isdigit(static_cast<unsigned char>(src_[q + 1]))) {
      q = digits(q + 1);
      is_float = true;
    }
    if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
      size_t r = q + 1;
      if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
      if (r < src_.size() && std::isdigit(static_cast<unsigned char>(src_[r]))) {
        q = digits(r);
        is_float = true;
      }
    }
    std::string spelled;
    for (size_t k = p; k < q; ++k)
      if (src_[k] != '_') spelled += src_[k];
    emit(is_float ? Tok::Float : Tok::Integer, spelled, p);
    return q;
  }

  // Python's "unicode-escape" decoding of the literal's body, as jinja2 applies it.
  size_t lex_string(size_t p) {
    char quote = src_[p];
    std::string out;
    size_t q = p + 1;
    while (true) {
      if (q >= src_.size()) error(p, "unexpected end of string");
      char c = src_[q];
      if (c == quote) break;
      if (c != '\\') {
        out += c;
        ++q;
        continue;
      }
      if (q + 1 >= src_.size()) error(p, "unexpected end of string");
      char e = src_[q + 1];
      q += 2;
      auto hex = [&](int n) {
        char32_t v = 0;
        for (int k = 0; k < n; ++k, ++q) {
          if (q >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[q]))) error(q, "truncated \\x/\\u escape in string literal");
          v = v * 16 + static_cast<char32_t>(std::stoi(std::string(1, src_[q]), nullptr, 16));
        }
        utf8_append(out, v);
      };
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': hex(2); break;
        case 'u': hex(4); break;
        case 'U': hex(8); break;
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = e - '0';
            for (int k = 0; k < 2 && q < src_.size() && src_[q] >= '0' && src_[q] <= '7'; ++k, ++q) v = v * 8 + (src_[q] - '0');
            utf8_append(out, v);
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    emit(Tok::String, out, p);
    return q + 1;
  }
};

}  // namespace

std::vector<Token> tokenize(const std::string& source, const std::string& name) {
  // jinja2 joins the lines with "\n" and drops one trailing newline (keep_trailing_newline=False).
  std::string src;
  src.reserve(source.size());
  for (size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      src += '\n';
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
    } else {
      src += source[k];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  return Lexer(std::move(src), name).run();
}

}  // namespace shadowpeft::jinja
