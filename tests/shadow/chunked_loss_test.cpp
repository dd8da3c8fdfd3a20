// Training's loss without logits (ShadowForCausalLM::loss, models::chunked_causal_lm_loss) equals
// the loss of the full logits (forward(...).loss, causal_lm_loss), with the same gradients for every
// trainable tensor, in both modes, on an untied Llama and on Gemma 2 (soft-capped logits), with
// trained heads (modules_to_save) and with labels ignored at the start and in the padding.
// Evaluation's sums without logits (evaluation_cross_entropy of shadow-peft's task model, peft's
// SHADOW and LoRA) equal those of the full logits. And the shadow's head shares the base's storage
// only while both are frozen.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>

#include "shadowpeft/core/error.h"
#include "shadowpeft/core/labels.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/chunked_loss.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/models/losses.h"
#include "shadowpeft/peft/lora_model.h"
#include "shadowpeft/peft/shadow_model.h"
#include "shadowpeft/shadow/task_models.h"
#include "shadowpeft/train/batch_source.h"
#include "shadowpeft/train/trainer.h"
#include "shadowpeft/train/training_task.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

struct Batch {
  at::Tensor ids, labels;
  models::ForwardOptions options;
};

// The fixture's padded batch with loss only after the first three tokens of each row (a prompt).
Batch batch_of(const std::string& family) {
  const auto ref = io::SafetensorsFile::open(test::fixtures_dir() / "models" / family / "reference.safetensors");
  Batch b{ref.tensor("batch_right.input_ids"), {}, {}};
  b.options.attention_mask = ref.tensor("batch_right.attention_mask");
  b.options.position_ids = ref.tensor("batch_right.position_ids");
  b.labels = b.ids.masked_fill(b.options.attention_mask == 0, kIgnoreIndex);
  b.labels.narrow(1, 0, 3).fill_(kIgnoreIndex);
  return b;
}

ShadowForCausalLM random_shadow(const std::string& family, bool train_heads) {
  ShadowConfig config;
  config.dropout = 0.0;
  if (train_heads) config.modules_to_save = {"lm_head", "shadow_lm_head"};
  auto model = ShadowForCausalLM(get_shadow_model(models::load_causal_lm((test::fixtures_dir() / "models" / family).string()),
                                                  config));
  torch::NoGradGuard no_grad;
  at::manual_seed(3);
  for (auto& [name, p] : model->peft_model->adapter_state_dict())
    if (!name.ends_with("norm.weight")) p.normal_(0.0, 0.2);
  return model;
}

std::map<std::string, at::Tensor> gradients_of(torch::nn::Module& model, const at::Tensor& loss) {
  for (auto& p : model.parameters()) p.mutable_grad() = at::Tensor();
  loss.backward();
  std::map<std::string, at::Tensor> out;
  for (const auto& item : model.named_parameters())
    if (item.value().requires_grad() && item.value().grad().defined()) out.emplace(item.key(), item.value().grad().clone());
  return out;
}

TEST(ChunkedLoss, EqualsTheLossOfTheFullLogitsWithTheSameGradients) {
  for (const std::string family : {"llama", "gemma2"}) {
    for (const bool train_heads : {false, true}) {
      for (const InferenceMode mode : {InferenceMode::BaseShadow, InferenceMode::ShadowOnly}) {
        SCOPED_TRACE(family + (train_heads ? " trained heads" : "") + (mode == InferenceMode::ShadowOnly ? " shadow_only" : ""));
        ShadowForCausalLM model = random_shadow(family, train_heads);
        model->set_inference_mode(mode);
        const Batch b = batch_of(family);
        const at::Tensor full = model->forward(b.ids, b.options, b.labels).loss;
        const auto want = gradients_of(*model, full);
        const at::Tensor chunked = model->loss(b.ids, b.options, b.labels);
        const auto got = gradients_of(*model, chunked);
        // Both sum the same float32 cross-entropies, in another order: a few float32 ulps.
        EXPECT_TENSOR_CLOSE(chunked, full, 1e-6, 1e-6, "loss");
        ASSERT_EQ(got.size(), want.size());
        EXPECT_EQ(got.count("shadow_lm_head.weight"), train_heads ? 1u : 0u);
        for (const auto& [name, grad] : want) EXPECT_TENSOR_CLOSE(got.at(name), grad, 1e-6, 1e-4, name);
      }
    }
  }
}

