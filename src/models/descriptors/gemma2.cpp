// Gemma 2 (Gemma2ForCausalLM): Gemma's (1 + w) RMSNorm, GeGLU and scaled embeddings, plus norms
// around both sub-blocks (pre and post), q scaled by query_pre_attn_scalar^-0.5, soft-capped
// attention scores and logits, and sliding / full layers alternating by `layer_types`.
#include "llama_like.h"

namespace shadowpeft::models {

const ModelDescriptor& gemma2_descriptor() {
  static const detail::LlamaLikeDescriptor d("gemma2", "Gemma2ForCausalLM",
                                             {.hidden_act = "gelu_pytorch_tanh",
                                              .norm = NormKind::RMSNormPlusOne,
                                              .tie_word_embeddings = true,
                                              .scale_embeddings = true,
                                              .norm_placement = NormPlacement::Sandwich,
                                              .sliding_window_pattern = 2},
                                             /*has_layer_types=*/true);
  return d;
}

}  // namespace shadowpeft::models
