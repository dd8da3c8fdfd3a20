// The trainer against an explicit PyTorch loop with the Hugging Face Trainer's semantics (fixtures
// from tests/reference/make_training_fixtures.py): same initial adapter, same batches, AdamW —
// the same loss, gradient norm and learning rate at every step and the same adapter after 1 and
// after all steps; and a run interrupted after a checkpoint resumes to the same result bit for bit.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"
#include "shadowpeft/train/trainer.h"
#include "test_utils.h"
#include "training_fixture.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path training_dir() { return test::fixtures_dir() / "training"; }

struct Case {
  std::string name;
  io::Json info;
  std::unique_ptr<train::TrainingTask> task;
  std::vector<train::TrainBatch> batches;
  // Adapter tensors (shadow_adapter + shadow_modules names) of the live model.
  std::function<io::TensorMap()> adapter;
};

Case load_case(const std::string& name) {
  Case c{name, io::read_json_file(training_dir() / name / "case.json")};
  const fs::path root = test::fixtures_dir();
  models::CausalLM base = models::load_causal_lm((root / c.info.at("base_dir").get<std::string>()).string());
  const fs::path initial = training_dir() / name / "initial";
  const double weight = c.info.at("args").at("shadow_loss_weight").get<double>();
  const at::ScalarType dtype = test::fixture_dtype(c.info.at("args"));
  if (c.info.at("task") == "seq_cls") {
    ShadowForSequenceClassification model(ShadowForSequenceClassificationImpl::from_pretrained(base, initial, true, weight));
    model->to(dtype);
    c.task = train::make_training_task(model);
    c.adapter = [model]() mutable { return model->peft_model->adapter_state_dict(); };
  } else {
    ShadowForCausalLM model(ShadowForCausalLMImpl::from_pretrained(base, initial, true, weight));
    model->to(dtype);
    c.task = train::make_training_task(model);
    c.adapter = [model]() mutable { return model->peft_model->adapter_state_dict(); };
  }
  c.batches = test::fixture_batches(training_dir() / name / "batches.safetensors", c.info.at("args"));
  return c;
}

// The adapter after `steps` optimizer steps against the reference's.
//  - float64 cases: within 1e-9. AdamW divides by sqrt(v) + eps, so a gradient that is pure rounding
//    noise (GPT-2's key bias gets ~1e-10 in float32: it shifts every score of a row equally) becomes
//    a step of up to lr; in float64 that noise is ~1e-19, far below eps = 1e-8, and every element
//    follows its true gradient on any CPU.
//  - float32: such elements exist in every model (the key bias, any element whose gradient terms
//    cancel), and which way they round depends on the CPU's kernels. One AdamW step moves an element
//    by at most lr * (1 - beta1) / sqrt(1 - beta2) (Kingma & Ba, sec. 2.1), so two runs can drift
//    apart by twice that summed over the steps, and no further; the bulk of the elements must still
//    agree to float32 rounding (1e-5), all but at most 1% of them.
void expect_adapter_equals(const io::TensorMap& got, const fs::path& dir, const io::Json& info, int64_t steps,
                           const std::string& what) {
  const io::TensorMap expected = io::SafetensorsFile::open(dir / "shadow_adapter.safetensors").load_all();
  ASSERT_EQ(got.size(), expected.size()) << what;
  const at::ScalarType dtype = test::fixture_dtype(info.at("args"));
  const auto lrs = info.at("learning_rates").get<std::vector<double>>();
  const io::Json& args = info.at("args");
  const double max_step = (1 - args.at("adam_beta1").get<double>()) / std::sqrt(1 - args.at("adam_beta2").get<double>());
  double drift = 0;  // the most two runs can differ by after `steps` steps
  for (int64_t s = 0; s < steps; ++s) drift += 2 * lrs[s] * std::max(1.0, max_step);
  double worst = 0;
  int64_t beyond_rounding = 0, total = 0;
  for (const auto& [name, tensor] : expected) {
    ASSERT_TRUE(got.count(name)) << what << ": " << name;
    EXPECT_EQ(got.at(name).scalar_type(), dtype) << what << " " << name;
    const at::Tensor diff = (got.at(name).to(at::kDouble) - tensor.to(at::kDouble)).abs();
    worst = std::max(worst, diff.max().item<double>());
    if (dtype == at::kDouble) {
      EXPECT_TRUE(test::tensors_close(got.at(name), tensor, 1e-9, 0, what + " " + name));
    } else {
      EXPECT_TRUE(test::tensors_close(got.at(name), tensor, drift, 0, what + " " + name + " [AdamW step bound]"));
      beyond_rounding += diff.gt(1e-5).sum().item<int64_t>();
      total += diff.numel();
    }
  }
  if (dtype != at::kDouble) {
    EXPECT_LE(beyond_rounding * 100, total) << what << ": " << beyond_rounding << " of " << total
                                              << " elements differ by more than 1e-5";
  }
  std::cout << fmt::format("  {} ({}): max |weight diff| {:.3e}", what, c10::toString(dtype), worst);
  if (dtype != at::kDouble) std::cout << fmt::format(", {} of {} elements beyond 1e-5 (step bound {:.2e})", beyond_rounding, total, drift);
  std::cout << "\n";
}

