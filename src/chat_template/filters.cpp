// jinja2's builtin filters (plus transformers' `tojson`), with their Python semantics.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "builtins.h"
#include "errors.h"
#include "interpreter.h"
#include "strings.h"
#include "unicode.h"

namespace shadowpeft::jinja {

const Value* arg(CallArgs& a, size_t index, const char* name) {
  if (index < a.args.size()) return &a.args[index];
  for (auto& [k, v] : a.kwargs)
    if (k == name) return &v;
  return nullptr;
}

void check_args(CallArgs& a, size_t max_positional, std::initializer_list<const char*> names, const char* what) {
  if (a.args.size() > max_positional)
    fail(a.line, std::string("TypeError: ") + what + "() takes at most " + std::to_string(max_positional) + " argument(s) (" +
                     std::to_string(a.args.size()) + " given)");
  for (const auto& [k, v] : a.kwargs) {
    bool known = false;
    for (const char* n : names) known |= k == n;
    if (!known) fail(a.line, std::string("TypeError: ") + what + "() got an unexpected keyword argument '" + k + "'");
  }
}

namespace {

bool flag(CallArgs& a, size_t i, const char* name, bool dflt = false) {
  const Value* v = arg(a, i, name);
  return v ? truthy(*v) : dflt;
}

std::optional<std::string> opt_str(CallArgs& a, size_t i, const char* name) {
  const Value* v = arg(a, i, name);
  if (!v || v->is_none()) return std::nullopt;
  return to_str(*v);
}

// jinja2's make_attrgetter: "a.b.0" walks item/attribute lookups, integer parts as indices.
Value attr_path(Interpreter& in, const Value& obj, const Value& path, int line) {
  if (!path.is_string()) return in.getitem(obj, path, line);
  Value cur = obj;
  size_t b = 0;
  const std::string& p = path.str;
  while (true) {
    size_t e = p.find('.', b);
    std::string part = p.substr(b, e == std::string::npos ? std::string::npos : e - b);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = in.getitem(cur, digits ? Value::integer(parse_digits(part, line)) : Value::string(part), line);
    if (e == std::string::npos) return cur;
    b = e + 1;
  }
}

Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value::string(py_lower(v.str));
  return v;
}

Value f_trim(Interpreter&, const Value& in, CallArgs& a) {
  check_args(a, 1, {"chars"}, "trim");
  return Value::string(py_strip(to_str(in), opt_str(a, 0, "chars"), true, true));
}

Value f_tojson(Interpreter&, const Value& in, CallArgs& a) {
  check_args(a, 4, {"ensure_ascii", "indent", "separators", "sort_keys"}, "tojson");
  JsonDumpStyle st;
  st.ensure_ascii = flag(a, 0, "ensure_ascii");
  if (const Value* ind = arg(a, 1, "indent"); ind && !ind->is_none()) {
    st.has_indent = true;
    if (ind->is_string()) st.indent = ind->str;
    else {
      check_size(static_cast<uint64_t>(std::max<int64_t>(0, ind->as_int())), a.line);
      st.indent = std::string(std::max<int64_t>(0, ind->as_int()), ' ');
    }
    st.item_separator = ",";
  }
  if (const Value* sep = arg(a, 2, "separators"); sep && !sep->is_none()) {
    if (!sep->is_list() || sep->list->size() != 2) fail(a.line, "ValueError: tojson separators must be an (item_separator, key_separator) pair");
    st.item_separator = to_str((*sep->list)[0]);
    st.key_separator = to_str((*sep->list)[1]);
  }
  st.sort_keys = flag(a, 3, "sort_keys");
  return Value::string(json_dumps(in, st, a.line));
}

Value f_length(Interpreter&, const Value& in, CallArgs& a) { return Value::integer(length(in, a.line)); }
Value f_upper(Interpreter&, const Value& in, CallArgs&) { return Value::string(py_upper(to_str(in))); }
Value f_lower(Interpreter&, const Value& in, CallArgs&) { return Value::string(py_lower(to_str(in))); }
Value f_capitalize(Interpreter&, const Value& in, CallArgs&) { return Value::string(py_capitalize(to_str(in))); }
Value f_string(Interpreter&, const Value& in, CallArgs&) { return Value::string(to_str(in)); }
Value f_safe(Interpreter&, const Value& in, CallArgs&) { return in; }

// jinja2's do_title: capitalise after runs of '-', whitespace and opening brackets.
Value f_title(Interpreter&, const Value& in, CallArgs&) {
  std::u32string cps = utf8_decode(to_str(in));
  std::string out;
  bool word_start = true;
  for (char32_t c : cps) {
    bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_space(c);
    if (sep) {
      utf8_append(out, c);
      word_start = true;
    } else {
      utf8_append(out, word_start ? to_upper(c) : to_lower(c));
      word_start = false;
    }
  }
  return Value::string(out);
}

bool parse_int(std::string s, int64_t base, int64_t& out) {
  s = py_strip(s, std::nullopt, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return false;
  try {
    size_t used = 0;
    out = std::stoll(s, &used, static_cast<int>(base));
    return used == s.size();
  } catch (...) {
    return false;
  }
}

bool parse_float(std::string s, double& out) {
  s = py_strip(s, std::nullopt, true, true);
  if (s.empty()) return false;
  std::string low = py_lower(s);
  if (low == "inf" || low == "+inf" || low == "infinity" || low == "+infinity") return out = INFINITY, true;
  if (low == "-inf" || low == "-infinity") return out = -INFINITY, true;
  if (low == "nan" || low == "+nan" || low == "-nan") return out = NAN, true;
  if (low.find_first_not_of("0123456789+-.e_") != std::string::npos) return false;
  try {
    size_t used = 0;
    out = std::stod(s, &used);
    return used == s.size();
  } catch (...) {
    return false;
  }
}

Value f_int(Interpreter&, const Value& in, CallArgs& a) {
  check_args(a, 2, {"default", "base"}, "int");
  const Value* d = arg(a, 0, "default");
  Value dflt = d ? *d : Value::integer(0);
  const Value* b = arg(a, 1, "base");
  int64_t base = b ? b->as_int() : 10;
  if (in.kind == Kind::Int || in.kind == Kind::Bool) return Value::integer(in.as_int());
  if (in.kind == Kind::Float) return std::isfinite(in.f) ? Value::integer(static_cast<int64_t>(in.f)) : dflt;
  if (in.is_string()) {
    int64_t v;
    if (parse_int(in.str, base, v)) return Value::integer(v);
    double f;
    if (parse_float(in.str, f) && std::isfinite(f)) return Value::integer(static_cast<int64_t>(f));
  }
  return dflt;
}

Value f_float(Interpreter&, const Value& in, CallArgs& a) {
  check_args(a, 1, {"default"}, "float");
  const Value* d = arg(a, 0, "default");
  Value dflt = d ? *d : Value::real(0.0);
  if (in.is_number()) return Value::real(in.as_double());
  double f;
  if (in.is_string() && parse_float(in.str, f)) return Value::real(f);
  return dflt;
}

Value f_default(Interpreter&, const Value& in, CallArgs& a) {
  check_args(a, 2, {"default_value", "boolean"}, "default");
  const Value* d = arg(a, 0, "default_value");
  bool boolean = flag(a, 1, "boolean");
  if (in.is_undefined() || (boolean && !truthy(in))) return d ? *d : Value::string("");
  return in;
}

Value f_items(Interpreter&, const Value& in, CallArgs& a) {
  if (in.is_undefined()) return Value::make_list({});
  if (!in.is_dict()) fail(a.line, "TypeError: Can only get item pairs from a mapping.");
  List out;
  for (const auto& [k, v] : *in.dict) out.push_back(Value::make_list({Value::string(k), v}, true));
  return Value::make_list(std::move(out));
}

Value f_list(Interpreter&, const Value& in, CallArgs& a) { return Value::make_list(iterate(in, a.line)); }

Value f_first(Interpreter&, const Value& in, CallArgs& a) {
  List items = iterate(in, a.line);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Interpreter&, const Value& in, CallArgs& a) {
  List items = iterate(in, a.line);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_join(Interpreter& interp, const Value& in, CallArgs& a) {
  check_args(a, 2, {"d", "attribute"}, "join");
  std::string sep = opt_str(a, 0, "d").value_or("");
  const Value* attr = arg(a, 1, "attribute");
  std::string out;
  bool first = true;
  for (const auto& v : iterate(in, a.line)) {
    if (!first) out += sep;
    first = false;
    out += to_str(attr ? attr_path(interp, v, *attr, a.line) : v);
    check_size(out.size(), a.line);
  }
  return Value::string(out);
}

Value f_replace(Interpreter&, const Value& in, CallArgs& a) {
  check_args(a, 3, {"old", "new", "count"}, "replace");
  const Value* old = arg(a, 0, "old");
  const Value* repl = arg(a, 1, "new");
  if (!old || !repl) fail(a.line, "TypeError: replace() needs old and new");
  const Value* count = arg(a, 2, "count");
  const std::string text = to_str(in), from = to_str(*old), to = to_str(*repl);
  check_size(replaced_size_bound(text, from, to), a.line);
  return Value::string(py_replace(text, from, to, count && !count->is_none() ? count->as_int() : -1));
}

Value f_reverse(Interpreter&, const Value& in, CallArgs& a) {
  if (in.is_string()) {
    std::u32string cps = utf8_decode(in.str);
    std::reverse(cps.begin(), cps.end());
    return Value::string(utf8_encode(cps));
  }
  List items = iterate(in, a.line);
  std::reverse(items.begin(), items.end());
  return Value::make_list(std::move(items));
}

void sort_values(Interpreter& interp, List& items, bool reverse, bool case_sensitive, const Value* attr, int line) {
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& v : items) keyed.emplace_back(sort_key(attr ? attr_path(interp, v, *attr, line) : v, case_sensitive), v);
  try {
    std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
      return reverse ? less(y.first, x.first) : less(x.first, y.first);
    });
  } catch (const TemplateRenderError& e) {
    fail(line, std::string("TypeError: ") + e.what());
  }
  for (size_t k = 0; k < items.size(); ++k) items[k] = keyed[k].second;
}

