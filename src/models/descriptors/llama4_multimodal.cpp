// Llama 4 (Llama4ForConditionalGeneration: Scout, Maverick): the Llama 4 text decoder as
// `language_model` (a Llama4ForCausalLM: language_model.model.*, language_model.lm_head) beside a
// vision model and its projector. Text only, the language model is a Llama4ForCausalLM.
#include "multimodal.h"

namespace shadowpeft::models {
namespace {

const ModuleRename kLanguageModel[] = {{"model", "language_model.model"}, {"lm_head", "language_model.lm_head"}};

}  // namespace

const ModelDescriptor& llama4_descriptor();

const ModelDescriptor& llama4_multimodal_descriptor() {
  static const detail::MultimodalDescriptor d({.name = "llama4",
                                               .architecture = "Llama4ForConditionalGeneration",
                                               .text_family = llama4_descriptor,
                                               .tie_word_embeddings = false,
                                               .other_towers = {"vision_model", "multi_modal_projector"},
                                               .language_model_renames = kLanguageModel});
  return d;
}

}  // namespace shadowpeft::models
