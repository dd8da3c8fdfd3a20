// Qwen3-VL (Qwen3VLForConditionalGeneration): a Qwen3 decoder beside a vision encoder (model.visual).
// Its interleaved MRoPE rotates by three position streams (time, height, width) that are equal for
// text, which makes it Qwen3's 1-D RoPE: text-only, the language model is a Qwen3ForCausalLM.
#include "multimodal.h"

namespace shadowpeft::models {

const ModelDescriptor& qwen3_descriptor();

const ModelDescriptor& qwen3_vl_descriptor() {
  static const detail::MultimodalDescriptor d({.name = "qwen3_vl",
                                               .architecture = "Qwen3VLForConditionalGeneration",
                                               .text_family = qwen3_descriptor,
                                               .tie_word_embeddings = false,
                                               .other_towers = {"model.visual"},
                                               .text_only_rope_keys = {"mrope_section", "mrope_interleaved"}});
  return d;
}

}  // namespace shadowpeft::models
