#include "shadowpeft/models/backbone_state.h"

#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/models/loader.h"

namespace shadowpeft::models {
namespace {

// "model" for model.embed_tokens, "transformer" for transformer.wte: where the backbone lives in
// the causal LM's checkpoint.
std::string backbone_prefix(const ModelDescriptor& d) {
  const std::string name = d.input_embedding_name();
  return name.substr(0, name.find('.'));
}

}  // namespace

bool shared_backbone_keeps_token_table(const ModelDescriptor& d) {
  return d.input_embedding_name() != backbone_prefix(d) + ".embed_tokens";
}

io::TensorMap backbone_state_dict(DecoderImpl& decoder, const ModelConfig& config,
                                  const std::function<at::Tensor(const at::Tensor&)>& view) {
  const std::string prefix = backbone_prefix(*config.descriptor) + ".";
  io::TensorMap checkpoint;
  for (const auto& item : decoder.named_parameters()) checkpoint.emplace("model." + item.key(), view(item.value()));
  config.descriptor->modules_to_checkpoint(checkpoint, config);
  io::TensorMap state;
  for (auto& [name, t] : checkpoint) state.emplace(name.substr(prefix.size()), t);
  return state;
}

void load_backbone_state_dict(DecoderImpl& decoder, const ModelConfig& config, io::TensorMap tensors,
                              const std::string& source) {
  const std::string prefix = backbone_prefix(*config.descriptor) + ".";
  io::TensorMap checkpoint;
  for (auto& [name, t] : tensors) checkpoint.emplace(prefix + name, t);
  config.descriptor->checkpoint_to_modules(checkpoint, config);
  // After the family's transform every backbone tensor is model.<decoder parameter>; anything else
  // keeps a name the decoder does not have, and is reported as unexpected.
  io::TensorMap parameters;
  for (auto& [name, t] : checkpoint)
    parameters.emplace(name.starts_with("model.") ? name.substr(6) : name, t);
  load_parameters(decoder, std::move(parameters), source);
}

}  // namespace shadowpeft::models
