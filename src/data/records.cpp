#include "records.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>

namespace shadowpeft::data {

namespace {

// The roles chat templates know; anything else is far more often a typo than a custom role.
constexpr std::array<std::string_view, 5> kRoles = {"system", "developer", "user", "assistant", "tool"};

std::string key_list(const io::Json& object) {
  std::string keys;
  for (const auto& item : object.items()) keys += (keys.empty() ? "" : ", ") + item.key();
  return keys.empty() ? "none" : keys;
}

const io::Json& require(const io::Json& record, const std::string& field) {
  const auto it = record.find(field);
  if (it == record.end())
    throw RecordError(fmt::format("missing field \"{}\" (record has keys: {})", field, key_list(record)));
  return *it;
}

std::string require_string(const io::Json& record, const std::string& field) {
  const io::Json& value = require(record, field);
  if (!value.is_string())
    throw RecordError(fmt::format("field \"{}\" must be a string, got {}", field, value.type_name()));
  return value.get<std::string>();
}

void check_messages(const io::Json& messages, const std::string& field) {
  if (!messages.is_array())
    throw RecordError(fmt::format("field \"{}\" must be a list of messages, got {}", field, messages.type_name()));
  if (messages.empty()) throw RecordError(fmt::format("field \"{}\" is an empty list", field));
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const io::Json& m = messages[i];
    const std::string where = fmt::format("{}[{}]", field, i);
    if (!m.is_object()) throw RecordError(fmt::format("{} must be an object, got {}", where, m.type_name()));
    const auto role = m.find("role");
    if (role == m.end()) throw RecordError(fmt::format("{} has no \"role\"", where));
    if (!role->is_string())
      throw RecordError(fmt::format("{}.role must be a string, got {}", where, role->type_name()));
    const std::string name = role->get<std::string>();
    if (std::find(kRoles.begin(), kRoles.end(), name) == kRoles.end())
      throw RecordError(fmt::format("{}.role \"{}\" is unknown (expected one of system, developer, user, assistant, tool)",
                                    where, name));
    const auto content = m.find("content");
    // An assistant turn that only calls tools has null content, as in the OpenAI format.
    const bool tool_call_only = name == "assistant" && m.contains("tool_calls") && (content == m.end() || content->is_null());
    if (tool_call_only) continue;
    if (content == m.end()) throw RecordError(fmt::format("{} has no \"content\"", where));
    if (!content->is_string() && !content->is_array())
      throw RecordError(fmt::format("{}.content must be a string or a list of parts, got {}", where, content->type_name()));
  }
}

// A value for an error message: its type, and the value itself when it is short (ASCII-escaped).
std::string describe(const io::Json& value) {
  const std::string text = value.dump(-1, ' ', true);
  return text.size() <= 24 ? fmt::format("{} {}", value.type_name(), text) : std::string(value.type_name());
}

// Ints as given; whether they are token ids depends on the tokenizer (checked by the example builder).
std::vector<int64_t> require_int_list(const io::Json& value, const char* field) {
  if (!value.is_array())
    throw RecordError(fmt::format("field \"{}\" must be a list of ints, got {}", field, value.type_name()));
  std::vector<int64_t> ints;
  ints.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const io::Json& item = value[i];
    // Booleans are not numbers in nlohmann, and 3.0 is a float: neither is a token id.
    if (!item.is_number_integer())
      throw RecordError(fmt::format("{}[{}] must be an int, got {}", field, i, describe(item)));
    if (item.is_number_unsigned() && item.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw RecordError(fmt::format("{}[{}] = {} is out of range (not a token id)", field, i, item.get<uint64_t>()));
    ints.push_back(item.get<int64_t>());
  }
  return ints;
}

// An optional list with one int per token; null counts as absent (datasets' to_json writes null
// where a row has no value).
std::vector<int64_t> optional_int_list(const io::Json& record, const char* field, std::size_t tokens) {
  const auto it = record.find(field);
  if (it == record.end() || it->is_null()) return {};
  std::vector<int64_t> ints = require_int_list(*it, field);
  if (ints.size() != tokens)
    throw RecordError(fmt::format("field \"{}\" has {} items, but \"{}\" has {} (expected one per token)", field,
                                  ints.size(), kInputIdsField, tokens));
  return ints;
}

void check_attention_mask(const std::vector<int64_t>& mask) {
  for (std::size_t i = 0; i < mask.size(); ++i)
    if (mask[i] != 0 && mask[i] != 1)
      throw RecordError(fmt::format("{}[{}] = {}, expected 0 (padding) or 1 (token)", kAttentionMaskField, i, mask[i]));
}

}  // namespace

RecordKind detect_kind(const io::Json& record, const DatasetOptions& options) {
  if (!record.is_object()) return RecordKind::Auto;
  // First: datasets.map(tokenize) keeps the text columns unless told to remove them.
  if (record.contains(kInputIdsField)) return RecordKind::Tokenized;
  if (record.contains(options.messages_field)) return RecordKind::Messages;
  if (record.contains(options.prompt_field) && record.contains(options.completion_field))
    return RecordKind::PromptCompletion;
  if (record.contains(options.text_field) && record.contains(options.label_field)) return RecordKind::Classification;
  if (record.contains(options.text_field)) return RecordKind::Text;
  return RecordKind::Auto;
}

TypedRecord to_typed_record(const io::Json& record, std::size_t line, RecordKind kind, const DatasetOptions& options) {
  if (!record.is_object()) throw RecordError(fmt::format("expected a JSON object, got {}", record.type_name()));
  TypedRecord typed;
  typed.line = line;
  switch (kind) {
    case RecordKind::Text:
      typed.text = require_string(record, options.text_field);
      break;
    case RecordKind::PromptCompletion:
      typed.prompt = require_string(record, options.prompt_field);
      typed.completion = require_string(record, options.completion_field);
      break;
    case RecordKind::Messages:
      typed.messages = require(record, options.messages_field);
      check_messages(typed.messages, options.messages_field);
      break;
    case RecordKind::Classification: {
      typed.text = require_string(record, options.text_field);
      const io::Json& label = require(record, options.label_field);
      if (label.is_number_integer()) typed.int_label = label.get<int64_t>();
      else if (label.is_string()) typed.string_label = label.get<std::string>();
      else
        throw RecordError(fmt::format("field \"{}\" must be an int or a string, got {}", options.label_field,
                                      label.type_name()));
      break;
    }
    case RecordKind::Tokenized:
      typed.input_ids = require_int_list(require(record, kInputIdsField), kInputIdsField);
      if (typed.input_ids.empty()) throw RecordError(fmt::format("field \"{}\" is an empty list", kInputIdsField));
      typed.labels = optional_int_list(record, kLabelsField, typed.input_ids.size());
      typed.attention_mask = optional_int_list(record, kAttentionMaskField, typed.input_ids.size());
      check_attention_mask(typed.attention_mask);
      break;
    case RecordKind::Auto:
      throw RecordError("record kind not resolved");  // the loader resolves Auto before calling
  }
  return typed;
}

}  // namespace shadowpeft::data
