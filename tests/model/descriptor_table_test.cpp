// Descriptors as data: module renames (the "{i}" layer slot, first match wins, whole path segments
// only), checkpoint names and weight groups derived from them, the generated registry, and
// parameter counts taken from modules built on the meta device. No Python fixtures.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/models/parameter_count.h"

namespace shadowpeft {
namespace {

io::Json opt_json() {
  return {{"architectures", {"OPTForCausalLM"}}, {"model_type", "opt"},       {"vocab_size", 128},
          {"hidden_size", 32},                   {"ffn_dim", 64},             {"num_hidden_layers", 2},
          {"num_attention_heads", 4},            {"max_position_embeddings", 64}};
}

TEST(ModuleRename, RenamesWholeSegmentsWithTheLayerIndex) {
  EXPECT_EQ(models::rename_module("model.layers.12.self_attn.o_proj.weight", "model.layers.{i}.self_attn.o_proj",
                                  "model.decoder.layers.{i}.self_attn.out_proj"),
            "model.decoder.layers.12.self_attn.out_proj.weight");
  EXPECT_EQ(models::rename_module("model.norm.bias", "model.norm", "model.decoder.final_layer_norm"),
            "model.decoder.final_layer_norm.bias");
  EXPECT_FALSE(models::rename_module("model.norm_out.weight", "model.norm", "x"));  // not a path segment
  EXPECT_FALSE(models::rename_module("model.layers.x.mlp.weight", "model.layers.{i}.mlp", "y.{i}"));
  EXPECT_FALSE(models::rename_module("lm_head.weight", "model.norm", "x"));
}

TEST(ModuleRename, OptNamesAndWeightGroupsComeFromItsTable) {
  const models::ModelConfig config = models::parse_model_config(opt_json(), "config.json");
  const models::ModelDescriptor& d = *config.descriptor;
  EXPECT_EQ(d.name(), "opt");
  EXPECT_EQ(d.input_embedding_name(), "model.decoder.embed_tokens");
  // The more specific o_proj entry wins over the self_attn one listed after it.
  EXPECT_EQ(d.checkpoint_name("model.layers.1.self_attn.o_proj.bias"), "model.decoder.layers.1.self_attn.out_proj.bias");
  EXPECT_EQ(d.checkpoint_name("model.layers.1.self_attn.q_proj.bias"), "model.decoder.layers.1.self_attn.q_proj.bias");
  EXPECT_EQ(d.module_name("model.decoder.layers.0.fc2.weight"), "model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(d.module_name("lm_head.weight"), "lm_head.weight");
  EXPECT_EQ(d.weight_group("model.decoder.embed_positions.weight", config), "embeddings");
  EXPECT_EQ(d.weight_group("model.decoder.layers.1.self_attn_layer_norm.weight", config), "block_1_attention");
  EXPECT_EQ(d.weight_group("model.decoder.layers.1.final_layer_norm.bias", config), "block_1_ffn");
  EXPECT_EQ(d.weight_group("model.decoder.final_layer_norm.weight", config), "lm_head");
  EXPECT_EQ(d.weight_group("model.decoder.layers.2.fc1.weight", config), std::nullopt);  // only 2 layers

  io::TensorMap tensors{{"model.decoder.layers.0.fc1.bias", at::zeros({64})}, {"lm_head.weight", at::zeros({2})}};
  d.checkpoint_to_modules(tensors, config);
  EXPECT_TRUE(tensors.count("model.layers.0.mlp.up_proj.bias"));
  d.modules_to_checkpoint(tensors, config);
  EXPECT_TRUE(tensors.count("model.decoder.layers.0.fc1.bias"));
  EXPECT_TRUE(tensors.count("lm_head.weight"));
}

TEST(FusedModules, SplitByTheModuleShapesAndFuseBack) {
  // Phi-3 with grouped KV heads: qkv_proj rows 32 (q) + 16 (k) + 16 (v), read from the modules.
  const io::Json json = {{"architectures", {"Phi3ForCausalLM"}}, {"model_type", "phi3"},   {"vocab_size", 128},
                         {"hidden_size", 32},                    {"intermediate_size", 48}, {"num_hidden_layers", 2},
                         {"num_attention_heads", 4},             {"num_key_value_heads", 2}};
  const models::ModelConfig config = models::parse_model_config(json, "config.json");
  const at::Tensor qkv = at::arange(64 * 32, at::kFloat).view({64, 32});
  const at::Tensor gate_up = at::arange(96 * 32, at::kFloat).view({96, 32});
  io::TensorMap t{{"model.layers.1.self_attn.qkv_proj.weight", qkv}, {"model.layers.1.mlp.gate_up_proj.weight", gate_up}};
  config.descriptor->checkpoint_to_modules(t, config);
  EXPECT_TRUE(t.at("model.layers.1.self_attn.q_proj.weight").equal(qkv.narrow(0, 0, 32)));
  EXPECT_TRUE(t.at("model.layers.1.self_attn.k_proj.weight").equal(qkv.narrow(0, 32, 16)));
  EXPECT_TRUE(t.at("model.layers.1.self_attn.v_proj.weight").equal(qkv.narrow(0, 48, 16)));
  EXPECT_TRUE(t.at("model.layers.1.mlp.up_proj.weight").equal(gate_up.narrow(0, 48, 48)));
  config.descriptor->modules_to_checkpoint(t, config);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_TRUE(t.at("model.layers.1.self_attn.qkv_proj.weight").equal(qkv));
  EXPECT_TRUE(t.at("model.layers.1.mlp.gate_up_proj.weight").equal(gate_up));
}

TEST(FusedModules, Gpt2ConvOneDWeightsAreTransposedAndCAttnSplit) {
  const io::Json json = {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"vocab_size", 128},
                         {"n_embd", 32}, {"n_layer", 1}, {"n_head", 4}};
  const models::ModelConfig config = models::parse_model_config(json, "config.json");
  const at::Tensor c_attn = at::randn({32, 96}), c_proj = at::randn({32, 32});  // Conv1D: [in, out]
  io::TensorMap t{{"transformer.h.0.attn.c_attn.weight", c_attn},
                  {"transformer.h.0.attn.c_proj.weight", c_proj},
                  {"transformer.h.0.attn.bias", at::ones({1, 1, 4, 4})}};  // an old causal-mask buffer
  config.descriptor->checkpoint_to_modules(t, config);
  EXPECT_EQ(t.size(), 4u);
  EXPECT_TRUE(t.at("model.layers.0.self_attn.k_proj.weight").equal(c_attn.narrow(1, 32, 32).t()));
  EXPECT_TRUE(t.at("model.layers.0.self_attn.o_proj.weight").equal(c_proj.t()));
  config.descriptor->modules_to_checkpoint(t, config);
  EXPECT_TRUE(t.at("transformer.h.0.attn.c_attn.weight").equal(c_attn));
  EXPECT_TRUE(t.at("transformer.h.0.attn.c_proj.weight").equal(c_proj));
}

TEST(OptConfig, PreAndPostNormLayouts) {
  const models::ModelConfig pre = models::parse_model_config(opt_json(), "config.json");
  EXPECT_EQ(pre.positions, models::PositionKind::Learned);
  EXPECT_EQ(pre.position_offset, 2);
  EXPECT_EQ(pre.default_positions, models::DefaultPositions::CountRealTokens);
  EXPECT_TRUE(pre.final_norm);
  EXPECT_FALSE(pre.word_embedding_size);
  EXPECT_EQ(pre.layers[0].norm_placement, models::NormPlacement::Pre);
  EXPECT_EQ(pre.pad_token_id, 1);  // OPTConfig's default

  io::Json json = opt_json();
  json["do_layer_norm_before"] = false;
  json["word_embed_proj_dim"] = 16;
  json["pad_token_id"] = 0;
  const models::ModelConfig post = models::parse_model_config(json, "config.json");
  EXPECT_FALSE(post.final_norm);
  EXPECT_EQ(post.word_embedding_size, 16);
  EXPECT_EQ(post.output_hidden_size(), 16);
  EXPECT_EQ(post.layers[1].norm_placement, models::NormPlacement::PostResidual);
  EXPECT_EQ(post.pad_token_id, 0);

  json["layer_norm_elementwise_affine"] = false;
  try {
    models::parse_model_config(json, "dir/config.json");
    FAIL() << "norms without weights were accepted";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("dir/config.json: field 'layer_norm_elementwise_affine'"), std::string::npos)
        << e.what();
  }
}

TEST(OptConfig, DefaultPositionsCountTheRealTokens) {
  const models::ModelConfig config = models::parse_model_config(opt_json(), "config.json");
  const at::Tensor ids = at::ones({2, 4}, at::kLong);
  const at::Tensor mask = at::tensor({0, 0, 1, 1, 1, 1, 1, 1}, at::kLong).view({2, 4});
  EXPECT_TRUE(models::default_position_ids(config, ids, 0, mask).equal(at::tensor({-1, -1, 0, 1, 0, 1, 2, 3}, at::kLong).view({2, 4})));
  // With two cached tokens, the new ones continue the count.
  EXPECT_TRUE(models::default_position_ids(config, ids.narrow(1, 2, 2), 2, mask).equal(at::tensor({0, 1, 2, 3}, at::kLong).view({2, 2})));
}

// The projected family comes from shadow/ and registers itself wherever `shadowpeft` is linked.
TEST(DescriptorRegistry, EveryFamilyFileRegistersItself) {
  std::vector<std::string> names;
  for (const models::ModelDescriptor* d : models::all_descriptors()) names.push_back(d->name());
  for (const char* family : {"llama", "gpt2", "opt", "phi3", "olmo2", "qwen3", "gemma3_text", "causal_lm_with_hidden_projection"})
    EXPECT_NE(std::find(names.begin(), names.end(), family), names.end()) << family;
}

TEST(ParameterCount, ComesFromTheModulesWithoutMemory) {
  // OPT-125m's config: transformers' OPTForCausalLM(config).num_parameters() = 125,239,296.
  io::Json json = opt_json();
  json.update({{"vocab_size", 50272}, {"hidden_size", 768}, {"ffn_dim", 3072}, {"num_hidden_layers", 12},
               {"num_attention_heads", 12}, {"max_position_embeddings", 2048}});
  EXPECT_EQ(models::count_causal_lm_parameters(models::parse_model_config(json, "config.json")), 125'239'296);
  // OPT-350m's: post-norm, project_in/out from 512 → 331,196,416.
  json.update({{"hidden_size", 1024}, {"ffn_dim", 4096}, {"num_hidden_layers", 24}, {"num_attention_heads", 16},
               {"do_layer_norm_before", false}, {"word_embed_proj_dim", 512}});
  EXPECT_EQ(models::count_causal_lm_parameters(models::parse_model_config(json, "config.json")), 331'196'416);
}

}  // namespace
}  // namespace shadowpeft
