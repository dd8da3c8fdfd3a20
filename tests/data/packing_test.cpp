// Best-fit-decreasing packing keeps every example whole and once, fills rows longest first into the
// fullest row with room, restarts positions per example and takes no loss on an example's first
// token; collation gives packed rows positions (the padding a sequence of its own). The wrapped
// strategy is checked against Python in reference_parity_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "shadowpeft/core/error.h"
#include "shadowpeft/data/collate.h"
#include "shadowpeft/data/packing.h"

namespace shadowpeft::data {
namespace {

using V = std::vector<int64_t>;

// Example n: `length` tokens valued 100 n + i, labels = ids, from line n + 1.
Example numbered(int64_t n, std::size_t length) {
  Example e;
  for (std::size_t i = 0; i < length; ++i) e.input_ids.push_back(100 * n + static_cast<int64_t>(i));
  e.labels = e.input_ids;
  e.line = static_cast<std::size_t>(n) + 1;
  return e;
}

TEST(DataPacking, BestFitDecreasingKeepsExamplesWholeAndRestartsPositions) {
  // Lengths 3, 7, 2, 5, 4, 1 into rows of 8. The 1-token example is dropped: its one label is its
  // first token's. 7 opens row 0, 5 row 1, 4 row 2, 3 fits row 1 (room 3: the fullest row it fits;
  // row 2 has room 4), 2 fits row 2.
  std::vector<Example> examples;
  const std::vector<std::size_t> lengths{3, 7, 2, 5, 4, 1};
  for (std::size_t n = 0; n < lengths.size(); ++n) examples.push_back(numbered(static_cast<int64_t>(n), lengths[n]));
  const PackedExamples packed = pack_examples(examples, 8, PackingStrategy::Bfd);
  ASSERT_EQ(packed.blocks.size(), 3u);
  EXPECT_EQ(packed.truncated, 0u);
  EXPECT_EQ(packed.dropped_no_loss, 1u);
  EXPECT_EQ(packed.blocks[0].input_ids, (V{100, 101, 102, 103, 104, 105, 106}));
  EXPECT_EQ(packed.blocks[0].position_ids, (V{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(packed.blocks[0].labels, (V{-100, 101, 102, 103, 104, 105, 106}));
  EXPECT_EQ(packed.blocks[0].line, 2u);
  EXPECT_EQ(packed.blocks[1].input_ids, (V{300, 301, 302, 303, 304, 0, 1, 2}));
  EXPECT_EQ(packed.blocks[1].position_ids, (V{0, 1, 2, 3, 4, 0, 1, 2}));
  EXPECT_EQ(packed.blocks[2].input_ids, (V{400, 401, 402, 403, 200, 201}));
  EXPECT_EQ(packed.blocks[2].labels, (V{-100, 401, 402, 403, -100, 201}));
  // Every token of every example exactly once.
  std::map<int64_t, int> seen;
  for (const Example& block : packed.blocks) {
    EXPECT_LE(block.input_ids.size(), 8u);
    EXPECT_EQ(block.position_ids.size(), block.input_ids.size());
    for (const int64_t id : block.input_ids) ++seen[id];
  }
  EXPECT_EQ(seen.size(), 3u + 7 + 2 + 5 + 4);
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](const auto& s) { return s.second == 1; }));
}

TEST(DataPacking, BestFitDecreasingCutsLongExamplesAndDropsThoseWithoutLoss) {
  Example no_loss = numbered(1, 3);
  no_loss.labels = {-100, -100, -100};
  Example one_token = numbered(2, 1);  // its one label is its first token's: nothing to learn once packed
  const PackedExamples packed = pack_examples({numbered(0, 10), no_loss, one_token}, 4, PackingStrategy::Bfd);
  EXPECT_EQ(packed.truncated, 1u);
  EXPECT_EQ(packed.dropped_no_loss, 2u);
  ASSERT_EQ(packed.blocks.size(), 1u);
  EXPECT_EQ(packed.blocks[0].input_ids, (V{0, 1, 2, 3}));
}

TEST(DataPacking, ClassificationExamplesAndBlockSizeZeroAreErrors) {
  Example classified;
  classified.input_ids = {1, 2};
  classified.class_label = 1;
  for (const PackingStrategy strategy : {PackingStrategy::Bfd, PackingStrategy::Wrapped}) {
    EXPECT_THROW(pack_examples({classified}, 8, strategy), ConfigError);
    EXPECT_THROW(pack_examples({numbered(0, 2)}, 0, strategy), ConfigError);
  }
  EXPECT_EQ(parse_packing_strategy("bfd"), PackingStrategy::Bfd);
  EXPECT_EQ(to_string(parse_packing_strategy("wrapped")), "wrapped");
  EXPECT_THROW(parse_packing_strategy("ffd"), ConfigError);
}

TEST(DataPacking, CollatedPackedRowsCarryPositionsAndTheirPaddingIsASequenceOfItsOwn) {
  const PackedExamples packed = pack_examples({numbered(0, 3), numbered(1, 2), numbered(2, 4)}, 6, PackingStrategy::Bfd);
  ASSERT_EQ(packed.blocks.size(), 2u);  // [4 + 2], [3]
  const Batch b = collate(packed.blocks, {.pad_id = 0});
  EXPECT_EQ(b.seq_len, 6u);
  EXPECT_EQ(b.position_ids, (V{0, 1, 2, 3, 0, 1, 0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(b.attention_mask, (V{1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(b.labels, (V{-100, 201, 202, 203, -100, 101, -100, 1, 2, -100, -100, -100}));
  // Unpacked examples get no positions; packed ones refuse left padding.
  EXPECT_TRUE(collate(std::vector<Example>{numbered(0, 3)}, {}).position_ids.empty());
  EXPECT_THROW(collate(packed.blocks, {.padding_side = tokenizer::PaddingSide::Left}), ConfigError);
}

}  // namespace
}  // namespace shadowpeft::data
