#pragma once
// Packing: many short examples concatenated and cut into blocks of equal length, so that a batch
// holds no padding. Attention still spans the documents inside a block (no block-diagonal masks).
#include <cstddef>
#include <vector>

#include "shadowpeft/data/dataset.h"

namespace shadowpeft::data {

struct PackedExamples {
  std::vector<Example> blocks;
  std::size_t dropped_no_loss = 0;  // blocks whose labels are all -100
};

// Concatenates the ids and labels of `examples` in order and cuts them into blocks of `block_size`
// tokens; the last block keeps the remainder (shorter). A block's `line` is the line of the example
// its first token comes from. ConfigError for block_size 0 or classification examples.
PackedExamples pack_examples(const std::vector<Example>& examples, std::size_t block_size);

}  // namespace shadowpeft::data
