// save_pretrained: what we write reloads into identical logits, keeps config.json byte-identical,
// and (checked in Python by verify_cpp_outputs.py) loads in transformers with the reference logits.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shadowpeft/io/checkpoint.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> built_cases() {
  const io::Json index = io::read_json_file(test::fixtures_dir() / "models" / "index.json");
  std::vector<std::string> cases;
  for (const auto& c : index.at("cases")) cases.push_back(c.get<std::string>());
  return cases;
}

at::Tensor logits_for(models::CausalLM& model, const io::SafetensorsFile& ref, const std::string& input) {
  models::ForwardOptions options;
  options.attention_mask = ref.tensor(input + ".attention_mask");
  options.position_ids = ref.tensor(input + ".position_ids");
  torch::InferenceMode guard;
  return model->forward(ref.tensor(input + ".input_ids"), options);
}

TEST(SavePretrained, EveryFamilyReloadsIdentically) {
  for (const std::string& name : built_cases()) {
    SCOPED_TRACE(name);
    const fs::path src = test::fixtures_dir() / "models" / name;
    models::CausalLM model = models::load_causal_lm(src.string());
    const fs::path out = test::scratch_dir("save_" + name);
    models::save_pretrained(*model, out, 40'000);  // small shards: exercises the index too
    const io::Json source_config = io::read_json_file(src / "config.json");
    if (source_config.contains("quantization_config")) {
      // Stored quantized, saved dequantized: the same config without its quantization_config.
      io::Json expected = source_config;
      expected.erase("quantization_config");
      EXPECT_EQ(io::read_json_file(out / "config.json"), expected);
      EXPECT_EQ(model->named_parameters()["model.layers.0.mlp.experts.gate_up_proj"].scalar_type(), at::kFloat);
    } else if (source_config.contains("vision_config")) {
      // An image-text checkpoint saves its language model as a causal LM of the text family.
      const io::Json saved = io::read_json_file(out / "config.json");
      EXPECT_TRUE(saved["architectures"][0].get<std::string>().ends_with("ForCausalLM")) << saved.dump();
      EXPECT_FALSE(saved.contains("vision_config"));
      for (const std::string& tensor : io::SafetensorsCheckpoint::open(out).names())
        EXPECT_TRUE(tensor.starts_with("model.layers.") || tensor.starts_with("model.embed_tokens.") ||
                    tensor == "model.norm.weight" || tensor == "lm_head.weight")
            << tensor;
    } else {
      EXPECT_EQ(test::read_file_bytes(out / "config.json"), test::read_file_bytes(src / "config.json"));
      // The tensors are named as transformers names them in its files (experts one by one, Mixtral's
      // block_sparse_moe), whatever our modules hold.
      EXPECT_EQ(io::SafetensorsCheckpoint::open(out).names(), io::SafetensorsCheckpoint::open(src).names());
    }
    models::CausalLM reloaded = models::load_causal_lm(out.string());
    const auto ref = io::SafetensorsFile::open(src / "reference.safetensors");
    EXPECT_TENSOR_BITWISE_EQ(logits_for(reloaded, ref, "batch_left"), logits_for(model, ref, "batch_left"), name);
  }
}

// Sub-block checkpoints of heterogeneous models: one file per weight group, none for skipped
// sub-blocks, and the directory reloads into identical logits.
TEST(SaveSubblocks, HeterogeneousModelsSplitByWeightGroupAndReload) {
  for (const std::string name :
       {"llama_hetero", "decilm", "gpt2", "qwen3_moe_hetero", "gpt_oss_hetero", "llama4_hetero", "nemotron_h_hetero"}) {
    SCOPED_TRACE(name);
    const fs::path src = test::fixtures_dir() / "models" / name;
    models::CausalLM model = models::load_causal_lm(src.string());
    const fs::path out = test::scratch_dir("subblocks_" + name);
    models::save_subblocks(*model, out);
    const io::Json index = io::read_json_file(out / "model.safetensors.index.json");
    for (const auto& [tensor, file] : index["weight_map"].items())
      EXPECT_TRUE(fs::exists(out / file.get<std::string>())) << tensor;
    EXPECT_TRUE(fs::exists(out / "subblocks_safetensors" / "embeddings.safetensors"));
    EXPECT_TRUE(fs::exists(out / "subblocks_safetensors" / "lm_head.safetensors"));
    models::CausalLM reloaded = models::load_causal_lm(out.string());
    const auto ref = io::SafetensorsFile::open(src / "reference.safetensors");
    EXPECT_TENSOR_BITWISE_EQ(logits_for(reloaded, ref, "batch_left"), logits_for(model, ref, "batch_left"), name);
  }
  // llama_hetero: layer 2 skips attention, 3 the MLP, 4 both (fixture notes).
  const fs::path hetero = test::fixtures_dir() / "scratch" / "SaveSubblocks.HeterogeneousModelsSplitByWeightGroupAndReload" /
                          "subblocks_llama_hetero" / "subblocks_safetensors";
  EXPECT_FALSE(fs::exists(hetero / "block_2_attention.safetensors"));
  EXPECT_TRUE(fs::exists(hetero / "block_2_ffn.safetensors"));
  EXPECT_FALSE(fs::exists(hetero / "block_3_ffn.safetensors"));
  EXPECT_FALSE(fs::exists(hetero / "block_4_attention.safetensors"));
  EXPECT_FALSE(fs::exists(hetero / "block_4_ffn.safetensors"));
  // qwen3_moe_hetero: the experts and router sit in block_{i}_ffn; layer 3 has no MLP.
  const fs::path moe = test::fixtures_dir() / "scratch" / "SaveSubblocks.HeterogeneousModelsSplitByWeightGroupAndReload" /
                       "subblocks_qwen3_moe_hetero";
  const io::Json moe_index = io::read_json_file(moe / "model.safetensors.index.json");
  EXPECT_EQ(moe_index["weight_map"]["model.layers.0.mlp.experts.1.down_proj.weight"], "subblocks_safetensors/block_0_ffn.safetensors");
  EXPECT_EQ(moe_index["weight_map"]["model.layers.0.mlp.gate.weight"], "subblocks_safetensors/block_0_ffn.safetensors");
  EXPECT_FALSE(moe_index["weight_map"].contains("model.layers.0.mlp.experts.2.down_proj.weight"));  // pruned
  EXPECT_FALSE(fs::exists(moe / "subblocks_safetensors" / "block_3_ffn.safetensors"));
  // nemotron_h_hetero: one sub-block per block, a Mamba mixer is its own kind; blocks 1 and 4 are skipped.
  const fs::path hybrid = test::fixtures_dir() / "scratch" / "SaveSubblocks.HeterogeneousModelsSplitByWeightGroupAndReload" /
                          "subblocks_nemotron_h_hetero";
  const io::Json hybrid_index = io::read_json_file(hybrid / "model.safetensors.index.json");
  const auto group_of = [&](const std::string& tensor) { return hybrid_index["weight_map"].value(tensor, std::string("(none)")); };
  EXPECT_EQ(group_of("backbone.layers.0.mixer.A_log"), "subblocks_safetensors/block_0_mixer.safetensors");
  EXPECT_EQ(group_of("backbone.layers.0.norm.weight"), "subblocks_safetensors/block_0_mixer.safetensors");
  EXPECT_EQ(group_of("backbone.layers.2.mixer.k_proj.weight"), "subblocks_safetensors/block_2_attention.safetensors");
  EXPECT_EQ(group_of("backbone.layers.3.norm.weight"), "subblocks_safetensors/block_3_ffn.safetensors");
  EXPECT_EQ(group_of("backbone.layers.5.mixer.experts.5.up_proj.weight"), "subblocks_safetensors/block_5_ffn.safetensors");
  EXPECT_EQ(group_of("backbone.layers.5.mixer.fc1_latent_proj.weight"), "subblocks_safetensors/block_5_ffn.safetensors");
  EXPECT_EQ(group_of("backbone.embeddings.weight"), "subblocks_safetensors/embeddings.safetensors");
  EXPECT_EQ(group_of("backbone.norm_f.weight"), "subblocks_safetensors/lm_head.safetensors");
  for (const char* skipped : {"block_1_mixer", "block_1_ffn", "block_4_mixer", "block_4_ffn"})
    EXPECT_FALSE(fs::exists(hybrid / "subblocks_safetensors" / (std::string(skipped) + ".safetensors"))) << skipped;
}

// Saves every family for verify_cpp_outputs.py, which loads them with transformers.
TEST(ForPython, SaveEveryFamily) {
  for (const std::string& name : built_cases()) {
    models::CausalLM model = models::load_causal_lm((test::fixtures_dir() / "models" / name).string());
    const fs::path out = test::fixtures_dir() / "from_cpp" / "models" / name;
    fs::remove_all(out);
    models::save_pretrained(*model, out, 40'000);
  }
}

}  // namespace
}  // namespace shadowpeft
