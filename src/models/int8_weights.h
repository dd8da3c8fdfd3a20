#pragma once
// Weight-only int8: the arithmetic behind LinearImpl::quantize_int8 and its forward.
#include <ATen/core/Tensor.h>

#include <utility>

namespace shadowpeft::models {

// torch's per-channel symmetric qint8 of a [out, in] matrix, as PerChannelMinMaxObserver and
// torch.quantize_per_channel compute it: {int8 [out, in], float32 scales [out]}.
std::pair<at::Tensor, at::Tensor> quantize_rows_int8(const at::Tensor& weight);

// rows * scales, as a [out, in] matrix in `dtype`.
at::Tensor dequantize_rows_int8(const at::Tensor& rows, const at::Tensor& scales, at::ScalarType dtype);

// x [..., in] (already in the compute dtype) times the dequantized matrix transposed, plus bias.
// kernel_scales: `scales` in x's dtype, kept by the caller so that a decoding step does not convert
// them again (undefined: converted here). Differentiable in x only; the backward converts the int8
// rows again rather than keeping a dequantized copy alive between forward and backward.
at::Tensor int8_linear(const at::Tensor& x, const at::Tensor& rows, const at::Tensor& scales, const at::Tensor& kernel_scales,
                       const at::Tensor& bias);

}  // namespace shadowpeft::models
