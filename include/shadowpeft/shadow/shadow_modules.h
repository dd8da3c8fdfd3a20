#pragma once
// The two per-layer adapter pieces of ShadowPEFT, with the parameter names of shadow-peft:
//   injection (before base layer i > 0, slot i-1):  h + alpha * dropout((h - s) @ D) @ U
//   update    (after base layer i > 0, slot i-1):   x = LN(h); s + sigmoid-gate(x) * (T(x) - s)
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "shadowpeft/models/layers.h"

namespace shadowpeft {

class ShadowInjectionModelImpl : public torch::nn::Module {
 public:
  ShadowInjectionModelImpl(int64_t num_layers, int64_t hidden_size, int64_t injection_hidden_size, double dropout,
                           double alpha);
  // h, s: [B, T, H]; slot in [0, num_layers).
  at::Tensor forward(const at::Tensor& h, const at::Tensor& s, int64_t slot);
  // downs ~ N(0, 0.02), ups = 0: an untrained adapter leaves the base model unchanged.
  void reset_parameters();

  at::Tensor injection_downs;  // [N, H, r]
  at::Tensor injection_ups;    // [N, r, H]
  double dropout;
  double alpha;
};
TORCH_MODULE(ShadowInjectionModel);

// Linear(H, g) → SiLU → [Dropout] → Linear(g, H) [→ Sigmoid]; the submodule indices ("0", "2"
// or "3") are those of the upstream nn.Sequential, so parameter names match.
class ShadowGateMlpImpl : public torch::nn::Module {
 public:
  ShadowGateMlpImpl(int64_t hidden_size, int64_t gate_hidden_size, bool is_gate, double dropout);
  at::Tensor forward(const at::Tensor& x);
  models::Linear in{nullptr}, out{nullptr};
  bool is_gate;
  double dropout;
};
TORCH_MODULE(ShadowGateMlp);

class ShadowUpdateModelImpl : public torch::nn::Module {
 public:
  ShadowUpdateModelImpl(int64_t num_layers, int64_t hidden_size, int64_t gate_hidden_size, double dropout);
  at::Tensor forward(const at::Tensor& h, const at::Tensor& s, int64_t slot);
  // Linear layers as torch.nn.Linear initialises them; LayerNorm weight 1, bias 0.
  void reset_parameters();

  torch::nn::ModuleList update_gates, update_transforms;
  models::Norm hidden_norm{nullptr};  // one LayerNorm shared by every slot
};
TORCH_MODULE(ShadowUpdateModel);

}  // namespace shadowpeft
