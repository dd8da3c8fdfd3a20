#include "shadowpeft/train/adamw.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "shadowpeft/core/error.h"

namespace shadowpeft::train {

AdamW::AdamW(std::vector<AdamWParameter> parameters, double beta1, double beta2, double eps)
    : beta1_(beta1), beta2_(beta2), eps_(eps) {
  for (auto& p : parameters) slots_.push_back({std::move(p), {}, {}});
}

void AdamW::step(double lr_multiplier) {
  at::NoGradGuard no_grad;
  ++step_;
  const double bias_correction1 = 1.0 - std::pow(beta1_, static_cast<double>(step_));
  const double bias_correction2_sqrt = std::sqrt(1.0 - std::pow(beta2_, static_cast<double>(step_)));
  for (Slot& slot : slots_) {
    at::Tensor& p = slot.param.tensor;
    const at::Tensor grad = p.grad();
    if (!grad.defined()) continue;
    if (!slot.exp_avg.defined()) {
      slot.exp_avg = at::zeros_like(p, at::MemoryFormat::Preserve);
      slot.exp_avg_sq = at::zeros_like(p, at::MemoryFormat::Preserve);
    }
    const double lr = slot.param.lr * lr_multiplier;
    p.mul_(1.0 - lr * slot.param.weight_decay);
    slot.exp_avg.lerp_(grad, 1.0 - beta1_);
    slot.exp_avg_sq.mul_(beta2_).addcmul_(grad, grad, 1.0 - beta2_);
    const at::Tensor denom = (slot.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps_);
    p.addcdiv_(slot.exp_avg, denom, -lr / bias_correction1);
  }
}

void AdamW::zero_grad() {
  for (Slot& slot : slots_) slot.param.tensor.mutable_grad() = at::Tensor();
}

io::TensorMap AdamW::state_dict() const {
  io::TensorMap state;
  for (const Slot& slot : slots_) {
    if (!slot.exp_avg.defined()) continue;
    state.emplace(slot.param.name + ".exp_avg", slot.exp_avg);
    state.emplace(slot.param.name + ".exp_avg_sq", slot.exp_avg_sq);
  }
  return state;
}

void AdamW::load_state_dict(const io::TensorMap& state, int64_t steps, const std::string& source) {
  at::NoGradGuard no_grad;
  std::vector<std::string> problems;
  for (Slot& slot : slots_) {
    const std::pair<const char*, at::Tensor*> moments[] = {{".exp_avg", &slot.exp_avg}, {".exp_avg_sq", &slot.exp_avg_sq}};
    for (const auto& [suffix, target] : moments) {
      const std::string key = slot.param.name + suffix;
      const auto it = state.find(key);
      if (it == state.end()) continue;  // never had a gradient, so never had state
      if (it->second.sizes() != slot.param.tensor.sizes()) {
        problems.push_back(fmt::format("{}: expected shape [{}], got [{}]", key, fmt::join(slot.param.tensor.sizes(), ", "),
                                       fmt::join(it->second.sizes(), ", ")));
        continue;
      }
      *target = it->second.to(slot.param.tensor.options()).clone();
    }
  }
  std::size_t known = 0;
  for (const Slot& slot : slots_) known += state.count(slot.param.name + ".exp_avg") + state.count(slot.param.name + ".exp_avg_sq");
  if (known != state.size()) problems.push_back(fmt::format("{} tensors for parameters the model does not train", state.size() - known));
  if (!problems.empty())
    throw LoadError(fmt::format("{}: optimizer state does not fit the model: {}", source, fmt::join(problems, "; ")));
  step_ = steps;
}

double clip_grad_norm(const std::vector<at::Tensor>& parameters, double max_norm) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  for (const auto& p : parameters)
    if (p.grad().defined()) norms.push_back(at::linalg_vector_norm(p.grad(), 2));
  if (norms.empty()) return 0.0;
  const at::Tensor total = at::linalg_vector_norm(at::stack(norms), 2);
  if (max_norm > 0) {
    const at::Tensor coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
    for (const auto& p : parameters)
      if (p.grad().defined()) p.grad().mul_(coef);
  }
  return total.item<double>();
}

}  // namespace shadowpeft::train
