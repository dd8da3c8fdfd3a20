#pragma once
// shadow-peft's AutoModelForCausalLMWithHiddenProjection: a small backbone whose hidden states are
// projected to a larger model's width and scored with that model's lm_head — how a pretrained
// small model becomes an explicit shadow of a bigger base. Loads and saves (load_causal_lm,
// save_pretrained) in the Python directory format.
#include <ATen/core/Tensor.h>

#include "shadowpeft/models/causal_lm.h"

namespace shadowpeft {

// The least-squares projection P [H_base, H_small] with lm_head_weight @ P ≈ reference_lm_head:
// pinv(lm_head_weight) @ reference_lm_head, in float32 (shadow-peft's init_optimal_projection).
at::Tensor optimal_projection(const at::Tensor& lm_head_weight, const at::Tensor& reference_lm_head);

// AutoModelForCausalLMWithHiddenProjection.wrap: `small`'s backbone, a projection (the pinv
// initialisation from small's own head when `projection` is undefined) and a copy of
// `lm_head_weight` [V, H_base]. Nothing is shared with the inputs.
models::CausalLM wrap_with_hidden_projection(models::CausalLMImpl& small, const at::Tensor& lm_head_weight,
                                             const at::Tensor& projection = {});

}  // namespace shadowpeft
