// OLMo 2 (Olmo2ForCausalLM): Llama's weights with norms only after each sub-block
// (post_attention_layernorm, post_feedforward_layernorm), RMSNorm over all heads of q and k at
// once, and RMSNorm weights applied in float32.
#include "llama_like.h"

namespace shadowpeft::models {

const ModelDescriptor& olmo2_descriptor() {
  static const detail::LlamaLikeDescriptor d("olmo2", "Olmo2ForCausalLM",
                                             {.norm = NormKind::RMSNormWeightInFloat32,
                                              .norm_eps = 1e-5,
                                              .qk_norm = QkNorm::AllHeads,
                                              .norm_placement = NormPlacement::Post});
  return d;
}

}  // namespace shadowpeft::models
