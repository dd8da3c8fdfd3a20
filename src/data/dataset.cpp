// load_dataset: read → detect the kind → type and tokenize each record → map class labels →
// truncate or pack. Bad records are thrown or counted in one place (`reject`).
#include "shadowpeft/data/dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "example_builder.h"
#include "record_reader.h"
#include "records.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/data/packing.h"

namespace shadowpeft::data {

std::string to_string(RecordKind kind) {
  switch (kind) {
    case RecordKind::Auto: return "auto";
    case RecordKind::Text: return "text";
    case RecordKind::PromptCompletion: return "prompt_completion";
    case RecordKind::Messages: return "messages";
    case RecordKind::Classification: return "classification";
    case RecordKind::Tokenized: return "tokenized";
  }
  return "?";
}

RecordKind parse_record_kind(const std::string& name) {
  for (RecordKind kind : {RecordKind::Auto, RecordKind::Text, RecordKind::PromptCompletion, RecordKind::Messages,
                          RecordKind::Classification, RecordKind::Tokenized})
    if (to_string(kind) == name) return kind;
  throw ConfigError(fmt::format("dataset kind: unknown value \"{}\" (expected auto, text, prompt_completion, "
                                "messages, classification or tokenized)",
                                name));
}

namespace {

struct Loader {
  const std::filesystem::path& path;
  const DatasetOptions& options;
  DatasetStats& stats;

