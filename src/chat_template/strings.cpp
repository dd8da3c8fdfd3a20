#include "strings.h"

#include "unicode.h"

namespace shadowpeft::jinja {

std::string py_strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right) {
  std::u32string cps = utf8_decode(s);
  std::u32string set = chars ? utf8_decode(*chars) : std::u32string();
  auto strip_it = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : is_space(c); };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip_it(cps[b])) ++b;
  if (right)
    while (e > b && strip_it(cps[e - 1])) --e;
  return utf8_encode(std::u32string_view(cps).substr(b, e - b));
}

std::vector<std::string> py_split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit, bool from_right) {
  std::vector<std::string> out;
  if (sep) {
    if (!from_right) {
      size_t pos = 0;
      while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
        size_t at = s.find(*sep, pos);
        if (at == std::string::npos) break;
        out.push_back(s.substr(pos, at - pos));
        pos = at + sep->size();
      }
      out.push_back(s.substr(pos));
    } else {
      size_t end = s.size();
      std::vector<std::string> rev;
      while (maxsplit < 0 || static_cast<int64_t>(rev.size()) < maxsplit) {
        if (end < sep->size()) break;
        size_t at = s.rfind(*sep, end - sep->size());
        if (at == std::string::npos) break;
        rev.push_back(s.substr(at + sep->size(), end - at - sep->size()));
        end = at;
      }
      out.push_back(s.substr(0, end));
      out.insert(out.end(), rev.rbegin(), rev.rend());
    }
    return out;
  }
  std::u32string cps = utf8_decode(s);
  if (!from_right) {
    size_t k = 0, n = cps.size();
    while (true) {
      while (k < n && is_space(cps[k])) ++k;
      if (k >= n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        // Like CPython, the remainder keeps its trailing whitespace.
        out.push_back(utf8_encode(std::u32string_view(cps).substr(k)));
        break;
      }
      size_t b = k;
      while (k < n && !is_space(cps[k])) ++k;
      out.push_back(utf8_encode(std::u32string_view(cps).substr(b, k - b)));
    }
  } else {
    size_t k = cps.size();
    std::vector<std::string> rev;
    while (true) {
      while (k > 0 && is_space(cps[k - 1])) --k;
      if (k == 0) break;
      if (maxsplit >= 0 && static_cast<int64_t>(rev.size()) >= maxsplit) {
        rev.push_back(utf8_encode(std::u32string_view(cps).substr(0, k)));
        break;
      }
      size_t e = k;
      while (k > 0 && !is_space(cps[k - 1])) --k;
      rev.push_back(utf8_encode(std::u32string_view(cps).substr(k, e - k)));
    }
    out.assign(rev.rbegin(), rev.rend());
  }
  return out;
}

uint64_t replaced_size_bound(const std::string& s, const std::string& old, const std::string& repl) {
  const uint64_t matches = old.empty() ? s.size() + 1 : s.size() / old.size();
  return s.size() + matches * repl.size();
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts `repl` between every code point (and at both ends).
    std::u32string cps = utf8_decode(s);
    int64_t done = 0;
    for (size_t k = 0; k <= cps.size(); ++k) {
      if (count < 0 || done < count) {
        out += repl;
        ++done;
      }
      if (k < cps.size()) utf8_append(out, cps[k]);
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t at = s.find(old, pos);
    if (at == std::string::npos) break;
    out += s.substr(pos, at - pos) + repl;
    pos = at + old.size();
    ++done;
  }
  return out + s.substr(pos);
}

std::string py_upper(const std::string& s) {
  std::string out;
  for (char32_t c : utf8_decode(s)) {
    if (c == 0xdf) {
      out += "SS";
      continue;
    }
    utf8_append(out, to_upper(c));
  }
  return out;
}

std::string py_lower(const std::string& s) {
  std::string out;
  for (char32_t c : utf8_decode(s)) utf8_append(out, to_lower(c));
  return out;
}

std::string py_title(const std::string& s) {
  std::string out;
  bool prev_cased = false;
  for (char32_t c : utf8_decode(s)) {
    if (is_cased(c) || c == 0xdf) {
      utf8_append(out, prev_cased ? to_lower(c) : to_upper(c));
      prev_cased = true;
    } else {
      utf8_append(out, c);
      prev_cased = false;
    }
  }
  return out;
}

std::string py_capitalize(const std::string& s) {
  std::u32string cps = utf8_decode(s);
  std::string out;
  for (size_t k = 0; k < cps.size(); ++k) utf8_append(out, k == 0 ? to_upper(cps[k]) : to_lower(cps[k]));
  return out;
}

std::vector<std::string> py_splitlines(const std::string& s, bool keepends) {
  std::vector<std::string> out;
  std::u32string cps = utf8_decode(s);
  size_t b = 0, k = 0;
  while (k < cps.size()) {
    char32_t c = cps[k];
    bool br = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1e) || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!br) {
      ++k;
      continue;
    }
    size_t e = k + 1;
    if (c == '\r' && e < cps.size() && cps[e] == '\n') ++e;
    out.push_back(utf8_encode(std::u32string_view(cps).substr(b, (keepends ? e : k) - b)));
    b = k = e;
  }
  if (b < cps.size()) out.push_back(utf8_encode(std::u32string_view(cps).substr(b)));
  return out;
}

int64_t py_find(const std::string& s, const std::string& sub, bool from_right) {
  size_t at = from_right ? s.rfind(sub) : s.find(sub);
  if (at == std::string::npos) return -1;
  return static_cast<int64_t>(utf8_decode(std::string_view(s).substr(0, at)).size());
}

int64_t py_count(const std::string& s, const std::string& sub) {
  if (sub.empty()) return static_cast<int64_t>(utf8_decode(s).size()) + 1;
  int64_t n = 0;
  for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
  return n;
}

std::string py_center(const std::string& s, int64_t width, const std::string& fill, int align) {
  int64_t len = static_cast<int64_t>(utf8_decode(s).size());
  if (width <= len) return s;
  int64_t pad = width - len;
  int64_t left = align < 0 ? 0 : align > 0 ? pad : pad / 2 + (pad & width & 1);
  std::string out;
  for (int64_t k = 0; k < left; ++k) out += fill;
  out += s;
  for (int64_t k = 0; k < pad - left; ++k) out += fill;
  return out;
}

}  // namespace shadowpeft::jinja
