#pragma once
// Raw JSON records → typed records of one kind, with errors that say what is wrong with the record.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "shadowpeft/data/dataset.h"
#include "shadowpeft/io/json_file.h"

namespace shadowpeft::data {

// What is wrong with one record, without its file and line (the loader adds them, then throws or
// counts the record as skipped).
class RecordError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TypedRecord {
  std::size_t line = 0;
  std::string text;        // Text, Classification
  std::string prompt;      // PromptCompletion
  std::string completion;  // PromptCompletion
  io::Json messages;       // Messages: the list, passed to the chat template as it is
  std::optional<int64_t> int_label;         // Classification: the label was an int
  std::optional<std::string> string_label;  // Classification: the label was a string
  // Tokenized, as given (ints, equal lengths, mask values 0 or 1; the ids are checked against the
  // tokenizer by the example builder). labels / attention_mask are empty when absent.
  std::vector<int64_t> input_ids;
  std::vector<int64_t> labels;
  std::vector<int64_t> attention_mask;
};

inline constexpr const char* kInputIdsField = "input_ids";
inline constexpr const char* kLabelsField = "labels";
inline constexpr const char* kAttentionMaskField = "attention_mask";

// The kind a record's keys imply (see dataset.h), or Auto when they imply none.
RecordKind detect_kind(const io::Json& record, const DatasetOptions& options);

// Checks that `record` is an object with the fields of `kind`, of the right types; RecordError otherwise.
// Tokenized records use the fixed field names above.
TypedRecord to_typed_record(const io::Json& record, std::size_t line, RecordKind kind, const DatasetOptions& options);

}  // namespace shadowpeft::data
