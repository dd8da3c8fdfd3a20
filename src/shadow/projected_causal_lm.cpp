#include "shadowpeft/shadow/projected_causal_lm.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/loader.h"

namespace shadowpeft {

at::Tensor optimal_projection(const at::Tensor& lm_head_weight, const at::Tensor& reference_lm_head) {
  if (lm_head_weight.dim() != 2 || reference_lm_head.dim() != 2 || lm_head_weight.size(0) != reference_lm_head.size(0))
    throw ShapeError(fmt::format("optimal_projection: lm_head [{}] and reference lm_head [{}] must be [V, H] with the same V",
                                 fmt::join(lm_head_weight.sizes(), ", "), fmt::join(reference_lm_head.sizes(), ", ")));
  torch::NoGradGuard no_grad;
  return at::matmul(at::linalg_pinv(lm_head_weight.to(at::kFloat)), reference_lm_head.to(at::kFloat));
}

models::CausalLM wrap_with_hidden_projection(models::CausalLMImpl& small, const at::Tensor& lm_head_weight,
                                             const at::Tensor& projection) {
  const models::ModelConfig inner = backbone_config(small.config());
  const int64_t base_hidden = lm_head_weight.size(1);
  const at::Tensor p = projection.defined() ? projection : optimal_projection(lm_head_weight, small.output_embedding());
  if (p.sizes() != at::IntArrayRef({base_hidden, inner.hidden_size}))
    throw ShapeError(fmt::format("projection must be [{}, {}], got [{}]", base_hidden, inner.hidden_size, fmt::join(p.sizes(), ", ")));

  models::ModelConfig config = projected_model_config(small.config(), base_hidden, lm_head_weight.size(0));
  models::CausalLM wrapped(std::move(config));
  io::TensorMap weights;
  for (const auto& item : small.model->named_parameters()) weights.emplace("model." + item.key(), item.value().detach());
  weights.emplace("shadow_hidden_projection.weight", p.detach());
  weights.emplace("lm_head.weight", lm_head_weight.detach());
  wrapped->to(lm_head_weight.scalar_type());
  models::load_parameters(*wrapped, std::move(weights), "wrap_with_hidden_projection");
  wrapped->eval();
  return wrapped;
}

}  // namespace shadowpeft
