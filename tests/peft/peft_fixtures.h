#pragma once
// What the peft parity tests share: reading a fixture set (make_peft_fixtures.py,
// make_lora_fixtures.py), loading a case's base, and the checks every tuner's adapters must pass
// against peft's reference outputs.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "test_utils.h"

namespace shadowpeft::test {

inline bool is_classifier_case(const io::Json& info) { return info.value("task", "") == "seq_cls"; }

// The cases of a fixture set, in index.json order, without those whose name starts with `skip_prefix`.
inline std::vector<std::string> fixture_cases(const std::filesystem::path& set, const std::string& skip_prefix = "") {
  const io::Json index = io::read_json_file(set / "index.json");
  std::vector<std::string> cases;
  for (const auto& c : index.at("cases")) {
    const std::string name = c.get<std::string>();
    if (skip_prefix.empty() || name.rfind(skip_prefix, 0) != 0) cases.push_back(name);
  }
  return cases;
}

// A case's base/: a causal LM, or a sequence classifier with its config's labels.
inline models::CausalLM load_case_base(const std::filesystem::path& dir, const io::Json& info) {
  if (!is_classifier_case(info)) return models::load_causal_lm((dir / "base").string());
  const io::Json config = io::read_json_file(dir / "base" / "config.json");
  return models::load_sequence_classifier((dir / "base").string(), config.at("id2label").size());
}

// Per-token logits compared at attended positions only; pooled ones entirely.
inline at::Tensor attended(const at::Tensor& t, const at::Tensor& mask) {
  return t.dim() == 3 ? t.index({mask.to(at::kBool)}) : t;
}

// Every grad.<key> of the reference against `grads` (keys as in adapter_model.safetensors), and no
// adapter tensor without a reference gradient.
inline void expect_gradients_match(const io::TensorMap& grads, const io::SafetensorsFile& ref, const io::Json& info,
                                   const std::string& name) {
  const double atol = info.value("grad_atol", 5e-6), rtol = info.value("grad_rtol", 1e-4);
  int checked = 0;
  for (const auto& tensor : ref.tensors()) {
    if (!tensor.name.starts_with("grad.")) continue;
    const std::string key = tensor.name.substr(5);
    ASSERT_TRUE(grads.count(key)) << "no adapter tensor " << key;
    EXPECT_TENSOR_CLOSE(grads.at(key), ref.tensor(tensor.name), atol, rtol, name + " grad " + key);
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(grads.size())) << "every adapter tensor has a reference gradient";
}

// The files an adapter re-saved are byte-identical to those peft wrote.
inline void expect_same_adapter_files(const std::filesystem::path& ours, const std::filesystem::path& peft) {
  for (const char* file : {"adapter_config.json", "adapter_model.safetensors"})
    EXPECT_EQ(read_file_bytes(ours / file), read_file_bytes(peft / file)) << file;
}

// The attention mask and positions a fixture's reference outputs were computed with.
inline models::ForwardOptions reference_options(const io::SafetensorsFile& ref) {
  models::ForwardOptions options;
  options.attention_mask = ref.tensor("attention_mask");
  options.position_ids = ref.tensor("position_ids");
  return options;
}

// A fixture case loaded for a tuner's model holder (peft::ShadowModel, peft::LoraModel): its
// case.json, reference outputs, the adapter on its base, and the inputs' mask and positions.
template <typename Model>
struct LoadedCase {
  io::Json info;
  io::SafetensorsFile ref;
  Model model{nullptr};
  models::ForwardOptions options;
};

// `extra`: the tuner's further from_pretrained arguments (peft SHADOW: a pretrained shadow model).
template <typename Model, typename... Extra>
LoadedCase<Model> load_fixture_case(const std::filesystem::path& dir, bool trainable, Extra&&... extra) {
  LoadedCase<Model> l{io::read_json_file(dir / "case.json"), io::SafetensorsFile::open(dir / "reference.safetensors")};
  l.model = Model(Model::Impl::from_pretrained(load_case_base(dir, l.info), dir / "adapter", trainable,
                                               std::forward<Extra>(extra)...));
  l.options = reference_options(l.ref);
  return l;
}

// The print_trainable_parameters line and counts of case.json.
inline void expect_peft_counts(const std::string& line, std::pair<int64_t, int64_t> counts, const io::Json& info) {
  EXPECT_EQ(line + "\n", info["print_trainable_parameters"].get<std::string>());
  EXPECT_EQ(counts.first, info["trainable_params"].get<int64_t>());
  EXPECT_EQ(counts.second, info["all_params"].get<int64_t>());
}

}  // namespace shadowpeft::test
