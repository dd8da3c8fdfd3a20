#pragma once
// The pieces a text is cut into before the model sees them, and the one splitting primitive every
// pre-tokenizer uses (tokenizers' NormalizedString::split with a SplitDelimiterBehavior).
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "regex.h"

namespace shadowpeft::tokenizer {

struct Piece {
  std::string text;
  // The piece starts at offset 0 of the original input (Metaspace's prepend_scheme "first").
  bool at_origin = false;
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct Match {
  Span span;
  bool is_match;
};

// Cover of `text` by the regex's matches and the gaps between them.
std::vector<Match> regex_matches(const Regex& regex, std::string_view text);
// Each character for which `pred` holds is a match of its own.
std::vector<Match> char_matches(const std::function<bool(char32_t)>& pred, std::string_view text);

// Cuts `piece` at `matches` with `behavior` and appends the non-empty results to `out`.
void split_piece(const Piece& piece, std::vector<Match> matches, SplitBehavior behavior, std::vector<Piece>& out);

}  // namespace shadowpeft::tokenizer
