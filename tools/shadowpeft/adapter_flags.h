#pragma once
// A fresh adapter's hyper-parameters for `shadowpeft train`, from --config and the flags: one set of
// flags for the three methods, each flag setting the method's own field; --config may hold the
// method and its config fields (the method's own file format), which the flags override.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/peft/lora_config.h"
#include "shadowpeft/peft/shadow_config.h"
#include "shadowpeft/shadow/shadow_config.h"

namespace shadowpeft::cli {

// The adapter part of a --config file: "method", "adapter_config" (shadow-peft's shadow_config.json
// fields, or peft's adapter_config.json fields for peft-shadow and lora) and "shadow_loss_weight".
struct AdapterFileSettings {
  std::string file;  // the --config path, for messages
  std::string method;
  std::optional<io::Json> adapter_config;
  std::optional<double> shadow_loss_weight;
};

// A --config file: its TrainingArguments fields, and the adapter settings taken out of it.
struct TrainConfigFile {
  io::Json training_arguments = io::Json::object();
  AdapterFileSettings adapter;
  static TrainConfigFile read(const std::filesystem::path& path);
};

struct AdapterFlags {
  std::optional<int64_t> num_shadow_layers, injection_hidden_size, gate_hidden_size, shadow_intermediate_size,
      shadow_num_attention_heads, shadow_hidden_size;
  std::optional<double> alpha, dropout, shadow_loss_weight;
  std::vector<std::string> target_modules, modules_to_save;
  std::optional<double> lora_alpha;  // LoRA
  bool use_rslora = false;
  AdapterFileSettings file;  // from --config, below the flags

  double loss_weight() const { return shadow_loss_weight.value_or(file.shadow_loss_weight.value_or(0.05)); }
  // The first flag (or --config section) that shapes a fresh adapter, if any was given ("" otherwise).
  std::string first_shape_flag() const;

  ShadowConfig shadow_peft() const;
  peft::ShadowConfig peft_shadow(peft::TaskType task, const std::string& shadow_model) const;
  // Unset target modules: every Linear but the head ("all-linear"), the usual LoRA baseline.
  peft::LoraConfig lora(peft::TaskType task) const;

 private:
  void no_lora_flags(const char* method) const;
  // A fresh peft config for `task`: defaults, or --config's adapter_config read as that method's
  // adapter_config.json (its peft_type implied, its task_type the command's).
  template <typename Config>
  Config fresh_peft_config(const char* peft_type, const char* method, peft::TaskType task) const;
};

}  // namespace shadowpeft::cli
