// Gemma 3 text (Gemma3ForCausalLM, model_type gemma3_text): Gemma 2's layer (sandwich norms,
// query_pre_attn_scalar) with q/k norms, one RoPE per layer type (sliding layers: local theta 10k;
// full layers: 1M, with the scaling), five sliding layers to each full one, and no soft-capping
// unless the config asks for it.
#include "llama_like.h"

namespace shadowpeft::models {

const ModelDescriptor& gemma3_descriptor() {
  static const detail::LlamaLikeDescriptor d("gemma3_text", "Gemma3ForCausalLM",
                                             {.hidden_act = "gelu_pytorch_tanh",
                                              .norm = NormKind::RMSNormPlusOne,
                                              .rope_theta = 1'000'000.0,
                                              .tie_word_embeddings = true,
                                              .qk_norm = QkNorm::PerHead,
                                              .scale_embeddings = true,
                                              .norm_placement = NormPlacement::Sandwich,
                                              .sliding_window_pattern = 6,
                                              .local_rope_theta = 10'000.0},
                                             /*has_layer_types=*/true);
  return d;
}

}  // namespace shadowpeft::models
