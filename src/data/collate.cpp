#include "shadowpeft/data/collate.h"

#include <fmt/format.h>

#include <algorithm>

#include "shadowpeft/core/error.h"

namespace shadowpeft::data {

int64_t default_pad_id(const tokenizer::Tokenizer& tokenizer) {
  if (tokenizer.pad_token() && tokenizer.pad_token()->id) return *tokenizer.pad_token()->id;
  if (tokenizer.eos_token() && tokenizer.eos_token()->id) return *tokenizer.eos_token()->id;
  return 0;
}

Batch collate(std::span<const Example> examples, const CollateOptions& options) {
  if (examples.empty()) throw ConfigError("collate: the batch is empty");
  if (options.pad_to_multiple_of && *options.pad_to_multiple_of == 0)
    throw ConfigError("collate: pad_to_multiple_of must be > 0, got 0");
  const bool classification = examples.front().class_label.has_value();
  std::size_t longest = 0;
  for (std::size_t b = 0; b < examples.size(); ++b) {
    const Example& e = examples[b];
    if (e.class_label.has_value() != classification)
      throw ConfigError(fmt::format("collate: example {} is {} but example 0 is {}", b,
                                    e.class_label ? "classification" : "language modelling",
                                    classification ? "classification" : "language modelling"));
    if (!classification && e.labels.size() != e.input_ids.size())
      throw ConfigError(fmt::format("collate: example {} has {} labels for {} tokens", b, e.labels.size(),
                                    e.input_ids.size()));
    longest = std::max(longest, e.input_ids.size());
  }
  if (options.pad_to_multiple_of) {
    const std::size_t m = *options.pad_to_multiple_of;
    longest = (longest + m - 1) / m * m;
  }
  const bool packed = std::any_of(examples.begin(), examples.end(), [](const Example& e) { return !e.position_ids.empty(); });
  if (packed && options.padding_side == tokenizer::PaddingSide::Left)
    throw ConfigError("collate: packed examples are padded on the right (their padding becomes a sequence of its own)");
  Batch batch;
  batch.batch_size = examples.size();
  batch.seq_len = longest;
  const std::size_t total = batch.batch_size * longest;
  batch.input_ids.assign(total, options.pad_id);
  batch.attention_mask.assign(total, 0);
  if (!classification) batch.labels.assign(total, kIgnoreIndex);
  for (std::size_t b = 0; b < examples.size(); ++b) {
    const Example& e = examples[b];
    const std::size_t n = e.input_ids.size();
    const std::size_t offset = b * longest + (options.padding_side == tokenizer::PaddingSide::Left ? longest - n : 0);
    std::copy(e.input_ids.begin(), e.input_ids.end(), batch.input_ids.begin() + static_cast<std::ptrdiff_t>(offset));
    std::fill_n(batch.attention_mask.begin() + static_cast<std::ptrdiff_t>(offset), n, 1);
    if (classification) batch.class_labels.push_back(*e.class_label);
    else std::copy(e.labels.begin(), e.labels.end(), batch.labels.begin() + static_cast<std::ptrdiff_t>(offset));
  }
  if (packed) {
    batch.position_ids.reserve(total);
    for (const Example& e : examples) {
      const std::size_t n = e.input_ids.size();
      if (e.position_ids.empty())
        for (std::size_t p = 0; p < n; ++p) batch.position_ids.push_back(static_cast<int64_t>(p));
      else
        batch.position_ids.insert(batch.position_ids.end(), e.position_ids.begin(), e.position_ids.end());
      for (std::size_t p = 0; p < longest - n; ++p) batch.position_ids.push_back(static_cast<int64_t>(p));
    }
  }
  return batch;
}

}  // namespace shadowpeft::data
