#include "int8_weights.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <limits>

namespace shadowpeft::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per piece when converting a matrix: a few float32 temporaries of about 4M elements at a time,
// where a vocabulary-sized head in one piece would need several times its own size.
int64_t rows_per_piece(const at::Tensor& matrix) {
  return std::max<int64_t>(1, (int64_t{1} << 22) / std::max<int64_t>(1, matrix.size(1)));
}

// ATen's fused int8 × bfloat16/float16 kernel reads the weight once, which is what decoding
// (a few rows per step) is bound by; for many rows, converting the matrix once and running the
// dense matmul is faster. Measured on a 2-core Sapphire Rapids: the kernel wins up to ~64 rows.
constexpr int64_t kMaxRowsForFusedKernel = 64;

bool fused_kernel_applies(const at::Tensor& x, const at::Tensor& rows) {
  const at::ScalarType dtype = x.scalar_type();
  // Its float32 path is scalar (tens of times slower than converting); and it reads out of
  // bounds unless in_features is a multiple of 16 (seen with 8, 24, 33 and 100).
  return x.is_cpu() && (dtype == at::kBFloat16 || dtype == at::kHalf) && rows.size(1) % 16 == 0 &&
         x.numel() / x.size(-1) <= kMaxRowsForFusedKernel;
}

at::Tensor int8_matmul(const at::Tensor& x, const at::Tensor& rows, const at::Tensor& scales, const at::Tensor& kernel_scales) {
  if (!fused_kernel_applies(x, rows)) return at::linear(x, dequantize_rows_int8(rows, scales, x.scalar_type()));
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = rows.size(0);
  const at::Tensor flat = x.reshape({-1, x.size(-1)}).contiguous();
  const bool kept = kernel_scales.defined() && kernel_scales.scalar_type() == x.scalar_type() && kernel_scales.device() == x.device();
  return at::_weight_int8pack_mm(flat, rows, kept ? kernel_scales : scales.to(x.scalar_type())).view(shape);
}

class Int8Linear : public torch::autograd::Function<Int8Linear> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& rows, const at::Tensor& scales) {
    ctx->save_for_backward({rows, scales});
    return int8_matmul(x, rows, scales, {});
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& grad = grads.at(0);
    return {at::matmul(grad, dequantize_rows_int8(saved[0], saved[1], grad.scalar_type())), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

std::pair<at::Tensor, at::Tensor> quantize_rows_int8(const at::Tensor& weight) {
  const at::Tensor source = weight.detach();
  at::Tensor rows = at::empty(source.sizes(), source.options().dtype(at::kChar));
  at::Tensor scales = at::empty({source.size(0)}, source.options().dtype(at::kFloat));
  const int64_t piece = rows_per_piece(source);
  for (int64_t first = 0; first < source.size(0); first += piece) {
    const int64_t n = std::min(piece, source.size(0) - first);
    const at::Tensor w = source.narrow(0, first, n).to(at::kFloat);
    // PerChannelMinMaxObserver(qint8, per_channel_symmetric): max(|min|, |max|) / ((127 - (-128)) / 2),
    // at least float32's epsilon (an all-zero row).
    const at::Tensor s = at::clamp_min(w.abs().amax(1) / 127.5, std::numeric_limits<float>::epsilon());
    // quantize_per_channel multiplies by the reciprocal and rounds half to even; the integers convert exactly.
    rows.narrow(0, first, n).copy_(at::round(w * at::reciprocal(s).unsqueeze(1)).clamp_(-128, 127));
    scales.narrow(0, first, n).copy_(s);
  }
  return {rows, scales};
}

at::Tensor dequantize_rows_int8(const at::Tensor& rows, const at::Tensor& scales, at::ScalarType dtype) {
  at::Tensor matrix = at::empty(rows.sizes(), rows.options().dtype(dtype));
  const int64_t piece = rows_per_piece(rows);
  for (int64_t first = 0; first < rows.size(0); first += piece) {
    const int64_t n = std::min(piece, rows.size(0) - first);
    // One rounding to `dtype`, of the float32 product.
    matrix.narrow(0, first, n).copy_(rows.narrow(0, first, n).to(at::kFloat) * scales.narrow(0, first, n).unsqueeze(1));
  }
  return matrix;
}

at::Tensor int8_linear(const at::Tensor& x, const at::Tensor& rows, const at::Tensor& scales, const at::Tensor& kernel_scales,
                       const at::Tensor& bias) {
  at::Tensor y = x.requires_grad() ? Int8Linear::apply(x, rows, scales) : int8_matmul(x, rows, scales, kernel_scales);
  return bias.defined() ? y + bias : y;
}

}  // namespace shadowpeft::models
