#include "shadowpeft/shadow/shadow_modules.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <cmath>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/initialization.h"

namespace shadowpeft {

ShadowInjectionModelImpl::ShadowInjectionModelImpl(int64_t num_layers, int64_t hidden_size, int64_t rank,
                                                   double dropout_, double alpha_)
    : dropout(dropout_), alpha(alpha_) {
  if (num_layers < 1) throw ConfigError("num_layers must be >= 1, got " + std::to_string(num_layers));
  if (rank < 1) throw ConfigError("injection_hidden_size must be >= 1, got " + std::to_string(rank));
  injection_downs = register_parameter("injection_downs", models::new_parameter({num_layers, hidden_size, rank}));
  injection_ups = register_parameter("injection_ups", models::new_parameter({num_layers, rank, hidden_size}));
  reset_parameters();
}

void ShadowInjectionModelImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  injection_downs.normal_(0.0, 0.02);
  injection_ups.zero_();
}

at::Tensor ShadowInjectionModelImpl::forward(const at::Tensor& h, const at::Tensor& s, int64_t slot) {
  // Two matmuls on [B*T, H]: the injection acts on each position independently.
  const at::Tensor down = at::matmul(h - s, injection_downs[slot]);
  const at::Tensor up = at::matmul(at::dropout(down, dropout, is_training()), injection_ups[slot]);
  return h + alpha * up;
}

ShadowGateMlpImpl::ShadowGateMlpImpl(int64_t hidden, int64_t g, bool is_gate_, double dropout_)
    : is_gate(is_gate_), dropout(dropout_) {
  in = register_module("0", models::Linear(hidden, g, false));
  out = register_module(is_gate ? "2" : "3", models::Linear(g, hidden, false));
}

at::Tensor ShadowGateMlpImpl::forward(const at::Tensor& x) {
  at::Tensor y = at::silu(in->forward(x));
  if (!is_gate) y = at::dropout(y, dropout, is_training());
  y = out->forward(y);
  return is_gate ? at::sigmoid(y) : y;
}

ShadowUpdateModelImpl::ShadowUpdateModelImpl(int64_t num_layers, int64_t hidden, int64_t g, double dropout) {
  if (num_layers < 1) throw ConfigError("num_layers must be >= 1, got " + std::to_string(num_layers));
  if (g < 2) throw ConfigError("gate_hidden_size must be >= 2, got " + std::to_string(g));
  update_gates = register_module("update_gates", torch::nn::ModuleList());
  update_transforms = register_module("update_transforms", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_layers; ++i) {
    update_gates->push_back(ShadowGateMlp(hidden, g, true, dropout));
    update_transforms->push_back(ShadowGateMlp(hidden, g, false, dropout));
  }
  hidden_norm = register_module("hidden_norm", models::Norm(models::NormKind::LayerNorm, hidden, 1e-5));
  reset_parameters();
}

void ShadowUpdateModelImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  for (auto* list : {&update_gates, &update_transforms})
    for (std::size_t i = 0; i < (*list)->size(); ++i) {
      auto mlp = (*list)->ptr<ShadowGateMlpImpl>(i);
      models::init_linear_like_torch(*mlp->in);
      models::init_linear_like_torch(*mlp->out);
    }
  hidden_norm->weight.fill_(1.0);
  hidden_norm->bias.zero_();
}

at::Tensor ShadowUpdateModelImpl::forward(const at::Tensor& h, const at::Tensor& s, int64_t slot) {
  const at::Tensor x = hidden_norm->forward(h);
  const at::Tensor t = update_transforms->ptr<ShadowGateMlpImpl>(static_cast<std::size_t>(slot))->forward(x);
  const at::Tensor g = update_gates->ptr<ShadowGateMlpImpl>(static_cast<std::size_t>(slot))->forward(x);
  return s + g * (t - s);
}

}  // namespace shadowpeft
