#pragma once
// Walks the parsed template and writes the output, with jinja2's runtime semantics: scopes (a fresh
// one per loop iteration and per macro call), Undefined, Python operators, sandboxed attribute access.
#include <string>
#include <unordered_map>

#include "ast.h"
#include "value.h"

namespace shadowpeft::jinja {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  Scope* parent = nullptr;
};

class Interpreter {
 public:
  Interpreter(const Template& tmpl, const Value& context);
  std::string render();

  Value eval(const Expr& e, Scope& scope);
  Value call(const Value& fn, CallArgs& args, int line);
  // jinja2's `obj.name` (attribute first, then item) and `obj[key]` (item first, then attribute).
  Value getattr(const Value& obj, const std::string& name, int line);
  Value getitem(const Value& obj, const Value& key, int line);
  bool contains(const Value& container, const Value& item, int line);

 private:
  enum class Flow { Normal, Break, Continue };

  const Template& tmpl_;
  const Value& context_;
  std::unordered_map<std::string, Value> globals_;
  Scope root_;
  int64_t steps_ = 0;  // statements and loop iterations so far (kMaxSteps)
  int depth_ = 0;      // macro calls in progress (kMaxDepth)
  void count_step(int line);

  Flow exec(const Body& body, Scope& scope, std::string& out);
  Flow exec_for(const Stmt& s, Scope& scope, std::string& out);
  void define_macro(const Stmt& s, Scope& scope);
  void assign(const Target& t, const Value& v, Scope& scope, int line);
  Value lookup(const std::string& name, Scope& scope);
  Value binary(const std::string& op, const Value& a, const Value& b, int line);
  bool compare(const std::string& op, const Value& a, const Value& b, int line);
  Value slice(const Expr& e, Scope& scope);
  CallArgs eval_args(const Expr& e, Scope& scope);
  void install_globals();
};

// Throws the UndefinedError jinja2 raises when `v` (undefined) is used in a way that needs a value.
[[noreturn]] void undefined_error(const Value& v, int line);
// jinja2's `object_type_repr`: "dict object", "None", ...
std::string object_type_repr(const Value& v);

}  // namespace shadowpeft::jinja
