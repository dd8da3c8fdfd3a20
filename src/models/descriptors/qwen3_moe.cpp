// Qwen3-MoE (Qwen3MoeForCausalLM): Qwen3's attention (per-head q/k RMSNorm) with a mixture of
// experts on every `decoder_sparse_step`-th layer outside `mlp_only_layers`: a softmax router over
// `num_experts`, the `num_experts_per_tok` best, renormalised when `norm_topk_prob`. Saved
// checkpoints hold each expert's gate/up/down projections; transformers stacks them.
#include "llama_like.h"

namespace shadowpeft::models {
namespace {

const StackedExperts kStacked[] = {
    {"model.layers.{i}.mlp.experts.gate_up_proj",
     {"model.layers.{i}.mlp.experts.{e}.gate_proj.weight", "model.layers.{i}.mlp.experts.{e}.up_proj.weight"}},
    {"model.layers.{i}.mlp.experts.down_proj", {"model.layers.{i}.mlp.experts.{e}.down_proj.weight"}},
};

}  // namespace

const ModelDescriptor& qwen3_moe_descriptor() {
  static const detail::LlamaLikeDescriptor d(
      "qwen3_moe", "Qwen3MoeForCausalLM", {.qk_norm = QkNorm::PerHead, .window_needs_use_sliding_window = true},
      /*has_layer_types=*/false,
      detail::MoeFields{.expert_size_key = "moe_intermediate_size", .normalize_from_config = true, .sparse_step = true},
      {}, kStacked);
  return d;
}

}  // namespace shadowpeft::models
