// ShadowPEFT on a hybrid base (Nemotron-H: Mamba, attention, MLP and MoE blocks). shadow-peft
// cannot wrap it (its layer finder does not know backbone.layers), so the math is proven without
// it: an untouched adapter leaves the base's logits bit for bit, gradients equal finite
// differences, and the exported shadow is a Nemotron-H that transformers loads (checked by
// verify_cpp_outputs.py) with the shadow-only logits computed here.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>

#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path hybrid_base() { return test::fixtures_dir() / "models" / "nemotron_h"; }

ShadowConfig two_block_shadow() {
  ShadowConfig config;
  config.num_shadow_layers = 2;
  config.injection_hidden_size = 8;
  config.gate_hidden_size = 10;
  config.alpha = 0.5;
  config.dropout = 0.0;
  config.shadow_intermediate_size = 24;
  return config;
}

// A shadow whose every adapter tensor is random, so that injection, update and the shadow's own
// blocks all act (upstream initialises the injection up-projections to zero).
ShadowForCausalLM random_shadow(models::CausalLM base, uint64_t seed) {
  auto model = ShadowForCausalLM(get_shadow_model(std::move(base), two_block_shadow()));
  torch::NoGradGuard no_grad;
  at::manual_seed(static_cast<int64_t>(seed));
  for (auto& [name, p] : model->peft_model->adapter_state_dict()) {
    if (name.ends_with("A_log") || name.ends_with("dt_bias") || name.ends_with(".D")) p.add_(at::randn_like(p) * 0.1);
    else if (!name.ends_with("norm.weight")) p.normal_(0.0, 0.2);
  }
  return model;
}

struct Inputs {
  at::Tensor ids, labels;
  models::ForwardOptions options;
};

Inputs reference_inputs(const std::string& input) {
  const auto ref = io::SafetensorsFile::open(hybrid_base() / "reference.safetensors");
  Inputs in{ref.tensor(input + ".input_ids"), {}, {}};
  in.options.attention_mask = ref.tensor(input + ".attention_mask");
  in.options.position_ids = ref.tensor(input + ".position_ids");
  in.labels = in.ids.masked_fill(in.options.attention_mask == 0, -100);
  return in;
}

TEST(HybridShadow, ImplicitShadowIsTheBasesFirstBlocks) {
  auto model = ShadowForCausalLM(get_shadow_model(models::load_causal_lm(hybrid_base().string()), two_block_shadow()));
  const models::ModelConfig& shadow = model->peft_model->shadow_model_config();
  ASSERT_EQ(shadow.num_layers(), 2);
  EXPECT_EQ(shadow.layers[0].attention, models::AttentionKind::Mamba2);
  EXPECT_EQ(shadow.layers[0].mlp, models::MlpKind::None);
  EXPECT_EQ(shadow.layers[1].attention, models::AttentionKind::Full);
  EXPECT_EQ(shadow.layers[1].mlp, models::MlpKind::None);
  EXPECT_EQ(shadow.raw.at("layers_block_type"), (io::Json{"linear_attention", "full_attention"}));
  const auto adapter = model->peft_model->adapter_state_dict();
  EXPECT_TRUE(adapter.contains("shadow_model.layers.0.mixer.A_log"));
  EXPECT_TRUE(adapter.contains("shadow_model.layers.1.mixer.q_proj.weight"));
  EXPECT_TRUE(adapter.contains("shadow_model.layers.0.norm.weight"));
}

// A fresh implicit shadow on bases whose blocks hold more than Linear layers (expert stacks,
// routers with a score correction, sinks, Mamba mixers): every tensor initialised and finite, and
// the base's logits unchanged bit for bit (the injection up-projections start at zero).
TEST(HybridShadow, UntrainedAdapterLeavesTheBaseUnchanged) {
  for (const std::string name : {"nemotron_h", "nemotron_h_hetero", "qwen3_moe", "gpt_oss", "llama4"}) {
    SCOPED_TRACE(name);
    const fs::path dir = test::fixtures_dir() / "models" / name;
    models::CausalLM base = models::load_causal_lm(dir.string());
    torch::manual_seed(0);
    auto model = ShadowForCausalLM(get_shadow_model(base, two_block_shadow()));
    for (const auto& [tensor, value] : model->peft_model->adapter_state_dict())
      EXPECT_TRUE(value.isfinite().all().item<bool>()) << tensor << " is not initialised";
    const auto ref = io::SafetensorsFile::open(dir / "reference.safetensors");
    models::ForwardOptions options;
    options.attention_mask = ref.tensor("batch_left.attention_mask");
    options.position_ids = ref.tensor("batch_left.position_ids");
    const at::Tensor ids = ref.tensor("batch_left.input_ids");
    torch::InferenceMode guard;
    EXPECT_TENSOR_BITWISE_EQ(model->forward(ids, options).logits, base->forward(ids, options), name);
  }
}

