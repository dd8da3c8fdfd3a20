#pragma once
// The pieces a text is cut into before the model sees them, and the one splitting primitive every
// pre-tokenizer uses (tokenizers' NormalizedString::split with a SplitDelimiterBehavior).
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "regex.h"

namespace shadowpeft::tokenizer {

// Text with, for each of its bytes, the byte span of the original input character it comes from
// (tokenizers' NormalizedString alignments). Every normalizer and pre-tokenizer keeps `align`
// exactly as tokenizers does, so token offsets equal Python's.
struct Piece {
  std::string text;
  std::vector<Span> align;  // align.size() == text.size()

  // Identity alignment of the input bytes [begin, begin + text.size()) of the original text.
  static Piece original(std::string_view text, std::size_t begin);
  Piece slice(std::size_t begin, std::size_t end) const;
  // Original span covered by the bytes [begin, end) of this piece.
  Span original_span(std::size_t begin, std::size_t end) const;
  // Appends `bytes`, all aligned to `span`.
  void append(std::string_view bytes, Span span) {
    text.append(bytes);
    align.insert(align.end(), bytes.size(), span);
  }
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
