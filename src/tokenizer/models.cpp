#include "models.h"

#include "shadowpeft/core/error.h"

namespace shadowpeft::tokenizer {

void read_vocab_object(const Node& node, StreamedModel& streamed, Vocab& vocab) {
  if (streamed.vocab) {
    vocab.reserve(streamed.vocab->size());
    for (auto& [token, id] : *streamed.vocab) vocab.add(std::move(token), id);
    streamed.vocab.reset();
    return;
  }
  if (!node.value().is_object()) throw ConfigError(node.where() + ": expected an object {token: id}, found " + json_kind(node.value()));
  vocab.reserve(node.value().size());
  for (const auto& [token, id] : node.value().items()) {
    if (!id.is_number_unsigned()) throw ConfigError(node.where(token) + ": expected a non-negative integer id, found " + json_kind(id));
    vocab.add(token, id.get<uint64_t>());
  }
}

std::unique_ptr<Model> make_model(const Node& node, StreamedModel& streamed) {
  // Old files omit the type of a BPE model.
  const std::string type = node.has("type") ? node.type() : (node.has("merges") ? "BPE" : "");
  if (type == "BPE") return make_bpe(node, streamed);
  if (type == "WordPiece") return make_wordpiece(node, streamed);
  if (type == "Unigram") return make_unigram(node);
  if (type == "WordLevel") return make_wordlevel(node, streamed);
  node.unsupported();
}

}  // namespace shadowpeft::tokenizer