TEST(HybridShadow, GradientsMatchFiniteDifferences) {
  // In float64, along a unit direction half towards the computed gradient and half random, so the
  // directional derivative is large and a wrong gradient shows in it. The Mamba scan and the
  // RMSNorms compute in float32 inside (as transformers does): the loss carries rounding noise δ of
  // up to ~1e-6 (a few 1e-7 relative), so steps are long (h = 0.01, 0.02) and Richardson
  // extrapolation cancels the h² term; what remains is O(h⁴) truncation and ~0.75 δ / h ≤ 1e-4 of
  // noise, hence 1e-4 + 1e-3 relative. (A_log and dt_bias move the loss least: their derivatives,
  // ~1e-4, are checked to that noise only.)
  ShadowForCausalLM model = random_shadow(models::load_causal_lm(hybrid_base().string()), 3);
  model->to(at::kDouble);
  model->train();
  const Inputs in = reference_inputs("batch_left");
  const auto loss_of = [&] { return model->forward(in.ids, in.options, in.labels).loss; };
  loss_of().backward();
  const io::TensorMap grads = model->peft_model->adapter_gradients();
  io::TensorMap params = model->peft_model->adapter_state_dict();
  torch::NoGradGuard no_grad;
  at::manual_seed(11);
  for (const char* name : {"shadow_model.layers.0.mixer.in_proj.weight", "shadow_model.layers.0.mixer.conv1d.weight",
                           "shadow_model.layers.0.mixer.A_log", "shadow_model.layers.0.mixer.dt_bias",
                           "shadow_model.layers.0.mixer.D", "shadow_model.layers.0.mixer.norm.weight",
                           "shadow_model.layers.1.mixer.k_proj.weight", "shadow_injection_model.injection_downs",
                           "shadow_update_model.update_gates.1.0.weight"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(params.contains(name)) << "no adapter tensor " << name;
    at::Tensor p = params.at(name);
    const at::Tensor g = grads.at(name);
    ASSERT_GT(g.norm().item<double>(), 0.0) << name << " gets no gradient";
    const at::Tensor random = at::randn_like(p);
    at::Tensor direction = g / g.norm() + random / random.norm();
    direction /= direction.norm();
    const auto central = [&](double h) {
      p.add_(direction * h);
      const double up = loss_of().item<double>();
      p.sub_(direction * (2 * h));
      const double down = loss_of().item<double>();
      p.add_(direction * h);
      return (up - down) / (2 * h);
    };
    const double numeric = (4 * central(0.01) - central(0.02)) / 3;
    const double analytic = (g * direction).sum().item<double>();
    std::cout << fmt::format("  {}: analytic {:.8f}, finite difference {:.8f}\n", name, analytic, numeric);
    EXPECT_NEAR(analytic, numeric, 1e-4 + 1e-3 * std::abs(numeric)) << name;
  }
}

TEST(HybridShadow, ExportedShadowReproducesShadowOnlyLogits) {
  ShadowForCausalLM model = random_shadow(models::load_causal_lm(hybrid_base().string()), 5);
  model->eval();
  model->set_inference_mode(InferenceMode::ShadowOnly);
  const Inputs in = reference_inputs("batch_left");
  const fs::path out = test::scratch_dir("exported");
  models::save_pretrained(*model->peft_model->export_shadow(), out);
  models::CausalLM reloaded = models::load_causal_lm(out.string());
  EXPECT_EQ(reloaded->config().num_layers(), 2);
  torch::InferenceMode guard;
  const at::Tensor valid = in.options.attention_mask.to(at::kBool);
  EXPECT_TENSOR_CLOSE(reloaded->forward(in.ids, in.options).index({valid}),
                      model->forward(in.ids, in.options).logits.index({valid}), 1e-5, 1e-5, "exported shadow");
}

// The exported hybrid shadow with the shadow-only logits, for verify_cpp_outputs.py to load in
// transformers.
TEST(ForPython, ExportHybridShadow) {
  ShadowForCausalLM model = random_shadow(models::load_causal_lm(hybrid_base().string()), 5);
  model->eval();
  model->set_inference_mode(InferenceMode::ShadowOnly);
  const Inputs in = reference_inputs("batch_left");
  const fs::path dir = test::fixtures_dir() / "from_cpp" / "exported_hybrid_shadow";
  fs::remove_all(dir);
  models::save_pretrained(*model->peft_model->export_shadow(), dir / "model");
  torch::InferenceMode guard;
  io::save_safetensors(dir / "expected.safetensors",
                       {{"input_ids", in.ids}, {"attention_mask", in.options.attention_mask},
                        {"position_ids", in.options.position_ids},
                        {"logits", model->forward(in.ids, in.options).logits.contiguous()}});
}

}  // namespace
}  // namespace shadowpeft