TEST(ChunkedLoss, ChunksOfAnySizeGiveTheSameLossAndInputGradient) {
  models::CausalLM base = models::load_causal_lm((test::fixtures_dir() / "models" / "llama").string());
  const Batch b = batch_of("llama");
  const at::Tensor hidden = base->hidden_states(b.ids, b.options).detach().requires_grad_(true);
  const auto score = [&base](const at::Tensor& h) { return base->logits_from_hidden(h); };
  const at::Tensor want = models::causal_lm_loss(score(hidden), b.labels);
  const at::Tensor want_grad = torch::autograd::grad({want}, {hidden})[0];
  for (const int64_t rows : {1, 3, 7, 1024}) {
    SCOPED_TRACE(rows);
    const at::Tensor got = models::chunked_causal_lm_loss(hidden, b.labels, score, {.chunk_rows = rows});
    EXPECT_TENSOR_CLOSE(got, want, 1e-6, 1e-6, "loss");
    got.backward();
    EXPECT_TENSOR_CLOSE(hidden.grad(), want_grad, 1e-7, 1e-5, "hidden grad");
    hidden.mutable_grad() = at::Tensor();
  }
  torch::NoGradGuard no_grad;  // evaluation: no graph, the same value
  EXPECT_TENSOR_CLOSE(models::chunked_causal_lm_loss(hidden, b.labels, score, {.chunk_rows = 5}), want, 1e-6, 1e-6, "no-grad loss");
}

// The summed next-token cross-entropy of full logits [B, T, V] and its token count.
models::CrossEntropySum full_logits_sum(const at::Tensor& logits, const at::Tensor& labels) {
  const at::Tensor targets = labels.slice(1, 1).reshape({-1});
  const at::Tensor flat = models::upcast_for_loss(logits.slice(1, 0, -1).reshape({-1, logits.size(-1)}));
  return {at::cross_entropy_loss(flat, targets, {}, at::Reduction::Sum, kIgnoreIndex).item<double>(),
          static_cast<double>(targets.ne(kIgnoreIndex).sum().item<int64_t>())};
}

void expect_sums(const models::ModeCrossEntropySums& got, const std::map<std::string, at::Tensor>& logits_by_mode,
                 const at::Tensor& labels) {
  ASSERT_EQ(got.size(), logits_by_mode.size());
  for (const auto& [mode, sum] : got) {
    SCOPED_TRACE(mode);
    ASSERT_TRUE(logits_by_mode.count(mode));
    const models::CrossEntropySum want = full_logits_sum(logits_by_mode.at(mode), labels);
    EXPECT_EQ(sum.tokens, want.tokens);
    // The same float32 terms summed in another order (chunks added in double): float32 ulps of the sum.
    EXPECT_NEAR(sum.sum, want.sum, 1e-6 * std::abs(want.sum));
  }
}

