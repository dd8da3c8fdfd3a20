// Qwen2 (Qwen2ForCausalLM): Llama layout with biases on q/k/v (always; not o), sliding windows on
// the layers `layer_types` marks.
#include "llama_like.h"

namespace shadowpeft::models {

const ModelDescriptor& qwen2_descriptor() {
  static const detail::LlamaLikeDescriptor d("qwen2", "Qwen2ForCausalLM", {.qkv_bias = true, .read_attention_bias = false},
                                             /*has_layer_types=*/true);
  return d;
}

}  // namespace shadowpeft::models
