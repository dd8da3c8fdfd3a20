#pragma once
#include <ATen/core/Tensor.h>

#include "shadowpeft/models/layers.h"

namespace shadowpeft::models::detail {

// A mixture-of-experts MLP on x [..., H]: the router `gate` scores every token, the experts its
// spec picks run on their tokens, and their outputs are summed with the routing weights.
at::Tensor mixture_of_experts(const at::Tensor& x, const LinearImpl& gate, const ExpertsImpl& experts);

}  // namespace shadowpeft::models::detail