  void reject(std::size_t line, const std::string& what) {
    if (!options.skip_bad_records) throw LoadError(fmt::format("{}:{}: {}", path.string(), line, what));
    ++stats.bad_records;
  }
};

struct Pending {
  Example example;
  std::optional<int64_t> int_label;
  std::optional<std::string> string_label;
};

// Class ids for every pending example; a record whose label cannot be mapped is rejected.
std::vector<std::string> map_labels(std::vector<Pending>& pending, const DatasetOptions& options, Loader& loader) {
  std::vector<std::string> names = options.label_names;
  if (names.empty()) {
    std::set<std::string> distinct;
    for (const auto& p : pending)
      if (p.string_label) distinct.insert(*p.string_label);
    names.assign(distinct.begin(), distinct.end());
  }
  std::map<std::string, int64_t> ids;
  for (std::size_t i = 0; i < names.size(); ++i) ids.emplace(names[i], static_cast<int64_t>(i));
  // Without names, ints and strings in one file would give two labels the same id.
  const bool mixed_allowed = !options.label_names.empty();
  const bool first_is_string = !pending.empty() && pending.front().string_label.has_value();
  std::vector<Pending> kept;
  for (auto& p : pending) {
    const std::size_t line = p.example.line;
    if (p.string_label) {
      if (!mixed_allowed && !first_is_string) {
        loader.reject(line, fmt::format("field \"{}\" is the string \"{}\", but earlier labels are ints "
                                        "(give label names to mix them)", options.label_field, *p.string_label));
        continue;
      }
      const auto it = ids.find(*p.string_label);
      if (it == ids.end()) {
        loader.reject(line, fmt::format("field \"{}\": label \"{}\" is not one of the label names", options.label_field,
                                        *p.string_label));
        continue;
      }
      p.example.class_label = it->second;
    } else {
      if (!mixed_allowed && first_is_string) {
        loader.reject(line, fmt::format("field \"{}\" is the int {}, but earlier labels are strings "
                                        "(give label names to mix them)", options.label_field, *p.int_label));
        continue;
      }
      const int64_t id = *p.int_label;
      if (id < 0 || (!options.label_names.empty() && id >= static_cast<int64_t>(names.size()))) {
        loader.reject(line, fmt::format("field \"{}\": label {} is out of range (expected 0 <= label{})",
                                        options.label_field, id,
                                        options.label_names.empty() ? "" : fmt::format(" < {}", names.size())));
        continue;
      }
      p.example.class_label = id;
    }
    kept.push_back(std::move(p));
  }
  pending = std::move(kept);
  return first_is_string || !options.label_names.empty() ? names : std::vector<std::string>{};
}

std::string undetectable_kind(const io::Json& record, const DatasetOptions& options) {
  if (!record.is_object()) return fmt::format("expected a JSON object, got {}", record.type_name());
  std::string keys;
  for (const auto& item : record.items()) keys += (keys.empty() ? "" : ", ") + item.key();
  return fmt::format("cannot tell the record kind from its keys ({}): expected \"{}\", \"{}\", \"{}\" + \"{}\", "
                     "\"{}\" + \"{}\" or \"{}\"",
                     keys.empty() ? "none" : keys, kInputIdsField, options.messages_field, options.prompt_field,
                     options.completion_field, options.text_field, options.label_field, options.text_field);
}

// A CSV field is a string: "[1, 2, 3]" is text, not a list of token ids.
void check_file_holds_kind(const std::filesystem::path& path, RecordKind kind) {
  if (kind == RecordKind::Tokenized && path.extension() == ".csv")
    throw LoadError(fmt::format("{}: tokenized records (\"{}\") cannot be read from CSV, whose fields are strings, "
                                "not lists of token ids (write .jsonl or .json)",
                                path.string(), kInputIdsField));
}

}  // namespace

Dataset load_dataset(const std::filesystem::path& path, const tokenizer::Tokenizer& tokenizer,
                     const DatasetOptions& options) {
  if (options.max_length == 0) throw ConfigError("dataset max_length: must be > 0, got 0");
  if (options.packing && options.kind == RecordKind::Classification)
    throw ConfigError("dataset packing: not possible for classification (one label per sequence)");
  check_file_holds_kind(path, options.kind);
  Dataset dataset;
  Loader loader{path, options, dataset.stats};
  const auto raw = read_records(path, options.label_field);
  dataset.stats.records = raw.size();

  dataset.kind = options.kind;
  std::optional<ExampleBuilder> builder;
  std::vector<Pending> pending;
  for (const RawRecord& record : raw) {
    if (!record.error.empty()) {
      loader.reject(record.line, record.error);
      continue;
    }
    if (dataset.kind == RecordKind::Auto) {
      dataset.kind = detect_kind(record.value, options);
      if (dataset.kind == RecordKind::Auto) {
        loader.reject(record.line, undetectable_kind(record.value, options));
        continue;
      }
    }
    if (!builder) {
      if (options.packing && dataset.kind == RecordKind::Classification)
        throw ConfigError(fmt::format("{}: dataset packing: not possible for classification records", path.string()));
      check_file_holds_kind(path, dataset.kind);
      builder.emplace(tokenizer, options, dataset.kind);  // option and tokenizer errors end the load
    }
    try {
      const TypedRecord typed = to_typed_record(record.value, record.line, dataset.kind, options);
      pending.push_back({builder->build(typed), typed.int_label, typed.string_label});
    } catch (const RecordError& e) {
      loader.reject(record.line, e.what());
    } catch (const Error& e) {  // the tokenizer's (invalid UTF-8) and the chat template's errors
      loader.reject(record.line, e.what());
    }
  }
  if (dataset.kind == RecordKind::Classification) dataset.label_names = map_labels(pending, options, loader);

  std::vector<Example> examples;
  examples.reserve(pending.size());
  for (auto& p : pending) examples.push_back(std::move(p.example));
  if (options.packing) {
    auto packed = pack_examples(std::move(examples), options.max_length, options.packing_strategy);
    dataset.examples = std::move(packed.blocks);
    dataset.stats.dropped_no_loss = packed.dropped_no_loss;
    dataset.stats.truncated = packed.truncated;
    return dataset;
  }
  for (auto& example : examples) {
    if (example.input_ids.size() > options.max_length) {
      ++dataset.stats.truncated;
      example.input_ids.resize(options.max_length);
      if (!example.labels.empty()) example.labels.resize(options.max_length);
    }
    const bool has_loss = example.class_label.has_value() ||
                          std::any_of(example.labels.begin(), example.labels.end(),
                                      [](int64_t l) { return l != kIgnoreIndex; });
    if (has_loss) dataset.examples.push_back(std::move(example));
    else ++dataset.stats.dropped_no_loss;
  }
  return dataset;
}

}  // namespace shadowpeft::data
