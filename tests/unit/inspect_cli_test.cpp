// `shadowpeft inspect` on checkpoints written by transformers: the JSON report agrees with what
// the reference recorded (tensor names, shapes, dtypes, parameter count), sharded or not.
#include <gtest/gtest.h>


#include "shadowpeft/io/json_file.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

using test::run_cli;

void expect_matches_reference(const io::Json& report) {
  const io::Json expected = io::read_json_file(test::fixtures_dir() / "tiny_llama.expected.json");
  EXPECT_EQ(report["num_parameters"], expected["num_parameters"]);
  EXPECT_EQ(report["architectures"], expected["architectures"]);
  ASSERT_EQ(report["tensors"].size(), expected["tensors"].size());
  for (const auto& t : report["tensors"]) {
    const auto& want = expected["tensors"][t["name"].get<std::string>()];
    EXPECT_EQ(t["shape"], want["shape"]) << t["name"];
    EXPECT_EQ(t["dtype"], want["dtype"]) << t["name"];
  }
}

TEST(InspectCli, JsonReportMatchesTransformers) {
  const auto r = run_cli("inspect --json " + (test::fixtures_dir() / "tiny_llama").string());
  ASSERT_EQ(r.status, 0) << r.out;
  expect_matches_reference(io::Json::parse(r.out));
}

TEST(InspectCli, ShardedModelReportsAllShards) {
  const auto r = run_cli("inspect --json " + (test::fixtures_dir() / "tiny_llama_sharded").string());
  ASSERT_EQ(r.status, 0) << r.out;
  const io::Json report = io::Json::parse(r.out);
  expect_matches_reference(report);
  EXPECT_EQ(report["index"], "model.safetensors.index.json");
  EXPECT_EQ(report["files"].size(), 7u);
}

TEST(InspectCli, TableShowsArchitectureAndTensors) {
  const auto r = run_cli("inspect " + (test::fixtures_dir() / "tiny_llama").string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("LlamaForCausalLM"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model.layers.1.mlp.down_proj.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[32, 64]"), std::string::npos) << r.out;
}

TEST(InspectCli, BadInputPrintsOneErrorLineAndFails) {
  const auto r = run_cli("inspect " + (test::fixtures_dir() / "malformed" / "overlap.safetensors").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("overlaps"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

TEST(InspectCli, MissingModelFails) {
  const auto r = run_cli("inspect /nonexistent/model");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("/nonexistent/model"), std::string::npos) << r.out;
}

// The per-layer view of transformers' own heterogeneous Llama: specs and weight groups as the
// reference checkpoint holds them (layer 2 skips attention, 3 skips the MLP, 4 skips both).
TEST(InspectCli, HeterogeneousModelShowsPerLayerTableAndWeightGroups) {
  const auto r = run_cli("inspect --json " + (test::fixtures_dir() / "models" / "llama_hetero").string());
  ASSERT_EQ(r.status, 0) << r.out;
  const io::Json report = io::Json::parse(r.out);
  EXPECT_EQ(report["family"], "llama");
  const auto& layers = report["layers"];
  ASSERT_EQ(layers.size(), 5u);
  EXPECT_EQ(layers[0]["sliding_window"], 3);
  EXPECT_EQ(layers[1]["kv_heads"], 4);
  EXPECT_EQ(layers[1]["intermediate_size"], 48);
  EXPECT_EQ(layers[2]["attention"], "none");
  EXPECT_EQ(layers[3]["mlp"], "none");
  EXPECT_EQ(layers[4]["attention"], "none");
  EXPECT_EQ(layers[4]["mlp"], "none");
  const auto& groups = report["weight_groups"];
  EXPECT_FALSE(groups.contains("block_2_attention"));
  EXPECT_FALSE(groups.contains("block_3_ffn"));
  EXPECT_FALSE(groups.contains("block_4_attention"));
  EXPECT_FALSE(groups.contains("(no group)"));
  EXPECT_EQ(groups["block_1_ffn"]["tensors"], 4);  // post_attention_layernorm + gate/up/down
  EXPECT_EQ(groups["lm_head"]["tensors"], 2);      // lm_head + final norm
  int64_t total = 0;
  for (const auto& [name, g] : groups.items()) total += g["parameters"].get<int64_t>();
  EXPECT_EQ(total, report["num_parameters"].get<int64_t>());
}

// Gemma 2: sandwich norms (grouped with the sub-block they sit around), query_pre_attn_scalar,
// soft-capped scores and sliding layers, all visible per layer.
TEST(InspectCli, Gemma2ShowsNormsScaleSoftcapAndWindows) {
  const auto r = run_cli("inspect --json " + (test::fixtures_dir() / "models" / "gemma2").string());
  ASSERT_EQ(r.status, 0) << r.out;
  const io::Json report = io::Json::parse(r.out);
  EXPECT_EQ(report["family"], "gemma2");
  const auto& layers = report["layers"];
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[0]["norms"], "sandwich");
  EXPECT_EQ(layers[0]["qk_norm"], "none");
  EXPECT_EQ(layers[0]["attention_scale"], 0.25);  // 16^-0.5
  EXPECT_EQ(layers[0]["attn_logit_softcap"], 1.0);
  EXPECT_EQ(layers[0]["sliding_window"], 4);
  EXPECT_TRUE(layers[1]["sliding_window"].is_null());
  const auto& groups = report["weight_groups"];
  EXPECT_EQ(groups["block_0_attention"]["tensors"], 6);  // input/post_attention norms + q/k/v/o
  EXPECT_EQ(groups["block_0_ffn"]["tensors"], 5);        // pre/post_feedforward norms + gate/up/down
  EXPECT_FALSE(groups.contains("(no group)"));
}

// OPT-350m style: model.decoder.* names grouped through the rename table, norms after the residual
// sums, project_in with the embeddings and project_out with the head.
TEST(InspectCli, OptPostNormGroupsItsNestedDecoder) {
  const auto r = run_cli("inspect --json " + (test::fixtures_dir() / "models" / "opt_post_norm").string());
  ASSERT_EQ(r.status, 0) << r.out;
  const io::Json report = io::Json::parse(r.out);
  EXPECT_EQ(report["family"], "opt");
  EXPECT_EQ(report["layers"][1]["norms"], "post_residual");
  const auto& groups = report["weight_groups"];
  EXPECT_EQ(groups["embeddings"]["tensors"], 3);          // embed_tokens, embed_positions, project_in
  EXPECT_EQ(groups["block_1_attention"]["tensors"], 10);  // q/k/v/out_proj with biases + self_attn_layer_norm
  EXPECT_EQ(groups["block_1_ffn"]["tensors"], 6);         // fc1, fc2 with biases + final_layer_norm
  EXPECT_EQ(groups["lm_head"]["tensors"], 1);             // project_out (the head is tied)
  EXPECT_FALSE(groups.contains("(no group)"));
}

TEST(InspectCli, HelpListsTheCommand) {
  const auto r = run_cli("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("inspect"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace shadowpeft
