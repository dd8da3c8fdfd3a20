// Mixture-of-experts configs and checkpoint layouts, without Python fixtures: which layers route
// to experts, what the routing fields become, how saved per-expert tensors stack and group, and the
// errors for bad fields and stored quantizations we cannot read.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/models/model_config.h"

namespace shadowpeft {
namespace {

using models::MlpKind;

io::Json qwen3_moe_json() {
  return {{"architectures", {"Qwen3MoeForCausalLM"}},
          {"model_type", "qwen3_moe"},
          {"vocab_size", 128},
          {"hidden_size", 32},
          {"intermediate_size", 48},
          {"moe_intermediate_size", 16},
          {"num_hidden_layers", 6},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"head_dim", 8},
          {"num_experts", 8},
          {"num_experts_per_tok", 2},
          {"decoder_sparse_step", 2},
          {"mlp_only_layers", {3}},
          {"norm_topk_prob", true}};
}

io::Json mixtral_json() {
  return {{"architectures", {"MixtralForCausalLM"}}, {"model_type", "mixtral"}, {"vocab_size", 128},
          {"hidden_size", 32},          {"intermediate_size", 64},        {"num_hidden_layers", 2},
          {"num_attention_heads", 4},   {"num_key_value_heads", 2},       {"num_local_experts", 4},
          {"num_experts_per_tok", 2}};
}

TEST(MixtureOfExpertsConfig, SparseStepAndMlpOnlyLayersPickTheExpertLayers) {
  const models::ModelConfig c = models::parse_model_config(qwen3_moe_json(), "config.json");
  // (i + 1) % 2 == 0 → layers 1, 3, 5; layer 3 is listed in mlp_only_layers.
  const std::vector<MlpKind> expected = {MlpKind::Gated, MlpKind::MixtureOfExperts, MlpKind::Gated,
                                         MlpKind::Gated, MlpKind::Gated,            MlpKind::MixtureOfExperts};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(c.layers[i].mlp, expected[i]) << "layer " << i;
  const models::MoeSpec& moe = c.layers[1].moe;
  EXPECT_EQ(moe.num_experts, 8);
  EXPECT_EQ(moe.top_k, 2);
  EXPECT_EQ(moe.expert_intermediate_size, 16);
  EXPECT_TRUE(moe.normalize_top_k);
  EXPECT_EQ(moe.scoring, models::RouterScoring::SoftmaxTopK);
  EXPECT_EQ(c.layers[0].intermediate_size, 48);
  EXPECT_EQ(models::to_string(c.layers[1].mlp), "moe");
}

TEST(MixtureOfExpertsConfig, BadRoutingFieldsNameTheField) {
  io::Json j = qwen3_moe_json();
  j["num_experts_per_tok"] = 9;
  try {
    models::parse_model_config(j, "dir/config.json");
    FAIL() << "top_k > experts accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("dir/config.json: field 'num_experts_per_tok'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[1, 8]"), std::string::npos) << e.what();
  }
  j = mixtral_json();
  j["num_local_experts"] = 0;
  EXPECT_THROW(models::parse_model_config(j, "config.json"), ConfigError);
}

TEST(MixtureOfExpertsConfig, StoredQuantizationsLoadOnlyWhereTheFamilyDequantizes) {
  io::Json j = mixtral_json();
  j["quantization_config"] = {{"quant_method", "mxfp4"}};
  try {
    models::parse_model_config(j, "config.json");
    FAIL() << "an MXFP4 Mixtral was accepted";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("field 'quantization_config.quant_method' = 'mxfp4'"), std::string::npos) << e.what();
  }
  io::Json gpt_oss = {{"architectures", {"GptOssForCausalLM"}}, {"model_type", "gpt_oss"}, {"vocab_size", 128},
                      {"hidden_size", 32}, {"intermediate_size", 32}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                      {"num_key_value_heads", 2}, {"head_dim", 8}, {"num_local_experts", 4}, {"num_experts_per_tok", 2},
                      {"quantization_config", {{"quant_method", "bitsandbytes"}}}};
  try {
    models::parse_model_config(gpt_oss, "config.json");
    FAIL() << "a bitsandbytes GPT-OSS was accepted";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("accepted: mxfp4"), std::string::npos) << e.what();
  }
  gpt_oss["quantization_config"]["quant_method"] = "mxfp4";
  const models::ModelConfig c = models::parse_model_config(gpt_oss, "config.json");
  // GptOssConfig's defaults: alternating sliding/full layers, biases, sinks, YaRN.
  EXPECT_TRUE(c.layers[0].attention_sinks);
  EXPECT_TRUE(c.layers[0].qkv_bias && c.layers[0].o_bias);
  EXPECT_EQ(c.layers[0].rope->type, "yarn");
  EXPECT_EQ(c.layers[0].moe.scoring, models::RouterScoring::TopKSoftmax);
  EXPECT_EQ(c.layers[0].moe.activation, models::ExpertActivation::ClampedSwiGLU);
}

