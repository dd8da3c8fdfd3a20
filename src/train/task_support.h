#pragma once
// Pieces the training tasks share (internal to src/train).
#include <ATen/ATen.h>

#include <utility>

#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/train/training_task.h"

namespace shadowpeft::train {

inline models::ForwardOptions options_of(const TrainBatch& batch) {
  models::ForwardOptions options;
  options.attention_mask = batch.attention_mask;
  return options;
}

}  // namespace shadowpeft::train
