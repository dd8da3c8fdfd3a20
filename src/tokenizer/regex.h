#pragma once
// PCRE2 (UTF + UCP, JIT when available) standing in for the Oniguruma regexes of `tokenizers`: same
// leftmost-first backtracking semantics, and \s \w \p{..} over Unicode.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shadowpeft::tokenizer {

using Span = std::pair<std::size_t, std::size_t>;  // [begin, end) byte offsets

class Regex {
 public:
  // `where` names the file and JSON path for the ConfigError of an invalid pattern.
  Regex(const std::string& pattern, const std::string& where);
  // A literal string, matched as is.
  static Regex literal(const std::string& text, const std::string& where);

  // Non-overlapping matches left to right; an empty match right after the previous match is skipped
  // (the iteration of Rust's onig/regex crates).
  std::vector<Span> find_all(std::string_view text) const;

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
};

}  // namespace shadowpeft::tokenizer
