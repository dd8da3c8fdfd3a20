#pragma once
// Where rendering and parsing throw. Messages name the template line; ChatTemplate adds the
// template's name on the way out.
#include <string>

#include "shadowpeft/chat_template/chat_template.h"
#include "shadowpeft/core/error.h"

namespace shadowpeft::jinja {

// jinja2 would raise here too (TypeError, UndefinedError, SecurityError, ...).
[[noreturn]] inline void fail(int line, const std::string& message) {
  throw TemplateRenderError("line " + std::to_string(line) + ": " + message);
}

// Valid jinja2 that this renderer does not implement.
[[noreturn]] inline void unsupported(int line, const std::string& what) {
  throw UnsupportedError("line " + std::to_string(line) + ": " + what + " is not supported by shadowpeft's chat template renderer");
}

}  // namespace shadowpeft::jinja
