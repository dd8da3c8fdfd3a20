#pragma once
// ShadowConfig: the adapter's hyper-parameters, stored as shadow_config.json exactly as the Python
// package shadow-peft writes it (sorted keys, indent 2, trailing newline).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/io/json_file.h"

namespace shadowpeft {

struct ShadowConfig {
  int64_t num_shadow_layers = 1;      // layers of an implicit shadow backbone (ignored for explicit shadows)
  int64_t injection_hidden_size = 16;  // rank r of the injection bottleneck
  int64_t gate_hidden_size = 10;       // width g of the update gate/transform MLPs (≥ 2)
  double alpha = 0.1;                  // injection scale
  double dropout = 0.2;                // dropout in the injection and the update transform (training only)
  std::optional<int64_t> shadow_intermediate_size;    // implicit backbone MLP width
  std::optional<int64_t> shadow_num_attention_heads;  // implicit backbone heads
  std::optional<int64_t> shadow_num_key_value_heads;  // implicit backbone KV heads
  std::optional<int64_t> shadow_head_dim;             // implicit backbone head dim
  // Task heads trained and saved with the adapter: causal LM ["lm_head", "shadow_lm_head"],
  // sequence classification ["classifier_head", "shadow_classifier_head"].
  std::vector<std::string> modules_to_save;

  // ConfigError naming the field, with the offending value.
  void validate() const;

  io::Json to_json() const;
  // Unknown keys are ignored with a warning (forward compatibility, as upstream).
  static ShadowConfig from_json(const io::Json& json, const std::filesystem::path& source);
  void save_pretrained(const std::filesystem::path& dir) const;
  static ShadowConfig from_pretrained(const std::filesystem::path& dir);
};

}  // namespace shadowpeft
