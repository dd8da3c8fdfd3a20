#include "vocab.h"

#include <string>

#include "shadowpeft/core/error.h"
#include "shadowpeft/core/format.h"

namespace shadowpeft::tokenizer {

void Vocab::add(std::string token, uint64_t id) {
  if (id > kMaxId)
    throw ConfigError("token '" + printable(token) + "' has id " + std::to_string(id) + ", past the largest supported id " +
                      std::to_string(kMaxId) + " (tokenizers number their tokens 0 .. vocabulary size - 1)");
  if (id >= tokens_.size()) {
    tokens_.resize(id + 1);
    has_token_.resize(id + 1, false);
  }
  tokens_[id] = token;
  has_token_[id] = true;
  ids_.insert_or_assign(std::move(token), static_cast<uint32_t>(id));
}

}  // namespace shadowpeft::tokenizer
