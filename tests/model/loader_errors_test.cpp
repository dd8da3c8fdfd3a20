// Bad model directories fail with one error that names the file, the tensor or field, the layer,
// and expected vs. actual — and lists every problem at once.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/checkpoint.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/models/loader.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

// A writable copy of the tiny Llama fixture.
fs::path llama_copy() {
  const fs::path dir = test::scratch_dir("llama");
  fs::copy(test::fixtures_dir() / "models" / "llama", dir, fs::copy_options::recursive);
  return dir;
}

io::TensorMap weights(const fs::path& dir) { return io::SafetensorsFile::open(dir / "model.safetensors").load_all(); }

void edit_config(const fs::path& dir, const std::function<void(io::Json&)>& edit) {
  io::Json config = io::read_json_file(dir / "config.json");
  edit(config);
  io::write_json_file(dir / "config.json", config, {.indent = 2, .sort_keys = true});
}

template <typename E>
std::string error_of(const fs::path& dir) {
  try {
    models::load_causal_lm(dir.string());
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return {};
  }
  ADD_FAILURE() << "loaded a broken model";
  return {};
}

#define EXPECT_CONTAINS(text, part) EXPECT_NE((text).find(part), std::string::npos) << "want '" << (part) << "' in: " << (text)

TEST(LoaderErrors, MissingTensorIsNamedWithLayerAndShape) {
  const fs::path dir = llama_copy();
  auto t = weights(dir);
  t.erase("model.layers.1.mlp.up_proj.weight");
  io::save_safetensors(dir / "model.safetensors", t, {{"format", "pt"}});
  const std::string msg = error_of<LoadError>(dir);
  EXPECT_CONTAINS(msg, dir.string());
  EXPECT_CONTAINS(msg, "missing tensor 'model.layers.1.mlp.up_proj.weight' (layer 1): expected shape [64, 32]");
}

TEST(LoaderErrors, EveryShapeMismatchIsListedAtOnce) {
  const fs::path dir = llama_copy();
  edit_config(dir, [](io::Json& c) { c["intermediate_size"] = 48; });
  const std::string msg = error_of<LoadError>(dir);
  EXPECT_CONTAINS(msg, "(6 problems)");  // gate, up, down in each of 2 layers
  EXPECT_CONTAINS(msg, "tensor 'model.layers.0.mlp.down_proj.weight' in model.safetensors (layer 0): expected shape [32, 48], got [32, 64]");
  EXPECT_CONTAINS(msg, "tensor 'model.layers.1.mlp.gate_proj.weight' in model.safetensors (layer 1): expected shape [48, 32], got [64, 32]");
}

