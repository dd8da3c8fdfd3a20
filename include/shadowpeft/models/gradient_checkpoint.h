#pragma once
// Reentrant activation checkpointing of one function, as torch.utils.checkpoint(use_reentrant=True).
// The decoder uses it per layer (see set_gradient_checkpointing in causal_lm.h).
#include <ATen/core/Tensor.h>

#include <functional>

namespace shadowpeft::models {

// fn(input), without keeping fn's intermediate activations: only `input` is saved. Backward re-runs
// fn with grad enabled on a detached copy of `input`, under the RNG state (CPU, and CUDA when
// `input` is on CUDA) and autocast settings of the forward, so dropout draws the same masks, and
// back-propagates through the recomputation with torch::autograd::backward: parameters used by fn
// accumulate into .grad (so the loss must be differentiated with backward(), not
// torch::autograd::grad), and the input's gradient is passed on. `parameters_need_grad`: fn uses a
// parameter that requires grad; the output then requires grad even when `input` does not (plain
// torch.utils.checkpoint would drop those gradients). Call it only with grad mode on.
at::Tensor checkpoint(std::function<at::Tensor(const at::Tensor&)> fn, const at::Tensor& input, bool parameters_need_grad);

}  // namespace shadowpeft::models