Value f_sort(Interpreter& interp, const Value& in, CallArgs& a) {
  check_args(a, 3, {"reverse", "case_sensitive", "attribute"}, "sort");
  List items = iterate(in, a.line);
  sort_values(interp, items, flag(a, 0, "reverse"), flag(a, 1, "case_sensitive"), arg(a, 2, "attribute"), a.line);
  return Value::make_list(std::move(items));
}

Value f_dictsort(Interpreter&, const Value& in, CallArgs& a) {
  check_args(a, 3, {"case_sensitive", "by", "reverse"}, "dictsort");
  if (!in.is_dict()) fail(a.line, "TypeError: dictsort needs a mapping");
  bool cs = flag(a, 0, "case_sensitive");
  std::string by = opt_str(a, 1, "by").value_or("key");
  if (by != "key" && by != "value") fail(a.line, "FilterArgumentError: You can only sort by either \"key\" or \"value\"");
  bool rev = flag(a, 2, "reverse");
  List items;
  for (const auto& [k, v] : *in.dict) items.push_back(Value::make_list({Value::string(k), v}, true));
  try {
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
      size_t i = by == "key" ? 0 : 1;
      Value kx = sort_key((*x.list)[i], cs), ky = sort_key((*y.list)[i], cs);
      return rev ? less(ky, kx) : less(kx, ky);
    });
  } catch (const TemplateRenderError& e) {
    fail(a.line, std::string("TypeError: ") + e.what());
  }
  return Value::make_list(std::move(items));
}

