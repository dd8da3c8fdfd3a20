#pragma once
// Packing: several examples per row, so that a batch holds (almost) no padding. Two strategies, named
// as TRL's SFTConfig.packing_strategy names them:
//   Bfd (best-fit decreasing, the default): every example stays whole (cut to the block size first)
//     and examples are binned into rows of at most `block_size` tokens, longest first, each into the
//     fullest row it fits. Each row records where its examples start (position_ids restarting at 0);
//     the model then attends within each example only and the first token of an example is not
//     predicted from the one before, so a packed batch trains exactly like its examples unpacked.
//   Wrapped: all ids and labels concatenated in order and cut into blocks of `block_size` tokens
//     (the last may be shorter); attention spans the examples inside a block, and an example may
//     be split between two blocks.
#include <cstddef>
#include <string>
#include <vector>

#include "shadowpeft/data/dataset.h"

namespace shadowpeft::data {

// "bfd" and "wrapped" (TRL's names).
std::string to_string(PackingStrategy strategy);
// The inverse of to_string; ConfigError naming the accepted values otherwise.
PackingStrategy parse_packing_strategy(const std::string& name);

struct PackedExamples {
  std::vector<Example> blocks;
  std::size_t dropped_no_loss = 0;  // examples (Bfd) or blocks (Wrapped) whose labels are all -100
  std::size_t truncated = 0;        // Bfd: examples cut to block_size
};

// Packs `examples` into rows of at most `block_size` tokens. A row's `line` is the line of its first
// example. Bfd rows carry position_ids (0.. per example) and label -100 at each example's first
// token; the rows are in the order the bins were opened (longest example first). ConfigError for
// block_size 0 or classification examples.
PackedExamples pack_examples(std::vector<Example> examples, std::size_t block_size, PackingStrategy strategy);

}  // namespace shadowpeft::data
