// WordPiece: greedy longest-prefix match; a word with any unmatchable rest becomes one unk token.
#include "models.h"
#include "shadowpeft/core/error.h"
#include "unicode.h"

namespace shadowpeft::tokenizer {

namespace {

class WordPiece final : public Model {
 public:
  WordPiece(const Node& node, StreamedModel& streamed) {
    read_vocab_object(node.at("vocab"), streamed, vocab_);
    prefix_ = node.str("continuing_subword_prefix", "##");
    max_chars_ = static_cast<std::size_t>(node.integer("max_input_chars_per_word", 100));
    const std::string unk = node.str("unk_token", "[UNK]");
    const auto id = vocab_.id(unk);
    if (!id) throw ConfigError(node.where("unk_token") + ": \"" + unk + "\" is not in the vocabulary");
    unk_id_ = *id;
  }

  void tokenize(std::string_view word, std::vector<uint32_t>& ids, std::vector<uint32_t>& lengths) const override {
    std::vector<std::size_t> bounds;  // character boundaries, 0 and size included
    for (std::size_t pos = 0; pos < word.size(); pos += unicode::sequence_length(static_cast<unsigned char>(word[pos])))
      bounds.push_back(pos);
    bounds.push_back(word.size());
    const auto whole_word_unk = [&] {
      ids.push_back(unk_id_);
      lengths.push_back(static_cast<uint32_t>(word.size()));
    };
    if (bounds.size() - 1 > max_chars_) return whole_word_unk();
    std::vector<uint32_t> out, out_lengths;
    std::string candidate;
    for (std::size_t start = 0; start + 1 < bounds.size();) {
      std::optional<uint32_t> found;
      std::size_t end = bounds.size() - 1;
      for (; end > start; --end) {
        candidate.clear();
        if (start > 0) candidate += prefix_;
        candidate += word.substr(bounds[start], bounds[end] - bounds[start]);
        if ((found = vocab_.id(candidate))) break;
      }
      if (!found) return whole_word_unk();
      out.push_back(*found);
      out_lengths.push_back(static_cast<uint32_t>(bounds[end] - bounds[start]));
      start = end;
    }
    ids.insert(ids.end(), out.begin(), out.end());
    lengths.insert(lengths.end(), out_lengths.begin(), out_lengths.end());
  }

 private:
  std::string prefix_;
  std::size_t max_chars_ = 100;
  uint32_t unk_id_ = 0;
};

}  // namespace

std::unique_ptr<Model> make_wordpiece(const Node& node, StreamedModel& streamed) {
  return std::make_unique<WordPiece>(node, streamed);
}

}  // namespace shadowpeft::tokenizer
