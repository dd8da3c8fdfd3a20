// Continuous batching gives every request what generate() gives it alone: rows join a running
// batch at different steps (prefilled together, then left-aligned into it), wait while the batch
// is full, and leave as they finish; every step's logits stay within 1e-5 of the lone run and the
// tokens are equal — greedy and seeded sampling, on full-attention, sliding-window (ring buffers
// realigned), learned-position and Mamba (recurrent state) bases, and ShadowPEFT
// in both modes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/generate/continuous_batcher.h"
#include "shadowpeft/generate/generator.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;
using generate::FinishReason;

struct Request {
  std::vector<int64_t> prompt;
  int64_t max_new_tokens;
  bool sample = false;
};

// Lengths and budgets differ so that rows pad differently, wait, and leave at different steps.
const std::vector<Request> kRequests = {
    {{5, 17, 3}, 14}, {{9, 2, 30, 41, 7, 11, 23}, 6}, {{4}, 10, true}, {{12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 24, 25, 26, 27, 28}, 3}, {{8, 6}, 12, true}};

generate::GenerationConfig config_of(const Request& request) {
  generate::GenerationConfig config;
  config.max_new_tokens = request.max_new_tokens;
  if (request.sample) {
    config.do_sample = true;
    config.temperature = 0.8;
    config.top_k = 20;
    config.seed = 1234;
  }
  return config;
}

struct Outcome {
  std::vector<int64_t> tokens;
  std::optional<FinishReason> reason;
  std::vector<at::Tensor> logits;
};

void expect_batched_equals_alone(const std::string& name, generate::DecodingModel& model) {
  SCOPED_TRACE(name);
  torch::InferenceMode guard;
  std::vector<Outcome> batched(kRequests.size());
  generate::ContinuousBatcher batcher(model, /*max_rows=*/3);
  const auto add = [&](std::size_t i) {
    generate::BatchRow row;
    row.prompt = kRequests[i].prompt;
    row.config = config_of(kRequests[i]);
    row.on_logits = [&, i](const at::Tensor& logits) { batched[i].logits.push_back(logits.clone()); };
    row.on_finish = [&, i](FinishReason reason, const std::vector<int64_t>& tokens) {
      batched[i].reason = reason;
      batched[i].tokens = tokens;
    };
    batcher.add(std::move(row));
  };
  add(0);
  add(1);
  ASSERT_TRUE(batcher.step());  // rows 0 and 1 prefilled together
  ASSERT_TRUE(batcher.step());
  add(2);
  ASSERT_TRUE(batcher.step());  // row 2 joins a running batch longer than its prompt
  add(3);
  add(4);
  ASSERT_TRUE(batcher.step());  // the batch is full: rows 3 and 4 wait until row 1 leaves, then row 3
  EXPECT_EQ(batcher.waiting(), 2);  // joins with a prompt longer than the batch, row 4 when row 3 leaves
  int64_t steps = 4;
  while (batcher.step()) ASSERT_LT(++steps, 100);
  EXPECT_EQ(batcher.running(), 0);
  EXPECT_EQ(batcher.columns(), 0);

  for (std::size_t i = 0; i < kRequests.size(); ++i) {
    generate::GenerationHooks hooks;
    hooks.keep_step_logits = true;
    const generate::GenerationResult alone = generate::generate(model, {kRequests[i].prompt}, config_of(kRequests[i]), hooks);
    ASSERT_TRUE(batched[i].reason.has_value()) << "request " << i << " never finished";
    EXPECT_EQ(*batched[i].reason, FinishReason::Length);
    EXPECT_EQ(batched[i].tokens, alone.tokens[0]) << "request " << i;
    ASSERT_EQ(batched[i].logits.size(), alone.step_logits.size());
    for (std::size_t s = 0; s < alone.step_logits.size(); ++s)
      EXPECT_TRUE(test::tensors_close(batched[i].logits[s], alone.step_logits[s][0], 1e-5, 1e-5, fmt::format("{} request {} step {}", name, i, s)));
  }
}

models::CausalLM load_model(const std::string& name) {
  return models::load_causal_lm((test::fixtures_dir() / "models" / name).string());
}

