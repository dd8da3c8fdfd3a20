#pragma once
// peft.ShadowConfig: the hyper-parameters of Hugging Face peft's own ShadowPEFT tuner
// (peft_type "SHADOW"), read from and written to adapter_config.json as peft writes it.
//
// It is not shadow-peft's config (shadowpeft::ShadowConfig, shadow_config.json): peft wraps every
// selected block (block 0 included) with a per-block injection and a GELU update, has no LayerNorm,
// and trains the shadow backbone's output through an auxiliary loss on the base's own head.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/peft/peft_config.h"

namespace shadowpeft::peft {

struct ShadowConfig {
  TaskType task_type = TaskType::CausalLM;
  std::optional<ModuleSelector> target_modules;  // unset: every decoder block
  std::optional<ModuleSelector> exclude_modules;
  int64_t r = 8;                   // rank of the injection bottleneck shadow_down / shadow_up
  double shadow_alpha = 0.1;       // injection strength
  double shadow_dropout = 0.2;     // dropout on h - s before shadow_down (training only)
  bool init_weights = true;        // shadow_up starts at zero (an untrained adapter is a no-op)
  std::string shadow_model = "mirror";  // "mirror": a fresh backbone of the base's family; else a model path
  std::optional<int64_t> shadow_num_hidden_layers;  // mirror depth (unset: 1)
  std::optional<int64_t> shadow_hidden_size;        // mirror width (unset: the base's); a projection maps it back
  std::optional<int64_t> shadow_num_attention_heads;
  std::optional<int64_t> shadow_intermediate_size;
  bool share_embeddings = true;                 // feed the mirror the base's token embeddings
  std::optional<int64_t> update_hidden_size;    // width of the update MLPs (unset: r)
  double auxiliary_loss_weight = 0.05;          // weight of the shadow's own task loss
  std::optional<std::vector<int64_t>> layers_to_transform;
  std::optional<std::vector<std::string>> layers_pattern;
  // peft also takes one index / one pattern for these two; a file that did is written back alike.
  bool layers_to_transform_is_one = false, layers_pattern_is_one = false;
  std::optional<std::vector<std::string>> modules_to_save;  // e.g. lm_head; SEQ_CLS adds the classifier
  std::optional<std::string> base_model_name_or_path;
  bool inference_mode = false;
  // The other keys of adapter_config.json (peft_version, revision, auto_mapping, ...), written back.
  io::Json other = io::Json::object();

  int64_t update_width() const { return update_hidden_size.value_or(r); }
  int64_t mirror_layers() const { return shadow_num_hidden_layers.value_or(1); }
  bool is_mirror() const { return shadow_model == "mirror"; }

  // ConfigError naming the field, as peft's ShadowConfig.__post_init__ and ShadowLayer check them.
  void validate() const;
  io::Json to_json() const;
  static ShadowConfig from_json(const io::Json& json, const std::filesystem::path& source);
  // adapter_config.json, keys sorted, as peft's save_pretrained writes it.
  void save_pretrained(const std::filesystem::path& dir) const;
  static ShadowConfig from_pretrained(const std::filesystem::path& dir);
};

}  // namespace shadowpeft::peft
