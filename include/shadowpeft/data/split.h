#pragma once
// A deterministic train/eval split: the same examples, fraction or count and seed give the same
// split on every platform (no std::uniform_int_distribution, whose algorithm the standard leaves open).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "shadowpeft/data/dataset.h"

namespace shadowpeft::data {

struct SplitOptions {
  // Eval size: `eval_count` when set, else round(eval_fraction * n) (halves round up). Both must
  // leave the split within [0, n]: eval_fraction in [0, 1], eval_count <= n (ConfigError otherwise).
  double eval_fraction = 0.1;
  std::optional<std::size_t> eval_count;
  uint64_t seed = 42;
};

struct SplitExamples {
  std::vector<Example> train;
  std::vector<Example> eval;
};

// A permutation of 0..n-1: Fisher-Yates from the back (i = n-1 .. 1 swaps i with j in [0, i]), j drawn
// from std::mt19937_64(seed) by rejection: draw r until r < 2^64 - (2^64 mod (i+1)), then j = r mod (i+1).
std::vector<std::size_t> shuffled_indices(std::size_t n, uint64_t seed);

// Eval takes the first eval-size positions of shuffled_indices(n, seed), train the rest; both keep
// the permutation's order.
SplitExamples split_examples(std::vector<Example> examples, const SplitOptions& options = {});

}  // namespace shadowpeft::data
