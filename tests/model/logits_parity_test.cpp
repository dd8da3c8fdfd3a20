// Logits of the generic decoder equal transformers' on tiny random models of every family
// (fixtures from tests/reference/make_model_fixtures.py), with and without padding.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string>& parity_cases() {
  static const std::vector<std::string> cases = {
      "llama",     "llama_tied", "llama_rope_linear", "llama_rope_dynamic", "llama_rope_llama3", "llama_rope_yarn",
      "llama_bf16", "mistral",   "qwen2",   "qwen2_sliding",           "qwen3",              "qwen3_sliding",     "gemma", "gemma2", "gemma3", "smollm3", "olmo2", "phi3",
      "gpt2",      "opt", "opt_post_norm", "qwen3_moe", "mixtral", "gpt_oss", "gpt_oss_mxfp4", "qwen3_vl", "qwen3_vl_moe", "mistral3", "llama4", "llama4_multimodal", "llama_hetero", "qwen3_moe_hetero", "gpt_oss_hetero", "llama4_hetero", "llama_hetero_flags", "decilm", "nemotron_h", "nemotron_h_hetero"};
  return cases;
}

fs::path models_dir() { return test::fixtures_dir() / "models"; }

io::Json fixture_index() { return io::read_json_file(models_dir() / "index.json"); }

std::optional<std::string> skip_reason(const std::string& name) {
  const io::Json index = fixture_index();
  if (index.is_object() && index.contains("skipped") && index["skipped"].contains(name))
    return index["skipped"][name].dump();
  return std::nullopt;
}

class LogitsParity : public ::testing::TestWithParam<std::string> {};

TEST_P(LogitsParity, MatchesTransformers) {
  const std::string name = GetParam();
  if (auto why = skip_reason(name)) GTEST_SKIP() << "fixture not built: " << *why;
  const fs::path dir = models_dir() / name;
  const io::Json info = io::read_json_file(dir / "case.json");
  const double atol = info["atol"].get<double>(), rtol = info["rtol"].get<double>();
  models::CausalLM model = models::load_causal_lm(dir.string());
  const auto reference = io::SafetensorsFile::open(dir / "reference.safetensors");
  torch::InferenceMode guard;
  for (const auto& input : info["inputs"]) {
    const std::string in = input.get<std::string>();
    models::ForwardOptions options;
    options.attention_mask = reference.tensor(in + ".attention_mask");
    options.position_ids = reference.tensor(in + ".position_ids");
    const at::Tensor logits = model->forward(reference.tensor(in + ".input_ids"), options).to(at::kFloat);
    const at::Tensor valid = options.attention_mask.to(at::kBool);
    const at::Tensor expected = reference.tensor(in + ".logits");
    const auto result = test::tensors_close(logits.index({valid}), expected.index({valid}), atol, rtol, name + "/" + in);
    EXPECT_TRUE(result);
    std::cout << result.message() << "\n";
    if (!reference.contains(in + ".logits_default_positions")) continue;
    // The family's own positions when the caller passes none (OPT counts the real tokens).
    options.position_ids = at::Tensor();
    const at::Tensor by_default = model->forward(reference.tensor(in + ".input_ids"), options).to(at::kFloat);
    const auto defaults = test::tensors_close(by_default.index({valid}),
                                              reference.tensor(in + ".logits_default_positions").index({valid}), atol,
                                              rtol, name + "/" + in + " (default positions)");
    EXPECT_TRUE(defaults);
    std::cout << defaults.message() << "\n";
  }
}

INSTANTIATE_TEST_SUITE_P(Families, LogitsParity, ::testing::ValuesIn(parity_cases()),
                         [](const auto& info) { return info.param; });

TEST(LogitsParityFixtures, EveryReferenceCaseIsChecked) {
  const io::Json index = fixture_index();
  const io::Json cases = index.is_array() ? index : index["cases"];
  for (const auto& c : cases)
    EXPECT_NE(std::find(parity_cases().begin(), parity_cases().end(), c.get<std::string>()), parity_cases().end())
        << "fixture case " << c << " has no parity test";
}

}  // namespace
}  // namespace shadowpeft
