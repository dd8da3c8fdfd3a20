// Generation against the reference (fixtures from tests/reference/make_generation_fixtures.py):
// greedy tokens equal transformers' generate for plain models and shadow-peft's
// generate(use_cache=False) for ShadowPEFT in both modes — while we decode with caches; logits
// processors equal transformers' on the same scores; a seeded sample draws the same tokens.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/generate/generator.h"
#include "shadowpeft/generate/logits_processing.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path generation_dir() { return test::fixtures_dir() / "generation"; }

std::vector<std::string> greedy_cases() {
  const io::Json index = io::read_json_file(generation_dir() / "index.json");
  std::vector<std::string> cases;
  for (const auto& c : index.at("cases")) {
    const io::Json info = io::read_json_file(generation_dir() / (c.get<std::string>() + ".json"));
    if (info.at("kind") == "model" || info.at("kind") == "shadow") cases.push_back(c.get<std::string>());
  }
  return cases;
}

std::unique_ptr<generate::DecodingModel> load_decoding_model(const io::Json& info) {
  const fs::path root = test::fixtures_dir();
  models::CausalLM base = models::load_causal_lm((root / info.at("model_dir").get<std::string>()).string());
  if (info.at("kind") != "shadow") return generate::make_decoding_model(base);
  models::CausalLM explicit_shadow{nullptr};
  if (!info.at("explicit_shadow_dir").is_null())
    explicit_shadow = models::load_causal_lm((root / info.at("explicit_shadow_dir").get<std::string>()).string());
  ShadowForCausalLM model(ShadowForCausalLMImpl::from_pretrained(base, root / info.at("adapter_dir").get<std::string>(),
                                                                 false, 0.05, InferenceMode::BaseShadow, explicit_shadow));
  return generate::make_decoding_model(model, parse_inference_mode(info.at("mode").get<std::string>()));
}

generate::GenerationConfig config_of(const io::Json& info) {
  generate::GenerationConfig config;
  config.max_new_tokens = info.at("max_new_tokens").get<int64_t>();
  config.eos_token_ids = info.at("eos_token_id").get<std::vector<int64_t>>();
  config.pad_token_id = info.at("pad_token_id").get<int64_t>();
  return config;
}

TEST(ReferenceGeneration, CoversPlainAndShadowCases) { EXPECT_GE(greedy_cases().size(), 30u); }

TEST(ReferenceGeneration, GreedyTokensEqualTheReferenceWithCaches) {
  torch::InferenceMode guard;
  for (const std::string& name : greedy_cases()) {
    SCOPED_TRACE(name);
    const io::Json info = io::read_json_file(generation_dir() / (name + ".json"));
    auto model = load_decoding_model(info);
    const auto prompts = info.at("prompts").get<std::vector<std::vector<int64_t>>>();
    const auto expected = info.at("expected").get<std::vector<std::vector<int64_t>>>();
    const generate::GenerationResult result = generate::generate(*model, prompts, config_of(info));
    EXPECT_EQ(result.tokens, expected);
    for (std::size_t r = 0; r < expected.size(); ++r) {
      const bool hit_eos = static_cast<int64_t>(expected[r].size()) < info.at("max_new_tokens").get<int64_t>();
      EXPECT_EQ(result.finish_reasons[r], hit_eos ? generate::FinishReason::Eos : generate::FinishReason::Length) << "row " << r;
    }
  }
}

TEST(ReferenceGeneration, LogitsProcessorsEqualTransformers) {
  const io::Json info = io::read_json_file(generation_dir() / "processors.json");
  const auto ref = io::SafetensorsFile::open(generation_dir() / "processors.safetensors");
  const at::Tensor logits = ref.tensor("logits"), ids = ref.tensor("input_ids"), mask = ref.tensor("attention_mask");
  for (const auto& [name, config_info] : info.at("configs").items()) {
    SCOPED_TRACE(name);
    const io::Json& params = config_info.at("params");
    generate::GenerationConfig config;
    config.do_sample = params.value("do_sample", false);
    config.temperature = params.value("temperature", 1.0);
    config.top_k = params.value("top_k", int64_t{50});
    config.top_p = params.value("top_p", 1.0);
    config.min_p = params.value("min_p", 0.0);
    config.repetition_penalty = params.value("repetition_penalty", 1.0);
    // Without a mask transformers infers one from the pad id when the pad id occurs; the _no_mask
    // case uses a pad id that does not, so every position counts.
    const at::Tensor used_mask = name == "repetition_penalty_no_mask" ? at::Tensor() : mask;
    const at::Tensor got = generate::process_scores(logits, ids, used_mask, config);
    const at::Tensor expected = ref.tensor(name + ".scores");
    EXPECT_TRUE(at::equal(at::isinf(got), at::isinf(expected))) << "filtered entries differ";
    const at::Tensor finite = at::isfinite(expected);
    EXPECT_TENSOR_CLOSE(got.index({finite}), expected.index({finite}), 1e-6, 1e-6, name);
  }
}

TEST(ReferenceGeneration, SeededSamplingDrawsTheSameTokensAsTorch) {
  // LibTorch's CPU generator seeded like torch.manual_seed and one multinomial draw per step, as
  // transformers samples. The fixture picks a seed whose every draw wins by a relative margin of
  // 1e-3 (checks.min_draw_margin), far above the rounding differences between CPUs.
  const io::Json info = io::read_json_file(generation_dir() / "sampling_llama.json");
  torch::InferenceMode guard;
  auto model = load_decoding_model(info);
  generate::GenerationConfig config = config_of(info);
  const io::Json& params = info.at("sampling_params");
  config.do_sample = true;
  config.temperature = params.at("temperature").get<double>();
  config.top_k = params.at("top_k").get<int64_t>();
  config.top_p = params.at("top_p").get<double>();
  config.seed = info.at("seed").get<uint64_t>();
  const auto prompts = info.at("prompts").get<std::vector<std::vector<int64_t>>>();
  const generate::GenerationResult result = generate::generate(*model, prompts, config);
  EXPECT_EQ(result.tokens, info.at("expected").get<std::vector<std::vector<int64_t>>>());
}

}  // namespace
}  // namespace shadowpeft