TEST(ContinuousBatching, RequestsGetWhatTheyGetAlone) {
  // mistral: window 4 (ring buffers); gpt_oss: sinks and sliding layers; gpt2: learned
  // positions; nemotron_h_hetero: Mamba state beside attention. Not Llama 4: transformers' Llama 4
  // attention reads a token's column (its temperature tuning uses cache_position), so left padding
  // changes a row's logits in transformers itself (0.30 on the fixture) and a row in a batch
  // equals it left-padded, not alone.
  for (const std::string name : {"llama", "mistral", "qwen3_sliding", "gpt_oss", "gpt2", "nemotron_h_hetero"}) {
    auto model = generate::make_decoding_model(load_model(name));
    expect_batched_equals_alone(name, *model);
  }
}

TEST(ContinuousBatching, ShadowModesGetWhatTheyGetAlone) {
  const fs::path dir = test::fixtures_dir() / "shadow" / "mistral";
  for (const InferenceMode mode : {InferenceMode::BaseShadow, InferenceMode::ShadowOnly}) {
    ShadowForCausalLM shadow(ShadowForCausalLMImpl::from_pretrained(models::load_causal_lm((dir / "base").string()), dir / "adapter",
                                                                    false, 0.05, mode));
    auto model = generate::make_decoding_model(shadow, mode);
    expect_batched_equals_alone(mode == InferenceMode::BaseShadow ? "shadow base_shadow" : "shadow shadow_only", *model);
  }
}

TEST(ContinuousBatching, RowsLeaveOnEosCancellationAndErrors) {
  torch::InferenceMode guard;
  auto model = generate::make_decoding_model(load_model("llama"));
  generate::ContinuousBatcher batcher(*model, 4);
  std::map<int, std::pair<FinishReason, std::vector<int64_t>>> finished;
  bool cancel = false;
  const auto add = [&](int id, std::vector<int64_t> prompt, generate::GenerationConfig config) {
    generate::BatchRow row;
    row.prompt = std::move(prompt);
    row.config = std::move(config);
    row.on_finish = [&, id](FinishReason reason, const std::vector<int64_t>& tokens) { finished[id] = {reason, tokens}; };
    if (id == 1) row.cancelled = [&] { return cancel; };
    batcher.add(std::move(row));
  };
  generate::GenerationConfig plain;
  plain.max_new_tokens = 8;
  add(0, {5, 17, 3}, plain);
  add(1, {9, 2}, plain);
  ASSERT_TRUE(batcher.step());
  ASSERT_TRUE(batcher.step());
  // EOS: the token row 0 chooses next, as generate() says.
  const generate::GenerationResult alone = generate::generate(*model, {{5, 17, 3}}, plain);
  generate::GenerationConfig with_eos = plain;
  with_eos.eos_token_ids = {alone.tokens[0][2]};
  add(2, {5, 17, 3}, with_eos);
  generate::GenerationConfig none = plain;
  none.max_new_tokens = 0;
  add(3, {4}, none);
  cancel = true;
  while (batcher.step()) {
  }
  EXPECT_EQ(finished.at(1).first, FinishReason::Cancelled);
  EXPECT_EQ(finished.at(1).second.size(), 2u);  // chosen before it was cancelled
  EXPECT_EQ(finished.at(2).first, FinishReason::Eos);
  const auto eos = std::find(alone.tokens[0].begin(), alone.tokens[0].end(), with_eos.eos_token_ids[0]);
  EXPECT_EQ(finished.at(2).second, std::vector<int64_t>(alone.tokens[0].begin(), eos + 1));
  EXPECT_EQ(finished.at(3).first, FinishReason::Length);
  EXPECT_TRUE(finished.at(3).second.empty());
  EXPECT_EQ(finished.at(0).second, alone.tokens[0]);

  // A forward pass that throws (a token id beyond the vocabulary) fails its rows, not the batcher.
  std::string error;
  generate::BatchRow bad;
  bad.prompt = {1 << 30};
  bad.config = plain;
  bad.on_error = [&](const std::string& message) { error = message; };
  batcher.add(std::move(bad));
  EXPECT_ANY_THROW(batcher.step());
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(batcher.running(), 0);
  EXPECT_THROW(batcher.add(generate::BatchRow{}), ConfigError);  // an empty prompt
}

}  // namespace
}  // namespace shadowpeft
