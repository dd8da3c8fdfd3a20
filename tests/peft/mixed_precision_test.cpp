// A float32 adapter beside a bfloat16 / float16 base (fixtures from
// tests/reference/make_mixed_precision_fixtures.py): peft's LoRA and SHADOW loaded onto a base in
// half precision keep peft's dtypes (adapter layers upcast to float32, SHADOW's backbone in the base's
// dtype) and give peft's logits, loss and gradients; shadow-peft's adapter (whose Python package cannot
// run on a half-precision base) stays float32 beside a bfloat16 base and approximates its float32
// outputs; and the Trainer keeps every trainable parameter in float32.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "peft_fixtures.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/peft/lora_model.h"
#include "shadowpeft/peft/peft_config.h"
#include "shadowpeft/peft/shadow_model.h"
#include "shadowpeft/shadow/task_models.h"
#include "shadowpeft/train/batch_source.h"
#include "shadowpeft/train/trainer.h"
#include "shadowpeft/train/training_task.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path mixed_dir() { return test::fixtures_dir() / "mixed_precision"; }

models::CausalLM load_base(const fs::path& dir, at::ScalarType dtype) {
  models::LoadOptions load;
  load.dtype = dtype;
  return models::load_causal_lm(dir.string(), load);
}

std::string dtype_name(at::ScalarType t) { return models::config_dtype_name(t); }

// One peft adapter of a case on its base in `dtype`: logits, training loss, gradients and the
// dtype of every saved tensor's parameter.
struct PeftRun {
  at::Tensor logits, loss;
  io::TensorMap grads, params;
};

template <typename Model>
PeftRun run_peft(const fs::path& dir, at::ScalarType dtype, const io::SafetensorsFile& ref) {
  Model model(Model::Impl::from_pretrained(load_base(dir / "base", dtype), dir / "adapter", true));
  model->eval();
  models::ForwardOptions options;
  options.attention_mask = ref.tensor("attention_mask");
  options.position_ids = ref.tensor("position_ids");
  PeftRun run;
  {
    torch::NoGradGuard no_grad;
    run.logits = model->forward(ref.tensor("input_ids"), options).logits;
  }
  run.loss = model->loss(ref.tensor("input_ids"), options, ref.tensor("labels"));
  run.loss.backward();
  run.grads = model->adapter_gradients();
  run.params = model->adapter_state_dict();
  return run;
}

TEST(MixedPrecision, PeftAdaptersBesideAHalfPrecisionBaseMatchPeft) {
  const std::vector<std::string> cases = test::fixture_cases(mixed_dir());
  ASSERT_EQ(cases.size(), 2u) << "LoRA and SHADOW";
  for (const std::string& name : cases) {
    const fs::path dir = mixed_dir() / name;
    const io::Json info = io::read_json_file(dir / "case.json");
    const io::SafetensorsFile ref = io::SafetensorsFile::open(dir / "reference.safetensors");
    const bool lora = info["adapter_config"]["peft_type"] == "LORA";
    std::vector<std::string> dtypes = info["dtypes"].get<std::vector<std::string>>();
    dtypes.push_back("float32");
    for (const std::string& dtype : dtypes) {
      SCOPED_TRACE(name + " " + dtype);
      const PeftRun run = lora ? run_peft<peft::LoraModel>(dir, models::parameter_scalar_type(dtype), ref)
                               : run_peft<peft::ShadowModel>(dir, models::parameter_scalar_type(dtype), ref);
      const io::Json& tol = info["tolerances"][dtype];
      const double atol = tol["atol"].get<double>(), rtol = tol["rtol"].get<double>();
      // Where each saved tensor lives: peft's choice per dtype (the layers' adapter weights upcast).
      const io::Json& expected_dtypes = info["param_dtypes"][dtype];
      ASSERT_EQ(run.params.size(), expected_dtypes.size());
      for (const auto& [key, tensor] : run.params)
        EXPECT_EQ(dtype_name(tensor.scalar_type()), expected_dtypes.at(key).get<std::string>()) << key;
      const at::Tensor mask = ref.tensor("attention_mask");
      EXPECT_TENSOR_CLOSE(test::attended(run.logits, mask), test::attended(ref.tensor(dtype + ".logits"), mask), atol, rtol,
                          name + " " + dtype + " logits");
      EXPECT_TENSOR_CLOSE(run.loss, ref.tensor(dtype + ".loss"), atol, rtol, name + " " + dtype + " loss");
      for (const auto& [key, grad] : run.grads)
        EXPECT_TENSOR_CLOSE(grad, ref.tensor(dtype + ".grad." + key), tol["grad_atol"].get<double>(),
                            tol["grad_rtol"].get<double>(), name + " " + dtype + " grad " + key);
    }
  }
}

