// Mistral 3 (Mistral3ForConditionalGeneration: Mistral-Small-3.x): the decoder text_config names
// (Mistral) beside a Pixtral vision encoder and its projector, saved under llava's names.
#include "multimodal.h"

namespace shadowpeft::models {
namespace {

// save_pretrained writes llava's legacy names; transformers renames them on load.
const ModuleRename kFileRenames[] = {{"lm_head", "language_model.lm_head"},
                                     {"model.language_model", "language_model.model"},
                                     {"model.vision_tower", "vision_tower"},
                                     {"model.multi_modal_projector", "multi_modal_projector"}};

}  // namespace

const ModelDescriptor& mistral3_descriptor() {
  static const detail::MultimodalDescriptor d({.name = "mistral3",
                                               .architecture = "Mistral3ForConditionalGeneration",
                                               .tie_word_embeddings = true,
                                               .other_towers = {"model.vision_tower", "model.multi_modal_projector"},
                                               .file_renames = kFileRenames});
  return d;
}

}  // namespace shadowpeft::models
