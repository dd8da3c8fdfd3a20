#pragma once
// Reading the training fixtures (make_training_fixtures.py, make_training_mode_fixtures.py): the
// optimisation arguments of case.json and the micro-batches of batches.safetensors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
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

// case.json "args" "dtype": the precision both the reference loop and ours train in.
inline at::ScalarType fixture_dtype(const io::Json& args) {
  const std::string name = args.value("dtype", "float32");
  if (name == "float64") return at::kDouble;
  if (name == "float32") return at::kFloat;
  throw std::invalid_argument("case.json args.dtype: expected float32 or float64, got " + name);
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

// Loss and gradient norm of every step as case.json's, learning rates within 1e-12; prints the
// largest differences. float32 runs: within 1e-5. float64 runs: gradient norms within 1e-9 and
// losses within 4 float32 ulps of the loss, because transformers computes the base model's loss in
// float32 even then, and training sums its per-token terms in chunks (models::chunked_causal_lm_loss),
// in another order than one mean over the batch: each partial sum rounds once more.
inline void expect_steps_equal(const std::vector<train::StepRecord>& records, const io::Json& info, const std::string& name) {
  const bool float64 = fixture_dtype(info.at("args")) == at::kDouble;
  const double norm_tolerance = float64 ? 1e-9 : 1e-5;
  const auto loss_tolerance_for = [float64](double loss) {
    return float64 ? 4 * std::ldexp(1.0, std::ilogb(loss) - 23) : 1e-5;  // ldexp(1, ilogb(x) - 23): x's float32 ulp
  };
  const auto losses = info.at("losses").get<std::vector<double>>();
  const auto norms = info.at("grad_norms").get<std::vector<double>>();
  const auto lrs = info.at("learning_rates").get<std::vector<double>>();
  ASSERT_EQ(records.size(), losses.size());
  double worst_loss = 0, worst_norm = 0;
  for (std::size_t i = 0; i < losses.size(); ++i) {
    const auto& r = records[i];
    EXPECT_NEAR(r.loss, losses[i], loss_tolerance_for(losses[i])) << "step " << i + 1;
    EXPECT_NEAR(r.grad_norm, norms[i], norm_tolerance) << "step " << i + 1;
    EXPECT_NEAR(r.learning_rate, lrs[i], 1e-12) << "step " << i + 1;
    worst_loss = std::max(worst_loss, std::abs(r.loss - losses[i]));
    worst_norm = std::max(worst_norm, std::abs(r.grad_norm - norms[i]));
  }
  std::cout << fmt::format("  {}: {} steps, max |loss diff| {:.3e}, max |grad norm diff| {:.3e}\n", name, losses.size(),
                           worst_loss, worst_norm);
}

}  // namespace shadowpeft::test
