#pragma once
// The values a template computes with: Python's JSON-like types as jinja2 sees them, plus callables
// (macros, bound methods, globals) and jinja2's `namespace`. Lists and dicts are immutable in the
// sandbox, so they are shared by pointer; a namespace is the one mutable object.
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace shadowpeft::jinja {

struct Value;
using List = std::vector<Value>;
// Insertion-ordered like a Python dict; string keys only (JSON's keys).
using Dict = std::vector<std::pair<std::string, Value>>;

struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
  int line = 0;
};
using Function = std::function<Value(CallArgs&)>;

struct Namespace {
  Dict attrs;
};

enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Callable, Namespace };

struct Value {
  Kind kind = Kind::Undefined;
  bool is_tuple = false;  // a List printed as a Python tuple
  union {
    bool b;
    int64_t i;
    double f;
  };
  std::string str;  // String content; for Undefined, jinja2's message for using it
  std::shared_ptr<const List> list;
  std::shared_ptr<const Dict> dict;
  std::shared_ptr<const Function> fn;
  std::shared_ptr<Namespace> ns;

  Value() : i(0) {}
  static Value undefined(std::string message = {});
  static Value none();
  static Value boolean(bool v);
  static Value integer(int64_t v);
  static Value real(double v);
  static Value string(std::string v);
  static Value make_list(List v, bool tuple = false);
  static Value make_dict(Dict v);
  static Value function(Function f);
  static Value from_json(const nlohmann::ordered_json& j);

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  bool is_list() const { return kind == Kind::List; }
  bool is_dict() const { return kind == Kind::Dict; }
  double as_double() const;  // numbers only
  int64_t as_int() const;    // Int / Bool only
  const Value* find(const std::string& key) const;  // Dict key or nullptr
};

// Python type name as jinja2 error messages show it ("str", "list", "dict", "NoneType", ...).
std::string type_name(const Value& v);
bool truthy(const Value& v);
// Python `str(v)` as `{{ v }}` prints it (Undefined prints as "").
std::string to_str(const Value& v);
// Python `repr(v)`.
std::string repr(const Value& v);
std::string float_repr(double d);
std::string string_repr(const std::string& s);
// Python `==` (1 == 1.0 == True; [1] != (1,); dicts compare as sets of pairs).
bool equals(const Value& a, const Value& b);
// Python `<` for numbers, strings and sequences; TypeError otherwise (thrown as TemplateRenderError).
bool less(const Value& a, const Value& b);
// Python iteration: a list's items, a dict's keys, a string's characters; Undefined iterates empty.
List iterate(const Value& v, int line);
// Python `len`.
int64_t length(const Value& v, int line);

struct JsonDumpStyle {
  bool ensure_ascii = false;
  std::string indent;  // used when has_indent
  bool has_indent = false;
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
// Python `json.dumps` with the given options.
std::string json_dumps(const Value& v, const JsonDumpStyle& style, int line);

}  // namespace shadowpeft::jinja
