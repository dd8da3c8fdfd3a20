#pragma once
// Parameter counts from a ModelConfig alone, without building or loading the model (what
// print_trainable_parameters reports for a 0.6B model, computed in microseconds).
#include <cstdint>

#include "shadowpeft/models/model_config.h"

namespace shadowpeft::models {

// The `model.` part: embeddings (when held), every layer as its spec says, the final norm.
int64_t count_decoder_parameters(const ModelConfig& config, bool token_embeddings = true);
// Decoder plus lm_head, counting tied embeddings once.
int64_t count_causal_lm_parameters(const ModelConfig& config);

}  // namespace shadowpeft::models
