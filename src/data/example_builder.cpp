#include "example_builder.h"

#include <fmt/format.h>

#include "chat_segments.h"
#include "shadowpeft/core/error.h"

namespace shadowpeft::data {

ExampleBuilder::ExampleBuilder(const tokenizer::Tokenizer& tokenizer, const DatasetOptions& options, RecordKind kind)
    : tokenizer_(tokenizer), kind_(kind) {
  if (options.append_eos && tokenizer.eos_token()) eos_id_ = tokenizer.eos_token()->id;
  vocab_size_ = tokenizer.vocab_size();
  if (kind != RecordKind::Messages) return;
  const tokenizer::ChatTemplate* source = tokenizer.chat_template(options.chat_template);
  if (source == nullptr) {
    std::string names;
    for (const auto& t : tokenizer.chat_templates()) names += (names.empty() ? "" : ", ") + t.name;
    throw ConfigError(fmt::format("messages records need a chat template: the tokenizer has no chat template \"{}\" (it has: {})",
                                  options.chat_template, names.empty() ? "none" : names));
  }
  template_.emplace(ChatTemplate::compile(source->source, fmt::format("chat template \"{}\"", options.chat_template)));
  // transformers passes the tokenizer's special tokens to every template.
  auto content = [](const std::optional<tokenizer::SpecialToken>& token) -> std::optional<std::string> {
    if (token) return token->content;
    return std::nullopt;
  };
  chat_options_.bos_token = content(tokenizer.bos_token());
  chat_options_.eos_token = content(tokenizer.eos_token());
  chat_options_.unk_token = content(tokenizer.unk_token());
  chat_options_.pad_token = content(tokenizer.pad_token());
  try {
    chat_options_.extra = nlohmann::ordered_json::parse(options.chat_template_kwargs);
  } catch (const nlohmann::ordered_json::exception& e) {  // syntax, and numbers past double (out_of_range)
    throw ConfigError(fmt::format("chat_template_kwargs: expected a JSON object, got invalid JSON ({})", e.what()));
  }
  if (!chat_options_.extra.is_object())
    throw ConfigError(fmt::format("chat_template_kwargs: expected a JSON object, got {}", chat_options_.extra.type_name()));
}

void ExampleBuilder::append(Example& example, const std::string& text, bool add_special_tokens, bool loss) const {
  const auto ids = tokenizer_.encode(text, add_special_tokens).ids;
  example.input_ids.insert(example.input_ids.end(), ids.begin(), ids.end());
  if (loss) example.labels.insert(example.labels.end(), ids.begin(), ids.end());
  else example.labels.insert(example.labels.end(), ids.size(), kIgnoreIndex);
}

// Ids below the vocabulary size are tokens; above it only added tokens are (their ids need not
// follow the model vocabulary without a gap).
bool ExampleBuilder::is_token(int64_t id) const {
  return id >= 0 && (static_cast<uint64_t>(id) < vocab_size_ || tokenizer_.id_to_token(id).has_value());
}

// Used as given, except that padding (attention_mask 0) is dropped: the collator pads again, and a
// pre-padded row then trains exactly like the unpadded one.
Example ExampleBuilder::from_token_ids(const TypedRecord& record) const {
  Example example;
  example.line = record.line;
  for (std::size_t i = 0; i < record.input_ids.size(); ++i) {
    if (!record.attention_mask.empty() && record.attention_mask[i] == 0) continue;
    const int64_t id = record.input_ids[i];
    if (!is_token(id))
      throw RecordError(fmt::format("{}[{}] = {} is not a token id (expected 0 <= id < {}, the tokenizer's "
                                    "vocabulary size){}",
                                    kInputIdsField, i, id, vocab_size_,
                                    id == kIgnoreIndex ? "; -100 belongs in labels" : ""));
    // No labels: loss on every token, as DataCollatorForLanguageModeling(mlm=False) gives.
    const int64_t label = record.labels.empty() ? id : record.labels[i];
    if (label != kIgnoreIndex && !is_token(label))
      throw RecordError(fmt::format("{}[{}] = {} is neither -100 (no loss) nor a token id (expected 0 <= id < {}, the "
                                    "tokenizer's vocabulary size)",
                                    kLabelsField, i, label, vocab_size_));
    example.input_ids.push_back(id);
    example.labels.push_back(label);
  }
  if (example.input_ids.empty())
    throw RecordError(
        fmt::format("field \"{}\" is 0 at every position: the record has no tokens", kAttentionMaskField));
  return example;
}

Example ExampleBuilder::build(const TypedRecord& record) const {
  Example example;
  example.line = record.line;
  switch (kind_) {
    case RecordKind::Text:
      append(example, record.text, true, true);
      break;
    case RecordKind::PromptCompletion:
      append(example, record.prompt, true, false);
      append(example, record.completion, false, true);
      break;
    case RecordKind::Messages:
      for (const auto& segment : split_conversation(*template_, record.messages, chat_options_))
        append(example, segment.text, false, segment.assistant);
      break;
    case RecordKind::Classification:
      example.input_ids = tokenizer_.encode(record.text, true).ids;
      return example;
    case RecordKind::Tokenized:
      return from_token_ids(record);
    case RecordKind::Auto:
      break;
  }
  if (eos_id_ && (kind_ == RecordKind::Text || kind_ == RecordKind::PromptCompletion)) {
    example.input_ids.push_back(*eos_id_);
    example.labels.push_back(*eos_id_);
  }
  return example;
}

}  // namespace shadowpeft::data
