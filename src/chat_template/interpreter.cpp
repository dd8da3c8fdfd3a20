#include "interpreter.h"

#include <cmath>
#include <ctime>
#include <optional>

#include "builtins.h"
#include "errors.h"
#include "unicode.h"

namespace shadowpeft::jinja {

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return type_name(v) + " object";
}

void undefined_error(const Value& v, int line) {
  fail(line, "UndefinedError: " + (v.str.empty() ? std::string("value is undefined") : v.str));
}

Interpreter::Interpreter(const Template& tmpl, const Value& context) : tmpl_(tmpl), context_(context) { install_globals(); }

std::string Interpreter::render() {
  std::string out;
  exec(tmpl_.body, root_, out);
  return out;
}

namespace {

Value make_namespace(CallArgs& a) {
  auto ns = std::make_shared<Namespace>();
  auto put = [&](const std::string& k, const Value& v) {
    if (!k.empty() && k[0] == '_')
      fail(a.line, "SecurityError: Chat templates cannot store underscore-prefixed attributes on a namespace, but got " +
                       string_repr(k) + ". Please rename the attribute.");
    for (auto& kv : ns->attrs)
      if (kv.first == k) {
        kv.second = v;
        return;
      }
    ns->attrs.emplace_back(k, v);
  };
  for (const auto& p : a.args) {
    if (!p.is_dict()) fail(a.line, "namespace() takes a dict and keyword arguments, got " + type_name(p));
    for (const auto& [k, v] : *p.dict) put(k, v);
  }
  for (const auto& [k, v] : a.kwargs) put(k, v);
  Value v;
  v.kind = Kind::Namespace;
  v.ns = ns;
  return v;
}

Value make_dict(CallArgs& a) {
  Dict d;
  auto put = [&](const std::string& k, const Value& v) {
    for (auto& kv : d)
      if (kv.first == k) {
        kv.second = v;
        return;
      }
    d.emplace_back(k, v);
  };
  if (a.args.size() > 1) fail(a.line, "dict expected at most 1 argument, got " + std::to_string(a.args.size()));
  if (!a.args.empty()) {
    const Value& src = a.args[0];
    if (src.is_dict()) {
      for (const auto& [k, v] : *src.dict) put(k, v);
    } else {
      for (const auto& pair : iterate(src, a.line)) {
        if (!pair.is_list() || pair.list->size() != 2) fail(a.line, "dict() sequence elements must have length 2");
        if (!(*pair.list)[0].is_string()) unsupported(a.line, "dict keys that are not strings");
        put((*pair.list)[0].str, (*pair.list)[1]);
      }
    }
  }
  for (const auto& [k, v] : a.kwargs) put(k, v);
  return Value::make_dict(std::move(d));
}

Value make_range(CallArgs& a) {
  if (!a.kwargs.empty() || a.args.empty() || a.args.size() > 3) fail(a.line, "range() takes 1 to 3 positional arguments");
  for (const auto& v : a.args)
    if (v.kind != Kind::Int && v.kind != Kind::Bool) fail(a.line, "TypeError: '" + type_name(v) + "' object cannot be interpreted as an integer");
  int64_t start = 0, stop, step = 1;
  if (a.args.size() == 1) {
    stop = a.args[0].as_int();
  } else {
    start = a.args[0].as_int();
    stop = a.args[1].as_int();
    if (a.args.size() == 3) step = a.args[2].as_int();
  }
  if (step == 0) fail(a.line, "ValueError: range() arg 3 must not be zero");
  List out;
  for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
    // jinja2's sandbox refuses ranges longer than MAX_RANGE.
    if (out.size() >= 100000) fail(a.line, "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    out.push_back(Value::integer(k));
  }
  return Value::make_list(std::move(out));
}

}  // namespace

void Interpreter::install_globals() {
  globals_["range"] = Value::function(make_range);
  globals_["namespace"] = Value::function(make_namespace);
  globals_["dict"] = Value::function(make_dict);
  globals_["raise_exception"] = Value::function([](CallArgs& a) -> Value {
    throw TemplateRaisedError(a.args.empty() ? std::string() : to_str(a.args[0]));
  });
  globals_["strftime_now"] = Value::function([](CallArgs& a) -> Value {
    if (a.args.empty() || !a.args[0].is_string()) fail(a.line, "strftime_now(format) needs a format string");
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[512];
    size_t n = std::strftime(buf, sizeof buf, a.args[0].str.c_str(), &tm);
    return Value::string(std::string(buf, n));
  });
  for (const char* name : {"lipsum", "cycler", "joiner"}) {
    std::string n = name;
    globals_[n] = Value::function([n](CallArgs& a) -> Value { unsupported(a.line, "the global '" + n + "()'"); });
  }
}

