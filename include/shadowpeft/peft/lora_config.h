#pragma once
// peft.LoraConfig: Hugging Face peft's LoRA (peft_type "LORA"), read from and written to
// adapter_config.json as peft writes it. Each targeted Linear gains x ↦ B(A(dropout(x))) · scaling,
// scaling = lora_alpha / r (lora_alpha / √r with use_rslora). peft's LoRA variants (DoRA, bias
// training, rank/alpha patterns, LoftQ, ...) are refused by name, never silently ignored.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/peft/peft_config.h"

namespace shadowpeft::peft {

struct LoraConfig {
  TaskType task_type = TaskType::CausalLM;
  // Names, one regular expression, or {"all-linear"}: every Linear but the output head.
  std::optional<ModuleSelector> target_modules;
  std::optional<ModuleSelector> exclude_modules;
  int64_t r = 8;
  double lora_alpha = 8;
  double lora_dropout = 0.0;  // on the input of A (training only)
  bool use_rslora = false;
  bool fan_in_fan_out = false;  // weights stored [in, out] (GPT-2's Conv1D); matters to merging only
  bool init_lora_weights = true;  // false: B random too, so a fresh adapter is not a no-op
  std::optional<std::vector<int64_t>> layers_to_transform;
  std::optional<std::vector<std::string>> layers_pattern;
  bool layers_to_transform_is_one = false, layers_pattern_is_one = false;
  std::optional<std::vector<std::string>> modules_to_save;
  std::optional<std::string> base_model_name_or_path;
  bool inference_mode = false;
  io::Json other = io::Json::object();  // the other keys of adapter_config.json, written back

  double scaling() const;
  bool targets_all_linear() const;
  void validate() const;
  io::Json to_json() const;
  static LoraConfig from_json(const io::Json& json, const std::filesystem::path& source);
  void save_pretrained(const std::filesystem::path& dir) const;
  static LoraConfig from_pretrained(const std::filesystem::path& dir);
};

}  // namespace shadowpeft::peft
