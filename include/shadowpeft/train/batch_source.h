#pragma once
// Where training batches come from: `size()` batches per epoch, fetched by (epoch, index) so that
// a resumed run sees exactly the batches an uninterrupted one would.
#include <cstdint>
#include <vector>

#include "shadowpeft/train/training_task.h"

namespace shadowpeft::train {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t size() const = 0;
  virtual TrainBatch get(int64_t epoch, int64_t index) = 0;
};

// Batches prepared in advance, the same every epoch.
class FixedBatches final : public BatchSource {
 public:
  explicit FixedBatches(std::vector<TrainBatch> batches) : batches_(std::move(batches)) {}
  int64_t size() const override { return static_cast<int64_t>(batches_.size()); }
  TrainBatch get(int64_t, int64_t index) override { return batches_.at(static_cast<std::size_t>(index)); }

 private:
  std::vector<TrainBatch> batches_;
};

}  // namespace shadowpeft::train