Value f_unique(Interpreter& interp, const Value& in, CallArgs& a) {
  check_args(a, 2, {"case_sensitive", "attribute"}, "unique");
  bool cs = flag(a, 0, "case_sensitive");
  const Value* attr = arg(a, 1, "attribute");
  List out, seen;
  for (const auto& v : iterate(in, a.line)) {
    Value key = sort_key(attr ? attr_path(interp, v, *attr, a.line) : v, cs);
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); })) continue;
    seen.push_back(key);
    out.push_back(v);
  }
  return Value::make_list(std::move(out));
}

Value apply_test(Interpreter& interp, const Value& v, CallArgs& a, size_t first_arg) {
  if (a.args.size() <= first_arg) return Value::boolean(truthy(v));
  std::string name = to_str(a.args[first_arg]);
  TestFn t = find_test(name);
  if (!t) unsupported(a.line, "the test '" + name + "'");
  CallArgs rest;
  rest.line = a.line;
  rest.args.assign(a.args.begin() + static_cast<long>(first_arg) + 1, a.args.end());
  return Value::boolean(t(interp, v, rest));
}

Value select_impl(Interpreter& interp, const Value& in, CallArgs& a, bool by_attr, bool keep) {
  List out;
  for (const auto& v : iterate(in, a.line)) {
    Value probe = v;
    if (by_attr) {
      if (a.args.empty()) fail(a.line, "TypeError: selectattr/rejectattr need an attribute name");
      probe = attr_path(interp, v, a.args[0], a.line);
    }
    if (truthy(apply_test(interp, probe, a, by_attr ? 1 : 0)) == keep) out.push_back(v);
  }
  return Value::make_list(std::move(out));
}

