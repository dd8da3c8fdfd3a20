// `convert`: Hugging Face files ↔ sub-block files, dtype casts and re-sharding, tensor by tensor.
// A round trip gives back every tensor bit for bit and config.json byte for byte, and every result
// loads into the same logits.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/checkpoint.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/convert.h"
#include "shadowpeft/models/loader.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;
using models::CheckpointFormat;

fs::path model_dir(const std::string& name) { return test::fixtures_dir() / "models" / name; }

at::Tensor logits_of(const fs::path& dir, const fs::path& reference) {
  models::CausalLM model = models::load_causal_lm(dir.string());
  const auto ref = io::SafetensorsFile::open(reference / "reference.safetensors");
  models::ForwardOptions options;
  options.attention_mask = ref.tensor("batch_left.attention_mask");
  options.position_ids = ref.tensor("batch_left.position_ids");
  torch::InferenceMode guard;
  return model->forward(ref.tensor("batch_left.input_ids"), options);
}

void expect_same_tensors(const fs::path& a, const fs::path& b) {
  const auto x = io::SafetensorsCheckpoint::open(a), y = io::SafetensorsCheckpoint::open(b);
  ASSERT_EQ(x.names(), y.names());
  for (const std::string& name : x.names()) {
    EXPECT_EQ(x.info(name).dtype, y.info(name).dtype) << name;
    EXPECT_TENSOR_BITWISE_EQ(x.tensor(name), y.tensor(name), name);
  }
}

TEST(Convert, SubblocksAndBackIsBitExact) {
  // Per-layer shapes and skipped mixers (nemotron_h_hetero), experts saved one by one
  // (qwen3_moe_hetero), MXFP4 blocks kept as stored (gpt_oss_mxfp4).
  for (const std::string name : {"nemotron_h_hetero", "qwen3_moe_hetero", "gpt_oss_mxfp4", "llama"}) {
    SCOPED_TRACE(name);
    const fs::path scratch = test::scratch_dir("roundtrip_" + name);
    const fs::path subblocks = scratch / "subblocks", back = scratch / "hf";
    const auto r = models::convert_checkpoint(model_dir(name), subblocks, {.format = CheckpointFormat::Subblocks});
    EXPECT_GT(r.files, 2u);
    EXPECT_TRUE(fs::exists(subblocks / "subblocks_safetensors" / "embeddings.safetensors"));
    models::convert_checkpoint(subblocks, back, {.format = CheckpointFormat::HuggingFace});
    expect_same_tensors(model_dir(name), subblocks);
    expect_same_tensors(model_dir(name), back);
    EXPECT_EQ(test::read_file_bytes(back / "config.json"), test::read_file_bytes(model_dir(name) / "config.json"));
    EXPECT_TRUE(fs::exists(back / "model.safetensors"));
    EXPECT_FALSE(fs::exists(back / "model.safetensors.index.json"));
    EXPECT_EQ(fs::exists(back / "generation_config.json"), fs::exists(model_dir(name) / "generation_config.json"))
        << "the other files are copied";
    const at::Tensor original = logits_of(model_dir(name), model_dir(name));
    EXPECT_TENSOR_BITWISE_EQ(logits_of(subblocks, model_dir(name)), original, "subblocks");
    EXPECT_TENSOR_BITWISE_EQ(logits_of(back, model_dir(name)), original, "back");
  }
}

TEST(Convert, CastsFloatingWeightsAndRecordsTheDtype) {
  const fs::path scratch = test::scratch_dir("bf16");
  const fs::path out = scratch / "model";
  models::convert_checkpoint(model_dir("nemotron_h"), out, {.dtype = at::kBFloat16});
  const auto source = io::SafetensorsCheckpoint::open(model_dir("nemotron_h"));
  const auto cast = io::SafetensorsCheckpoint::open(out);
  for (const std::string& name : source.names())
    EXPECT_TENSOR_BITWISE_EQ(cast.tensor(name), source.tensor(name).to(at::kBFloat16), name);
  EXPECT_EQ(io::read_json_file(out / "config.json").at("dtype"), "bfloat16");
  EXPECT_EQ(models::load_causal_lm(out.string())->model->embed_tokens->weight.scalar_type(), at::kBFloat16);
  // and back to float32: bfloat16 values widen exactly
  const fs::path back = scratch / "back";
  models::convert_checkpoint(out, back, {.dtype = at::kFloat});
  for (const std::string& name : source.names())
    EXPECT_TENSOR_BITWISE_EQ(io::SafetensorsCheckpoint::open(back).tensor(name), cast.tensor(name).to(at::kFloat), name);
}

TEST(Convert, ReshardsAndTheShardsLoad) {
  const fs::path out = test::scratch_dir("reshard") / "model";
  const auto r = models::convert_checkpoint(model_dir("llama"), out, {.max_shard_bytes = 20'000});
  EXPECT_GT(r.files, 2u);
  EXPECT_TRUE(fs::exists(out / fmt::format("model-00001-of-{:05d}.safetensors", r.files)));
  const io::Json index = io::read_json_file(out / "model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), r.bytes);
  expect_same_tensors(model_dir("llama"), out);
  EXPECT_TENSOR_BITWISE_EQ(logits_of(out, model_dir("llama")), logits_of(model_dir("llama"), model_dir("llama")), "shards");
}

TEST(Convert, RefusesToWriteIntoAFullDirectory) {
  const fs::path out = test::scratch_dir("full");
  io::write_json_file(out / "config.json", io::Json::object());
  try {
    models::convert_checkpoint(model_dir("llama"), out, {});
    FAIL() << "converted into a non-empty directory";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("exists and is not empty"), std::string::npos) << e.what();
  }
  EXPECT_EQ(io::read_json_file(out / "config.json"), io::Json::object()) << "left untouched";
}

TEST(Convert, ByteSizes) {
  EXPECT_EQ(models::parse_byte_size("5GB", "s"), 5'000'000'000u);
  EXPECT_EQ(models::parse_byte_size("500MB", "s"), 500'000'000u);
  EXPECT_EQ(models::parse_byte_size("2GiB", "s"), 2'147'483'648u);
  EXPECT_EQ(models::parse_byte_size("1.5kb", "s"), 1500u);
  EXPECT_EQ(models::parse_byte_size("4096", "s"), 4096u);
  for (const char* bad : {"", "GB", "5XB", "0", "-1MB", "1.2.3GB"}) EXPECT_THROW(models::parse_byte_size(bad, "s"), ConfigError) << bad;
}

TEST(ConvertCli, WritesSubblocksThatInspectReads) {
  const fs::path out = test::scratch_dir("cli") / "subblocks";
  auto r = test::run_cli(fmt::format("convert --model {} --out {} --format subblocks", model_dir("nemotron_h_hetero").string(),
                                     out.string()));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("converted"), std::string::npos) << r.out;
  r = test::run_cli("inspect --model " + out.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("block_0_mixer"), std::string::npos) << r.out;
  r = test::run_cli(fmt::format("convert --model {} --out {} --max-shard-size lots", model_dir("llama").string(),
                                (test::scratch_dir("cli") / "bad").string()));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("error: --max-shard-size = 'lots' is not a size"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace shadowpeft
