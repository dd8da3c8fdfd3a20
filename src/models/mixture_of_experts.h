#pragma once
#include <ATen/core/Tensor.h>

#include "shadowpeft/models/layers.h"

namespace shadowpeft::models::detail {

// The routed part of a mixture-of-experts MLP on x [..., H]: the router `mlp.gate` scores every
// token, the experts its spec picks run on their tokens (in the latent width, if any), and their
// outputs are summed with the routing weights. The shared expert is the caller's.
at::Tensor mixture_of_experts(const at::Tensor& x, const MlpImpl& mlp);

}  // namespace shadowpeft::models::detail
