// Python methods templates call on values (`s.startswith(...)`, `d.items()`, ...), as the
// ImmutableSandboxedEnvironment allows them: methods that mutate a list or dict are refused.
#include <algorithm>
#include <cstdio>
#include <set>

#include "builtins.h"
#include "errors.h"
#include "interpreter.h"
#include "strings.h"
#include "unicode.h"

namespace shadowpeft::jinja {
namespace {

const std::set<std::string> kStrMethods = {
    "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format", "format_map",
    "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric",
    "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans", "partition",
    "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split",
    "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper", "zfill"};
const std::set<std::string> kDictMethods = {"clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem",
                                            "setdefault", "update", "values"};
const std::set<std::string> kListMethods = {"append", "clear", "copy", "count", "extend", "index", "insert", "pop",
                                            "remove", "reverse", "sort"};
const std::set<std::string> kMutating = {"append", "clear", "extend", "insert", "pop", "popitem", "remove",
                                         "reverse", "setdefault", "sort", "update"};

std::optional<std::string> opt_arg_str(CallArgs& a, size_t i, const char* name) {
  const Value* v = arg(a, i, name);
  if (!v || v->is_none()) return std::nullopt;
  if (!v->is_string()) fail(a.line, std::string("TypeError: ") + name + " must be str or None, not " + type_name(*v));
  return v->str;
}

const std::string& need_str(CallArgs& a, size_t i, const char* name, const char* method) {
  const Value* v = arg(a, i, name);
  if (!v) fail(a.line, std::string("TypeError: ") + method + "() missing required argument '" + name + "'");
  if (!v->is_string()) fail(a.line, std::string("TypeError: ") + method + "() argument must be str, not " + type_name(*v));
  return v->str;
}

int64_t opt_int(CallArgs& a, size_t i, const char* name, int64_t dflt) {
  const Value* v = arg(a, i, name);
  if (!v || v->is_none()) return dflt;
  if (v->kind != Kind::Int && v->kind != Kind::Bool) fail(a.line, std::string("TypeError: ") + name + " must be an integer");
  return v->as_int();
}

List to_list(const std::vector<std::string>& parts) {
  List out;
  for (const auto& p : parts) out.push_back(Value::string(p));
  return out;
}

// startswith/endswith with a str or a tuple of str, and optional start/end (code points).
bool affix(const std::string& self, CallArgs& a, bool prefix) {
  const Value* what = arg(a, 0, prefix ? "prefix" : "suffix");
  if (!what) fail(a.line, "TypeError: startswith/endswith need an argument");
  std::u32string s = utf8_decode(self);
  int64_t n = static_cast<int64_t>(s.size());
  auto clamp = [&](int64_t x) { return x < 0 ? std::max<int64_t>(0, x + n) : std::min(x, n); };
  int64_t b = clamp(opt_int(a, 1, "start", 0)), e = clamp(opt_int(a, 2, "end", n));
  std::string window = b <= e ? utf8_encode(std::u32string_view(s).substr(b, e - b)) : std::string();
  if (b > e) return false;
  auto one = [&](const Value& v) {
    if (!v.is_string()) fail(a.line, "TypeError: startswith/endswith first arg must be str or a tuple of str, not " + type_name(v));
    if (v.str.size() > window.size()) return false;
    return prefix ? window.compare(0, v.str.size(), v.str) == 0 : window.compare(window.size() - v.str.size(), v.str.size(), v.str) == 0;
  };
  if (what->is_list() && what->is_tuple) return std::any_of(what->list->begin(), what->list->end(), one);
  return one(*what);
}

template <typename Pred>
bool all_chars(const std::string& s, Pred p) {
  std::u32string cps = utf8_decode(s);
  return !cps.empty() && std::all_of(cps.begin(), cps.end(), p);
}

std::string str_format(const std::string& fmt, CallArgs& a);

Value str_method(const std::string& self, const std::string& name, CallArgs& a) {
  if (name == "startswith") return Value::boolean(affix(self, a, true));
  if (name == "endswith") return Value::boolean(affix(self, a, false));
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    check_args(a, 1, {}, name.c_str());
    return Value::string(py_strip(self, opt_arg_str(a, 0, "chars"), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    check_args(a, 2, {"sep", "maxsplit"}, name.c_str());
    auto sep = opt_arg_str(a, 0, "sep");
    if (sep && sep->empty()) fail(a.line, "ValueError: empty separator");
    return Value::make_list(to_list(py_split(self, sep, opt_int(a, 1, "maxsplit", -1), name == "rsplit")));
  }
  if (name == "splitlines") return Value::make_list(to_list(py_splitlines(self, arg(a, 0, "keepends") && truthy(*arg(a, 0, "keepends")))));
  if (name == "upper") return Value::string(py_upper(self));
  if (name == "lower" || name == "casefold") return Value::string(py_lower(self));
  if (name == "title") return Value::string(py_title(self));
  if (name == "capitalize") return Value::string(py_capitalize(self));
  if (name == "swapcase") {
    std::string out;
    for (char32_t c : utf8_decode(self)) utf8_append(out, is_upper(c) ? to_lower(c) : to_upper(c));
    return Value::string(out);
  }
  if (name == "replace") {
    check_args(a, 3, {"count"}, "replace");
    const std::string from = need_str(a, 0, "old", "replace"), to = need_str(a, 1, "new", "replace");
    check_size(replaced_size_bound(self, from, to), a.line);
    return Value::string(py_replace(self, from, to, opt_int(a, 2, "count", -1)));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    if (a.args.size() > 1) unsupported(a.line, "str." + name + "() with start/end arguments");
    int64_t at = py_find(self, need_str(a, 0, "sub", name.c_str()), name[0] == 'r');
    if (at < 0 && name.find("index") != std::string::npos) fail(a.line, "ValueError: substring not found");
    return Value::integer(at);
  }
  if (name == "count") {
    if (a.args.size() > 1) unsupported(a.line, "str.count() with start/end arguments");
    return Value::integer(py_count(self, need_str(a, 0, "sub", "count")));
  }
  if (name == "join") {
    const Value* items = arg(a, 0, "iterable");
    if (!items) fail(a.line, "TypeError: join() takes exactly one argument");
    std::string out;
    bool first = true;
    for (const auto& v : iterate(*items, a.line)) {
      if (!v.is_string()) fail(a.line, "TypeError: sequence item: expected str instance, " + type_name(v) + " found");
      if (!first) out += self;
      first = false;
      out += v.str;
      check_size(out.size(), a.line);
    }
    return Value::string(out);
  }
  if (name == "removeprefix") {
    const std::string& p = need_str(a, 0, "prefix", "removeprefix");
    return Value::string(self.compare(0, p.size(), p) == 0 ? self.substr(p.size()) : self);
  }
  if (name == "removesuffix") {
    const std::string& p = need_str(a, 0, "suffix", "removesuffix");
    bool ends = p.size() <= self.size() && self.compare(self.size() - p.size(), p.size(), p) == 0;
    return Value::string(ends && !p.empty() ? self.substr(0, self.size() - p.size()) : self);
  }
  if (name == "partition" || name == "rpartition") {
    const std::string& sep = need_str(a, 0, "sep", name.c_str());
    if (sep.empty()) fail(a.line, "ValueError: empty separator");
    size_t at = name == "partition" ? self.find(sep) : self.rfind(sep);
    if (at == std::string::npos)
      return name == "partition" ? Value::make_list({Value::string(self), Value::string(""), Value::string("")}, true)
                                 : Value::make_list({Value::string(""), Value::string(""), Value::string(self)}, true);
    return Value::make_list({Value::string(self.substr(0, at)), Value::string(sep), Value::string(self.substr(at + sep.size()))}, true);
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    std::string fill = opt_arg_str(a, 1, "fillchar").value_or(" ");
    check_size(static_cast<uint64_t>(std::max<int64_t>(0, opt_int(a, 0, "width", 0))) * std::max<std::size_t>(1, fill.size()), a.line);
    return Value::string(py_center(self, opt_int(a, 0, "width", 0), fill, name == "ljust" ? -1 : name == "rjust" ? 1 : 0));
  }
  if (name == "zfill") {
    int64_t width = opt_int(a, 0, "width", 0);
    check_size(static_cast<uint64_t>(std::max<int64_t>(0, width)), a.line);
    std::u32string s = utf8_decode(self);
    if (static_cast<int64_t>(s.size()) >= width) return Value::string(self);
    size_t sign = !s.empty() && (s[0] == '+' || s[0] == '-');
    s.insert(sign, std::u32string(width - s.size(), U'0'));
    return Value::string(utf8_encode(s));
  }
  if (name == "format") return Value::string(str_format(self, a));
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric")
    return Value::boolean(all_chars(self, [](char32_t c) { return c >= '0' && c <= '9'; }));
  if (name == "isalpha")
    return Value::boolean(all_chars(self, [](char32_t c) { return is_word(c) && c != '_' && !(c >= '0' && c <= '9'); }));
  if (name == "isalnum") return Value::boolean(all_chars(self, [](char32_t c) { return is_word(c) && c != '_'; }));
  if (name == "isspace") return Value::boolean(all_chars(self, is_space));
  if (name == "isascii") return Value::boolean(std::all_of(self.begin(), self.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }));
  if (name == "isupper" || name == "islower") {
    bool any_cased = false, ok = true;
    for (char32_t c : utf8_decode(self)) {
      if (!is_cased(c)) continue;
      any_cased = true;
      ok &= name == "isupper" ? !is_lower(c) : !is_upper(c);
    }
    return Value::boolean(any_cased && ok);
  }
  unsupported(a.line, "the str method '" + name + "()'");
}

Value dict_method(const Value& self, const std::string& name, CallArgs& a) {
  if (name == "items") {
    List out;
    for (const auto& [k, v] : *self.dict) out.push_back(Value::make_list({Value::string(k), v}, true));
    return Value::make_list(std::move(out));
  }
  if (name == "keys") {
    List out;
    for (const auto& kv : *self.dict) out.push_back(Value::string(kv.first));
    return Value::make_list(std::move(out));
  }
  if (name == "values") {
    List out;
    for (const auto& kv : *self.dict) out.push_back(kv.second);
    return Value::make_list(std::move(out));
  }
  if (name == "get") {
    if (a.args.empty() || a.args.size() > 2 || !a.kwargs.empty()) fail(a.line, "TypeError: get expected 1 or 2 arguments");
    const Value* v = a.args[0].is_string() ? self.find(a.args[0].str) : nullptr;
    if (v) return *v;
    return a.args.size() > 1 ? a.args[1] : Value::none();
  }
  if (name == "copy") return self;
  unsupported(a.line, "the dict method '" + name + "()'");
}

Value list_method(const Value& self, const std::string& name, CallArgs& a) {
  if (name == "index" || name == "count") {
    if (a.args.size() != 1) unsupported(a.line, "list." + name + "() with start/end arguments");
    int64_t n = 0;
    for (size_t k = 0; k < self.list->size(); ++k) {
      if (!equals((*self.list)[k], a.args[0])) continue;
      if (name == "index") return Value::integer(static_cast<int64_t>(k));
      ++n;
    }
    if (name == "index") fail(a.line, "ValueError: " + repr(a.args[0]) + " is not in list");
    return Value::integer(n);
  }
  if (name == "copy") return Value::make_list(*self.list, self.is_tuple);
  unsupported(a.line, "the list method '" + name + "()'");
}

// Python's str.format for the replacement fields templates use: {}, {0}, {name}, {name.attr},
// {!r}/{!s} conversions; format specs are not implemented.
std::string str_format(const std::string& fmt, CallArgs& a) {
  std::string out;
  size_t auto_index = 0;
  for (size_t k = 0; k < fmt.size(); ++k) {
    char c = fmt[k];
    if (c == '}') {
      if (k + 1 < fmt.size() && fmt[k + 1] == '}') ++k;
      else fail(a.line, "ValueError: Single '}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (k + 1 < fmt.size() && fmt[k + 1] == '{') {
      out += '{';
      ++k;
      continue;
    }
    size_t end = fmt.find('}', k);
    if (end == std::string::npos) fail(a.line, "ValueError: Single '{' encountered in format string");
    std::string field = fmt.substr(k + 1, end - k - 1);
    k = end;
    char conv = 0;
    if (auto colon = field.find(':'); colon != std::string::npos) {
      if (colon + 1 < field.size()) unsupported(a.line, "format specs in str.format ('" + field + "')");
      field.erase(colon);
    }
    if (auto bang = field.find('!'); bang != std::string::npos) {
      conv = bang + 1 < field.size() ? field[bang + 1] : 0;
      field.erase(bang);
    }
    std::string head = field.substr(0, field.find_first_of(".["));
    Value v;
    if (head.empty()) {
      if (auto_index >= a.args.size()) fail(a.line, "IndexError: Replacement index " + std::to_string(auto_index) + " out of range for positional args tuple");
      v = a.args[auto_index++];
    } else if (std::all_of(head.begin(), head.end(), ::isdigit)) {
      const auto i = static_cast<size_t>(parse_digits(head, a.line));
      if (i >= a.args.size()) fail(a.line, "IndexError: Replacement index " + head + " out of range for positional args tuple");
      v = a.args[i];
    } else {
      const Value* kv = arg(a, SIZE_MAX, head.c_str());
      if (!kv) fail(a.line, "KeyError: '" + head + "'");
      v = *kv;
    }
    if (head.size() < field.size()) unsupported(a.line, "attribute or index access in str.format fields ('" + field + "')");
    out += conv == 'r' ? repr(v) : to_str(v);
  }
  return out;
}

}  // namespace

bool find_method(const Value& obj, const std::string& name, int line, Value& out) {
  const std::set<std::string>* known = obj.is_string() ? &kStrMethods : obj.is_dict() ? &kDictMethods : obj.is_list() ? &kListMethods : nullptr;
  if (!known || !known->count(name)) return false;
  if (obj.is_list() && obj.is_tuple && name != "index" && name != "count") return false;
  if (kMutating.count(name)) {
    // ImmutableSandboxedEnvironment hands back an undefined that raises SecurityError when used.
    out = Value::undefined("access to attribute '" + name + "' of '" + type_name(obj) + "' object is unsafe.");
    out.str = "SecurityError: " + out.str;
    return true;
  }
  (void)line;
  Value self = obj;
  out = Value::function([self, name](CallArgs& a) -> Value {
    if (self.is_string()) return str_method(self.str, name, a);
    if (self.is_dict()) return dict_method(self, name, a);
    return list_method(self, name, a);
  });
  return true;
}

std::string percent_format(const std::string& fmt, const Value& args, int line) {
  std::vector<Value> positional = args.is_list() && args.is_tuple ? *args.list : std::vector<Value>{args};
  size_t next = 0;
  std::string out;
  for (size_t k = 0; k < fmt.size(); ++k) {
    if (fmt[k] != '%') {
      out += fmt[k];
      continue;
    }
    if (++k >= fmt.size()) fail(line, "ValueError: incomplete format");
    Value v;
    bool have = false;
    if (fmt[k] == '(') {
      size_t end = fmt.find(')', k);
      if (end == std::string::npos || !args.is_dict()) fail(line, "TypeError: format requires a mapping");
      const Value* f = args.find(fmt.substr(k + 1, end - k - 1));
      if (!f) fail(line, "KeyError: '" + fmt.substr(k + 1, end - k - 1) + "'");
      v = *f;
      have = true;
      k = end + 1;
    }
    std::string spec = "%";
    while (k < fmt.size() && std::string("-+ #0123456789.").find(fmt[k]) != std::string::npos) spec += fmt[k++];
    if (k >= fmt.size()) fail(line, "ValueError: incomplete format");
    char conv = fmt[k];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (!have) {
      if (next >= positional.size()) fail(line, "TypeError: not enough arguments for format string");
      v = positional[next++];
    }
    char buf[512];
    switch (conv) {
      case 's':
      case 'r': {
        std::string s = conv == 's' ? to_str(v) : repr(v);
        std::snprintf(buf, sizeof buf, (spec + "s").c_str(), s.c_str());
        out += spec == "%" ? s : std::string(buf);
        break;
      }
      case 'd':
      case 'i':
        if (!v.is_number()) fail(line, "TypeError: %d format: a real number is required, not " + type_name(v));
        std::snprintf(buf, sizeof buf, (spec + "lld").c_str(), static_cast<long long>(v.kind == Kind::Float ? static_cast<int64_t>(v.f) : v.as_int()));
        out += buf;
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'g':
        if (!v.is_number()) fail(line, std::string("TypeError: must be real number, not ") + type_name(v));
        std::snprintf(buf, sizeof buf, (spec + conv).c_str(), v.as_double());
        out += buf;
        break;
      default: unsupported(line, std::string("the %-format conversion '%") + conv + "'");
    }
  }
  if (next < positional.size() && !(args.is_dict()) && !(positional.size() == 1 && next == 0 && false))
    if (next != positional.size()) fail(line, "TypeError: not all arguments converted during string formatting");
  return out;
}

}  // namespace shadowpeft::jinja
