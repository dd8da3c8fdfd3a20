#pragma once
// Decoders turn tokens back into text: each stage maps the token list (tokenizers' decode_chain),
// and the final strings are concatenated.
#include <memory>
#include <string>
#include <vector>

#include "json_access.h"

namespace shadowpeft::tokenizer {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// nullptr for a JSON null.
std::unique_ptr<Decoder> make_decoder(const Node& node);

}  // namespace shadowpeft::tokenizer
