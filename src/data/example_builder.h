#pragma once
// One typed record → one example, by the tokenization rules of its kind (dataset.h).
#include <optional>

#include "records.h"
#include "shadowpeft/chat_template/chat_template.h"
#include "shadowpeft/data/dataset.h"

namespace shadowpeft::data {

class ExampleBuilder {
 public:
  // Compiles the chat template for Messages (ConfigError when the tokenizer has none by that name).
  ExampleBuilder(const tokenizer::Tokenizer& tokenizer, const DatasetOptions& options, RecordKind kind);

  // Untruncated; Classification leaves class_label unset (labels are mapped once all are known).
  // Throws RecordError or the tokenizer's / chat template's errors for this record.
  Example build(const TypedRecord& record) const;

 private:
  void append(Example& example, const std::string& text, bool add_special_tokens, bool loss) const;
  Example from_token_ids(const TypedRecord& record) const;
  bool is_token(int64_t id) const;

  const tokenizer::Tokenizer& tokenizer_;
  RecordKind kind_;
  std::size_t vocab_size_ = 0;  // the tokenizer's, for Tokenized records
  std::optional<int64_t> eos_id_;  // set when eos is appended
  std::optional<ChatTemplate> template_;
  ChatTemplateOptions chat_options_;
};

}  // namespace shadowpeft::data
