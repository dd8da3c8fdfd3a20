#include "shadowpeft/models/losses.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "shadowpeft/core/error.h"

namespace shadowpeft::models {
namespace {

// [B, T, V] logits and [B, T] labels → [(T-1)*B, V] and [(T-1)*B]: position t predicts label t + 1.
std::pair<at::Tensor, at::Tensor> shift(const at::Tensor& logits, const at::Tensor& labels) {
  if (logits.dim() != 3 || labels.sizes() != logits.sizes().slice(0, 2))
    throw ShapeError(fmt::format("labels must be [batch, sequence] like the input ids: logits [{}], labels [{}]",
                                 fmt::join(logits.sizes(), ", "), fmt::join(labels.sizes(), ", ")));
  return {logits.slice(1, 0, -1).reshape({-1, logits.size(-1)}), labels.slice(1, 1).reshape({-1}).to(at::kLong)};
}

at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& labels, at::Reduction::Reduction reduction) {
  return at::cross_entropy_loss(logits, labels.to(at::kLong), {}, reduction, kIgnoreIndex);
}

}  // namespace

at::Tensor upcast_for_loss(const at::Tensor& logits) {
  return at::isReducedFloatingType(logits.scalar_type()) ? logits.to(at::kFloat) : logits;
}

at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& labels) {
  auto [flat_logits, flat_labels] = shift(logits, labels);
  return cross_entropy(flat_logits.to(at::kFloat), flat_labels, at::Reduction::Mean);
}

at::Tensor shifted_cross_entropy(const at::Tensor& logits, const at::Tensor& labels) {
  auto [flat_logits, flat_labels] = shift(logits, labels);
  return cross_entropy(upcast_for_loss(flat_logits), flat_labels, at::Reduction::Mean);
}

at::Tensor classification_loss(const at::Tensor& logits, const at::Tensor& labels) {
  return cross_entropy(upcast_for_loss(logits), labels, at::Reduction::Mean);
}

double classification_loss_sum(const at::Tensor& logits, const at::Tensor& labels) {
  return cross_entropy(upcast_for_loss(logits), labels, at::Reduction::Sum).item<double>();
}

}  // namespace shadowpeft::models
