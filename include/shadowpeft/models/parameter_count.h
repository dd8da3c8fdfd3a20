#pragma once
// Parameter counts from a ModelConfig alone, without loading weights or allocating memory (what
// print_trainable_parameters reports for a multi-billion-parameter model, computed in milliseconds).
#include <cstdint>

#include "shadowpeft/models/model_config.h"

namespace torch::nn {
class Module;
}

namespace shadowpeft::models {

// Elements of the module's parameters, each tensor counted once however often it is shared.
int64_t count_distinct_parameters(const torch::nn::Module& module);
// Decoder plus head, counting tied embeddings once.
int64_t count_causal_lm_parameters(const ModelConfig& config);

}  // namespace shadowpeft::models
