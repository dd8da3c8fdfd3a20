// Incremental decoding with the KV cache gives the logits of a full forward pass at every step —
// on homogeneous, sliding-window (windows shorter than the text) and heterogeneous models,
// unpadded and left-padded.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;
using at::indexing::Slice;

// Prefill `prefill` tokens, then decode the rest `chunk` tokens at a time; compare every step's
// logits with the full pass at the same positions (valid positions only).
void expect_cached_equals_full(const std::string& name, const std::string& input, int64_t prefill, int64_t chunk = 1) {
  SCOPED_TRACE(name + "/" + input);
  const fs::path dir = test::fixtures_dir() / "models" / name;
  models::CausalLM model = models::load_causal_lm(dir.string());
  const auto ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  const at::Tensor ids = ref.tensor(input + ".input_ids"), mask = ref.tensor(input + ".attention_mask");
  const at::Tensor positions = ref.tensor(input + ".position_ids");
  torch::InferenceMode guard;
  models::ForwardOptions full_options;
  full_options.attention_mask = mask;
  full_options.position_ids = positions;
  const at::Tensor full = model->forward(ids, full_options);

  const int64_t t = ids.size(1);
  models::KVCache cache(model->config(), ids.size(0), t, full.options());
  for (int64_t begin = 0; begin < t;) {
    const int64_t end = std::min(t, begin == 0 ? prefill : begin + chunk);
    models::ForwardOptions step;
    step.cache = &cache;
    step.attention_mask = mask.index({Slice(), Slice(0, end)});
    step.position_ids = positions.index({Slice(), Slice(begin, end)});
    const at::Tensor logits = model->forward(ids.index({Slice(), Slice(begin, end)}), step);
    const at::Tensor valid = mask.index({Slice(), Slice(begin, end)}).to(at::kBool);
    EXPECT_TENSOR_CLOSE(logits.index({valid}), full.index({Slice(), Slice(begin, end)}).index({valid}), 1e-5, 1e-5,
                        fmt::format("{}/{} tokens {}..{}", name, input, begin, end));
    begin = end;
  }
  EXPECT_EQ(cache.length(), t);
}

TEST(KVCache, CachedDecodingEqualsFullForward) {
  expect_cached_equals_full("llama", "single", 3);
  expect_cached_equals_full("llama", "batch_left", 5);
  expect_cached_equals_full("mistral", "long", 5);         // window 4 < text
  expect_cached_equals_full("qwen3_sliding", "long", 2);   // sliding and full layers mixed
  expect_cached_equals_full("gpt2", "batch_left", 4);      // learned positions
  expect_cached_equals_full("opt_post_norm", "batch_left", 4);  // norms after the residual, project_in / out
  expect_cached_equals_full("qwen3_moe", "batch_left", 4);  // experts routed per token, a dense layer between
  expect_cached_equals_full("mixtral", "long", 5);         // experts on every layer, window 4
  expect_cached_equals_full("gpt_oss", "long", 3);         // sinks beside the window-4 ring buffer
  expect_cached_equals_full("qwen3_moe_hetero", "batch_left", 3);  // pruned, narrow, dense and skipped MLPs
  expect_cached_equals_full("llama4_hetero", "long", 4);   // per-layer chunk (3), pruned experts, no feed_forward
  expect_cached_equals_full("gpt_oss_hetero", "long", 3);  // per-layer windows (4, 3) with sinks, pruned experts
  expect_cached_equals_full("llama4", "long", 3);          // chunks of 4 in a ring, NoPE temperature, shared expert
  expect_cached_equals_full("llama4", "batch_left", 2);    // chunks counted from the first real token
  expect_cached_equals_full("mistral3", "long", 4);        // the language model of an image-text checkpoint
  expect_cached_equals_full("llama_hetero", "long", 3);    // skipped sub-blocks, per-layer windows and KV heads
  expect_cached_equals_full("decilm", "batch_left", 4);    // no-op and linear attention
  expect_cached_equals_full("llama_rope_yarn", "single", 2);
}

