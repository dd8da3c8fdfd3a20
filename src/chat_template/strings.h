#pragma once
// Python str operations on UTF-8 strings (code-point semantics), shared by filters and methods.
#include <optional>
#include <string>
#include <vector>

namespace shadowpeft::jinja {

// str.strip/lstrip/rstrip: `chars` absent strips whitespace.
std::string py_strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right);
// str.split / str.rsplit: `sep` absent splits on whitespace runs; maxsplit < 0 means no limit.
std::vector<std::string> py_split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit, bool from_right);
std::string py_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count);
// The most bytes py_replace(s, old, repl, any count) can return.
uint64_t replaced_size_bound(const std::string& s, const std::string& old, const std::string& repl);
std::string py_upper(const std::string& s);
std::string py_lower(const std::string& s);
std::string py_title(const std::string& s);       // str.title
std::string py_capitalize(const std::string& s);  // str.capitalize
std::vector<std::string> py_splitlines(const std::string& s, bool keepends);
// Code-point index of `sub` in s (str.find) or -1.
int64_t py_find(const std::string& s, const std::string& sub, bool from_right);
int64_t py_count(const std::string& s, const std::string& sub);
std::string py_center(const std::string& s, int64_t width, const std::string& fill, int align);  // align -1 ljust, 0 center, 1 rjust

}  // namespace shadowpeft::jinja
