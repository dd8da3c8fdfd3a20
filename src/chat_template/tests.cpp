// jinja2's builtin tests (`x is defined`, `n is divisibleby 3`, ...).
#include <map>

#include "builtins.h"
#include "errors.h"
#include "interpreter.h"
#include "strings.h"

namespace shadowpeft::jinja {
namespace {

const Value& operand(CallArgs& a, const char* test) {
  if (a.args.empty()) fail(a.line, std::string("TypeError: the test '") + test + "' needs an argument");
  return a.args[0];
}

int64_t int_of(const Value& v, int line) {
  if (v.kind != Kind::Int && v.kind != Kind::Bool) fail(line, "TypeError: expected an integer, got " + type_name(v));
  return v.as_int();
}

bool cmp(Interpreter&, const Value& v, CallArgs& a, const char* op) {
  const Value& o = operand(a, op);
  std::string s = op;
  if (s == "==") return equals(v, o);
  if (s == "!=") return !equals(v, o);
  try {
    if (s == "<") return less(v, o);
    if (s == ">") return less(o, v);
    if (s == "<=") return less(v, o) || equals(v, o);
    return less(o, v) || equals(v, o);
  } catch (const TemplateRenderError& e) {
    fail(a.line, std::string("TypeError: ") + e.what());
  }
}

bool t_defined(Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }
bool t_string(Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }
bool t_number(Interpreter&, const Value& v, CallArgs&) { return v.is_number(); }
bool t_integer(Interpreter&, const Value& v, CallArgs&) { return v.kind == Kind::Int; }
bool t_float(Interpreter&, const Value& v, CallArgs&) { return v.kind == Kind::Float; }
bool t_mapping(Interpreter&, const Value& v, CallArgs&) { return v.is_dict(); }
bool t_iterable(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
}
bool t_sequence(Interpreter&, const Value& v, CallArgs&) { return v.is_string() || v.is_list() || v.is_dict(); }
bool t_boolean(Interpreter&, const Value& v, CallArgs&) { return v.kind == Kind::Bool; }
bool t_true(Interpreter&, const Value& v, CallArgs&) { return v.kind == Kind::Bool && v.b; }
bool t_false(Interpreter&, const Value& v, CallArgs&) { return v.kind == Kind::Bool && !v.b; }
bool t_callable(Interpreter&, const Value& v, CallArgs&) { return v.kind == Kind::Callable; }
bool t_even(Interpreter&, const Value& v, CallArgs& a) { return int_of(v, a.line) % 2 == 0; }
bool t_odd(Interpreter&, const Value& v, CallArgs& a) { return int_of(v, a.line) % 2 != 0; }
bool t_divisibleby(Interpreter&, const Value& v, CallArgs& a) {
  int64_t d = int_of(operand(a, "divisibleby"), a.line);
  if (d == 0) fail(a.line, "ZeroDivisionError: integer modulo by zero");
  return int_of(v, a.line) % d == 0;
}
bool t_eq(Interpreter& i, const Value& v, CallArgs& a) { return cmp(i, v, a, "=="); }
bool t_ne(Interpreter& i, const Value& v, CallArgs& a) { return cmp(i, v, a, "!="); }
bool t_lt(Interpreter& i, const Value& v, CallArgs& a) { return cmp(i, v, a, "<"); }
bool t_le(Interpreter& i, const Value& v, CallArgs& a) { return cmp(i, v, a, "<="); }
bool t_gt(Interpreter& i, const Value& v, CallArgs& a) { return cmp(i, v, a, ">"); }
bool t_ge(Interpreter& i, const Value& v, CallArgs& a) { return cmp(i, v, a, ">="); }
bool t_in(Interpreter& i, const Value& v, CallArgs& a) { return i.contains(operand(a, "in"), v, a.line); }
// Python `is`: singletons and small values compare by value; containers by identity.
bool t_sameas(Interpreter&, const Value& v, CallArgs& a) {
  const Value& o = operand(a, "sameas");
  if (v.kind != o.kind) return false;
  switch (v.kind) {
    case Kind::List: return v.list == o.list;
    case Kind::Dict: return v.dict == o.dict;
    case Kind::Namespace: return v.ns == o.ns;
    case Kind::Callable: return v.fn == o.fn;
    default: return equals(v, o);
  }
}
bool t_lower(Interpreter&, const Value& v, CallArgs&) {
  std::string s = to_str(v);
  return py_lower(s) == s && py_upper(s) != s;
}
bool t_upper(Interpreter&, const Value& v, CallArgs&) {
  std::string s = to_str(v);
  return py_upper(s) == s && py_lower(s) != s;
}
bool t_escaped(Interpreter&, const Value&, CallArgs&) { return false; }
bool t_filter(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && find_filter(v.str) != nullptr; }
bool t_test(Interpreter&, const Value& v, CallArgs&) { return v.is_string() && find_test(v.str) != nullptr; }

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> table = {
      {"defined", t_defined},   {"undefined", t_undefined}, {"none", t_none},         {"string", t_string},
      {"number", t_number},     {"integer", t_integer},     {"float", t_float},       {"mapping", t_mapping},
      {"iterable", t_iterable}, {"sequence", t_sequence},   {"boolean", t_boolean},   {"true", t_true},
      {"false", t_false},       {"callable", t_callable},   {"even", t_even},         {"odd", t_odd},
      {"divisibleby", t_divisibleby}, {"eq", t_eq},         {"equalto", t_eq},        {"==", t_eq},
      {"ne", t_ne},             {"!=", t_ne},               {"lt", t_lt},             {"lessthan", t_lt},
      {"<", t_lt},              {"le", t_le},               {"<=", t_le},             {"gt", t_gt},
      {"greaterthan", t_gt},    {">", t_gt},                {"ge", t_ge},             {">=", t_ge},
      {"in", t_in},             {"sameas", t_sameas},       {"lower", t_lower},       {"upper", t_upper},
      {"escaped", t_escaped},   {"filter", t_filter},       {"test", t_test},
  };
  return table;
}

}  // namespace

TestFn find_test(const std::string& name) {
  auto it = tests().find(name);
  return it == tests().end() ? nullptr : it->second;
}

}  // namespace shadowpeft::jinja
