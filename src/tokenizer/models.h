#pragma once
// Models turn one pre-tokenized word into ids: BPE, WordPiece, Unigram, WordLevel.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json_access.h"
#include "tokenizer_file.h"
#include "vocab.h"

namespace shadowpeft::tokenizer {

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of `word` to `ids`, and to `lengths` how many bytes of `word` each covers (the
  // lengths tokenizers records, from which offsets come).
  virtual void tokenize(std::string_view word, std::vector<uint32_t>& ids, std::vector<uint32_t>& lengths) const = 0;
  const Vocab& vocab() const { return vocab_; }
  // Entries in the model's vocabulary (a Unigram list may repeat a piece; each entry counts).
  virtual std::size_t vocab_size() const { return vocab_.size(); }

 protected:
  Vocab vocab_;
};

// `streamed` holds the vocabulary / merges that read_tokenizer_file took out of the tree (they are
// moved out of it); the tree's own values are used where it holds none.
std::unique_ptr<Model> make_model(const Node& node, StreamedModel& streamed);
std::unique_ptr<Model> make_bpe(const Node& node, StreamedModel& streamed);
std::unique_ptr<Model> make_wordpiece(const Node& node, StreamedModel& streamed);
std::unique_ptr<Model> make_unigram(const Node& node);
std::unique_ptr<Model> make_wordlevel(const Node& node, StreamedModel& streamed);

// Fills `vocab` from $.model.vocab, a {token: id} object (streamed or in the tree).
void read_vocab_object(const Node& node, StreamedModel& streamed, Vocab& vocab);

}  // namespace shadowpeft::tokenizer