// shadow-peft's adapter on a bfloat16 base. The Python package fails there (its float32 shadow meets
// the bfloat16 base in a matmul), so the reference is our own float32 run, itself parity-tested.
TEST(MixedPrecision, ShadowPeftAdapterStaysFloat32BesideABfloat16Base) {
  const fs::path dir = test::fixtures_dir() / "shadow" / "llama";
  const io::SafetensorsFile ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  models::ForwardOptions options;
  options.attention_mask = ref.tensor("attention_mask");
  options.position_ids = ref.tensor("position_ids");
  const at::Tensor ids = ref.tensor("input_ids"), labels = ref.tensor("labels"), mask = options.attention_mask.to(at::kBool);
  std::map<at::ScalarType, ShadowCausalLMOutput> outputs;
  for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    ShadowForCausalLM model(ShadowForCausalLMImpl::from_pretrained(load_base(dir / "base", dtype), dir / "adapter", true));
    model->eval();
    for (const auto& p : model->peft_model->base_model->parameters()) ASSERT_EQ(p.scalar_type(), dtype);
    for (const auto& [key, t] : model->peft_model->adapter_state_dict()) EXPECT_EQ(t.scalar_type(), at::kFloat) << key;
    // The shadow's head is a frozen copy of the base's: it keeps the base's dtype.
    EXPECT_EQ(model->shadow_lm_head->weight.scalar_type(), dtype);
    {
      torch::NoGradGuard no_grad;
      outputs[dtype] = model->forward(ids, options, labels);
    }
    const at::Tensor loss = model->loss(ids, options, labels);
    EXPECT_NEAR(loss.item<double>(), outputs[dtype].loss.item<double>(), 1e-5) << "training loss = forward's loss";
    loss.backward();
    for (const auto& [key, grad] : model->peft_model->adapter_gradients()) {
      EXPECT_EQ(grad.scalar_type(), at::kFloat) << key;
      EXPECT_TRUE(grad.isfinite().all().item<bool>()) << key;
    }
  }
  // bfloat16 keeps 8 significant bits: each of the base's ~10 matmuls and norms per layer rounds its
  // output by up to 2^-9 relative, and 4 layers compound that to a few percent of the logits' scale
  // (peft's own bf16 runs differ from its float32 ones by 2-4% on these tiny models: make_mixed_precision_fixtures).
  for (const auto& [part, f32, bf16] : {std::tuple{"logits", outputs[at::kFloat].logits, outputs[at::kBFloat16].logits},
                                        std::tuple{"shadow logits", outputs[at::kFloat].shadow_logits,
                                                   outputs[at::kBFloat16].shadow_logits}}) {
    const double scale = f32.index({mask}).abs().max().item<double>();
    const double diff = (bf16.to(at::kFloat) - f32).index({mask}).abs().max().item<double>();
    std::cout << "  " << part << ": max |bf16 - fp32| " << diff << " of scale " << scale << "\n";
    EXPECT_LT(diff, 0.08 * scale) << part;
    EXPECT_GT(diff, 0.0) << part << ": the bfloat16 base was not used";
  }
  EXPECT_NEAR(outputs[at::kBFloat16].loss.item<double>(), outputs[at::kFloat].loss.item<double>(),
              0.03 * outputs[at::kFloat].loss.item<double>());
}

TEST(MixedPrecision, TrainerKeepsTrainableParametersInFloat32) {
  const fs::path dir = mixed_dir() / "llama_shadow";
  const io::SafetensorsFile ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  models::CausalLM base = load_base(dir / "base", at::kBFloat16);
  peft::ShadowModel model(peft::ShadowModelImpl::from_pretrained(base, dir / "adapter", true));
  // peft puts SHADOW's backbone in the base's dtype; trained that way, AdamW's updates would round away.
  EXPECT_EQ(model->shadow_backbone->parameters().front().scalar_type(), at::kBFloat16);
  const at::Tensor base_weight = base->model->layers[0]->as<models::DecoderLayerImpl>()->mlp->down_proj->weight;
  const at::Tensor base_before = base_weight.clone();
  auto task = train::make_training_task(model);
  train::TrainBatch batch{ref.tensor("input_ids"), ref.tensor("attention_mask"), ref.tensor("labels")};
  train::FixedBatches data({batch});
  train::TrainingArguments args;
  args.output_dir = test::scratch_dir("mixed_precision_trainer").string();
  args.max_steps = 2;
  args.learning_rate = 1e-3;
  args.logging_steps = 1;
  args.save_steps = 0;
  train::Trainer trainer(*task, args, data);
  for (const auto& p : task->trainable_parameters()) EXPECT_EQ(p.tensor.scalar_type(), at::kFloat) << p.name;
  EXPECT_EQ(model->shadow_backbone->parameters().front().scalar_type(), at::kFloat);
  trainer.train();
  ASSERT_EQ(trainer.step_records().size(), 2u);
  for (const auto& record : trainer.step_records()) EXPECT_TRUE(std::isfinite(record.loss));
  EXPECT_LT(trainer.step_records()[1].loss, trainer.step_records()[0].loss);
  // The frozen base: untouched, still bfloat16.
  EXPECT_EQ(base_weight.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(base_weight, base_before));
}

}  // namespace
}  // namespace shadowpeft
