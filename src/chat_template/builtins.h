#pragma once
// Filters, tests and methods: the names jinja2 and Python give them, with their semantics.
#include <string>

#include "value.h"

namespace shadowpeft::jinja {

class Interpreter;

using FilterFn = Value (*)(Interpreter&, const Value& input, CallArgs& args);
using TestFn = bool (*)(Interpreter&, const Value& input, CallArgs& args);

// nullptr when the name is not implemented.
FilterFn find_filter(const std::string& name);
TestFn find_test(const std::string& name);

// `obj.name` for str/dict/list methods (a bound callable), or nullopt-like Undefined when `obj`
// has no such Python attribute. Throws UnsupportedError for a real Python method we lack.
bool find_method(const Value& obj, const std::string& name, int line, Value& out);

// Positional-or-keyword argument access with Python-style errors.
const Value* arg(CallArgs& args, size_t index, const char* name);
void check_args(CallArgs& args, size_t max_positional, std::initializer_list<const char*> names, const char* what);

}  // namespace shadowpeft::jinja

namespace shadowpeft::jinja {
// Python `fmt % args` (args: a tuple or a single value).
std::string percent_format(const std::string& fmt, const Value& args, int line);
}  // namespace shadowpeft::jinja
