#include "shadowpeft/models/quantization.h"

#include <fmt/format.h>

#include <unordered_set>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/layers.h"

namespace shadowpeft::models {

WeightQuantization parse_weight_quantization(const std::string& name) {
  if (name == "none") return WeightQuantization::None;
  if (name == "int8") return WeightQuantization::Int8;
  throw ConfigError(fmt::format("weight quantization '{}': expected none or int8", name));
}

std::string to_string(WeightQuantization quantization) {
  return quantization == WeightQuantization::Int8 ? "int8" : "none";
}

int64_t quantize_linear_layers(torch::nn::Module& module, WeightQuantization quantization) {
  if (quantization == WeightQuantization::None) return 0;
  std::unordered_set<const torch::nn::Module*> routers;
  for (const auto& m : module.modules())
    if (const auto* mlp = m->as<MlpImpl>(); mlp && mlp->gate) routers.insert(mlp->gate.get());
  torch::NoGradGuard no_grad;
  int64_t quantized = 0;
  for (const auto& m : module.modules()) {
    auto* linear = m->as<LinearImpl>();
    if (!linear || routers.count(linear)) continue;
    linear->quantize_int8();
    ++quantized;
  }
  return quantized;
}

}  // namespace shadowpeft::models
