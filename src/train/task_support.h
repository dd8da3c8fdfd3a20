#pragma once
// Pieces the training tasks share (internal to src/train).
#include <ATen/ATen.h>

#include <utility>

#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/train/training_task.h"

namespace shadowpeft::train {

// Next-token cross-entropy summed over labelled tokens (labels != -100), and their count.
inline std::pair<double, double> shifted_ce_sum(const at::Tensor& logits, const at::Tensor& labels) {
  const int64_t v = logits.size(-1);
  const at::Tensor shifted_logits = logits.slice(1, 0, -1).reshape({-1, v}).to(at::kFloat);
  const at::Tensor shifted_labels = labels.slice(1, 1).reshape({-1});
  const double sum = at::cross_entropy_loss(shifted_logits, shifted_labels, {}, at::Reduction::Sum, -100).item<double>();
  return {sum, static_cast<double>(shifted_labels.ne(-100).sum().item<int64_t>())};
}

inline models::ForwardOptions options_of(const TrainBatch& batch) {
  models::ForwardOptions options;
  options.attention_mask = batch.attention_mask;
  return options;
}

}  // namespace shadowpeft::train