TEST(KVCache, SlidingWindowRingBufferEqualsFullForwardInChunks) {
  expect_cached_equals_full("mistral", "long", 2, 3);        // chunks overwrite part of the ring
  expect_cached_equals_full("qwen3_sliding", "long", 5, 2);
  expect_cached_equals_full("llama_hetero", "long", 1, 4);
}

// Nemotron-H's Mamba layers carry a recurrent state (conv inputs + SSM state) instead of keys: one
// token at a time takes the recurrent step, several continue the chunked scan from the state. (The
// hetero fixture's time_step_min is 1e-9: with a clamp that bites, the scan clamps dt and the step,
// as transformers', does not; the nemotron_h case's generation fixture checks that behaviour.)
TEST(KVCache, MambaRecurrentStateEqualsFullForward) {
  expect_cached_equals_full("nemotron_h_hetero", "long", 5);        // prefill over two scan chunks, then steps
  expect_cached_equals_full("nemotron_h_hetero", "batch_left", 4);  // padding zeroed out of the conv and the state
  expect_cached_equals_full("nemotron_h_hetero", "long", 1, 3);     // multi-token continuations from the state
  expect_cached_equals_full("nemotron_h_hetero", "batch_right", 2, 7);
}

TEST(KVCache, MambaStateHasAFixedSize) {
  const auto config = models::read_model_config(test::fixtures_dir() / "models" / "nemotron_h" / "config.json");
  models::KVCache cache(config, 2, 1000, at::TensorOptions().dtype(at::kFloat));
  EXPECT_EQ(cache.slots(0), 0);  // a Mamba layer: no keys at all
  EXPECT_EQ(cache.slots(1), 1000);
  EXPECT_EQ(cache.recurrent_state(0).conv.sizes(), (std::vector<int64_t>{2, 64, 3}));  // 32 + 2 groups * 2 * 8 channels, kernel 4 - 1
  EXPECT_EQ(cache.recurrent_state(0).ssm.sizes(), (std::vector<int64_t>{2, 4, 8, 8}));  // heads, head_dim, state
  EXPECT_THROW(cache.recurrent_state(1), ShapeError);
}

TEST(KVCache, SlidingWindowLayersKeepOnlyTheirWindow) {
  const auto config = models::read_model_config(test::fixtures_dir() / "models" / "qwen3_sliding" / "config.json");
  models::KVCache cache(config, 1, 64, at::TensorOptions().dtype(at::kFloat));
  for (int64_t i = 0; i < static_cast<int64_t>(config.layers.size()); ++i) {
    const auto& window = config.layers[static_cast<std::size_t>(i)].sliding_window;
    EXPECT_EQ(cache.slots(i), window ? *window : 64) << "layer " << i;
  }
}

TEST(KVCache, SkippedAndLinearAttentionLayersHoldNothing) {
  const auto config = models::read_model_config(test::fixtures_dir() / "models" / "decilm" / "config.json");
  models::KVCache cache(config, 1, 8, at::TensorOptions().dtype(at::kFloat));
  EXPECT_TRUE(cache.holds(0));
  EXPECT_FALSE(cache.holds(1));  // attention no_op
  EXPECT_FALSE(cache.holds(3));  // replace_with_linear
}

TEST(KVCache, OverflowIsAnError) {
  const fs::path dir = test::fixtures_dir() / "models" / "llama";
  models::CausalLM model = models::load_causal_lm(dir.string());
  models::KVCache cache(model->config(), 1, 4, at::TensorOptions().dtype(at::kFloat));
  models::ForwardOptions options;
  options.cache = &cache;
  torch::InferenceMode guard;
  model->forward(at::ones({1, 3}, at::kLong), options);
  try {
    model->forward(at::ones({1, 2}, at::kLong), options);
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("exceed its capacity of 4"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace shadowpeft
