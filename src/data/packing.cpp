#include "shadowpeft/data/packing.h"

#include <algorithm>

#include "shadowpeft/core/error.h"

namespace shadowpeft::data {

namespace {

bool has_loss(const Example& example) {
  return std::any_of(example.labels.begin(), example.labels.end(), [](int64_t l) { return l != kIgnoreIndex; });
}

}  // namespace

PackedExamples pack_examples(const std::vector<Example>& examples, std::size_t block_size) {
  if (block_size == 0) throw ConfigError("packing: block size (max_length) must be > 0, got 0");
  PackedExamples packed;
  Example block;
  auto flush = [&] {
    if (block.input_ids.empty()) return;
    if (has_loss(block)) packed.blocks.push_back(std::move(block));
    else ++packed.dropped_no_loss;
    block = Example{};
  };
  for (const Example& example : examples) {
    if (example.class_label || example.labels.size() != example.input_ids.size())
      throw ConfigError("packing: classification examples cannot be packed (one label per sequence)");
    for (std::size_t i = 0; i < example.input_ids.size(); ++i) {
      if (block.input_ids.empty()) block.line = example.line;
      block.input_ids.push_back(example.input_ids[i]);
      block.labels.push_back(example.labels[i]);
      if (block.input_ids.size() == block_size) flush();
    }
  }
  flush();
  return packed;
}

}  // namespace shadowpeft::data