TEST(EvaluationCrossEntropy, EqualsTheSumsOfTheFullLogitsOfEveryMode) {
  for (const std::string family : {"llama", "gemma2"}) {
    SCOPED_TRACE(family);
    const Batch b = batch_of(family);
    torch::NoGradGuard no_grad;
    {
      ShadowForCausalLM model = random_shadow(family, true);
      model->eval();
      const auto out = model->forward(b.ids, b.options);
      expect_sums(model->evaluation_cross_entropy(b.ids, b.options, b.labels),
                  {{"base_shadow", out.logits}, {"shadow_only", out.shadow_logits}, {"base", model->base_logits(b.ids, b.options)}},
                  b.labels);
    }
    const auto base = [&] { return models::load_causal_lm((test::fixtures_dir() / "models" / family).string()); };
    {
      peft::ShadowConfig config;
      config.init_weights = false;  // a trained-looking adapter: base_shadow differs from base
      config.modules_to_save = std::vector<std::string>{"lm_head"};
      auto model = peft::get_peft_model(base(), config);
      model->eval();
      const auto out = model->forward(b.ids, b.options);
      expect_sums(model->evaluation_cross_entropy(b.ids, b.options, b.labels),
                  {{"base_shadow", out.logits}, {"shadow_only", out.shadow_logits}, {"base", model->base_logits(b.ids, b.options)}},
                  b.labels);
    }
    {
      peft::LoraConfig config;
      config.init_lora_weights = false;
      config.target_modules = peft::ModuleSelector{.names = {"all-linear"}};
      auto model = peft::get_peft_model(base(), config);
      model->eval();
      expect_sums(model->evaluation_cross_entropy(b.ids, b.options, b.labels),
                  {{"lora", model->forward(b.ids, b.options).logits}, {"base", model->base_logits(b.ids, b.options)}}, b.labels);
    }
  }
}

TEST(ChunkedLoss, BadShapesAndChunkSizesAreErrors) {
  const auto score = [](const at::Tensor& h) { return h; };
  EXPECT_THROW(models::chunked_causal_lm_loss(at::zeros({2, 4, 8}), at::zeros({2, 5}, at::kLong), score), ShapeError);
  EXPECT_THROW(models::chunked_causal_lm_loss(at::zeros({2, 4, 8}), at::zeros({2, 4}, at::kLong), score, {.chunk_rows = 0}),
               ConfigError);
  EXPECT_THROW(models::chunked_cross_entropy_sum(at::zeros({2, 4, 8}), at::zeros({3, 4}, at::kLong), score), ShapeError);
  EXPECT_THROW(models::chunked_cross_entropy_sum(at::zeros({2, 4, 8}), at::zeros({2, 4}, at::kLong), score, 0), ConfigError);
}

// shadow_lm_head starts as the base's head. Frozen, it is the base head's storage (no copy of a
// vocabulary-sized matrix); trained, by modules_to_save or by hand, it has its own, and training it
// leaves the base's head unchanged.
TEST(ShadowLmHead, SharesTheBaseHeadOnlyWhileBothAreFrozen) {
  const ShadowForCausalLM frozen = random_shadow("llama", false);
  const at::Tensor base_head = frozen->peft_model->base_model->output_embedding();
  EXPECT_TRUE(frozen->shadow_lm_head->weight.is_alias_of(base_head));
  EXPECT_FALSE(frozen->shadow_lm_head->weight.requires_grad());
  const ShadowForCausalLM trained = random_shadow("llama", true);
  EXPECT_FALSE(trained->shadow_lm_head->weight.is_alias_of(trained->peft_model->base_model->output_embedding()));
  EXPECT_TRUE(at::equal(trained->shadow_lm_head->weight, trained->peft_model->base_model->output_embedding()));

  // Made trainable by hand after construction: the Trainer gives it its own storage before step 1.
  ShadowForCausalLM model = random_shadow("llama", false);
  model->shadow_lm_head->weight.set_requires_grad(true);
  const at::Tensor head = model->peft_model->base_model->output_embedding();
  const at::Tensor head_before = head.clone();
  auto task = train::make_training_task(model);
  const Batch b = batch_of("llama");
  train::FixedBatches data({train::TrainBatch{b.ids, b.options.attention_mask, b.labels}});
  train::TrainingArguments args;
  args.output_dir = test::scratch_dir("shadow_lm_head_sharing").string();
  args.max_steps = 1;
  args.learning_rate = 1e-2;
  args.save_steps = 0;
  train::Trainer trainer(*task, args, data);
  EXPECT_FALSE(model->shadow_lm_head->weight.is_alias_of(head));
  trainer.train();
  EXPECT_TRUE(at::equal(head, head_before)) << "training the shadow's head changed the base's";
  EXPECT_FALSE(at::equal(model->shadow_lm_head->weight, head_before)) << "the shadow's head did not train";
}

}  // namespace
}  // namespace shadowpeft
