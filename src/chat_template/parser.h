#pragma once
// jinja2's grammar (operator precedence, tests, filters, postfix chains) over the lexer's tokens.
#include <string>
#include <vector>

#include "ast.h"
#include "lexer.h"

namespace shadowpeft::jinja {

// ConfigError on a syntax error (line and column); UnsupportedError for a valid jinja2 tag,
// filter or test this renderer does not implement.
Template parse(const std::vector<Token>& tokens, const std::string& name);

}  // namespace shadowpeft::jinja
