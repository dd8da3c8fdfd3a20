#include "vocab.h"

namespace shadowpeft::tokenizer {

void Vocab::add(std::string token, uint32_t id) {
  if (id >= tokens_.size()) {
    tokens_.resize(id + 1);
    has_token_.resize(id + 1, false);
  }
  tokens_[id] = token;
  has_token_[id] = true;
  ids_.insert_or_assign(std::move(token), id);
}

}  // namespace shadowpeft::tokenizer
