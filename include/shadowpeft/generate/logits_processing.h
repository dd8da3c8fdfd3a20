#pragma once
// Next-token selection as transformers' generate does it: the repetition penalty, then (sampling
// only) temperature, top-k, top-p and min-p in that order, then argmax or a multinomial draw.
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "shadowpeft/generate/generation_config.h"

namespace shadowpeft::generate {

// scores [B, V] float; sequences [B, S]: every token so far; attention_mask [B, S] (optional):
// left padding is not a token of the row, so it is not penalised. Filtered entries become -inf.
at::Tensor apply_repetition_penalty(const at::Tensor& scores, const at::Tensor& sequences, double penalty,
                                    const at::Tensor& attention_mask = {});
at::Tensor apply_top_k(const at::Tensor& scores, int64_t top_k);
at::Tensor apply_top_p(const at::Tensor& scores, double top_p);
at::Tensor apply_min_p(const at::Tensor& scores, double min_p);
// All processors the config enables, in transformers' order.
at::Tensor process_scores(const at::Tensor& scores, const at::Tensor& sequences, const at::Tensor& attention_mask,
                          const GenerationConfig& config);
// [B] next tokens from processed scores: argmax, or a draw from softmax(scores) with `generator`.
at::Tensor select_tokens(const at::Tensor& processed, const GenerationConfig& config, at::Generator& generator);

}  // namespace shadowpeft::generate
