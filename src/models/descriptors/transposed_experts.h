#pragma once
// Expert stacks that transformers' modules hold as x @ W ([E, H, 2I] and [E, I, H]: GPT-OSS,
// Llama 4), against ours as x Wᵀ ([E, 2I, H], [E, H, I]); GPT-OSS also interleaves gate and up
// column by column where ours are the gate half, then the up half.
#include <ATen/ATen.h>

#include <string>

#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/model_config.h"

namespace shadowpeft::models::detail {

struct TransposedExperts {
  bool interleaved = false;  // gate and up alternate along 2I

  void to_modules(io::TensorMap& t, const ModelConfig& config) const { convert(t, config, true); }
  void to_state_dict(io::TensorMap& t, const ModelConfig& config) const { convert(t, config, false); }

 private:
  // Columns g0 u0 g1 u1 ... along `dim` ↔ g0 g1 ... u0 u1 ...
  static at::Tensor deinterleave(const at::Tensor& t, int64_t dim) {
    return at::cat({t.slice(dim, 0, std::nullopt, 2), t.slice(dim, 1, std::nullopt, 2)}, dim);
  }
  static at::Tensor interleave(const at::Tensor& t, int64_t dim) {
    const auto halves = t.chunk(2, dim);
    return at::stack({halves[0], halves[1]}, dim + 1).reshape(t.sizes());
  }

  void convert(io::TensorMap& t, const ModelConfig& config, bool to_ours) const {
    for (int64_t i = 0; i < config.num_layers(); ++i) {
      const std::string experts = "model.layers." + std::to_string(i) + ".mlp.experts.";
      if (auto it = t.find(experts + "gate_up_proj"); it != t.end()) {
        at::Tensor w = it->second;
        if (to_ours) w = interleaved ? deinterleave(w.transpose(1, 2), 1) : w.transpose(1, 2);
        else w = (interleaved ? interleave(w, 1) : w).transpose(1, 2);
        it->second = w.contiguous();
      }
      if (auto it = t.find(experts + "gate_up_proj_bias"); it != t.end() && interleaved)
        it->second = (to_ours ? deinterleave(it->second, 1) : interleave(it->second, 1)).contiguous();
      if (auto it = t.find(experts + "down_proj"); it != t.end()) it->second = it->second.transpose(1, 2).contiguous();
    }
  }
};

}  // namespace shadowpeft::models::detail
