// Qwen3-VL-MoE (Qwen3VLMoeForConditionalGeneration): Qwen3-VL with a Qwen3-MoE decoder whose router
// always renormalises its top-k weights (the text config has no norm_topk_prob). Released
// checkpoints store the expert stacks transposed. Text-only, the language model is a
// Qwen3MoeForCausalLM with norm_topk_prob true.
#include "llama_like.h"
#include "multimodal.h"

namespace shadowpeft::models {
namespace {

const ModelDescriptor& text_family() {
  static const detail::LlamaLikeDescriptor d(
      "qwen3_vl_moe_text", "Qwen3VLMoeTextModel", {.qk_norm = QkNorm::PerHead}, /*has_layer_types=*/false,
      detail::MoeFields{.spec = {.normalize_top_k = true}, .expert_size_key = "moe_intermediate_size", .sparse_step = true});
  return d;
}

}  // namespace

const ModelDescriptor& qwen3_moe_descriptor();

const ModelDescriptor& qwen3_vl_moe_descriptor() {
  static const detail::MultimodalDescriptor d({.name = "qwen3_vl_moe",
                                               .architecture = "Qwen3VLMoeForConditionalGeneration",
                                               .text_family = text_family,
                                               .tie_word_embeddings = false,
                                               .other_towers = {"model.visual"},
                                               .text_only_rope_keys = {"mrope_section", "mrope_interleaved"},
                                               .standalone_family = qwen3_moe_descriptor,
                                               .standalone_fields = {{"norm_topk_prob", true}},
                                               .transposable_experts = true});
  return d;
}

}  // namespace shadowpeft::models
