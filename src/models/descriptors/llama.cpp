// Llama (LlamaForCausalLM): RMSNorm, SwiGLU, RoPE with every scaling type, GQA; heterogeneous
// through transformers' per_layer_config or puzzletron block_configs.
#include "llama_like.h"

namespace shadowpeft::models {

const ModelDescriptor& llama_descriptor() {
  static const detail::LlamaLikeDescriptor d("llama", "LlamaForCausalLM", {});
  return d;
}

}  // namespace shadowpeft::models