Value Interpreter::lookup(const std::string& name, Scope& scope) {
  for (Scope* s = &scope; s; s = s->parent) {
    auto it = s->vars.find(name);
    if (it != s->vars.end()) return it->second;
  }
  if (const Value* v = context_.find(name)) return *v;
  auto it = globals_.find(name);
  if (it != globals_.end()) return it->second;
  return Value::undefined("'" + name + "' is undefined");
}

void Interpreter::count_step(int line) {
  if (++steps_ > kMaxSteps)
    fail(line, "the template ran more than " + std::to_string(kMaxSteps) + " steps (statements and loop iterations); the sandbox stops it");
}

Interpreter::Flow Interpreter::exec(const Body& body, Scope& scope, std::string& out) {
  for (const auto& sp : body) {
    const Stmt& s = *sp;
    count_step(s.line);
    check_size(out.size(), s.line);
    switch (s.kind) {
      case StmtKind::Text: out += s.text; break;
      case StmtKind::Output: out += to_str(eval(*s.expr, scope)); break;
      case StmtKind::If: {
        bool done = false;
        for (const auto& [cond, b] : s.branches) {
          if (truthy(eval(*cond, scope))) {
            Flow f = exec(b, scope, out);
            if (f != Flow::Normal) return f;
            done = true;
            break;
          }
        }
        if (!done) {
          Flow f = exec(s.else_body, scope, out);
          if (f != Flow::Normal) return f;
        }
        break;
      }
      case StmtKind::For: {
        Flow f = exec_for(s, scope, out);
        if (f != Flow::Normal) return f;
        break;
      }
      case StmtKind::Set: assign(s.target, eval(*s.expr, scope), scope, s.line); break;
      case StmtKind::SetBlock: {
        std::string text;
        Scope inner{{}, &scope};
        exec(s.body, inner, text);
        Value v = Value::string(std::move(text));
        if (s.filter) {
          Scope f{{{"\x01block", v}}, &scope};
          v = eval(*s.filter, f);
        }
        assign(s.target, v, scope, s.line);
        break;
      }
      case StmtKind::Macro: define_macro(s, scope); break;
      case StmtKind::Break: return Flow::Break;
      case StmtKind::Continue: return Flow::Continue;
      case StmtKind::FilterBlock: {
        std::string text;
        Scope inner{{}, &scope};
        exec(s.body, inner, text);
        Scope f{{{"\x01block", Value::string(std::move(text))}}, &scope};
        out += to_str(eval(*s.filter, f));
        break;
      }
      case StmtKind::With: {
        Scope inner{{}, &scope};
        for (const auto& [name, expr] : s.params) inner.vars[name] = eval(*expr, inner);
        Flow f = exec(s.body, inner, out);
        if (f != Flow::Normal) return f;
        break;
      }
      case StmtKind::Generation: {
        Flow f = exec(s.body, scope, out);
        if (f != Flow::Normal) return f;
        break;
      }
    }
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s, Scope& scope, std::string& out) {
  List items = iterate(eval(*s.expr, scope), s.line);
  if (s.filter) {
    List kept;
    for (const auto& item : items) {
      Scope probe{{}, &scope};
      assign(s.target, item, probe, s.line);
      if (truthy(eval(*s.filter, probe))) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    Scope inner{{}, &scope};
    return exec(s.else_body, inner, out);
  }
  const int64_t n = static_cast<int64_t>(items.size());
  for (int64_t k = 0; k < n; ++k) {
    count_step(s.line);
    // jinja2 gives every iteration a fresh frame: assignments in the body do not outlive it.
    Scope inner{{}, &scope};
    assign(s.target, items[k], inner, s.line);
    Dict loop = {{"index", Value::integer(k + 1)},     {"index0", Value::integer(k)},
                 {"revindex", Value::integer(n - k)},  {"revindex0", Value::integer(n - k - 1)},
                 {"first", Value::boolean(k == 0)},    {"last", Value::boolean(k == n - 1)},
                 {"length", Value::integer(n)},        {"depth", Value::integer(1)},
                 {"depth0", Value::integer(0)}};
    if (k > 0) loop.emplace_back("previtem", items[k - 1]);
    if (k + 1 < n) loop.emplace_back("nextitem", items[k + 1]);
    loop.emplace_back("cycle", Value::function([k](CallArgs& a) -> Value {
                        if (a.args.empty()) fail(a.line, "TypeError: no items for cycling given");
                        return a.args[k % a.args.size()];
                      }));
    inner.vars["loop"] = Value::make_dict(std::move(loop));
    Flow f = exec(s.body, inner, out);
    if (f == Flow::Break) break;
  }
  return Flow::Normal;
}

void Interpreter::define_macro(const Stmt& s, Scope& scope) {
  const Stmt* def = &s;
  scope.vars[s.text] = Value::function([this, def](CallArgs& a) -> Value {
    if (depth_ >= kMaxDepth) fail(a.line, "RecursionError: more than " + std::to_string(kMaxDepth) + " nested macro calls");
    ++depth_;
    struct Leave {
      int& depth;
      ~Leave() { --depth; }
    } leave{depth_};
    Scope frame{{}, &root_};
    size_t np = def->params.size();
    List varargs;
    for (size_t k = 0; k < a.args.size(); ++k) {
      if (k < np)
        frame.vars[def->params[k].first] = a.args[k];
      else
        varargs.push_back(a.args[k]);
    }
    Dict extra;
    for (const auto& [key, v] : a.kwargs) {
      bool is_param = false;
      for (size_t k = 0; k < np; ++k)
        if (def->params[k].first == key) {
          if (k < a.args.size()) fail(a.line, "macro '" + def->text + "' got multiple values for argument '" + key + "'");
          frame.vars[key] = v;
          is_param = true;
        }
      if (!is_param) extra.emplace_back(key, v);
    }
    for (size_t k = a.args.size(); k < np; ++k) {
      const auto& [pname, dflt] = def->params[k];
      if (frame.vars.count(pname)) continue;
      frame.vars[pname] = dflt ? eval(*dflt, frame) : Value::undefined("parameter '" + pname + "' was not provided");
    }
    frame.vars["varargs"] = Value::make_list(std::move(varargs), true);
    frame.vars["kwargs"] = Value::make_dict(std::move(extra));
    std::string out;
    exec(def->body, frame, out);
    return Value::string(std::move(out));
  });
}

void Interpreter::assign(const Target& t, const Value& v, Scope& scope, int line) {
  if (!t.elements.empty()) {
    List parts = iterate(v, line);
    if (parts.size() != t.elements.size())
      fail(line, "ValueError: " + std::string(parts.size() > t.elements.size() ? "too many" : "not enough") +
                     " values to unpack (expected " + std::to_string(t.elements.size()) + ", got " +
                     std::to_string(parts.size()) + ")");
    for (size_t k = 0; k < parts.size(); ++k) assign(t.elements[k], parts[k], scope, line);
    return;
  }
  if (!t.attr.empty()) {
    Value ns = lookup(t.name, scope);
    if (ns.kind != Kind::Namespace) fail(line, "TemplateRuntimeError: cannot assign attribute on non-namespace object");
    if (t.attr[0] == '_')
      fail(line, "SecurityError: Chat templates cannot store underscore-prefixed attributes on a namespace, but got " +
                     string_repr(t.attr) + ". Please rename the attribute.");
    for (auto& kv : ns.ns->attrs)
      if (kv.first == t.attr) {
        kv.second = v;
        return;
      }
    ns.ns->attrs.emplace_back(t.attr, v);
    return;
  }
  scope.vars[t.name] = v;
}

CallArgs Interpreter::eval_args(const Expr& e, Scope& scope) {
  CallArgs a;
  a.line = e.line;
  for (const auto& x : e.items) a.args.push_back(eval(*x, scope));
  for (const auto& [k, x] : e.kwargs) a.kwargs.emplace_back(k, eval(*x, scope));
  return a;
}

Value Interpreter::call(const Value& fn, CallArgs& args, int line) {
  if (fn.is_undefined()) undefined_error(fn, line);
  if (fn.kind != Kind::Callable) fail(line, "TypeError: '" + type_name(fn) + "' object is not callable");
  args.line = line;
  return (*fn.fn)(args);
}

Value Interpreter::getattr(const Value& obj, const std::string& name, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  if (obj.kind == Kind::Namespace) {
    for (const auto& [k, v] : obj.ns->attrs)
      if (k == name) return v;
    return Value::undefined("'" + to_str(obj) + "' has no attribute '" + name + "'");
  }
  Value method;
  if (find_method(obj, name, line, method)) return method;
  if (obj.is_dict()) {
    if (const Value* v = obj.find(name)) return *v;
  }
  return Value::undefined(string_repr(object_type_repr(obj)) + " has no attribute " + string_repr(name));
}

Value Interpreter::getitem(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  auto missing = [&]() {
    return Value::undefined(string_repr(object_type_repr(obj)) + " has no attribute " + string_repr(to_str(key)));
  };
  if (obj.is_dict()) {
    if (key.is_string()) {
      if (const Value* v = obj.find(key.str)) return *v;
      Value method;
      if (find_method(obj, key.str, line, method)) return method;
    }
    return missing();
  }
  if ((obj.is_list() || obj.is_string()) && (key.kind == Kind::Int || key.kind == Kind::Bool)) {
    int64_t n = length(obj, line);
    int64_t k = key.as_int();
    if (k < 0) k += n;
    if (k < 0 || k >= n) return missing();
    if (obj.is_list()) return (*obj.list)[k];
    std::string s;
    utf8_append(s, utf8_decode(obj.str)[k]);
    return Value::string(std::move(s));
  }
  if (key.is_string()) return getattr(obj, key.str, line);
  return missing();
}

bool Interpreter::contains(const Value& container, const Value& item, int line) {
  switch (container.kind) {
    case Kind::String:
      if (!item.is_string()) fail(line, "TypeError: 'in <string>' requires string as left operand, not " + type_name(item));
      return container.str.find(item.str) != std::string::npos;
    case Kind::List:
      for (const auto& v : *container.list)
        if (equals(v, item)) return true;
      return false;
    case Kind::Dict: return item.is_string() && container.find(item.str) != nullptr;
    case Kind::Undefined: return false;
    default: fail(line, "TypeError: argument of type '" + type_name(container) + "' is not iterable");
  }
}

bool Interpreter::compare(const std::string& op, const Value& a, const Value& b, int line) {
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  if (op == "in") return contains(b, a, line);
  if (op == "notin") return !contains(b, a, line);
  if (a.is_undefined()) undefined_error(a, line);
  if (b.is_undefined()) undefined_error(b, line);
  try {
    if (op == "<") return less(a, b);
    if (op == ">") return less(b, a);
    if (op == "<=") return less(a, b) || equals(a, b);
    return less(b, a) || equals(a, b);
  } catch (const TemplateRenderError& e) {
    fail(line, std::string("TypeError: ") + e.what());
  }
}

namespace {

int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Value repeat(const Value& seq, int64_t n, int line) {
  const uint64_t size = seq.is_string() ? seq.str.size() : seq.list->size();
  if (n > 0 && size > 0) check_size(static_cast<uint64_t>(n) > kMaxBytes ? kMaxBytes + 1 : size * static_cast<uint64_t>(n), line);
  if (seq.is_string()) {
    std::string out;
    for (int64_t k = 0; k < n; ++k) out += seq.str;
    return Value::string(std::move(out));
  }
  List out;
  for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq.list->begin(), seq.list->end());
  return Value::make_list(std::move(out), seq.is_tuple);
}

}  // namespace

Value Interpreter::binary(const std::string& op, const Value& a, const Value& b, int line) {
  if (a.is_undefined()) undefined_error(a, line);
  if (b.is_undefined()) undefined_error(b, line);
  auto type_error = [&]() -> Value {
    fail(line, "TypeError: unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
  };
  bool nums = a.is_number() && b.is_number();
  bool ints = nums && a.kind != Kind::Float && b.kind != Kind::Float;
  if (op == "+") {
    if (ints) return Value::integer(add_checked(a.as_int(), b.as_int(), line));
    if (nums) return Value::real(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) {
      check_size(a.str.size() + b.str.size(), line);
      return Value::string(a.str + b.str);
    }
    if (a.is_list() && b.is_list() && a.is_tuple == b.is_tuple) {
      check_size(a.list->size() + b.list->size(), line);
      List out = *a.list;
      out.insert(out.end(), b.list->begin(), b.list->end());
      return Value::make_list(std::move(out), a.is_tuple);
    }
    if (a.is_string()) fail(line, "TypeError: can only concatenate str (not \"" + type_name(b) + "\") to str");
    if (a.is_list()) fail(line, "TypeError: can only concatenate list (not \"" + type_name(b) + "\") to list");
    return type_error();
  }
  if (op == "-") {
    if (ints) return Value::integer(sub_checked(a.as_int(), b.as_int(), line));
    if (nums) return Value::real(a.as_double() - b.as_double());
    return type_error();
  }
  if (op == "*") {
    if (ints) return Value::integer(mul_checked(a.as_int(), b.as_int(), line));
    if (nums) return Value::real(a.as_double() * b.as_double());
    if ((a.is_string() || a.is_list()) && (b.kind == Kind::Int || b.kind == Kind::Bool)) return repeat(a, b.as_int(), line);
    if ((b.is_string() || b.is_list()) && (a.kind == Kind::Int || a.kind == Kind::Bool)) return repeat(b, a.as_int(), line);
    return type_error();
  }
  if (op == "/") {
    if (!nums) return type_error();
    if (b.as_double() == 0.0) fail(line, "ZeroDivisionError: division by zero");
    return Value::real(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (op == "%" && a.is_string()) return Value::string(percent_format(a.str, b, line));
    if (!nums) return type_error();
    if (b.as_double() == 0.0) fail(line, op == "//" ? "ZeroDivisionError: integer division or modulo by zero" : "ZeroDivisionError: integer modulo by zero");
    if (ints) {
      // -2**63 // -1 is the one quotient past int64; any remainder by -1 is 0.
      if (b.as_int() == -1) return Value::integer(op == "//" ? sub_checked(0, a.as_int(), line) : 0);
      int64_t q = floordiv(a.as_int(), b.as_int());
      return Value::integer(op == "//" ? q : a.as_int() - q * b.as_int());
    }
    // Python's float_divmod.
    double x = a.as_double(), y = b.as_double();
    double m = std::fmod(x, y);
    double div = (x - m) / y;
    if (m != 0 && ((y < 0) != (m < 0))) {
      m += y;
      div -= 1.0;
    }
    if (op == "%") return Value::real(m);
    double fl = std::floor(div);
    if (div - fl > 0.5) fl += 1.0;
    return Value::real(fl);
  }
  if (op == "**") {
    if (ints && b.as_int() >= 0) {
      // Square and multiply: 64 rounds at most, each checked.
      int64_t r = 1, base = a.as_int();
      for (int64_t e = b.as_int(); e > 0; e >>= 1) {
        if (e & 1) r = mul_checked(r, base, line);
        if (e > 1) base = mul_checked(base, base, line);
      }
      return Value::integer(r);
    }
    if (nums) return Value::real(std::pow(a.as_double(), b.as_double()));
    return type_error();
  }
  return type_error();
}

Value Interpreter::slice(const Expr& e, Scope& scope) {
  Value obj = eval(*e.items[0], scope);
  if (obj.is_undefined()) undefined_error(obj, e.line);
  auto bound = [&](bool has, const ExprPtr& x) -> std::optional<int64_t> {
    if (!has) return std::nullopt;
    Value v = eval(*x, scope);
    if (v.is_none()) return std::nullopt;
    if (v.kind != Kind::Int && v.kind != Kind::Bool) fail(e.line, "TypeError: slice indices must be integers or None");
    return v.as_int();
  };
  auto start = bound(e.has_start, e.a), stop = bound(e.has_stop, e.b), step_v = bound(e.has_step, e.c);
  int64_t step = step_v.value_or(1);
  if (step == 0) fail(e.line, "ValueError: slice step cannot be zero");
  std::u32string chars;
  int64_t n;
  if (obj.is_string()) {
    chars = utf8_decode(obj.str);
    n = static_cast<int64_t>(chars.size());
  } else if (obj.is_list()) {
    n = static_cast<int64_t>(obj.list->size());
  } else {
    fail(e.line, "TypeError: '" + type_name(obj) + "' object is not subscriptable");
  }
  // Python's PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += n;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= n) {
      x = step < 0 ? n - 1 : n;
    }
    return x;
  };
  int64_t lo = adjust(start, step < 0 ? n - 1 : 0);
  int64_t hi = adjust(stop, step < 0 ? -1 : n);
  std::vector<int64_t> idx;
  for (int64_t k = lo; step > 0 ? k < hi : k > hi; k += step) idx.push_back(k);
  if (obj.is_string()) {
    std::u32string out;
    for (int64_t k : idx) out.push_back(chars[k]);
    return Value::string(utf8_encode(out));
  }
  List out;
  for (int64_t k : idx) out.push_back((*obj.list)[k]);
  return Value::make_list(std::move(out), obj.is_tuple);
}

Value Interpreter::eval(const Expr& e, Scope& scope) {
  switch (e.kind) {
    case ExprKind::Const: return e.value;
    case ExprKind::Name: return lookup(e.name, scope);
    case ExprKind::Attr: return getattr(eval(*e.a, scope), e.name, e.line);
    case ExprKind::Item: return getitem(eval(*e.a, scope), eval(*e.b, scope), e.line);
    case ExprKind::Slice: return slice(e, scope);
    case ExprKind::Call: {
      Value fn = eval(*e.a, scope);
      CallArgs a = eval_args(e, scope);
      return call(fn, a, e.line);
    }
    case ExprKind::Filter: {
      Value input = eval(*e.a, scope);
      CallArgs a = eval_args(e, scope);
      return find_filter(e.name)(*this, input, a);
    }
    case ExprKind::Test: {
      Value input = eval(*e.a, scope);
      CallArgs a = eval_args(e, scope);
      bool r = find_test(e.name)(*this, input, a);
      return Value::boolean(r != e.negated);
    }
    case ExprKind::Neg:
    case ExprKind::Pos: {
      Value v = eval(*e.a, scope);
      if (v.is_undefined()) undefined_error(v, e.line);
      if (!v.is_number()) fail(e.line, "TypeError: bad operand type for unary " + std::string(e.kind == ExprKind::Neg ? "-" : "+") + ": '" + type_name(v) + "'");
      if (e.kind == ExprKind::Pos) return v.kind == Kind::Bool ? Value::integer(v.as_int()) : v;
      return v.kind == Kind::Float ? Value::real(-v.f) : Value::integer(sub_checked(0, v.as_int(), e.line));
    }
    case ExprKind::Not: return Value::boolean(!truthy(eval(*e.a, scope)));
    case ExprKind::And: {
      Value l = eval(*e.a, scope);
      return truthy(l) ? eval(*e.b, scope) : l;
    }
    case ExprKind::Or: {
      Value l = eval(*e.a, scope);
      return truthy(l) ? l : eval(*e.b, scope);
    }
    case ExprKind::Binary: return binary(e.name, eval(*e.a, scope), eval(*e.b, scope), e.line);
    case ExprKind::Compare: {
      Value left = eval(*e.a, scope);
      for (size_t k = 0; k < e.ops.size(); ++k) {
        Value right = eval(*e.items[k], scope);
        if (!compare(e.ops[k], left, right, e.line)) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case ExprKind::Cond:
      if (truthy(eval(*e.a, scope))) return eval(*e.b, scope);
      return e.c ? eval(*e.c, scope) : Value::undefined("the inline if-expression on line " + std::to_string(e.line) + " evaluated to false and no else section was defined.");
    case ExprKind::ListLit:
    case ExprKind::TupleLit: {
      List items;
      for (const auto& x : e.items) items.push_back(eval(*x, scope));
      return Value::make_list(std::move(items), e.kind == ExprKind::TupleLit);
    }
    case ExprKind::DictLit: {
      Dict d;
      for (size_t k = 0; k + 1 < e.items.size(); k += 2) {
        Value key = eval(*e.items[k], scope);
        if (!key.is_string()) unsupported(e.line, "dict keys that are not strings");
        Value v = eval(*e.items[k + 1], scope);
        bool replaced = false;
        for (auto& kv : d)
          if (kv.first == key.str) {
            kv.second = v;
            replaced = true;
          }
        if (!replaced) d.emplace_back(key.str, std::move(v));
      }
      return Value::make_dict(std::move(d));
    }
    case ExprKind::Concat: {
      std::string out;
      for (const auto& x : e.items) out += to_str(eval(*x, scope));
      return Value::string(std::move(out));
    }
  }
  return Value::undefined();
}

}  // namespace shadowpeft::jinja
