// Mixtral (MixtralForCausalLM): Mistral's attention with a mixture of experts on every layer: a
// softmax router over `num_local_experts`, the `num_experts_per_tok` best, always renormalised.
// Saved checkpoints name the block `block_sparse_moe` and each expert's projections w1 (gate),
// w3 (up), w2 (down); transformers renames and stacks them.
#include "llama_like.h"

namespace shadowpeft::models {
namespace {

const ModuleRename kFileRenames[] = {{"model.layers.{i}.mlp", "model.layers.{i}.block_sparse_moe"}};
const StackedExperts kStacked[] = {
    {"model.layers.{i}.mlp.experts.gate_up_proj",
     {"model.layers.{i}.mlp.experts.{e}.w1.weight", "model.layers.{i}.mlp.experts.{e}.w3.weight"}},
    {"model.layers.{i}.mlp.experts.down_proj", {"model.layers.{i}.mlp.experts.{e}.w2.weight"}},
};

}  // namespace

const ModelDescriptor& mixtral_descriptor() {
  static const detail::LlamaLikeDescriptor d(
      "mixtral", "MixtralForCausalLM", {.norm_eps = 1e-5, .rope_theta = 1e6}, /*has_layer_types=*/false,
      detail::MoeFields{.spec = {.normalize_top_k = true}, .expert_size_key = "intermediate_size"}, kFileRenames, kStacked);
  return d;
}

}  // namespace shadowpeft::models
