#pragma once
// AdamW as torch.optim.AdamW computes it on the CPU (the single-tensor path: decoupled weight
// decay, lerp for the first moment), over named parameters so its state saves by name.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "shadowpeft/io/safetensors.h"

namespace shadowpeft::train {

struct AdamWParameter {
  std::string name;
  at::Tensor tensor;
  double lr;            // base learning rate of this parameter (before the schedule)
  double weight_decay;  // 0 for biases and norm weights
};

class AdamW {
 public:
  AdamW(std::vector<AdamWParameter> parameters, double beta1, double beta2, double eps);
  // One update with every learning rate scaled by `lr_multiplier`; parameters without a gradient
  // are left alone, as PyTorch does.
  void step(double lr_multiplier);
  void zero_grad();
  int64_t steps() const { return step_; }
  // "<name>.exp_avg" / "<name>.exp_avg_sq" for every parameter that has state.
  io::TensorMap state_dict() const;
  // Strict: every moment present with the parameter's shape. `source` names the file in errors.
  void load_state_dict(const io::TensorMap& state, int64_t steps, const std::string& source);

 private:
  struct Slot {
    AdamWParameter param;
    at::Tensor exp_avg, exp_avg_sq;
  };
  std::vector<Slot> slots_;
  double beta1_, beta2_, eps_;
  int64_t step_ = 0;
};

// Scales gradients so their global L2 norm is at most `max_norm` (torch.nn.utils.clip_grad_norm_)
// and returns the norm before clipping; max_norm 0 only measures.
double clip_grad_norm(const std::vector<at::Tensor>& parameters, double max_norm);

}  // namespace shadowpeft::train
