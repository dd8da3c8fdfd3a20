#pragma once
// Weight-only quantization of a frozen base: its Linear layers hold int8 rows with a float32 scale
// each and compute in the dtype the model was loaded in (LinearImpl::quantize_int8).
#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace shadowpeft::models {

class LinearImpl;

enum class WeightQuantization { None, Int8 };

// "none" or "int8"; anything else is an error naming the choices.
WeightQuantization parse_weight_quantization(const std::string& name);
std::string to_string(WeightQuantization quantization);

// The layers quantize_linear_layers quantizes: every Linear under `module` but mixture-of-experts
// routers, which choose the experts and stay as they are (llama.cpp keeps them in float too); none
// for WeightQuantization::None.
std::vector<LinearImpl*> quantizable_linear_layers(torch::nn::Module& module, WeightQuantization quantization);
// Quantizes those not quantized yet. Returns how many layers are quantized.
int64_t quantize_linear_layers(torch::nn::Module& module, WeightQuantization quantization);

}  // namespace shadowpeft::models
