// Packed rows (position_ids restarting per example, no attention mask): logits equal transformers'
// on the same rows (fixtures from tests/reference/make_packing_fixtures.py: plain, sliding-window,
// Gemma 2 and chunked attention), each example's logits equal its own run alone, a shadow's training
// loss and gradients on packed rows equal those of the same examples padded, and a Mamba mixer
// refuses packed rows.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <map>

#include "shadowpeft/core/error.h"
#include "shadowpeft/core/labels.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path packing_dir() { return test::fixtures_dir() / "packing"; }

models::ForwardOptions packed_options(const at::Tensor& position_ids) {
  models::ForwardOptions options;
  options.position_ids = position_ids;
  return options;
}

TEST(Packing, PackedLogitsMatchTransformersAndEachExampleAlone) {
  int cases = 0;
  for (const std::string name : {"llama", "mistral", "gemma2", "llama4"}) {
    SCOPED_TRACE(name);
    const fs::path dir = packing_dir() / name;
    const io::Json info = io::read_json_file(dir / "case.json");
    const auto ref = io::SafetensorsFile::open(dir / "reference.safetensors");
    const double atol = info["tolerances"]["atol"].get<double>(), rtol = info["tolerances"]["rtol"].get<double>();
    models::CausalLM model = models::load_causal_lm((dir / "base").string());
    torch::InferenceMode guard;
    const at::Tensor packed = model->forward(ref.tensor("packed.input_ids"), packed_options(ref.tensor("packed.position_ids")));
    EXPECT_TENSOR_CLOSE(packed, ref.tensor("packed.logits"), atol, rtol, name + " packed logits");
    if (!info["packed_equals_examples"].get<bool>()) continue;  // Llama 4: transformers' own rows differ (case.json)
    std::size_t i = 0;
    for (const auto& e : info["examples"]) {
      const int64_t row = e["row"], start = e["start"], length = e["length"];
      const at::Tensor alone = model->forward(ref.tensor(fmt::format("example{}.input_ids", i++)));
      EXPECT_TENSOR_CLOSE(packed[row].narrow(0, start, length), alone[0], atol, rtol, name + " example alone");
    }
    ++cases;
  }
  EXPECT_EQ(cases, 3);
}

// The examples of the llama case's packed rows as a padded batch: the same labels (none on each
// example's first token, which packing never predicts) at the same tokens.
struct Batches {
  at::Tensor packed_ids, packed_positions, packed_labels;
  at::Tensor ids, mask, labels;
};

Batches batches(const fs::path& dir) {
  const io::Json info = io::read_json_file(dir / "case.json");
  const auto ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  Batches b{ref.tensor("packed.input_ids"), ref.tensor("packed.position_ids"), {}, {}, {}, {}};
  b.packed_labels = b.packed_ids.clone().masked_fill(b.packed_positions == 0, kIgnoreIndex);
  const int64_t n = static_cast<int64_t>(info["examples"].size());
  int64_t longest = 0;
  for (const auto& e : info["examples"]) longest = std::max<int64_t>(longest, e["length"].get<int64_t>());
  b.ids = at::zeros({n, longest}, at::kLong);
  b.mask = at::zeros({n, longest}, at::kLong);
  b.labels = at::full({n, longest}, kIgnoreIndex, at::kLong);
  int64_t i = 0;
  for (const auto& e : info["examples"]) {
    const int64_t row = e["row"], start = e["start"], length = e["length"];
    b.ids[i].narrow(0, 0, length).copy_(b.packed_ids[row].narrow(0, start, length));
    b.mask[i].narrow(0, 0, length).fill_(1);
    b.labels[i].narrow(0, 1, length - 1).copy_(b.packed_ids[row].narrow(0, start + 1, length - 1));
    ++i;
  }
  return b;
}

std::map<std::string, at::Tensor> gradients(torch::nn::Module& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : model.named_parameters())
    if (item.value().grad().defined()) out.emplace(item.key(), item.value().grad().clone());
  return out;
}

TEST(Packing, ShadowTrainingOnPackedRowsEqualsTheExamplesPadded) {
  for (const std::string name : {"llama", "mistral", "gemma2"}) {
    SCOPED_TRACE(name);
    const fs::path dir = packing_dir() / name;
    ShadowConfig config;
    config.dropout = 0.0;
    config.alpha = 0.5;
    ShadowForCausalLM model(get_shadow_model(models::load_causal_lm((dir / "base").string()), config));
    {
      torch::NoGradGuard no_grad;
      at::manual_seed(5);
      for (auto& [key, p] : model->peft_model->adapter_state_dict())
        if (!key.ends_with("norm.weight")) p.normal_(0.0, 0.2);
    }
    const Batches b = batches(dir);
    std::map<std::string, at::Tensor> grads[2];
    double losses[2];
    for (const bool packed : {false, true}) {
      for (auto& p : model->parameters()) p.mutable_grad() = at::Tensor();
      models::ForwardOptions options;
      if (packed) options.position_ids = b.packed_positions;
      else options.attention_mask = b.mask;
      const at::Tensor loss = packed ? model->loss(b.packed_ids, options, b.packed_labels) : model->loss(b.ids, options, b.labels);
      loss.backward();
      losses[packed] = loss.item<double>();
      grads[packed] = gradients(*model);
    }
    // The same float32 terms summed in another order (other row lengths): a few ulps.
    EXPECT_NEAR(losses[1], losses[0], 1e-5 * std::abs(losses[0]));
    ASSERT_EQ(grads[1].size(), grads[0].size());
    ASSERT_GT(grads[0].size(), 0u);
    for (const auto& [key, g] : grads[0]) EXPECT_TENSOR_CLOSE(grads[1].at(key), g, 1e-5, 1e-3, name + " grad " + key);
  }
}

TEST(Packing, AMambaMixerRefusesPackedRows) {
  models::CausalLM model = models::load_causal_lm((test::fixtures_dir() / "models" / "nemotron_h").string());
  const at::Tensor ids = at::randint(1, 100, {1, 6}, at::kLong);
  const at::Tensor positions = at::tensor({0, 1, 2, 0, 1, 2}, at::kLong).unsqueeze(0);
  torch::InferenceMode guard;
  try {
    model->forward(ids, packed_options(positions));
    FAIL() << "no error";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("packed"), std::string::npos) << e.what();
  }
  // The same tokens as one sequence run.
  EXPECT_NO_THROW(model->forward(ids, packed_options(at::arange(6, at::kLong).unsqueeze(0))));
}

}  // namespace
}  // namespace shadowpeft
