// Generation with KV caches equals recomputing the whole sequence every token (what shadow-peft
// does): the logits of every step within 1e-5 and the same tokens — for plain models, ShadowPEFT
// in base_shadow and shadow_only mode, heterogeneous bases, sliding windows shorter than the text
// and projected shadows.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shadowpeft/generate/generator.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

// A short and a long prompt in one batch (the short one left-padded).
const std::vector<std::vector<int64_t>> kPrompts = {{5, 17, 3}, {9, 2, 30, 41, 7, 11, 23}};

void expect_cached_equals_uncached(const std::string& name, generate::DecodingModel& model, int64_t max_new_tokens = 14) {
  SCOPED_TRACE(name);
  torch::InferenceMode guard;
  generate::GenerationConfig config;
  config.max_new_tokens = max_new_tokens;
  generate::GenerationHooks hooks;
  hooks.keep_step_logits = true;
  const generate::GenerationResult cached = generate::generate(model, kPrompts, config, hooks);
  config.use_cache = false;
  const generate::GenerationResult full = generate::generate(model, kPrompts, config, hooks);
  ASSERT_EQ(cached.step_logits.size(), static_cast<std::size_t>(max_new_tokens));
  ASSERT_EQ(full.step_logits.size(), cached.step_logits.size());
  at::Tensor worst = at::zeros({});
  for (std::size_t i = 0; i < cached.step_logits.size(); ++i)
    EXPECT_TRUE(test::tensors_close(cached.step_logits[i], full.step_logits[i], 1e-5, 1e-5, fmt::format("{} step {}", name, i)));
  EXPECT_EQ(cached.tokens, full.tokens);
  EXPECT_EQ(cached.decode_steps, max_new_tokens - 1);
}

models::CausalLM load_model(const std::string& name) {
  return models::load_causal_lm((test::fixtures_dir() / "models" / name).string());
}

ShadowForCausalLM load_shadow(const std::string& name) {
  const fs::path dir = test::fixtures_dir() / "shadow" / name;
  models::CausalLM explicit_shadow{nullptr};
  if (fs::exists(dir / "explicit_shadow")) explicit_shadow = models::load_causal_lm((dir / "explicit_shadow").string());
  return ShadowForCausalLM(ShadowForCausalLMImpl::from_pretrained(models::load_causal_lm((dir / "base").string()),
                                                                  dir / "adapter", false, 0.05, InferenceMode::BaseShadow,
                                                                  explicit_shadow));
}

TEST(CachedGeneration, PlainModelsEqualRecomputation) {
  // mistral: window 4 on every layer; qwen3_sliding: sliding and full layers; llama_hetero:
  // skipped sub-blocks and per-layer windows and KV heads; decilm: no-op and linear attention.
  for (const std::string name : {"llama", "mistral", "qwen3_sliding", "llama_hetero", "decilm", "gpt2", "gemma", "gemma2", "gemma3", "smollm3", "olmo2",
                                 "opt", "opt_post_norm", "qwen3_moe", "mixtral", "gpt_oss", "qwen3_vl", "qwen3_vl_moe", "mistral3", "llama4", "llama4_multimodal",
                                 "nemotron_h_hetero"}) {  // Mamba recurrent state (nemotron_h's dt clamp makes its step differ, as transformers')
    auto model = generate::make_decoding_model(load_model(name));
    expect_cached_equals_uncached(name, *model);
  }
}

TEST(CachedGeneration, ShadowModesEqualRecomputation) {
  for (const std::string name : {"llama", "mistral", "qwen3", "gpt2", "opt", "qwen3_moe", "mixtral", "gpt_oss", "qwen3_vl", "llama4", "explicit_projected"}) {
    for (const InferenceMode mode : {InferenceMode::BaseShadow, InferenceMode::ShadowOnly}) {
      auto model = generate::make_decoding_model(load_shadow(name), mode);
      expect_cached_equals_uncached(fmt::format("{} {}", name, mode == InferenceMode::BaseShadow ? "base_shadow" : "shadow_only"),
                                    *model);
    }
  }
}

TEST(CachedGeneration, ShadowOnAHeterogeneousBaseEqualsRecomputation) {
  // No reference package runs heterogeneous models; the adapter is random so that injection and
  // update really act (upstream initialises the injection up-projections to zero). The MoE bases
  // get explicit shadows of other families: pruned / narrow / dense / skipped MLPs under a Llama
  // shadow, attention sinks and experts under a Qwen3 one. The hybrid base's implicit shadow is its
  // first two blocks: a Mamba mixer and a skipped one, so its state is cached beside the base's.
  for (const auto& [base, explicit_shadow] : {std::pair{"llama_hetero", ""}, std::pair{"qwen3_moe_hetero", "llama"},
                                              std::pair{"gpt_oss", "qwen3"}, std::pair{"nemotron_h_hetero", ""},
                                              std::pair{"nemotron_h_hetero", "llama"}}) {
    torch::manual_seed(0);
    ShadowConfig config;
    config.num_shadow_layers = 2;
    ShadowPeftModel peft = get_shadow_model(load_model(base), config, *explicit_shadow ? load_model(explicit_shadow) : nullptr);
    {
      torch::NoGradGuard no_grad;
      for (auto& p : peft->shadow_injection_model->parameters()) p.normal_(0.0, 0.2);
      for (auto& p : peft->shadow_update_model->parameters()) p.normal_(0.0, 0.2);
    }
    ShadowForCausalLM model(peft);
    model->eval();
    for (const InferenceMode mode : {InferenceMode::BaseShadow, InferenceMode::ShadowOnly}) {
      auto decoding = generate::make_decoding_model(model, mode);
      expect_cached_equals_uncached(fmt::format("{} + {} {}", base, *explicit_shadow ? explicit_shadow : "implicit",
                                                mode == InferenceMode::BaseShadow ? "base_shadow" : "shadow_only"),
                                    *decoding);
    }
  }
}

}  // namespace
}  // namespace shadowpeft
