#pragma once
// What peft's tuners here share: counting parameters, checking an adapter file's keys against the
// model's, and modules_to_save's copy of the base's head. Internal to src/peft.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/peft/peft_config.h"

namespace shadowpeft::peft::detail {

// The dtype of the weights a tuner layer adds beside a base in `base` (LoRA's A and B, SHADOW's
// injection and update): peft's autocast_adapter_dtype (on by default) upcasts float16 and bfloat16
// to float32; other dtypes (float32, float64) stay the base's.
inline at::ScalarType tuner_layer_dtype(at::ScalarType base) {
  return base == at::kHalf || base == at::kBFloat16 ? at::kFloat : base;
}

// (trainable, all) over the distinct parameters of `module`, as peft's get_nb_trainable_parameters.
inline std::pair<int64_t, int64_t> count_distinct_parameters(torch::nn::Module& module) {
  std::unordered_set<const void*> seen;
  int64_t trainable = 0, total = 0;
  for (const auto& p : module.parameters()) {
    if (!seen.insert(p.unsafeGetTensorImpl()).second) continue;
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  return {trainable, total};
}

// Every key `expected` has is in `state` and nothing else; a LoadError listing the differences.
inline void check_adapter_keys(const io::TensorMap& expected, const io::TensorMap& state, const std::string& source,
                               const std::string& what) {
  std::vector<std::string> missing, unexpected;
  for (const auto& [name, t] : expected)
    if (!state.contains(name)) missing.push_back(name);
  for (const auto& [name, t] : state)
    if (!expected.contains(name)) unexpected.push_back(name);
  if (missing.empty() && unexpected.empty()) return;
  auto list = [](const std::vector<std::string>& v) {
    return v.size() <= 6 ? fmt::format("{}", fmt::join(v, ", "))
                         : fmt::format("{}, ... ({} in all)", fmt::join(v.begin(), v.begin() + 6, ", "), v.size());
  };
  std::string message = fmt::format("{}: the tensors do not fit this adapter ({})", source, what);
  if (!missing.empty()) message += fmt::format("; missing: {}", list(missing));
  if (!unexpected.empty()) message += fmt::format("; unexpected: {}", list(unexpected));
  throw LoadError(message);
}

// Copies state[key] into each expected parameter (shapes checked), skipping keys under `skip`.
inline void copy_adapter_tensors(const io::TensorMap& expected, const io::TensorMap& state, const std::string& source,
                                 const std::string& skip = "") {
  torch::NoGradGuard no_grad;
  for (const auto& [name, param] : expected) {
    if (!skip.empty() && name.starts_with(skip)) continue;
    const at::Tensor& value = state.at(name);
    if (value.sizes() != param.sizes())
      throw ShapeError(fmt::format("{}: tensor '{}' has shape {}, the adapter expects {}", source, name, value.sizes(),
                                   param.sizes()));
    at::Tensor target = param;
    target.copy_(value);
  }
}

inline constexpr const char* kAdapterWeightsFile = "adapter_model.safetensors";

// adapter_model.safetensors as peft writes it (CPU tensors, metadata format=pt).
inline void save_adapter_weights(const std::filesystem::path& dir, const io::TensorMap& state) {
  io::TensorMap cpu;
  for (const auto& [name, t] : state) cpu.emplace(name, t.detach().to(at::kCPU).contiguous());
  io::save_safetensors(dir / kAdapterWeightsFile, cpu, {{"format", "pt"}});
}

// The adapter directory's weights; LoadError naming the directory when they are missing.
inline std::pair<io::TensorMap, std::string> load_adapter_weights(const std::filesystem::path& dir) {
  const std::filesystem::path file = dir / kAdapterWeightsFile;
  if (!std::filesystem::exists(file))
    throw LoadError(fmt::format("{}: missing {} (the adapter's weights)", dir.string(), kAdapterWeightsFile));
  return {io::SafetensorsFile::open(file).load_all(), file.string()};
}

// An adapter directory that exists; LoadError otherwise.
inline void require_adapter_dir(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) throw LoadError(fmt::format("{}: adapter directory not found", dir.string()));
}

// transformers' name of the base's head module: "lm_head" (its family's) or a classifier's "score".
inline std::string head_module_name(const models::CausalLMImpl& base) {
  return base.config().is_sequence_classifier() ? "score" : base.config().descriptor->output_embedding_name();
}

// Whether modules_to_save asks for a trained copy of the base's head (a SEQ_CLS adapter always
// has one: peft adds "classifier" and "score"); UnsupportedError for any other module it names.
inline bool saves_head_copy(const std::optional<std::vector<std::string>>& modules_to_save, const std::string& head,
                            bool classifier, const char* tuner) {
  bool copy = classifier;
  if (modules_to_save)
    for (const std::string& name : *modules_to_save) {
      if (name == head) copy = true;
      else if (!(classifier && (name == "classifier" || name == "score")))
        throw UnsupportedError(fmt::format("peft {}: modules_to_save names '{}'; only the base's head ('{}') can be saved with "
                                           "the adapter",
                                           tuner, name, head));
    }
  return copy;
}

}  // namespace shadowpeft::peft::detail
