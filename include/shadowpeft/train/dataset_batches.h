#pragma once
// Training batches from tokenized examples: reshuffled every epoch with (seed, epoch), so a resumed
// run replays the same order, then collated (right padding, labels -100 on padding). With
// group_by_length, examples of similar length share a batch (transformers' LengthGroupedSampler):
// the shuffled order is cut into megabatches of up to 50 batches, each sorted longest first, and
// the longest example of all goes first, so a run that runs out of memory does so at step 1.
#include <cstdint>
#include <vector>

#include "shadowpeft/data/collate.h"
#include "shadowpeft/data/dataset.h"
#include "shadowpeft/train/batch_source.h"

namespace shadowpeft::train {

class DatasetBatches final : public BatchSource {
 public:
  // shuffle false: the examples' own order every epoch (evaluation). The last batch may be short.
  DatasetBatches(std::vector<data::Example> examples, int64_t batch_size, int64_t pad_id, bool shuffle, uint64_t seed,
                 bool group_by_length = false);
  int64_t size() const override;
  TrainBatch get(int64_t epoch, int64_t index) override;

 private:
  std::vector<data::Example> examples_;
  int64_t batch_size_;
  data::CollateOptions collate_;
  bool shuffle_;
  uint64_t seed_;
  bool group_by_length_;
  int64_t order_epoch_ = -1;
  std::vector<std::size_t> order_;
};

}  // namespace shadowpeft::train
