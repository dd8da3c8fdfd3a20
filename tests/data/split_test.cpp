// The train/eval split is a documented, platform-independent function of (n, fraction/count, seed).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "shadowpeft/core/error.h"
#include "shadowpeft/data/split.h"

namespace shadowpeft::data {
namespace {

std::vector<Example> numbered(std::size_t n) {
  std::vector<Example> examples(n);
  for (std::size_t i = 0; i < n; ++i) examples[i].line = i;
  return examples;
}

std::vector<std::size_t> lines(const std::vector<Example>& examples) {
  std::vector<std::size_t> out;
  for (const auto& e : examples) out.push_back(e.line);
  return out;
}

TEST(DataSplit, Mt19937_64IsTheStandardGenerator) {
  std::mt19937_64 rng;  // the standard fixes its 10000th output for the default seed
  rng.discard(9999);
  EXPECT_EQ(rng(), 9981545732273789042ULL);
}

// Expected permutations computed by an independent Python mt19937_64 with the algorithm in split.h.
TEST(DataSplit, ShuffleMatchesTheDocumentedAlgorithm) {
  EXPECT_EQ(shuffled_indices(10, 42), (std::vector<std::size_t>{1, 7, 9, 0, 3, 8, 4, 2, 5, 6}));
  EXPECT_EQ(shuffled_indices(10, 7), (std::vector<std::size_t>{0, 7, 4, 9, 3, 1, 2, 8, 6, 5}));
  EXPECT_EQ(shuffled_indices(5, 0), (std::vector<std::size_t>{2, 0, 1, 3, 4}));
  EXPECT_TRUE(shuffled_indices(0, 1).empty());
  EXPECT_EQ(shuffled_indices(1, 1), (std::vector<std::size_t>{0}));
}

TEST(DataSplit, SameSeedSameSplitAndEveryExampleOnce) {
  const auto a = split_examples(numbered(100), {.eval_fraction = 0.2, .seed = 3});
  const auto b = split_examples(numbered(100), {.eval_fraction = 0.2, .seed = 3});
  EXPECT_EQ(lines(a.eval), lines(b.eval));
  EXPECT_EQ(lines(a.train), lines(b.train));
  EXPECT_EQ(a.eval.size(), 20u);
  EXPECT_EQ(a.train.size(), 80u);
  auto all = lines(a.train);
  const auto eval = lines(a.eval);
  all.insert(all.end(), eval.begin(), eval.end());
  std::sort(all.begin(), all.end());
  std::vector<std::size_t> expected(100);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(all, expected);
  const auto c = split_examples(numbered(100), {.eval_fraction = 0.2, .seed = 4});
  EXPECT_NE(lines(a.eval), lines(c.eval));
}

TEST(DataSplit, EvalTakesTheFirstPositionsOfThePermutation) {
  const auto split = split_examples(numbered(10), {.eval_count = 3, .seed = 42});
  EXPECT_EQ(lines(split.eval), (std::vector<std::size_t>{1, 7, 9}));
  EXPECT_EQ(lines(split.train), (std::vector<std::size_t>{0, 3, 8, 4, 2, 5, 6}));
}

TEST(DataSplit, FractionRoundsHalfUpAndCountOverridesIt) {
  EXPECT_EQ(split_examples(numbered(5), {.eval_fraction = 0.1}).eval.size(), 1u);   // 0.5 → 1
  EXPECT_EQ(split_examples(numbered(5), {.eval_fraction = 0.0}).eval.size(), 0u);
  EXPECT_EQ(split_examples(numbered(5), {.eval_fraction = 1.0}).train.size(), 0u);
  EXPECT_EQ(split_examples(numbered(5), {.eval_fraction = 0.9, .eval_count = 2}).eval.size(), 2u);
}

TEST(DataSplit, InvalidSizesAreConfigErrors) {
  EXPECT_THROW(split_examples(numbered(5), {.eval_fraction = 1.5}), ConfigError);
  EXPECT_THROW(split_examples(numbered(5), {.eval_fraction = -0.1}), ConfigError);
  EXPECT_THROW(split_examples(numbered(5), {.eval_count = 6}), ConfigError);
}

}  // namespace
}  // namespace shadowpeft::data
