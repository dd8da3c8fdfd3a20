#pragma once
// The cross-entropy losses every task computes, with the precision rules of the references.
//  - causal_lm_loss: transformers' ForCausalLMLoss, which always computes in float32
//    (`logits.float()`: half precisions are widened, float64 is narrowed).
//  - shifted_cross_entropy / classification_loss: shadow-peft's shadow losses and transformers'
//    classification loss, which compute in the logits' dtype; half precisions are widened to
//    float32 here (a bf16 cross-entropy loses the gradient signal of confident tokens).
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "shadowpeft/core/labels.h"

namespace shadowpeft::models {

// float16 / bfloat16 → float32; float32 and float64 unchanged.
at::Tensor upcast_for_loss(const at::Tensor& logits);

// Next-token loss, mean over labels != kIgnoreIndex: logits [B, T, V], labels [B, T].
at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels);
at::Tensor shifted_cross_entropy(const at::Tensor& logits, const at::Tensor& labels);

// logits [B, C], labels [B] class indices: the mean (or the sum, for evaluation) over the batch.
at::Tensor classification_loss(const at::Tensor& logits, const at::Tensor& labels);
double classification_loss_sum(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace shadowpeft::models
