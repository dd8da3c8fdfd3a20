// Shadow pretraining and projection alignment against explicit PyTorch loops
// (tests/reference/make_training_mode_fixtures.py): the same loss, gradient norm and learning rate
// at every step, the same trained weights, the same evaluation metrics; frozen parts stay frozen.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/train/trainer.h"
#include "test_utils.h"
#include "training_fixture.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path modes_dir() { return test::fixtures_dir() / "training_modes"; }

struct Case {
  io::Json info;
  models::CausalLM model{nullptr};
  std::unique_ptr<train::TrainingTask> task;
  std::vector<train::TrainBatch> batches;
  std::vector<train::TrainBatch> first_step;  // evaluation batches
};

train::ProjectionAlignmentOptions alignment_options(const io::Json& a) {
  train::ProjectionAlignmentOptions o;
  o.alpha = a.at("alpha").get<double>();
  o.temperature = a.at("temperature").get<double>();
  o.adaptive_temperature = a.at("adaptive_temperature").get<bool>();
  o.initial_temperature = a.at("initial_temp").get<double>();
  o.final_temperature = a.at("final_temp").get<double>();
  o.regularization_weight = a.at("regularization_weight").get<double>();
  o.use_kld = a.at("use_kld").get<bool>();
  o.use_mse = a.at("use_mse").get<bool>();
  return o;
}

Case load_case(const std::string& name) {
  Case c{io::read_json_file(modes_dir() / name / "case.json")};
  const fs::path root = test::fixtures_dir();
  const at::ScalarType dtype = test::fixture_dtype(c.info.at("args"));
  c.model = models::load_causal_lm((root / c.info.at("model_dir").get<std::string>()).string());
  c.model->to(dtype);
  if (c.info.at("mode") == "shadow_pretraining") {
    c.task = train::make_shadow_pretraining_task(c.model);
  } else {
    models::CausalLM small = models::load_causal_lm((root / c.info.at("teacher_dir").get<std::string>()).string());
    small->to(dtype);
    c.task = train::make_projection_alignment_task(c.model, small->output_embedding(), alignment_options(c.info.at("alignment")));
  }
  c.batches = test::fixture_batches(modes_dir() / name / "batches.safetensors", c.info.at("args"));
  const auto micro_batches = c.info.at("args").at("gradient_accumulation_steps").get<std::size_t>();
  c.first_step.assign(c.batches.begin(), c.batches.begin() + static_cast<std::ptrdiff_t>(micro_batches));
  return c;
}

std::vector<std::string> cases() {
  return io::read_json_file(modes_dir() / "index.json").at("cases").get<std::vector<std::string>>();
}

TEST(TrainingModes, CoversPretrainingAndAlignment) {
  int pretraining = 0, alignment = 0;
  for (const std::string& name : cases()) {
    const std::string mode = io::read_json_file(modes_dir() / name / "case.json").at("mode");
    pretraining += mode == "shadow_pretraining";
    alignment += mode == "projection_alignment";
  }
  EXPECT_GE(pretraining, 2);
  EXPECT_GE(alignment, 2);
}

TEST(TrainingModes, LossesWeightsAndMetricsEqualThePyTorchLoop) {
  for (const std::string& name : cases()) {
    SCOPED_TRACE(name);
    Case c = load_case(name);
    const fs::path out = test::scratch_dir(name);

    // Only the intended parameters train (our modules register norms before projections, HF after).
    std::set<std::string> trainable;
    for (const auto& p : c.task->trainable_parameters()) trainable.insert(p.name);
    EXPECT_EQ(trainable, c.info.at("trainable_parameter_names").get<std::set<std::string>>());
    std::map<std::string, at::Tensor> frozen;
    for (const auto& item : c.model->named_parameters())
      if (!item.value().requires_grad()) frozen[item.key()] = item.value().clone();
    ASSERT_FALSE(frozen.empty());

    train::FixedBatches batches(c.batches), eval_batches(c.first_step);
    train::Trainer trainer(*c.task, test::fixture_arguments(c.info.at("args"), out), batches, &eval_batches);
    trainer.train();
    test::expect_steps_equal(trainer.step_records(), c.info, name);

    // Trained weights: the reference's saved model, and the one we saved, loaded back.
    const models::CausalLM expected = models::load_causal_lm((modes_dir() / name / c.info.at("after_dir").get<std::string>()).string());
    const models::CausalLM saved = models::load_causal_lm(out.string());
    const auto expected_params = expected->named_parameters();
    const auto saved_params = saved->named_parameters();
    for (const auto& item : c.model->named_parameters()) {
      // float64 (args.dtype): AdamW's eps dwarfs the rounding noise, so the weights agree on any CPU.
      EXPECT_TRUE(test::tensors_close(item.value(), expected_params[item.key()], 1e-9, 0, name + " " + item.key()));
      EXPECT_TENSOR_BITWISE_EQ(saved_params[item.key()], item.value(), item.key());
      if (frozen.count(item.key())) EXPECT_TENSOR_BITWISE_EQ(item.value(), frozen.at(item.key()), "frozen " + item.key());
    }

    const std::map<std::string, double> metrics = trainer.evaluate();
    for (const auto& [key, value] : c.info.at("eval").items()) {
      ASSERT_TRUE(metrics.count("eval_" + key)) << key;
      EXPECT_NEAR(metrics.at("eval_" + key), value.get<double>(), 1e-5) << key;
    }
    EXPECT_EQ(metrics.at("eval_loss"), metrics.at(c.info.at("mode") == "shadow_pretraining" ? "eval_model_loss" : "eval_projected_loss"));
  }
}

TEST(TrainingModes, RejectsTheWrongModel) {
  const fs::path root = test::fixtures_dir() / "shadow" / "projected_model";
  const models::CausalLM projected = models::load_causal_lm((root / "projected").string());
  const models::CausalLM small = models::load_causal_lm((root / "small").string());
  EXPECT_THROW(train::make_shadow_pretraining_task(projected), ConfigError);
  try {
    train::make_projection_alignment_task(small, small->output_embedding(), {});
    ADD_FAILURE() << "a plain model was accepted for projection alignment";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("projected model"), std::string::npos) << e.what();
  }
  try {
    train::make_projection_alignment_task(projected, projected->output_embedding(), {});  // [V, 32], not [V, 16]
    ADD_FAILURE() << "a teacher head of the wrong width was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("[vocab 128, small hidden 16]"), std::string::npos) << e.what();
  }
  train::ProjectionAlignmentOptions neither;
  neither.use_kld = false;
  EXPECT_THROW(train::make_projection_alignment_task(projected, small->output_embedding(), neither), ConfigError);
}

}  // namespace
}  // namespace shadowpeft
