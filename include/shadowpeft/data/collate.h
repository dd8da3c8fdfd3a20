#pragma once
// Batches without LibTorch: row-major int64 buffers plus their shape, ready for torch::from_blob.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "shadowpeft/data/dataset.h"

namespace shadowpeft::data {

struct CollateOptions {
  tokenizer::PaddingSide padding_side = tokenizer::PaddingSide::Right;
  int64_t pad_id = 0;  // see default_pad_id
  // Round the sequence length up to a multiple of this (tensor-core friendly shapes); unset: longest.
  std::optional<std::size_t> pad_to_multiple_of;
};

struct Batch {
  std::size_t batch_size = 0;
  std::size_t seq_len = 0;
  std::vector<int64_t> input_ids;       // [batch_size, seq_len], padding = pad_id
  std::vector<int64_t> attention_mask;  // [batch_size, seq_len], 1 real token, 0 padding
  std::vector<int64_t> labels;          // [batch_size, seq_len], padding -100; empty for classification
  std::vector<int64_t> class_labels;    // [batch_size] for classification, else empty
  // [batch_size, seq_len] when an example is packed (Example::position_ids), else empty: each
  // example's positions, the unpacked rows' 0..n-1, and 0.. again over a row's padding, so that the
  // padding is a sequence of its own and the model needs no attention mask (transformers' packed
  // format: a new sequence wherever the positions do not go up by one).
  std::vector<int64_t> position_ids;
};

// The tokenizer's pad token, else its eos token, else 0 (padding is masked, so any id works).
int64_t default_pad_id(const tokenizer::Tokenizer& tokenizer);

// Pads every example to the longest (rounded up to pad_to_multiple_of). ConfigError for an empty
// batch, pad_to_multiple_of 0, a batch mixing classification and language-modelling examples, or
// packed examples padded on the left.
Batch collate(std::span<const Example> examples, const CollateOptions& options = {});

}  // namespace shadowpeft::data
