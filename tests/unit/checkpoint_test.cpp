// Sharded checkpoints: transformers' sharded save reads back as the single-file save does; our
// sharded writer produces what transformers expects; index/shard disagreements are clear errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/checkpoint.h"
#include "shadowpeft/io/json_file.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;
using io::SafetensorsCheckpoint;

void expect_load_error(const fs::path& path, const std::vector<std::string>& parts) {
  try {
    SafetensorsCheckpoint::open(path);
    ADD_FAILURE() << "expected LoadError for " << path;
  } catch (const LoadError& e) {
    for (const auto& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

// A copy of the Python-written sharded model that a test may damage.
fs::path sharded_copy(const std::string& name) {
  const fs::path dir = test::scratch_dir(name);
  fs::copy(test::fixtures_dir() / "tiny_llama_sharded", dir, fs::copy_options::recursive);
  return dir;
}

TEST(Checkpoint, PythonShardedEqualsPythonSingleFile) {
  const auto single = SafetensorsCheckpoint::open(test::fixtures_dir() / "tiny_llama");
  const auto sharded = SafetensorsCheckpoint::open(test::fixtures_dir() / "tiny_llama_sharded");
  EXPECT_EQ(single.shards().size(), 1u);
  EXPECT_GT(sharded.shards().size(), 1u);
  ASSERT_TRUE(sharded.index_path().has_value());
  ASSERT_EQ(sharded.names(), single.names());
  for (const auto& name : single.names()) EXPECT_TENSOR_BITWISE_EQ(sharded.tensor(name), single.tensor(name), name);
  const io::Json index = io::read_json_file(*sharded.index_path());
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), sharded.total_bytes());
  EXPECT_EQ(index["metadata"]["total_parameters"].get<int64_t>(), sharded.total_numel());
}

TEST(Checkpoint, OpensAFileAnIndexOrADirectory) {
  const fs::path dir = test::fixtures_dir() / "tiny_llama_sharded";
  EXPECT_EQ(SafetensorsCheckpoint::open(dir / "model.safetensors.index.json").names().size(),
            SafetensorsCheckpoint::open(dir).names().size());
  EXPECT_FALSE(SafetensorsCheckpoint::open(test::fixtures_dir() / "tiny_llama" / "model.safetensors")
                   .index_path()
                   .has_value());
}

TEST(Checkpoint, OurShardedSaveReloadsAndSplitsBySize) {
  const auto single = SafetensorsCheckpoint::open(test::fixtures_dir() / "tiny_llama");
  io::TensorMap tensors;
  for (const auto& name : single.names()) tensors[name] = single.tensor(name);
  const fs::path dir = test::scratch_dir("ckpt_ours");
  const auto files = io::save_sharded_safetensors(dir, tensors, {.max_shard_bytes = 20'000});
  ASSERT_GT(files.size(), 2u);
  EXPECT_EQ(files.back().filename(), "model.safetensors.index.json");
  const auto reread = SafetensorsCheckpoint::open(dir);
  EXPECT_GT(reread.shards().size(), 1u);
  for (const auto& shard : reread.shards()) {
    EXPECT_EQ(shard.metadata().at("format"), "pt");
    uint64_t bytes = 0;
    for (const auto& t : shard.tensors()) bytes += t.end - t.begin;
    EXPECT_TRUE(bytes <= 20'000 || shard.tensors().size() == 1) << shard.path();
  }
  for (const auto& name : single.names()) EXPECT_TENSOR_BITWISE_EQ(reread.tensor(name), single.tensor(name), name);
}

TEST(Checkpoint, OneShardMeansNoIndex) {
  const fs::path dir = test::scratch_dir("ckpt_one");
  const auto files = io::save_sharded_safetensors(dir, {{"w", at::ones({4})}});
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename(), "model.safetensors");
}

TEST(Checkpoint, IndexNamingAMissingShardIsAnError) {
  const fs::path dir = sharded_copy("ckpt_missing_shard");
  fs::remove(dir / "model-00002-of-00007.safetensors");
  expect_load_error(dir, {"model.safetensors.index.json", "model-00002-of-00007.safetensors", "does not exist"});
}

TEST(Checkpoint, IndexListingATensorItsShardLacksIsAnError) {
  const fs::path dir = sharded_copy("ckpt_wrong_shard");
  io::Json index = io::read_json_file(dir / "model.safetensors.index.json");
  index["weight_map"]["lm_head.weight"] = "model-00001-of-00007.safetensors";
  io::write_json_file(dir / "model.safetensors.index.json", index);
  expect_load_error(dir, {"'lm_head.weight'", "model-00001-of-00007.safetensors", "does not hold it"});
}

TEST(Checkpoint, ShardTensorMissingFromIndexIsAnError) {
  const fs::path dir = sharded_copy("ckpt_unlisted");
  io::Json index = io::read_json_file(dir / "model.safetensors.index.json");
  index["weight_map"].erase("model.norm.weight");
  io::write_json_file(dir / "model.safetensors.index.json", index);
  expect_load_error(dir, {"'model.norm.weight'", "not listed in the index"});
}

TEST(Checkpoint, MalformedIndexIsAnError) {
  const fs::path dir = sharded_copy("ckpt_bad_index");
  std::ofstream(dir / "model.safetensors.index.json") << "{\"weight_map\": [1, 2";
  expect_load_error(dir, {"model.safetensors.index.json", "invalid JSON"});
  std::ofstream(dir / "model.safetensors.index.json") << "{\"metadata\": {}}";
  expect_load_error(dir, {"model.safetensors.index.json", "'weight_map'"});
}

TEST(Checkpoint, DirectoryWithoutWeightsIsAnError) {
  expect_load_error(test::scratch_dir("ckpt_empty"), {"no model.safetensors"});
}

// Writes a sharded copy of the tiny model for verify_cpp_outputs.py to load with transformers.
TEST(ForPython, WriteShardedModel) {
  const fs::path src = test::fixtures_dir() / "tiny_llama";
  const auto single = SafetensorsCheckpoint::open(src);
  io::TensorMap tensors;
  for (const auto& name : single.names()) tensors[name] = single.tensor(name);
  const fs::path dir = test::fixtures_dir() / "from_cpp" / "tiny_llama_sharded";
  fs::remove_all(dir);
  io::save_sharded_safetensors(dir, tensors, {.max_shard_bytes = 20'000});
  fs::copy_file(src / "config.json", dir / "config.json");
}

}  // namespace
}  // namespace shadowpeft
