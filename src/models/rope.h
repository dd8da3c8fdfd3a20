#pragma once
#include <ATen/core/Tensor.h>

#include <utility>

#include "shadowpeft/models/model_config.h"

namespace shadowpeft::models::detail {

// Inverse frequencies [dim/2] (float32) and the cos/sin scale for a rotary dimension `dim`, as
// transformers' ROPE_INIT_FUNCTIONS compute them. `seq_len` (max position + 1 of the current
// batch) matters only for dynamic NTK scaling, which transformers applies once it exceeds
// max_position_embeddings.
std::pair<at::Tensor, double> rope_inv_freq(const RopeConfig& rope, int64_t dim, int64_t max_position_embeddings,
                                            int64_t seq_len);

}  // namespace shadowpeft::models::detail