Value f_select(Interpreter& i, const Value& in, CallArgs& a) { return select_impl(i, in, a, false, true); }
Value f_reject(Interpreter& i, const Value& in, CallArgs& a) { return select_impl(i, in, a, false, false); }
Value f_selectattr(Interpreter& i, const Value& in, CallArgs& a) { return select_impl(i, in, a, true, true); }
Value f_rejectattr(Interpreter& i, const Value& in, CallArgs& a) { return select_impl(i, in, a, true, false); }

Value f_map(Interpreter& interp, const Value& in, CallArgs& a) {
  List out;
  const Value* attr = nullptr;
  const Value* dflt = nullptr;
  for (auto& [k, v] : a.kwargs) {
    if (k == "attribute") attr = &v;
    else if (k == "default") dflt = &v;
  }
  if (attr) {
    for (const auto& v : iterate(in, a.line)) {
      Value r = attr_path(interp, v, *attr, a.line);
      out.push_back(r.is_undefined() && dflt ? *dflt : r);
    }
    return Value::make_list(std::move(out));
  }
  if (a.args.empty()) fail(a.line, "TypeError: map() needs a filter name or attribute=");
  std::string name = to_str(a.args[0]);
  FilterFn f = find_filter(name);
  if (!f) unsupported(a.line, "the filter '" + name + "'");
  for (const auto& v : iterate(in, a.line)) {
    CallArgs rest;
    rest.line = a.line;
    rest.args.assign(a.args.begin() + 1, a.args.end());
    rest.kwargs = a.kwargs;
    out.push_back(f(interp, v, rest));
  }
  return Value::make_list(std::move(out));
}

