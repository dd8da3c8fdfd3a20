// Mistral (MistralForCausalLM): Llama layout with a sliding attention window on every layer.
#include "llama_like.h"

namespace shadowpeft::models {

const ModelDescriptor& mistral_descriptor() {
  static const detail::LlamaLikeDescriptor d("mistral", "MistralForCausalLM",
                                             {.sliding_window = 4096});  // MistralConfig's default window
  return d;
}

}  // namespace shadowpeft::models
