#pragma once
// The next-token loss of a head over hidden states without the [tokens, vocabulary] logits: the
// head scores only the positions whose next label counts, a chunk of rows at a time. A frozen head
// (the usual case) computes each chunk's gradient with respect to its rows right away and keeps
// only that [rows, hidden] tensor for the backward pass; a head with trainable weights has its
// chunks recomputed in the backward pass instead (models::checkpoint). With vocabularies of
// 50k-260k entries the float32 logits of a batch are the largest tensor of a training step by
// far; this keeps at most one chunk of them, and a frozen head costs no extra matmul.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace shadowpeft::models {

struct ChunkedLossOptions {
  int64_t chunk_rows = 1024;           // scored positions per chunk: [chunk_rows, vocabulary] at a time
  bool head_has_trainable_parameters = false;  // the head's own weights need gradients (a trained lm_head)
  // true: the cross-entropy in float32 whatever the scores' dtype (causal_lm_loss, transformers');
  // false: in the scores' dtype, half precisions widened (shifted_cross_entropy, shadow-peft's).
  bool float32_loss = true;
};

// causal_lm_loss(score(hidden), labels), or shifted_cross_entropy with float32_loss false (the mean
// next-token cross-entropy over labels != kIgnoreIndex): hidden [B, T, H], labels [B, T],
// score: [N, H] → [N, V].
at::Tensor chunked_causal_lm_loss(const at::Tensor& hidden, const at::Tensor& labels,
                                  const std::function<at::Tensor(const at::Tensor&)>& score, ChunkedLossOptions options = {});

// A next-token cross-entropy summed over the labelled tokens, and their count: what evaluation adds
// up over batches.
struct CrossEntropySum {
  double sum = 0;
  double tokens = 0;
};
// Each evaluated mode's sum under the name its metrics carry ("base_shadow", "shadow_only", "base", ...).
using ModeCrossEntropySums = std::vector<std::pair<std::string, CrossEntropySum>>;

// The cross-entropy of score(hidden) summed over labels != kIgnoreIndex (half-precision scores
// widened to float32, as shifted_cross_entropy), without gradients and a chunk of positions at a
// time: evaluation's loss without the [tokens, vocabulary] logits.
CrossEntropySum chunked_cross_entropy_sum(const at::Tensor& hidden, const at::Tensor& labels,
                                          const std::function<at::Tensor(const at::Tensor&)>& score, int64_t chunk_rows = 1024);

}  // namespace shadowpeft::models
