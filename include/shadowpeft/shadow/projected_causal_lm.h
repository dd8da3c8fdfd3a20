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
// The config of `small`'s backbone projected to `base_hidden_size` and scored over `vocab_size`
// (a projected `small` is re-wrapped around its own backbone, keeping the classes it records).
models::ModelConfig projected_model_config(const models::ModelConfig& small, int64_t base_hidden_size, int64_t vocab_size);
// The backbone config inside a projected model's config; the config itself for any other model.
models::ModelConfig backbone_config(const models::ModelConfig& config);

models::CausalLM wrap_with_hidden_projection(models::CausalLMImpl& small, const at::Tensor& lm_head_weight,
                                             const at::Tensor& projection = {});

}  // namespace shadowpeft
