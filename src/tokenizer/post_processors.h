#pragma once
// Post-processors add the special tokens around an encoded sequence (TemplateProcessing, BERT and
// RoBERTa styles); ByteLevel only trims offsets.
#include <memory>

#include "json_access.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace shadowpeft::tokenizer {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Tokens this adds to a single sequence (truncation leaves room for them).
  virtual std::size_t added_tokens() const = 0;
  // Special tokens are only added with `add_special_tokens`; offsets are trimmed either way.
  virtual void process(Encoding& encoding, bool add_special_tokens) const = 0;
};

// nullptr for a JSON null.
std::unique_ptr<PostProcessor> make_post_processor(const Node& node);

}  // namespace shadowpeft::tokenizer
