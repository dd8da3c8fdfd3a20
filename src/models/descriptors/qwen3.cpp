// Qwen3 (Qwen3ForCausalLM): Llama layout with RMSNorm on q and k per head, `attention_bias`, and
// sliding windows on the layers `layer_types` marks.
#include "llama_like.h"

namespace shadowpeft::models {

const ModelDescriptor& qwen3_descriptor() {
  static const detail::LlamaLikeDescriptor d("qwen3", "Qwen3ForCausalLM", {.qk_norm = QkNorm::PerHead}, /*has_layer_types=*/true);
  return d;
}

}  // namespace shadowpeft::models
