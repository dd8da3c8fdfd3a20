#pragma once
// Where rendering and parsing throw. Messages name the template line; ChatTemplate adds the
// template's name on the way out.
#include <charconv>
#include <cstdint>
#include <string>

#include "shadowpeft/chat_template/chat_template.h"
#include "shadowpeft/core/error.h"

namespace shadowpeft::jinja {

// jinja2 would raise here too (TypeError, UndefinedError, SecurityError, ...).
[[noreturn]] inline void fail(int line, const std::string& message) {
  throw TemplateRenderError("line " + std::to_string(line) + ": " + message);
}

// The sandbox: what one render may build or do — far beyond any real chat template, far below
// what would exhaust the machine (a template comes with a downloaded tokenizer). Past a limit,
// rendering fails as jinja2's sandbox does past MAX_RANGE.
inline constexpr uint64_t kMaxBytes = uint64_t{16} << 20;  // a string or list (bytes or items), and the output
inline constexpr int64_t kMaxSteps = 250'000;               // statements run plus loop iterations
inline constexpr int kMaxDepth = 200;                       // nested macro calls; nested syntax when parsing

inline void check_size(uint64_t size, int line) {
  if (size > kMaxBytes)
    fail(line, "OverflowError: the template would build a value of " + std::to_string(size) + " bytes or items (the sandbox allows " +
                   std::to_string(kMaxBytes) + ")");
}

// Python's integers are unbounded; ours are 64-bit: a result past that is an OverflowError.
[[noreturn]] inline void integer_overflow(int line) { fail(line, "OverflowError: the integer result does not fit in 64 bits"); }
inline int64_t add_checked(int64_t a, int64_t b, int line) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) integer_overflow(line);
  return r;
}
inline int64_t sub_checked(int64_t a, int64_t b, int line) {
  int64_t r = 0;
  if (__builtin_sub_overflow(a, b, &r)) integer_overflow(line);
  return r;
}
inline int64_t mul_checked(int64_t a, int64_t b, int line) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) integer_overflow(line);
  return r;
}

// A run of decimal digits as an int64 (an index or a literal); past 64 bits, an OverflowError.
inline int64_t parse_digits(const std::string& digits, int line) {
  int64_t value = 0;
  if (std::from_chars(digits.data(), digits.data() + digits.size(), value).ec != std::errc()) integer_overflow(line);
  return value;
}

// Valid jinja2 that this renderer does not implement.
[[noreturn]] inline void unsupported(int line, const std::string& what) {
  throw UnsupportedError("line " + std::to_string(line) + ": " + what + " is not supported by shadowpeft's chat template renderer");
}

}  // namespace shadowpeft::jinja
