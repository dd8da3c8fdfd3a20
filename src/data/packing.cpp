#include "shadowpeft/data/packing.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <numeric>

#include "shadowpeft/core/error.h"

namespace shadowpeft::data {

namespace {

bool has_loss(const Example& example) {
  return std::any_of(example.labels.begin(), example.labels.end(), [](int64_t l) { return l != kIgnoreIndex; });
}

void check_packable(const std::vector<Example>& examples, std::size_t block_size) {
  if (block_size == 0) throw ConfigError("packing: block size (max_length) must be > 0, got 0");
  for (const Example& example : examples)
    if (example.class_label || example.labels.size() != example.input_ids.size())
      throw ConfigError("packing: classification examples cannot be packed (one label per sequence)");
}

PackedExamples pack_wrapped(const std::vector<Example>& examples, std::size_t block_size) {
  PackedExamples packed;
  Example block;
  auto flush = [&] {
    if (block.input_ids.empty()) return;
    if (has_loss(block)) packed.blocks.push_back(std::move(block));
    else ++packed.dropped_no_loss;
    block = Example{};
  };
  for (const Example& example : examples) {
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

PackedExamples pack_best_fit_decreasing(std::vector<Example> examples, std::size_t block_size) {
  PackedExamples packed;
  std::vector<Example> kept;
  for (Example& example : examples) {
    if (example.input_ids.size() > block_size) {
      example.input_ids.resize(block_size);
      example.labels.resize(block_size);
      ++packed.truncated;
    }
    // In a packed row the first token would be predicted from the previous example's last token;
    // unpacked, nothing predicts it. (transformers' DataCollatorWithFlattening does the same.)
    if (!example.labels.empty()) example.labels.front() = kIgnoreIndex;
    if (has_loss(example)) kept.push_back(std::move(example));
    else ++packed.dropped_no_loss;
  }
  // Longest first; equal lengths in file order, so the packing is reproducible.
  std::vector<std::size_t> order(kept.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return kept[a].input_ids.size() > kept[b].input_ids.size(); });
  // Free space → rows with that much room: the best fit is the first row with room >= length.
  std::multimap<std::size_t, std::size_t> room;
  for (const std::size_t i : order) {
    Example& example = kept[i];
    const std::size_t length = example.input_ids.size();
    std::size_t row;
    if (const auto fit = room.lower_bound(length); fit != room.end()) {
      row = fit->second;
      room.erase(fit);
    } else {
      row = packed.blocks.size();
      packed.blocks.emplace_back();
      packed.blocks.back().line = example.line;
    }
    Example& block = packed.blocks[row];
    block.input_ids.insert(block.input_ids.end(), example.input_ids.begin(), example.input_ids.end());
    block.labels.insert(block.labels.end(), example.labels.begin(), example.labels.end());
    for (std::size_t p = 0; p < length; ++p) block.position_ids.push_back(static_cast<int64_t>(p));
    if (const std::size_t left = block_size - block.input_ids.size(); left > 0) room.emplace(left, row);
  }
  return packed;
}

}  // namespace

std::string to_string(PackingStrategy strategy) { return strategy == PackingStrategy::Bfd ? "bfd" : "wrapped"; }

PackingStrategy parse_packing_strategy(const std::string& name) {
  if (name == "bfd") return PackingStrategy::Bfd;
  if (name == "wrapped") return PackingStrategy::Wrapped;
  throw ConfigError(fmt::format("packing strategy '{}' is not one of bfd, wrapped", name));
}

PackedExamples pack_examples(std::vector<Example> examples, std::size_t block_size, PackingStrategy strategy) {
  check_packable(examples, block_size);
  return strategy == PackingStrategy::Bfd ? pack_best_fit_decreasing(std::move(examples), block_size)
                                          : pack_wrapped(examples, block_size);
}

}  // namespace shadowpeft::data
