#pragma once
// What Hugging Face peft's adapter configs share (peft.PeftConfig and its tuners' module selection):
// the task type, target_modules / exclude_modules and their matching rules, and telling an adapter
// directory's method from its adapter_config.json.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace shadowpeft::peft {

enum class TaskType { CausalLM, SequenceClassification };  // "CAUSAL_LM", "SEQ_CLS"
std::string to_string(TaskType task);

// target_modules / exclude_modules: module names (a module key matches a name equal to it or ending
// in "." + name) or one regular expression that must match the whole key.
struct ModuleSelector {
  std::vector<std::string> names;
  std::optional<std::string> pattern;
  bool matches(const std::string& key) const;
};

// The config fields that decide which modules a tuner adapts.
struct TargetRules {
  const std::optional<ModuleSelector>& target_modules;  // unset: the tuner's default
  const std::optional<ModuleSelector>& exclude_modules;
  const std::optional<std::vector<int64_t>>& layers_to_transform;
  const std::optional<std::vector<std::string>>& layers_pattern;
  const std::optional<std::vector<std::string>>& modules_to_save;
};
// peft's check_target_module_exists for a module key (transformers' name, e.g.
// "model.layers.3.self_attn.q_proj"): excluded and modules_to_save keys never match; a name list
// matches exact keys, and suffixes subject to layers_to_transform (the index after layers_pattern,
// or the first numbered segment, in a key that continues past it); a pattern must match whole.
// `target_modules` unset matches every key.
bool targets_module(const TargetRules& rules, const std::string& key);

// peft's print_trainable_parameters line:
// "trainable params: 13,880 || all params: 45,848 || trainable%: 30.2739".
std::string trainable_parameters_string(int64_t trainable, int64_t total);

// The peft_type of the adapter_config.json in `dir` ("SHADOW", "LORA", ...); nullopt when the
// directory has no adapter_config.json.
std::optional<std::string> adapter_peft_type(const std::filesystem::path& dir);

}  // namespace shadowpeft::peft