TEST(LoaderErrors, ProblemsUseTheCheckpointsNamesAndShardFiles) {
  // OPT renames every module (model.decoder.*, fc1): errors name the tensor as the checkpoint
  // stores it and the shard that holds it.
  const fs::path dir = test::scratch_dir("opt_sharded");
  models::save_pretrained(*models::load_causal_lm((test::fixtures_dir() / "models" / "opt").string()), dir, 20'000);
  ASSERT_TRUE(fs::exists(dir / "model.safetensors.index.json"));
  edit_config(dir, [](io::Json& c) { c["ffn_dim"] = 48; });
  const std::string msg = error_of<LoadError>(dir);
  const io::Json index = io::read_json_file(dir / "model.safetensors.index.json");
  const std::string shard = index["weight_map"]["model.decoder.layers.1.fc1.weight"].get<std::string>();
  EXPECT_CONTAINS(msg, "tensor 'model.decoder.layers.1.fc1.weight' in " + shard + " (layer 1): expected shape [48, 32], got [64, 32]");
}

TEST(LoaderErrors, UnusedTensorIsAnError) {
  const fs::path dir = llama_copy();
  auto t = weights(dir);
  t["model.layers.0.mlp.extra_proj.weight"] = at::zeros({2, 2});
  io::save_safetensors(dir / "model.safetensors", t, {{"format", "pt"}});
  EXPECT_CONTAINS(error_of<LoadError>(dir), "unused tensor 'model.layers.0.mlp.extra_proj.weight' in model.safetensors (layer 0) with shape [2, 2]");
}

TEST(LoaderErrors, TensorOutsideEveryWeightGroupIsAnError) {
  const fs::path dir = llama_copy();
  auto t = weights(dir);
  t["vision_tower.proj.weight"] = at::zeros({2});
  t["model.layers.7.mlp.up_proj.weight"] = at::zeros({2});  // layer beyond num_hidden_layers
  io::save_safetensors(dir / "model.safetensors", t, {{"format", "pt"}});
  const std::string msg = error_of<LoadError>(dir);
  EXPECT_CONTAINS(msg, "belong to no weight group of a llama model with 2 layers");
  EXPECT_CONTAINS(msg, "'vision_tower.proj.weight' (in model.safetensors)");
  EXPECT_CONTAINS(msg, "'model.layers.7.mlp.up_proj.weight'");
}

TEST(LoaderErrors, UnknownArchitectureListsTheSupportedOnes) {
  const fs::path dir = llama_copy();
  edit_config(dir, [](io::Json& c) {
    c["architectures"] = {"FalconForCausalLM"};
    c["model_type"] = "falcon";
  });
  const std::string msg = error_of<UnsupportedError>(dir);
  EXPECT_CONTAINS(msg, "config.json");
  EXPECT_CONTAINS(msg, "unsupported architecture 'FalconForCausalLM' (model_type 'falcon')");
  for (const char* family : {"LlamaForCausalLM", "Qwen3ForCausalLM", "GPT2LMHeadModel", "DeciLMForCausalLM"})
    EXPECT_CONTAINS(msg, family);
}

TEST(LoaderErrors, MissingConfigAndMissingWeightsAreNamed) {
  const fs::path dir = llama_copy();
  fs::remove(dir / "model.safetensors");
  EXPECT_CONTAINS(error_of<LoadError>(dir), "no model.safetensors or model.safetensors.index.json");
  fs::remove(dir / "config.json");
  EXPECT_CONTAINS(error_of<LoadError>(dir), (dir / "config.json").string() + ": file not found");
}

TEST(LoaderErrors, WrongFieldTypeNamesFieldAndValue) {
  const fs::path dir = llama_copy();
  edit_config(dir, [](io::Json& c) { c["hidden_size"] = "wide"; });
  EXPECT_CONTAINS(error_of<ConfigError>(dir), "field 'hidden_size' must be an integer, got \"wide\"");
}

TEST(LoaderErrors, HeadsThatCannotShareKeyValueHeadsAreRejected) {
  const fs::path dir = llama_copy();
  edit_config(dir, [](io::Json& c) { c["num_key_value_heads"] = 3; });
  EXPECT_CONTAINS(error_of<ConfigError>(dir), "layer 0: 4 attention heads cannot share 3 key/value heads");
}

TEST(LoaderErrors, PerLayerConfigIndexOutOfRange) {
  const fs::path dir = llama_copy();
  edit_config(dir, [](io::Json& c) { c["per_layer_config"] = {{"2", {{"intermediate_size", 16}}}}; });
  EXPECT_CONTAINS(error_of<ConfigError>(dir), "per_layer_config' keys must be layer indices in [0, 2); got [2]");
}

TEST(LoaderErrors, PerLayerConfigUnknownAttributeAndSkipKind) {
  const fs::path dir = llama_copy();
  edit_config(dir, [](io::Json& c) {
    c["moe_experts"] = 8;
    c["per_layer_config"] = {{"1", {{"moe_experts", 4}}}};
  });
  EXPECT_CONTAINS(error_of<UnsupportedError>(dir), "per-layer attribute 'moe_experts' is not supported");
  edit_config(dir, [](io::Json& c) { c["per_layer_config"] = {{"1", {{"skip", {"mixer"}}}}}; });
  EXPECT_CONTAINS(error_of<UnsupportedError>(dir), "per_layer_config.1.skip' = 'mixer' is not supported");
}

TEST(LoaderErrors, PerLayerOverrideWithoutGlobalValue) {
  const fs::path dir = llama_copy();
  edit_config(dir, [](io::Json& c) { c["per_layer_config"] = {{"1", {{"mlp_bias", true}}}}; c.erase("mlp_bias"); });
  EXPECT_CONTAINS(error_of<ConfigError>(dir), "overrides [\"mlp_bias\"] on some layers only");
}

TEST(LoaderErrors, BlockConfigsMustMatchTheLayerCount) {
  const fs::path dir = llama_copy();
  edit_config(dir, [](io::Json& c) { c["block_configs"] = io::Json::array({io::Json::object()}); });
  EXPECT_CONTAINS(error_of<ConfigError>(dir), "field 'block_configs' must hold one entry per layer (2), got 1");
}

// The flag form of per_layer_config (transformers' first API: skip_attention / skip_mlp) reads
// into the same layer specs as the list form.
TEST(LayerSpecs, SkipFlagsAndSkipListAgree) {
  const fs::path dir = llama_copy();
  edit_config(dir, [](io::Json& c) { c["per_layer_config"] = {{"1", {{"skip", {"attention", "mlp"}}}}}; });
  const auto list_form = models::read_model_config(dir / "config.json");
  edit_config(dir, [](io::Json& c) { c["per_layer_config"] = {{"1", {{"skip_attention", true}, {"skip_mlp", true}}}}; });
  const auto flag_form = models::read_model_config(dir / "config.json");
  EXPECT_EQ(list_form.layers, flag_form.layers);
  EXPECT_EQ(flag_form.layers[1].attention, models::AttentionKind::None);
  EXPECT_EQ(flag_form.layers[1].mlp, models::MlpKind::None);
}

}  // namespace
}  // namespace shadowpeft
