// AutoModelForCausalLMWithHiddenProjection: a directory written by shadow-peft loads with the same
// logits; our pseudo-inverse initialisation equals the package's; what we save loads back.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/projected_causal_lm.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path projected_dir() { return test::fixtures_dir() / "shadow" / "projected_model"; }

at::Tensor logits_of(models::CausalLM& model, const io::SafetensorsFile& ref) {
  models::ForwardOptions options;
  options.attention_mask = ref.tensor("attention_mask");
  options.position_ids = ref.tensor("position_ids");
  torch::InferenceMode guard;
  return model->forward(ref.tensor("input_ids"), options).index({options.attention_mask.to(at::kBool)});
}

TEST(ProjectedCausalLM, PythonDirectoryLoadsWithTheSameLogits) {
  const auto ref = io::SafetensorsFile::open(projected_dir() / "reference.safetensors");
  models::CausalLM model = models::load_causal_lm((projected_dir() / "projected").string());
  EXPECT_EQ(model->config().projected_hidden_size, 32);
  const at::Tensor valid = ref.tensor("attention_mask").to(at::kBool);
  EXPECT_TENSOR_CLOSE(logits_of(model, ref), ref.tensor("logits").index({valid}), 1e-5, 1e-5, "projected logits");
}

TEST(ProjectedCausalLM, PseudoInverseInitMatchesShadowPeft) {
  const auto ref = io::SafetensorsFile::open(projected_dir() / "reference.safetensors");
  models::CausalLM small = models::load_causal_lm((projected_dir() / "small").string());
  models::CausalLM large = models::load_causal_lm((projected_dir() / "large").string());
  models::CausalLM wrapped = wrap_with_hidden_projection(*small, large->output_embedding());
  EXPECT_TENSOR_CLOSE(wrapped->head().projection()->weight, ref.tensor("pinv_projection"), 1e-5, 1e-4, "pinv projection");
  const at::Tensor valid = ref.tensor("attention_mask").to(at::kBool);
  EXPECT_TENSOR_CLOSE(logits_of(wrapped, ref), ref.tensor("logits").index({valid}), 1e-4, 1e-4, "wrapped logits");
}

TEST(ProjectedCausalLM, SavedDirectoryRoundTrips) {
  models::CausalLM model = models::load_causal_lm((projected_dir() / "projected").string());
  const fs::path out = test::scratch_dir("projected");
  models::save_pretrained(*model, out);
  EXPECT_EQ(test::read_file_bytes(out / "model.safetensors"),
            test::read_file_bytes(projected_dir() / "projected" / "model.safetensors"));
  models::CausalLM reloaded = models::load_causal_lm(out.string());
  const auto ref = io::SafetensorsFile::open(projected_dir() / "reference.safetensors");
  EXPECT_TENSOR_BITWISE_EQ(logits_of(reloaded, ref), logits_of(model, ref), "reloaded projected model");
}

}  // namespace
}  // namespace shadowpeft
