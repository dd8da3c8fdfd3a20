#pragma once
// How the Python side initialises new modules, so that fresh adapters start from the same
// distributions: torch.nn.Linear's defaults and transformers' _init_weights.
#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/models/layers.h"

namespace shadowpeft::models {

// torch.nn.Linear's default initialisation (kaiming-uniform weight, a = sqrt(5); bias likewise).
void init_linear_like_torch(LinearImpl& linear);

// transformers' _init_weights for a freshly built decoder (see initialization.cpp).
void init_like_transformers(DecoderImpl& decoder, double std);

}  // namespace shadowpeft::models
