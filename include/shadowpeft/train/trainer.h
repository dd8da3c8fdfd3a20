#pragma once
// The training loop, with the semantics of the Hugging Face Trainer: AdamW over the trainable
// parameters (no weight decay on biases and norms), gradient accumulation (each micro-batch loss
// divided by the accumulation steps), clipping of the global gradient norm, a per-step schedule,
// logging, evaluation and checkpoints that resume bit-exactly.
//
// output_dir receives: train_log.jsonl (one JSON object per logged step and evaluation),
// checkpoint-N/ (adapter files + trainer_parameters / optimizer / rng_state safetensors +
// trainer_state.json, each written to a temporary directory and renamed into place), the final
// adapter files, trainer_state.json and loss_curve.svg.
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/train/batch_source.h"
#include "shadowpeft/train/training_arguments.h"
#include "shadowpeft/train/training_task.h"

namespace shadowpeft::train {

struct StepRecord {
  int64_t step;          // 1-based optimizer step
  double loss;           // mean micro-batch loss of the step
  double grad_norm;      // global norm before clipping
  double learning_rate;  // used by the step (shadow parameters: times shadow_lr_multiplier)
  int64_t tokens;        // real tokens seen by the step
};

struct TrainOutput {
  int64_t global_step = 0;
  double train_loss = 0;  // mean over the steps run in this call
  double seconds = 0;
  double tokens_per_second = 0;
  std::map<std::string, double> eval_metrics;  // final evaluation, when there is an eval set
  bool interrupted = false;   // stopped on request (set_stop_request) after a checkpoint of global_step
  int64_t skipped_steps = 0;  // non-finite steps skipped (skip_nonfinite_steps)
};

class ProcessGroup;

class Trainer {
 public:
  // Trainable parameters in float16/bfloat16 (a head or peft backbone made in a low-precision
  // base's dtype) become float32 here: the optimizer keeps float32 weights, the frozen base its own.
  // One that shares a frozen parameter's storage gets a copy of its own.
  Trainer(TrainingTask& task, TrainingArguments args, BatchSource& train_batches, BatchSource* eval_batches = nullptr);

  // Trains to the configured step count. `resume_from_checkpoint`: a checkpoint-N directory, or
  // output_dir itself to take its newest checkpoint.
  TrainOutput train(const std::optional<std::filesystem::path>& resume_from_checkpoint = std::nullopt);
  // Metrics over the eval set (eval_*: loss/perplexity or accuracy per mode).
  std::map<std::string, double> evaluate();

  const std::vector<StepRecord>& step_records() const { return records_; }
  // Stop after this many optimizer steps of the current train() call (tests of interruption).
  void stop_after(int64_t steps) { stop_after_ = steps; }
  // Data-parallel training in `group` (not owned; every process runs the same Trainer): the
  // processes start from rank 0's trainable weights; each optimizer step, process r of W takes
  // micro-batches r, r + W, ... of the common shuffled order, gradients are averaged over the
  // processes before clipping (W processes with accumulation A train exactly like one process
  // with accumulation A * W), evaluation is split and summed, and only rank 0 writes files.
  void set_process_group(ProcessGroup* group) { group_ = group; }
  // Asked after every optimizer step (in data-parallel training, on every process: one asking
  // stops them all at the same step). True: a checkpoint of the step is written and train()
  // returns with `interrupted`, to be resumed later. E.g. a SIGINT handler's flag.
  void set_stop_request(std::function<bool()> requested) { stop_requested_ = std::move(requested); }
  // Called after each evaluation batch with (batches done, batches in all), e.g. for a progress bar.
  void set_eval_progress(std::function<void(int64_t done, int64_t total)> progress) { eval_progress_ = std::move(progress); }

 private:
  void save_checkpoint(int64_t step, const class AdamW& optimizer);
  void write_checkpoint(int64_t step, const class AdamW& optimizer);
  void save_final(const std::filesystem::path& out);
  void write_checkpoint_files(const std::filesystem::path& dir, int64_t step, const class AdamW& optimizer);
  TrainingTask& task_;
  TrainingArguments args_;
  BatchSource& train_;
  BatchSource* eval_;
  std::vector<StepRecord> records_;
  std::vector<std::string> log_lines_;
  std::optional<int64_t> stop_after_;
  ProcessGroup* group_ = nullptr;
  std::function<void(int64_t, int64_t)> eval_progress_;
  std::function<bool()> stop_requested_;
  void check_finite_parameters(const std::string& what);
  bool is_main() const;
  int64_t world_size() const;
};

// The newest checkpoint-N directory in `output_dir`, if any.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& output_dir);

}  // namespace shadowpeft::train
