#pragma once
// Normalizers: text → text, applied to every piece of input that is not an added token.
#include <memory>
#include <string>

#include "json_access.h"
#include "split.h"

namespace shadowpeft::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites piece.text, keeping piece.align as tokenizers' alignments.
  virtual void normalize(Piece& piece) const = 0;
};

// The normalized text alone (added-token contents are matched in normalized form).
std::string normalize_text(const Normalizer& normalizer, const std::string& text);

// nullptr for a JSON null.
std::unique_ptr<Normalizer> make_normalizer(const Node& node);

}  // namespace shadowpeft::tokenizer
