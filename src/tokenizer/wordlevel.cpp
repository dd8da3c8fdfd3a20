// WordLevel: each pre-tokenized word is one vocabulary entry, or the unk token.
#include "models.h"
#include "shadowpeft/core/error.h"

namespace shadowpeft::tokenizer {

namespace {

class WordLevel final : public Model {
 public:
  WordLevel(const Node& node, StreamedModel& streamed) {
    read_vocab_object(node.at("vocab"), streamed, vocab_);
    const std::string unk = node.str("unk_token", "<unk>");
    unk_id_ = vocab_.id(unk);
    unk_token_ = unk;
    where_ = node.where("unk_token");
  }

  void tokenize(std::string_view word, std::vector<uint32_t>& ids, std::vector<uint32_t>& lengths) const override {
    const auto id = vocab_.id(word);
    if (!id && !unk_id_) throw ConfigError(where_ + ": \"" + unk_token_ + "\" is not in the vocabulary, and the text needs it");
    ids.push_back(id ? *id : *unk_id_);
    lengths.push_back(static_cast<uint32_t>(word.size()));
  }

 private:
  std::optional<uint32_t> unk_id_;
  std::string unk_token_, where_;
};

}  // namespace

std::unique_ptr<Model> make_wordlevel(const Node& node, StreamedModel& streamed) {
  return std::make_unique<WordLevel>(node, streamed);
}

}  // namespace shadowpeft::tokenizer
