#pragma once
// Pre-tokenizers cut a normalized piece into the words the model tokenizes one by one.
#include <memory>
#include <vector>

#include "json_access.h"
#include "split.h"

namespace shadowpeft::tokenizer {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` with their pre-tokenized pieces (in order).
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

// nullptr for a JSON null.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Node& node);

}  // namespace shadowpeft::tokenizer
