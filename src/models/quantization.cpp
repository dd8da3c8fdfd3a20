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

std::vector<LinearImpl*> quantizable_linear_layers(torch::nn::Module& module, WeightQuantization quantization) {
  if (quantization == WeightQuantization::None) return {};
  std::unordered_set<const torch::nn::Module*> routers;
  for (const auto& m : module.modules())
    if (const auto* mlp = m->as<MlpImpl>(); mlp && mlp->gate) routers.insert(mlp->gate.get());
  std::vector<LinearImpl*> layers;
  for (const auto& m : module.modules())
    if (auto* linear = m->as<LinearImpl>(); linear && !routers.count(linear)) layers.push_back(linear);
  return layers;
}

int64_t quantize_linear_layers(torch::nn::Module& module, WeightQuantization quantization) {
  const std::vector<LinearImpl*> layers = quantizable_linear_layers(module, quantization);
  torch::NoGradGuard no_grad;
  for (LinearImpl* linear : layers) linear->quantize_int8();  // already quantized: nothing to do
  return static_cast<int64_t>(layers.size());
}

}  // namespace shadowpeft::models
