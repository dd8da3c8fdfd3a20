#pragma once
// Training options under the Hugging Face TrainingArguments names, with its defaults. Loadable from
// a JSON file; the CLI overrides single fields.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "shadowpeft/io/json_file.h"

namespace shadowpeft::train {

struct TrainingArguments {
  std::string output_dir = "shadowpeft-output";
  double num_train_epochs = 3.0;
  int64_t max_steps = -1;  // > 0 overrides num_train_epochs
  int64_t per_device_train_batch_size = 8;
  int64_t per_device_eval_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;
  double learning_rate = 5e-5;
  double weight_decay = 0.0;  // not applied to biases and norm weights
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;  // 0 disables clipping
  std::string lr_scheduler_type = "linear";  // linear | cosine | constant | constant_with_warmup
  int64_t warmup_steps = 0;                  // wins over warmup_ratio when > 0
  double warmup_ratio = 0.0;
  int64_t logging_steps = 500;
  int64_t eval_steps = 0;     // 0: evaluate at the end only (when there is an eval set)
  int64_t save_steps = 500;   // 0: no intermediate checkpoints
  std::optional<int64_t> save_total_limit;
  uint64_t seed = 42;
  bool bf16 = false;                    // autocast matmuls to bfloat16; weights stay float32
  bool gradient_checkpointing = false;  // recompute decoder layers in backward: less memory, ~1 more forward
  bool group_by_length = false;         // batches of examples of similar length: less padding (DatasetBatches)
  double shadow_lr_multiplier = 1.0;    // learning rate factor for every shadow parameter
  // A step whose loss or gradient norm is NaN or infinite: false stops training with an error
  // naming the step and its data lines; true skips the step (no update) with a warning.
  bool skip_nonfinite_steps = false;
  // Data-parallel training: seconds a process waits for the others (joining, each collective)
  // before it stops with an error; a process that died makes the rest stop within this time.
  int64_t ddp_timeout = 300;

  // Unknown keys are an error naming the key (a typo must not silently train with defaults).
  static TrainingArguments from_json(const io::Json& json, const std::string& source);
  static TrainingArguments from_file(const std::filesystem::path& path);
  io::Json to_json() const;
  void validate() const;  // ConfigError naming the field
  // Optimizer steps of a run over `batches_per_epoch` batches.
  int64_t total_steps(int64_t batches_per_epoch) const;
  int64_t warmup_steps_for(int64_t total_steps) const;
};

}  // namespace shadowpeft::train
