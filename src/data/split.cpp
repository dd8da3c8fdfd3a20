#include "shadowpeft/data/split.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <random>
#include <utility>

#include "shadowpeft/core/error.h"

namespace shadowpeft::data {

std::vector<std::size_t> shuffled_indices(std::size_t n, uint64_t seed) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  for (std::size_t i = n; i-- > 1;) {
    const uint64_t range = static_cast<uint64_t>(i) + 1;
    // 2^64 mod range, computed without overflow; drawing below the largest multiple of `range`
    // keeps every j equally likely.
    const uint64_t excess = (std::numeric_limits<uint64_t>::max() % range + 1) % range;
    const uint64_t limit = std::numeric_limits<uint64_t>::max() - excess;  // r <= limit accepted
    uint64_t r = rng();
    while (r > limit) r = rng();
    std::swap(order[i], order[static_cast<std::size_t>(r % range)]);
  }
  return order;
}

SplitExamples split_examples(std::vector<Example> examples, const SplitOptions& options) {
  const std::size_t n = examples.size();
  std::size_t eval_size = 0;
  if (options.eval_count) {
    if (*options.eval_count > n)
      throw ConfigError(fmt::format("eval split: eval_count {} is larger than the dataset ({} examples)",
                                    *options.eval_count, n));
    eval_size = *options.eval_count;
  } else {
    if (!(options.eval_fraction >= 0.0 && options.eval_fraction <= 1.0))
      throw ConfigError(fmt::format("eval split: eval_fraction must be in [0, 1], got {}", options.eval_fraction));
    eval_size = static_cast<std::size_t>(std::floor(options.eval_fraction * static_cast<double>(n) + 0.5));
  }
  SplitExamples split;
  split.eval.reserve(eval_size);
  split.train.reserve(n - eval_size);
  const auto order = shuffled_indices(n, options.seed);
  for (std::size_t k = 0; k < n; ++k) (k < eval_size ? split.eval : split.train).push_back(std::move(examples[order[k]]));
  return split;
}

}  // namespace shadowpeft::data
