#pragma once
// Reading the training fixtures (make_training_fixtures.py, make_training_mode_fixtures.py): the
// optimisation arguments of case.json and the micro-batches of batches.safetensors.
#include <fmt/format.h>

#include <filesystem>
#include <vector>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/train/trainer.h"

namespace shadowpeft::test {

// case.json "args" as TrainingArguments: logging every step, no intermediate checkpoints.
inline train::TrainingArguments fixture_arguments(const io::Json& args, const std::filesystem::path& output_dir) {
  train::TrainingArguments a;
  a.output_dir = output_dir.string();
  a.max_steps = args.at("max_steps").get<int64_t>();
  a.gradient_accumulation_steps = args.at("gradient_accumulation_steps").get<int64_t>();
  a.learning_rate = args.at("learning_rate").get<double>();
  a.weight_decay = args.at("weight_decay").get<double>();
  a.adam_beta1 = args.at("adam_beta1").get<double>();
  a.adam_beta2 = args.at("adam_beta2").get<double>();
  a.adam_epsilon = args.at("adam_epsilon").get<double>();
  a.max_grad_norm = args.at("max_grad_norm").get<double>();
  a.lr_scheduler_type = args.at("lr_scheduler_type").get<std::string>();
  a.warmup_steps = args.at("warmup_steps").get<int64_t>();
  a.logging_steps = 1;
  a.save_steps = 0;
  return a;
}

// Every micro-batch fed to the reference (`step{S}.micro{M}.*`), in order.
inline std::vector<train::TrainBatch> fixture_batches(const std::filesystem::path& file, const io::Json& args) {
  const auto batches = io::SafetensorsFile::open(file);
  std::vector<train::TrainBatch> out;
  for (int64_t s = 0; s < args.at("max_steps").get<int64_t>(); ++s)
    for (int64_t m = 0; m < args.at("gradient_accumulation_steps").get<int64_t>(); ++m) {
      const std::string prefix = fmt::format("step{}.micro{}.", s, m);
      out.push_back({batches.tensor(prefix + "input_ids"), batches.tensor(prefix + "attention_mask"),
                     batches.tensor(prefix + "labels")});
    }
  return out;
}

}  // namespace shadowpeft::test