TEST(MixtureOfExpertsConfig, Llama4LayersAndTheirPerLayerAttributes) {
  const io::Json json = {{"architectures", {"Llama4ForCausalLM"}}, {"model_type", "llama4_text"}, {"vocab_size", 128},
                         {"hidden_size", 32}, {"intermediate_size", 16}, {"intermediate_size_mlp", 48},
                         {"num_hidden_layers", 4}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 8},
                         {"num_local_experts", 4}, {"num_experts_per_tok", 1}, {"interleave_moe_layer_step", 2},
                         {"no_rope_layer_interval", 2},
                         {"per_layer_config", {{"0", {{"attention_chunk_size", 2}}}, {"3", {{"num_local_experts", 2}}}}}};
  const models::ModelConfig c = models::parse_model_config(json, "config.json");
  // Llama4TextConfig's defaults: RoPE layers chunked (8192) with L2 q/k norms, NoPE layers tuned.
  EXPECT_EQ(c.layers[0].attention_chunk_size, 2);  // per layer
  EXPECT_EQ(c.layers[2].attention_chunk_size, 8192);
  EXPECT_FALSE(c.layers[1].attention_chunk_size);
  EXPECT_EQ(c.layers[0].qk_norm, models::QkNorm::L2AfterRope);
  EXPECT_TRUE(c.layers[0].rope && c.layers[0].rope->interleaved);
  EXPECT_FALSE(c.layers[1].rope);
  EXPECT_TRUE(c.layers[1].attention_temperature);
  EXPECT_EQ(c.layers[0].mlp, MlpKind::Gated);
  EXPECT_EQ(c.layers[0].intermediate_size, 48);
  EXPECT_EQ(c.layers[1].mlp, MlpKind::MixtureOfExperts);
  EXPECT_EQ(c.layers[1].moe.shared_expert_intermediate_size, 16);
  EXPECT_TRUE(c.layers[1].moe.weights_on_input);
  EXPECT_EQ(c.layers[1].moe.num_experts, 4);
  EXPECT_EQ(c.layers[3].moe.num_experts, 2);  // pruned on one layer
}

TEST(SavedExperts, PerExpertTensorsStackAndSplitBack) {
  const models::ModelConfig c = models::parse_model_config(mixtral_json(), "config.json");
  const models::ModelDescriptor& d = *c.descriptor;
  io::TensorMap saved;
  for (int e = 0; e < 4; ++e)
    for (const char* w : {"w1", "w2", "w3"})
      saved[fmt::format("model.layers.1.block_sparse_moe.experts.{}.{}.weight", e, w)] = at::full({2, 3}, e * 10 + w[1] - '0');
  saved["model.layers.1.block_sparse_moe.gate.weight"] = at::zeros({4, 3});
  io::TensorMap t = saved;
  d.file_to_state_dict(t, c);
  ASSERT_EQ(t.size(), 3u);
  const at::Tensor gate_up = t.at("model.layers.1.mlp.experts.gate_up_proj");
  EXPECT_EQ(gate_up.sizes(), at::IntArrayRef({4, 4, 3}));
  EXPECT_EQ(gate_up[2][0][0].item<float>(), 21.0f);  // expert 2's w1 (gate) first
  EXPECT_EQ(gate_up[2][3][0].item<float>(), 23.0f);  // then its w3 (up)
  EXPECT_EQ(t.at("model.layers.1.mlp.experts.down_proj")[3][0][0].item<float>(), 32.0f);
  EXPECT_TRUE(t.contains("model.layers.1.mlp.gate.weight"));
  EXPECT_EQ(d.state_dict_name("model.layers.1.block_sparse_moe.experts.3.w2.weight"), "model.layers.1.mlp.experts.down_proj");
  EXPECT_EQ(d.weight_group("model.layers.1.block_sparse_moe.experts.3.w2.weight", c), "block_1_ffn");
  EXPECT_EQ(d.weight_group("model.layers.1.block_sparse_moe.gate.weight", c), "block_1_ffn");

  d.state_dict_to_file(t, c);
  ASSERT_EQ(t.size(), saved.size());
  for (const auto& [name, tensor] : saved) EXPECT_TRUE(at::equal(t.at(name), tensor)) << name;

  saved.erase("model.layers.1.block_sparse_moe.experts.1.w2.weight");
  try {
    d.file_to_state_dict(saved, c);
    FAIL() << "a missing expert tensor was accepted";
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.block_sparse_moe.experts.1.w2.weight' is missing"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace shadowpeft
