// Collation pads to the longest example (or a multiple), on either side, with -100 labels on padding.
#include <gtest/gtest.h>

#include "fixtures.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/data/collate.h"

namespace shadowpeft::data {
namespace {

Example lm(std::vector<int64_t> ids, std::vector<int64_t> labels) { return {std::move(ids), std::move(labels), std::nullopt, 0}; }
Example cls(std::vector<int64_t> ids, int64_t label) { return {std::move(ids), {}, label, 0}; }

using V = std::vector<int64_t>;

TEST(DataCollate, RightPaddingIsTheDefault) {
  const std::vector<Example> batch = {lm({5, 6, 7}, {-100, 6, 7}), lm({8}, {8})};
  const Batch b = collate(batch, {.pad_id = 0});
  EXPECT_EQ(b.batch_size, 2u);
  EXPECT_EQ(b.seq_len, 3u);
  EXPECT_EQ(b.input_ids, (V{5, 6, 7, 8, 0, 0}));
  EXPECT_EQ(b.attention_mask, (V{1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(b.labels, (V{-100, 6, 7, 8, -100, -100}));
  EXPECT_TRUE(b.class_labels.empty());
}

TEST(DataCollate, LeftPaddingPutsPadsFirst) {
  const std::vector<Example> batch = {lm({5, 6, 7}, {-100, 6, 7}), lm({8}, {8})};
  const Batch b = collate(batch, {.padding_side = tokenizer::PaddingSide::Left, .pad_id = 9});
  EXPECT_EQ(b.input_ids, (V{5, 6, 7, 9, 9, 8}));
  EXPECT_EQ(b.attention_mask, (V{1, 1, 1, 0, 0, 1}));
  EXPECT_EQ(b.labels, (V{-100, 6, 7, -100, -100, 8}));
}

TEST(DataCollate, PadToMultipleOfRoundsTheLengthUp) {
  const std::vector<Example> batch = {lm({1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}), lm({6}, {6})};
  const Batch b = collate(batch, {.pad_id = 0, .pad_to_multiple_of = 4});
  EXPECT_EQ(b.seq_len, 8u);
  EXPECT_EQ(b.input_ids.size(), 16u);
  EXPECT_EQ(b.attention_mask, (V{1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}));
  const Batch exact = collate(std::vector<Example>{lm({1, 2, 3, 4}, {1, 2, 3, 4})}, {.pad_to_multiple_of = 4});
  EXPECT_EQ(exact.seq_len, 4u);
}

TEST(DataCollate, ClassificationBatchesCarryClassLabels) {
  const std::vector<Example> batch = {cls({3, 4}, 2), cls({5}, 0)};
  const Batch b = collate(batch, {.pad_id = 1});
  EXPECT_EQ(b.input_ids, (V{3, 4, 5, 1}));
  EXPECT_EQ(b.attention_mask, (V{1, 1, 1, 0}));
  EXPECT_TRUE(b.labels.empty());
  EXPECT_EQ(b.class_labels, (V{2, 0}));
}

TEST(DataCollate, InvalidBatchesAreConfigErrors) {
  EXPECT_THROW(collate(std::vector<Example>{}), ConfigError);
  EXPECT_THROW(collate(std::vector<Example>{lm({1}, {1}), cls({2}, 0)}), ConfigError);
  EXPECT_THROW(collate(std::vector<Example>{lm({1, 2}, {1})}), ConfigError);
  EXPECT_THROW(collate(std::vector<Example>{lm({1}, {1})}, {.pad_to_multiple_of = 0}), ConfigError);
}

TEST(DataCollate, DefaultPadIdIsPadThenEos) {
  EXPECT_EQ(default_pad_id(testing::fixture_tokenizer("qwen3")), 151643);     // <|endoftext|>
  EXPECT_EQ(default_pad_id(testing::fixture_tokenizer("mistral7b")), 2);      // no pad token: </s>
}

}  // namespace
}  // namespace shadowpeft::data
