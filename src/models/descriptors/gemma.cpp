// Gemma (GemmaForCausalLM): embeddings scaled by sqrt(hidden_size), (1 + w) RMSNorm in float32,
// GeGLU with the tanh GELU, tied embeddings by default.
#include "llama_like.h"

namespace shadowpeft::models {

const ModelDescriptor& gemma_descriptor() {
  static const detail::LlamaLikeDescriptor d("gemma", "GemmaForCausalLM",
                                             {.hidden_act = "gelu_pytorch_tanh",
                                              .norm = NormKind::RMSNormPlusOne,
                                              .tie_word_embeddings = true,
                                              .scale_embeddings = true});
  return d;
}

}  // namespace shadowpeft::models
