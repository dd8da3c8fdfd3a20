#pragma once
// NFC / NFD / NFKC / NFKD of a piece, with the alignments tokenizers assigns (its
// unicode-normalization-alignments crate): every character is decomposed (the first output of a
// character replaces it, the others are inserted after it), non-starter runs are canonically
// reordered (flags move with their characters), composition merges a character into its starter
// (one fewer original character consumed unless it was itself inserted), and the result is applied
// position by position like NormalizedString::transform.
#include "split.h"
#include "unicode.h"

namespace shadowpeft::tokenizer {

void normalize_piece(Piece& piece, unicode::Form form);

}  // namespace shadowpeft::tokenizer