std::vector<std::string> cases() {
  return io::read_json_file(training_dir() / "index.json").at("cases").get<std::vector<std::string>>();
}

TEST(TrainingParity, CoversTheReferenceCases) { EXPECT_GE(cases().size(), 5u); }

TEST(TrainingParity, LossesGradNormsAndWeightsEqualThePyTorchLoop) {
  for (const std::string& name : cases()) {
    SCOPED_TRACE(name);
    Case c = load_case(name);
    train::FixedBatches batches(c.batches);
    const io::Json& args = c.info.at("args");
    train::Trainer trainer(*c.task, test::fixture_arguments(args, test::scratch_dir(name)), batches);
    trainer.train();
    test::expect_steps_equal(trainer.step_records(), c.info, name);
    const std::size_t steps = c.info.at("losses").size();
    expect_adapter_equals(c.adapter(), training_dir() / name / fmt::format("after_{}", steps), c.info,
                          static_cast<int64_t>(steps), name + " final");
  }
}

TEST(TrainingParity, OneStepEqualsThePyTorchLoop) {
  for (const std::string& name : cases()) {
    SCOPED_TRACE(name);
    Case c = load_case(name);
    train::FixedBatches batches(c.batches);
    train::Trainer trainer(*c.task, test::fixture_arguments(c.info.at("args"), test::scratch_dir(name)), batches);
    trainer.stop_after(2);  // after_1 is the lr-0 warmup step in some cases; after_2 moves
    trainer.train();
    expect_adapter_equals(c.adapter(), training_dir() / name / "after_2", c.info, 2, name + " after 2 steps");
  }
}

TEST(TrainingBf16, EveryStepSeesTheUpdatedWeights) {
  // No warmup, so step 1 already changes the adapter; dropout 0; float32, which autocast lowers.
  const std::string name = "gpt2_linear_float32";
  Case two_steps = load_case(name);
  train::FixedBatches batches(two_steps.batches);
  train::TrainingArguments args = test::fixture_arguments(two_steps.info.at("args"), test::scratch_dir("two"));
  args.bf16 = true;
  train::Trainer trainer(*two_steps.task, args, batches);
  trainer.stop_after(2);
  trainer.train();

  // One step, then the second batch's loss under a fresh autocast region: what step 2 must have seen.
  Case one_step = load_case(name);
  train::FixedBatches one_step_batches(one_step.batches);
  args.output_dir = test::scratch_dir("one").string();
  train::Trainer first(*one_step.task, args, one_step_batches);
  first.stop_after(1);
  first.train();
  at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCPU, true);
  const double expected = one_step.task->loss(one_step.batches[1]).item<double>();
  at::autocast::set_autocast_enabled(at::kCPU, false);
  at::autocast::clear_cache();
  EXPECT_EQ(trainer.step_records()[1].loss, expected);
}

TEST(TrainingResume, InterruptedRunResumesBitExactly) {
  const std::string name = "llama_linear";
  const fs::path dir = test::scratch_dir("resume");
  // Uninterrupted reference run.
  Case full = load_case(name);
  train::FixedBatches full_batches(full.batches);
  train::TrainingArguments args = test::fixture_arguments(full.info.at("args"), dir / "full");
  args.save_steps = 3;
  train::Trainer full_trainer(*full.task, args, full_batches);
  full_trainer.train();

  // Interrupted after step 5 (last checkpoint: 3), plus the leftovers of a save killed midway.
  Case first = load_case(name);
  train::FixedBatches first_batches(first.batches);
  args.output_dir = (dir / "interrupted").string();
  train::Trainer first_trainer(*first.task, args, first_batches);
  first_trainer.stop_after(5);
  first_trainer.train();
  ASSERT_TRUE(fs::exists(dir / "interrupted" / "checkpoint-3" / "trainer_state.json"));
  fs::create_directories(dir / "interrupted" / ".checkpoint-6.tmp");
  std::ofstream(dir / "interrupted" / ".checkpoint-6.tmp" / "optimizer.safetensors") << "partial";

  Case resumed = load_case(name);  // a fresh process would start from the initial weights too
  train::FixedBatches resumed_batches(resumed.batches);
  train::Trainer resumed_trainer(*resumed.task, args, resumed_batches);
  resumed_trainer.train(dir / "interrupted");
  EXPECT_FALSE(fs::exists(dir / "interrupted" / ".checkpoint-6.tmp"));
  ASSERT_EQ(resumed_trainer.step_records().size(), 7u);  // steps 4..10
  for (std::size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(resumed_trainer.step_records()[i].step, full_trainer.step_records()[i + 3].step);
    EXPECT_EQ(resumed_trainer.step_records()[i].loss, full_trainer.step_records()[i + 3].loss) << "step " << i + 4;
  }
  const io::TensorMap a = full.adapter(), b = resumed.adapter();
  for (const auto& [key, tensor] : a) EXPECT_TENSOR_BITWISE_EQ(b.at(key), tensor, key);
}

}  // namespace
}  // namespace shadowpeft
