// A base whose Linear layers are weight-only int8 (LoadOptions::quantization, --quantize int8), against
// tests/reference/make_quantization_fixtures.py: torch's per-channel symmetric qint8 of every layer, and
// transformers' model with those layers dequantized — its logits (also with the head's matrix
// quantized for inference), greedy generation, and peft LoRA's loss and gradients through the
// quantized layers.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "peft_fixtures.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/layers.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/peft/lora_model.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path quantization_dir() { return test::fixtures_dir() / "quantization"; }

models::CausalLM load_quantized(const fs::path& dir, at::ScalarType dtype) {
  models::LoadOptions load;
  load.dtype = dtype;
  load.quantization = models::WeightQuantization::Int8;
  return models::load_causal_lm(dir.string(), load);
}

std::map<std::string, models::LinearImpl*> quantized_layers(models::CausalLMImpl& model) {
  std::map<std::string, models::LinearImpl*> layers;
  for (const auto& item : model.named_modules())
    if (auto* linear = item.value()->as<models::LinearImpl>(); linear && linear->quantized()) layers[item.key()] = linear;
  return layers;
}

TEST(Quantization, Int8RowsAndScalesEqualTorchsPerChannelQuantization) {
  const std::vector<std::string> cases = test::fixture_cases(quantization_dir());
  ASSERT_EQ(cases.size(), 3u);
  for (const std::string& name : cases) {
    const fs::path dir = quantization_dir() / name;
    const io::Json info = io::read_json_file(dir / "case.json");
    const io::SafetensorsFile ref = io::SafetensorsFile::open(dir / "reference.safetensors");
    for (const std::string dtype : {"float32", "bfloat16"}) {
      SCOPED_TRACE(name + " " + dtype);
      models::CausalLM model = load_quantized(dir / "base", models::parameter_scalar_type(dtype));
      const auto layers = quantized_layers(*model);
      // The same layers: every Linear of the decoder but mixture-of-experts routers.
      std::vector<std::string> names;
      for (const auto& [layer, _] : layers) names.push_back(layer);
      EXPECT_EQ(names, info["quantized_modules"].get<std::vector<std::string>>());
      for (const auto& [layer, linear] : layers) {
        EXPECT_EQ(linear->weight.scalar_type(), at::kChar) << layer;
        EXPECT_FALSE(linear->weight.requires_grad()) << layer;
        EXPECT_EQ(linear->compute_dtype(), models::parameter_scalar_type(dtype)) << layer;
        EXPECT_TRUE(at::equal(linear->weight, ref.tensor(dtype + ".int8." + layer))) << layer;
        EXPECT_TRUE(at::equal(linear->weight_scale, ref.tensor(dtype + ".scale." + layer))) << layer;
      }
    }
  }
}

// Every case's logits in float32 and bfloat16 against the fixture's `<dtype>.<key>`; with int8_head,
// after quantize_head_int8_for_inference.
void expect_logits_match_dequantized_model(const std::string& key, bool int8_head) {
  for (const std::string& name : test::fixture_cases(quantization_dir())) {
    const fs::path dir = quantization_dir() / name;
    const io::Json info = io::read_json_file(dir / "case.json");
    const io::SafetensorsFile ref = io::SafetensorsFile::open(dir / "reference.safetensors");
    const at::Tensor mask = ref.tensor("attention_mask");
    for (const std::string dtype : {"float32", "bfloat16"}) {
      SCOPED_TRACE(name + " " + dtype);
      models::CausalLM model = load_quantized(dir / "base", models::parameter_scalar_type(dtype));
      if (int8_head) {
        const at::Tensor dense_head = model->output_embedding().clone();
        model->quantize_head_int8_for_inference();
        EXPECT_TRUE(at::equal(model->output_embedding(), dense_head)) << "weight() stays dense";
      }
      at::Tensor logits;
      {
        torch::NoGradGuard no_grad;
        logits = model->forward(ref.tensor("input_ids"), test::reference_options(ref)).to(at::kFloat);
      }
      // Decoding-sized bfloat16 inputs take ATen's fused int8 kernel where every in_features is a
      // multiple of 16: its own rounding, bounded by bfloat16's error (make_quantization_fixtures.py).
      bool fused = dtype == "bfloat16" && (!int8_head || model->output_embedding().size(1) % 16 == 0);
      for (const auto& [_, linear] : quantized_layers(*model)) fused = fused && linear->weight.size(1) % 16 == 0;
      const io::Json& tol = info["tolerances"][fused ? "bfloat16_fused_kernel" : dtype];
      EXPECT_TENSOR_CLOSE(test::attended(logits, mask), test::attended(ref.tensor(dtype + "." + key), mask),
                          tol["atol"].get<double>(), tol["rtol"].get<double>(), name + " " + dtype + " " + key);
    }
  }
}

TEST(Quantization, LogitsEqualTheDequantizedTransformersModel) { expect_logits_match_dequantized_model("logits", false); }

