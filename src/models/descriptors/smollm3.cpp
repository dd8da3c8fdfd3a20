// SmolLM3 (SmolLM3ForCausalLM): Llama with tied embeddings and NoPE layers — every fourth layer
// (or those `no_rope_layers` marks 0) attends without rotary embeddings.
#include "llama_like.h"

namespace shadowpeft::models {

const ModelDescriptor& smollm3_descriptor() {
  static const detail::LlamaLikeDescriptor d("smollm3", "SmolLM3ForCausalLM",
                                             {.tie_word_embeddings = true, .no_rope_layer_interval = 4},
                                             /*has_layer_types=*/true);
  return d;
}

}  // namespace shadowpeft::models
