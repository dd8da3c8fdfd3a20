#pragma once
// Training datasets: JSONL / JSON / CSV records turned into token ids and loss labels, without
// LibTorch. `labels` follow the Hugging Face convention: same length as `input_ids`, -100 where no
// loss is taken, and not shifted (the model shifts them when it computes the loss).
//
// Record kinds, detected from the first record's keys (field names configurable) unless forced:
//   Tokenized         {"input_ids": [...], "labels"?, "attention_mask"?}  when `input_ids` is present
//   Messages          {"messages": [{"role", "content"}, ...]}   when `messages` is present
//   PromptCompletion  {"prompt", "completion"}                   when both are present
//   Classification    {"text", "label"}                          when both are present
//   Text              {"text"}                                   otherwise, when `text` is present
//
// Tokenization rules (tests/reference/make_data_fixtures.py applies the same rules with Python
// `tokenizers` / `transformers`, and the tests require identical ids and labels):
//   Text:             encode(text, add_special_tokens=true) ++ [eos]; labels = ids.
//   PromptCompletion: encode(prompt, true) ++ encode(completion, false) ++ [eos]; labels -100 on the
//                     prompt part, = ids on the rest.
//   ([eos] only when `append_eos` and the tokenizer has an eos token with an id.)
//   Messages:         R = render(messages) with the tokenizer's chat template (transformers'
//                     apply_chat_template(tokenize=False), the tokenizer's special tokens passed).
//                     For each assistant message i, P = render(messages[:i], add_generation_prompt=
//                     true) ("" when i == 0) is the text up to its reply and F = render(messages[:i+1])
//                     the text including it; F must start with P. In R the reply starts where R stops
//                     agreeing with P (their longest common prefix) and is the longest suffix of F[|P|:]
//                     that R continues with there. For templates that render earlier turns the way
//                     they render the last one this is exactly P ++ F[|P|:]; templates that rewrite
//                     history (Qwen3 drops the <think></think> block from earlier turns, and with
//                     enable_thinking=false adds it to the generation prompt) get the reply as R
//                     holds it. R is cut at these boundaries, each piece is encoded with
//                     add_special_tokens=false and the pieces are concatenated; assistant replies
//                     get labels = ids, everything else -100. A template violating these conditions
//                     (F not extending P, replies out of order or absent from R) is an error naming
//                     it and the message index.
//   Classification:   encode(text, true); the example's class label is `label` (an int, or a string
//                     mapped to its index in `label_names`, or in the sorted distinct labels when
//                     `label_names` is empty).
//   Tokenized:        a tokenized Hugging Face dataset row, used as given (no tokenizer call, no eos
//                     appended). input_ids: a non-empty list of ints; labels (optional, same length):
//                     -100 or a token id, default labels = input_ids (loss on every token, as
//                     DataCollatorForLanguageModeling(mlm=False) gives); attention_mask (optional,
//                     same length, 0 or 1): positions where it is 0 are padding and are dropped from
//                     input_ids and labels (the collator pads again). Every kept id and label other
//                     than -100 must be a token of the tokenizer (0 <= id < vocab_size(), or an added
//                     token's id): ids past the tokenizer's vocabulary are not tokens, even where the
//                     model's embedding has rows for them. The field names are fixed: they are the
//                     ones transformers models take. Checked before `text`, since tokenized datasets
//                     often keep their text column. Not readable from CSV (a field is a string).
// Then every example is cut to `max_length` tokens (keeping the start); an example left without a
// loss token (all labels -100) is dropped and counted. With `packing`, examples share rows of
// `max_length` tokens as `packing_strategy` says (data/packing.h): Bfd keeps each example whole
// (cut to max_length first) and marks where it starts; Wrapped concatenates all ids and labels in
// file order and cuts them into blocks of `max_length` (the last block may be shorter; a block
// without a loss token is dropped and counted).
//
// Files: `.jsonl` (one JSON object per line, blank lines ignored), `.json` (a list of objects),
// `.csv` (a header row, then RFC 4180 records: quoted fields may hold commas, newlines and doubled
// quotes; every field is a string, except that the label field is an int when it reads as one).
// A UTF-8 byte order mark is ignored. A bad record (invalid JSON, not an object, missing field,
// wrong type, unknown role, text the tokenizer rejects, a chat template error, a token id outside
// the tokenizer's vocabulary, lists of different lengths) throws LoadError
// "FILE:LINE: what is wrong", LINE being the line where the record starts; with `skip_bad_records`
// it is skipped and counted instead.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/core/labels.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace shadowpeft::data {

enum class RecordKind { Auto, Text, PromptCompletion, Messages, Classification, Tokenized };

// How `packing` fills rows: whole examples binned best-fit (Bfd), or the concatenation cut into
// blocks (Wrapped). See data/packing.h.
enum class PackingStrategy { Bfd, Wrapped };

// "auto", "text", "prompt_completion", "messages", "classification", "tokenized".
std::string to_string(RecordKind kind);
// The inverse of to_string; ConfigError listing the accepted names otherwise.
RecordKind parse_record_kind(const std::string& name);


struct DatasetOptions {
  RecordKind kind = RecordKind::Auto;  // Auto: detected from the first valid record's keys
  std::size_t max_length = 1024;       // tokens per example (or per block with packing); must be > 0
  bool append_eos = true;              // Text and PromptCompletion end with the eos token (not Tokenized)
  std::string text_field = "text";
  std::string prompt_field = "prompt";
  std::string completion_field = "completion";
  std::string messages_field = "messages";
  std::string label_field = "label";
  // Classification: class names in id order. Empty: string labels get ids in sorted (byte) order.
  std::vector<std::string> label_names;
  bool skip_bad_records = false;  // false: the first bad record throws LoadError
  bool packing = false;           // not for Classification
  PackingStrategy packing_strategy = PackingStrategy::Bfd;
  std::string chat_template = "default";  // which of the tokenizer's templates renders Messages
  // Extra chat template variables as a JSON object, e.g. {"enable_thinking": false}.
  std::string chat_template_kwargs = "{}";
};

struct Example {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> labels;              // per token; empty for Classification
  std::optional<int64_t> class_label;       // Classification only
  std::size_t line = 0;                     // where the (first) source record starts in the file
  // Packed rows (PackingStrategy::Bfd): each token's position in its own example, 0 where one
  // starts. Empty: one sequence, positions 0..n-1.
  std::vector<int64_t> position_ids;
};

struct DatasetStats {
  std::size_t records = 0;          // records read (good and bad)
  std::size_t bad_records = 0;      // skipped because of `skip_bad_records`
  std::size_t truncated = 0;        // examples cut to max_length
  std::size_t dropped_no_loss = 0;  // examples (or packed blocks) without a loss token
};

struct Dataset {
  RecordKind kind = RecordKind::Auto;    // the detected or forced kind
  std::vector<Example> examples;
  std::vector<std::string> label_names;  // Classification with string labels: names in id order
  DatasetStats stats;
};

// Reads and tokenizes `path` (.jsonl, .json or .csv). ConfigError for invalid options or a tokenizer
// without the chat template Messages need; LoadError for unreadable files, bad records and
// Tokenized records in a .csv file.
Dataset load_dataset(const std::filesystem::path& path, const tokenizer::Tokenizer& tokenizer,
                     const DatasetOptions& options = {});

}  // namespace shadowpeft::data