Value f_escape(Interpreter&, const Value& in, CallArgs&) {
  std::string out;
  for (char c : to_str(in)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value::string(out);
}

Value f_indent(Interpreter&, const Value& in, CallArgs& a) {
  check_args(a, 3, {"width", "first", "blank"}, "indent");
  const Value* w = arg(a, 0, "width");
  if (w && !w->is_string()) check_size(static_cast<uint64_t>(std::max<int64_t>(0, w->as_int())), a.line);
  std::string ind = !w ? std::string(4, ' ') : w->is_string() ? w->str : std::string(std::max<int64_t>(0, w->as_int()), ' ');
  bool first = flag(a, 1, "first"), blank = flag(a, 2, "blank");
  // jinja2 appends a newline before splitting, so a trailing newline is not indented.
  std::vector<std::string> lines = py_splitlines(to_str(in) + "\n", false);
  std::string rv;
  if (blank) {
    for (size_t k = 0; k < lines.size(); ++k) rv += (k ? "\n" + ind : "") + lines[k];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t k = 1; k < lines.size(); ++k) rv += "\n" + (lines[k].empty() ? "" : ind) + lines[k];
  }
  if (first) rv = ind + rv;
  return Value::string(rv);
}

Value f_wordcount(Interpreter&, const Value& in, CallArgs&) {
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : utf8_decode(to_str(in))) {
    bool w = is_word(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

Value f_abs(Interpreter&, const Value& in, CallArgs& a) {
  if (!in.is_number()) fail(a.line, "TypeError: bad operand type for abs(): '" + type_name(in) + "'");
  if (in.kind == Kind::Float) return Value::real(std::fabs(in.f));
  return Value::integer(in.as_int() < 0 ? sub_checked(0, in.as_int(), a.line) : in.as_int());
}

Value f_round(Interpreter&, const Value& in, CallArgs& a) {
  check_args(a, 2, {"precision", "method"}, "round");
  const Value* p = arg(a, 0, "precision");
  int64_t prec = p ? p->as_int() : 0;
  std::string method = opt_str(a, 1, "method").value_or("common");
  if (!in.is_number()) fail(a.line, "TypeError: round needs a number");
  double x = in.as_double(), scale = std::pow(10.0, static_cast<double>(prec));
  if (method == "floor") return Value::real(std::floor(x * scale) / scale);
  if (method == "ceil") return Value::real(std::ceil(x * scale) / scale);
  if (method != "common") fail(a.line, "FilterArgumentError: method must be common, ceil or floor");
  if (in.kind != Kind::Float && prec >= 0) return Value::integer(in.as_int());
  // Python's round() rounds the exact binary value half-to-even, as printf does.
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::max<int64_t>(prec, 0)), x);
  return Value::real(std::stod(buf));
}

Value f_sum(Interpreter& interp, const Value& in, CallArgs& a) {
  check_args(a, 2, {"attribute", "start"}, "sum");
  const Value* attr = arg(a, 0, "attribute");
  const Value* start = arg(a, 1, "start");
  Value acc = start ? *start : Value::integer(0);
  for (const auto& v : iterate(in, a.line)) {
    Value x = attr && !attr->is_none() ? attr_path(interp, v, *attr, a.line) : v;
    if (acc.is_number() && x.is_number())
      acc = (acc.kind == Kind::Float || x.kind == Kind::Float) ? Value::real(acc.as_double() + x.as_double()) : Value::integer(add_checked(acc.as_int(), x.as_int(), a.line));
    else
      fail(a.line, "TypeError: unsupported operand type(s) for +: '" + type_name(acc) + "' and '" + type_name(x) + "'");
  }
  return acc;
}

Value min_max(Interpreter& interp, const Value& in, CallArgs& a, bool want_max) {
  check_args(a, 2, {"case_sensitive", "attribute"}, want_max ? "max" : "min");
  bool cs = flag(a, 0, "case_sensitive");
  const Value* attr = arg(a, 1, "attribute");
  List items = iterate(in, a.line);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = sort_key(attr ? attr_path(interp, items[0], *attr, a.line) : items[0], cs);
  for (size_t k = 1; k < items.size(); ++k) {
    Value key = sort_key(attr ? attr_path(interp, items[k], *attr, a.line) : items[k], cs);
    bool better;
    try {
      better = want_max ? less(best_key, key) : less(key, best_key);
    } catch (const TemplateRenderError& e) {
      fail(a.line, std::string("TypeError: ") + e.what());
    }
    if (better) {
      best = k;
      best_key = key;
    }
  }
  return items[best];
}

