#pragma once
// Splits a template into text and tag tokens the way jinja2's lexer does for transformers'
// environment: trim_blocks, lstrip_blocks, `-`/`+` whitespace control, comments, raw blocks, one
// trailing newline dropped, every newline normalised to "\n".
#include <string>
#include <vector>

namespace shadowpeft::jinja {

enum class Tok { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Op, Eof };

struct Token {
  Tok type;
  std::string value;  // text, name, decoded string literal, number spelling, operator
  int line;
  int column;
};

// Throws ConfigError naming `name`, line and column on a lexical error (unclosed tag, bad char).
std::vector<Token> tokenize(const std::string& source, const std::string& name);

}  // namespace shadowpeft::jinja
