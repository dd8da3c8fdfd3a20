#pragma once
// The pair of heads every shadow task model has — the base's head and the shadow's copy of it —
// and shadow-peft's modules_to_save rules for training, saving and loading them
// (shadow_modules.safetensors, keys "<head>.<param>").
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shadowpeft/shadow/shadow_config.h"

namespace shadowpeft::detail {

struct Head {
  std::string name;                                       // "lm_head", "shadow_classifier_head", ...
  std::vector<std::pair<std::string, at::Tensor>> params;  // "weight" (, "bias")
};

// Trainable: the heads named in modules_to_save; when it is empty, `default_trainable`.
void apply_modules_to_save(const ShadowConfig& config, const std::vector<Head>& heads, bool default_trainable);
// Saves the trainable heads (restricted to modules_to_save when non-empty); no file when none.
void save_heads(const std::filesystem::path& dir, const ShadowConfig& config, const std::vector<Head>& heads);
// Loads shadow_modules.safetensors when present, strictly per head present in the file.
void load_heads(const std::filesystem::path& dir, const std::vector<Head>& heads);
void set_heads_trainable(const std::vector<Head>& heads, bool trainable);
// Whether an adapter directory holds saved heads (shadow_modules.safetensors).
bool has_saved_heads(const std::filesystem::path& dir);
// One tensor of the heads an adapter directory saved; nullopt without the file or the tensor.
std::optional<at::Tensor> saved_head_tensor(const std::filesystem::path& dir, const std::string& name);

}  // namespace shadowpeft::detail