Value f_min(Interpreter& i, const Value& in, CallArgs& a) { return min_max(i, in, a, false); }
Value f_max(Interpreter& i, const Value& in, CallArgs& a) { return min_max(i, in, a, true); }

Value f_center(Interpreter&, const Value& in, CallArgs& a) {
  check_args(a, 1, {"width"}, "center");
  const Value* w = arg(a, 0, "width");
  if (w) check_size(static_cast<uint64_t>(std::max<int64_t>(0, w->as_int())), a.line);
  return Value::string(py_center(to_str(in), w ? w->as_int() : 80, " ", 0));
}

Value f_format(Interpreter&, const Value& in, CallArgs& a) {
  if (!a.args.empty() && !a.kwargs.empty()) fail(a.line, "FilterArgumentError: can't handle positional and keyword arguments at the same time");
  if (!a.kwargs.empty()) {
    Dict d(a.kwargs.begin(), a.kwargs.end());
    return Value::string(percent_format(to_str(in), Value::make_dict(std::move(d)), a.line));
  }
  return Value::string(percent_format(to_str(in), Value::make_list(a.args, true), a.line));
}

Value f_attr(Interpreter& interp, const Value& in, CallArgs& a) {
  if (a.args.size() != 1 || !a.args[0].is_string()) fail(a.line, "TypeError: attr() needs an attribute name");
  return interp.getattr(in, a.args[0].str, a.line);
}

Value f_batch(Interpreter&, const Value& in, CallArgs& a) {
  check_args(a, 2, {"linecount", "fill_with"}, "batch");
  const Value* n = arg(a, 0, "linecount");
  if (!n || n->as_int() <= 0) fail(a.line, "TypeError: batch needs a positive size");
  const Value* fill = arg(a, 1, "fill_with");
  List out, cur;
  for (const auto& v : iterate(in, a.line)) {
    cur.push_back(v);
    if (static_cast<int64_t>(cur.size()) == n->as_int()) {
      out.push_back(Value::make_list(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    if (fill && !fill->is_none())
      while (static_cast<int64_t>(cur.size()) < n->as_int()) cur.push_back(*fill);
    out.push_back(Value::make_list(std::move(cur)));
  }
  return Value::make_list(std::move(out));
}

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> table = {
      {"abs", f_abs},           {"attr", f_attr},         {"batch", f_batch},         {"capitalize", f_capitalize},
      {"center", f_center},     {"count", f_length},      {"d", f_default},           {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape},          {"escape", f_escape},       {"first", f_first},
      {"float", f_float},       {"forceescape", f_escape}, {"format", f_format},      {"indent", f_indent},
      {"int", f_int},           {"items", f_items},       {"join", f_join},           {"last", f_last},
      {"length", f_length},     {"list", f_list},         {"lower", f_lower},         {"map", f_map},
      {"max", f_max},           {"min", f_min},           {"reject", f_reject},       {"rejectattr", f_rejectattr},
      {"replace", f_replace},   {"reverse", f_reverse},   {"round", f_round},         {"safe", f_safe},
      {"select", f_select},     {"selectattr", f_selectattr}, {"sort", f_sort},       {"string", f_string},
      {"sum", f_sum},           {"title", f_title},       {"tojson", f_tojson},       {"trim", f_trim},
      {"unique", f_unique},     {"upper", f_upper},       {"wordcount", f_wordcount},
  };
  return table;
}

}  // namespace

FilterFn find_filter(const std::string& name) {
  auto it = filters().find(name);
  return it == filters().end() ? nullptr : it->second;
}

}  // namespace shadowpeft::jinja
