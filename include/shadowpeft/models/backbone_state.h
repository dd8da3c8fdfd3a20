#pragma once
// A decoder (the `model.` part of a causal LM) as the state dict of transformers' backbone module
// (LlamaModel, GPT-2's transformer, ...): the names a shadow backbone has inside adapter files, where
// the backbone is a module of its own (shadow-peft's shadow_model.*, peft's shadow_backbone.default.*).
#include <functional>
#include <string>

#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/causal_lm.h"

namespace shadowpeft::models {

class ModelDescriptor;

// Whether a backbone fed another model's embeddings (inputs_embeds) still holds a token table:
// shadow-peft and peft delete the attribute `embed_tokens`; a table under another name (GPT-2's
// wte) or deeper (OPT's decoder.embed_tokens) stays in the backbone, unused.
bool shared_backbone_keeps_token_table(const ModelDescriptor& descriptor);

// The decoder's parameters under the backbone's names ("layers.0.self_attn.q_proj.weight",
// "norm.weight"; GPT-2: "h.0.attn.c_attn.weight"), each seen through `view`. The family's layout
// transforms (transposes, fused modules) are linear, so they serve weights and gradients alike.
io::TensorMap backbone_state_dict(DecoderImpl& decoder, const ModelConfig& config,
                                  const std::function<at::Tensor(const at::Tensor&)>& view);

// Loads tensors named as backbone_state_dict names them into `decoder`, strictly (a missing,
// unexpected or mis-shaped tensor is a LoadError naming `source`).
void load_backbone_state_dict(DecoderImpl& decoder, const ModelConfig& config, io::TensorMap tensors,
                              const std::string& source);

}  // namespace shadowpeft::models