TEST(Quantization, AnInt8HeadForInferenceGivesTheDequantizedHeadsLogits) {
  expect_logits_match_dequantized_model("logits_int8_head", true);
}

TEST(Quantization, CachedGreedyGenerationMatchesTransformers) {
  for (const std::string& name : test::fixture_cases(quantization_dir())) {
    SCOPED_TRACE(name);
    const fs::path dir = quantization_dir() / name;
    const io::SafetensorsFile ref = io::SafetensorsFile::open(dir / "reference.safetensors");
    models::CausalLM model = load_quantized(dir / "base", at::kFloat);
    torch::InferenceMode guard;
    const at::Tensor expected = ref.tensor("float32.generate.greedy");
    const int64_t prompt_length = ref.tensor("input_ids").size(1);
    models::KVCache cache(model->config(), 1, expected.size(1), at::TensorOptions().dtype(at::kFloat));
    models::ForwardOptions options;
    options.cache = &cache;
    at::Tensor sequence = expected.narrow(1, 0, prompt_length), next = sequence;
    while (sequence.size(1) < expected.size(1)) {
      next = model->last_token_logits(next, options).argmax(-1, true);
      sequence = at::cat({sequence, next}, 1);
    }
    EXPECT_TRUE(at::equal(sequence, expected)) << sequence << " vs " << expected;
  }
}

TEST(Quantization, LoraGradientsFlowThroughInt8LayersAsInPeft) {
  const fs::path dir = quantization_dir() / "llama";
  const io::Json info = io::read_json_file(dir / "case.json");
  const io::SafetensorsFile ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  peft::LoraModel model(peft::LoraModelImpl::from_pretrained(load_quantized(dir / "base", at::kFloat), dir / "adapter", true));
  model->eval();
  const at::Tensor loss = model->loss(ref.tensor("input_ids"), test::reference_options(ref), ref.tensor("labels"));
  loss.backward();
  const io::Json& tol = info["tolerances"]["float32"];
  EXPECT_TENSOR_CLOSE(loss, ref.tensor("lora.loss"), tol["atol"].get<double>(), tol["rtol"].get<double>(), "loss");
  const io::TensorMap grads = model->adapter_gradients();
  ASSERT_FALSE(grads.empty());
  for (const auto& [key, grad] : grads)
    EXPECT_TENSOR_CLOSE(grad, ref.tensor("lora.grad." + key), tol["grad_atol"].get<double>(), tol["grad_rtol"].get<double>(),
                        "grad " + key);
  // Merging would add a float delta to int8 rows.
  EXPECT_THROW(model->merge_and_unload(), UnsupportedError);
}

TEST(Quantization, FusedKernelAndConvertedRowsAgree) {
  // In bfloat16 a few rows take ATen's fused int8 kernel (decoding), many rows the converted matrix
  // (prefill, training): the same row must come out the same up to bfloat16 rounding of O(1) sums.
  models::CausalLM model = load_quantized(quantization_dir() / "llama" / "base", at::kBFloat16);
  models::LinearImpl& layer = *model->model->layers[0]->as<models::DecoderLayerImpl>()->mlp->down_proj;
  ASSERT_EQ(layer.weight.size(1) % 16, 0) << "the fused kernel's condition";
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const at::Tensor x = at::randn({1, 200, layer.weight.size(1)}, at::TensorOptions().dtype(at::kBFloat16));
  const at::Tensor few = layer.forward(x.narrow(1, 0, 4)).to(at::kFloat), many = layer.forward(x).narrow(1, 0, 4).to(at::kFloat);
  const at::Tensor exact = at::linear(x.narrow(1, 0, 4).to(at::kFloat), layer.dense_weight().to(at::kFloat));
  // Each way rounds the output and either the scale or each weight to bfloat16 (2^-9 relative each):
  // within 2^-7 of the largest output, with margin.
  const double bound = std::ldexp(exact.abs().max().item<double>(), -7);
  EXPECT_TENSOR_CLOSE(few, many, bound, 0.0, "fused vs converted");
  EXPECT_TENSOR_CLOSE(few, exact, bound, 0.0, "fused vs float32");
}

TEST(Quantization, RefusesToSaveOrRunACastModel) {
  const fs::path dir = quantization_dir() / "llama" / "base";
  models::CausalLM model = load_quantized(dir, at::kFloat);
  EXPECT_THROW(models::save_pretrained(*model, test::scratch_dir("quantized_save")), UnsupportedError);
  model->to(at::kFloat);  // casts the int8 rows too, as torch's Module::to does
  torch::NoGradGuard no_grad;
  try {
    model->forward(at::ones({1, 3}, at::kLong));
    FAIL() << "a cast int8 layer ran";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("int8-quantized"), std::string::npos) << e.what();
  }
  EXPECT_THROW(models::parse_weight_quantization("int4"), ConfigError);
}

}  // namespace
}  // namespace shadowpeft
