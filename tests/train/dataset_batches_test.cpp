// Batching of tokenized examples: every example once per epoch, reshuffled per epoch and
// reproducible from the seed; with group_by_length, batches of similar lengths (far less padding)
// and the longest example in the first batch, as transformers' LengthGroupedSampler.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "shadowpeft/train/dataset_batches.h"

namespace shadowpeft::train {
namespace {

// 203 examples of lengths 1..97 in a scrambled order; line = index, to find each one again.
std::vector<data::Example> examples() {
  std::vector<data::Example> out;
  for (std::size_t i = 0; i < 203; ++i) {
    data::Example e;
    e.input_ids.assign(1 + (i * 37) % 97, 5);
    e.labels = e.input_ids;
    e.line = i;
    out.push_back(e);
  }
  return out;
}

struct Epoch {
  std::vector<std::size_t> lines;  // in batch order
  int64_t padding = 0;
};

Epoch read_epoch(DatasetBatches& batches, int64_t epoch) {
  Epoch out;
  for (int64_t i = 0; i < batches.size(); ++i) {
    const TrainBatch b = batches.get(epoch, i);
    out.lines.insert(out.lines.end(), b.lines.begin(), b.lines.end());
    out.padding += b.attention_mask.numel() - b.attention_mask.sum().item<int64_t>();
  }
  return out;
}

TEST(DatasetBatches, EveryExampleOncePerEpochReshuffledAndReproducible) {
  for (const bool grouped : {false, true}) {
    SCOPED_TRACE(grouped ? "group_by_length" : "shuffled");
    DatasetBatches batches(examples(), 4, 0, true, 7, grouped), again(examples(), 4, 0, true, 7, grouped);
    const Epoch first = read_epoch(batches, 0), second = read_epoch(batches, 1);
    for (const Epoch& e : {first, second}) {
      ASSERT_EQ(e.lines.size(), 203u);
      EXPECT_EQ(std::set<std::size_t>(e.lines.begin(), e.lines.end()).size(), 203u);
    }
    EXPECT_NE(first.lines, second.lines);
    EXPECT_EQ(read_epoch(again, 0).lines, first.lines);
  }
}

TEST(DatasetBatches, GroupByLengthCutsPaddingAndPutsTheLongestExampleFirst) {
  const std::vector<data::Example> all = examples();
  DatasetBatches plain(all, 4, 0, true, 7), grouped(all, 4, 0, true, 7, true);
  const Epoch p = read_epoch(plain, 0), g = read_epoch(grouped, 0);
  // Megabatches of min(203 / 16, 50) = 12 batches sorted by length: padding within a batch is the
  // length spread of 4 neighbours among 48, a small fraction of a random batch's.
  EXPECT_LT(g.padding * 5, p.padding) << g.padding << " vs " << p.padding;
  const auto longest = std::max_element(all.begin(), all.end(), [](const data::Example& a, const data::Example& b) {
                         return a.input_ids.size() < b.input_ids.size();
                       })->input_ids.size();
  EXPECT_EQ(all[g.lines[0]].input_ids.size(), longest);
  // Within a megabatch (48 examples) lengths fall, but for the swapped first example.
  for (std::size_t i = 2; i < 48; ++i) EXPECT_GE(all[g.lines[i - 1]].input_ids.size(), all[g.lines[i]].input_ids.size()) << i;
}

}  // namespace
}  // namespace shadowpeft::train
