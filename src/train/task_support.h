#pragma once
// Pieces the training tasks share (internal to src/train).
#include <ATen/ATen.h>

#include <utility>

#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/train/training_task.h"

namespace shadowpeft::train {

inline models::ForwardOptions options_of(const TrainBatch& batch) {
  models::ForwardOptions options;
  // Packed rows: positions restarting per example and no mask, transformers' packed format (the
  // row's padding is a sequence of its own: no real token attends to it).
  if (batch.position_ids.defined()) options.position_ids = batch.position_ids;
  else options.attention_mask = batch.attention_mask;
  return options;
}

}  // namespace shadowpeft::train
