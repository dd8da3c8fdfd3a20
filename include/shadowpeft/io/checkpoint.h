#pragma once
// The weights of a model directory as one name → tensor store, whether they sit in a single
// `model.safetensors` or in shards listed by `model.safetensors.index.json`.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"

namespace shadowpeft::io {

class SafetensorsCheckpoint {
 public:
  // `path`: a model directory, a `.safetensors` file, or a `*.safetensors.index.json`. A directory
  // prefers `model.safetensors`, then `model.safetensors.index.json`. Validates that the index and
  // the shards agree (every listed tensor present in its shard, no shard tensor left unlisted).
  static SafetensorsCheckpoint open(const std::filesystem::path& path);

  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return shard_of_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  const SafetensorsFile& file_of(const std::string& name) const;
  at::Tensor tensor(const std::string& name) const;
  const std::vector<SafetensorsFile>& shards() const { return shards_; }
  const std::optional<std::filesystem::path>& index_path() const { return index_path_; }
  uint64_t total_bytes() const;
  int64_t total_numel() const;

 private:
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, std::size_t> shard_of_;
  std::optional<std::filesystem::path> index_path_;
};

struct ShardingOptions {
  // Largest shard in bytes of tensor data (transformers' default max_shard_size is 5 GB).
  // One shard → `<prefix>.safetensors`; more → `<prefix>-0000i-of-0000n.safetensors` + index.
  uint64_t max_shard_bytes = 5'000'000'000;
  std::string prefix = "model";
  Metadata metadata = {{"format", "pt"}};
};

// One file of a sharded checkpoint and the tensors it holds.
struct ShardPlan {
  std::string file;  // <prefix>.safetensors, or <prefix>-0000i-of-0000n.safetensors
  std::vector<std::string> tensors;
};
// How transformers' save_pretrained splits tensors, given as (name, bytes) in name order: greedily,
// a tensor larger than the limit alone in its shard.
std::vector<ShardPlan> plan_shards(const std::vector<std::pair<std::string, uint64_t>>& sizes, const ShardingOptions& options);
// `<prefix>.safetensors.index.json` content beside shards: weight_map (tensor → file) and the totals.
void write_safetensors_index(const std::filesystem::path& file, const Json& weight_map, int64_t total_parameters,
                             uint64_t total_bytes);

// Writes `tensors` into `dir` the way transformers' save_pretrained does; every file is atomic and
// the index is written last. Returns the files written.
std::vector<std::filesystem::path> save_sharded_safetensors(const std::filesystem::path& dir,
                                                            const TensorMap& tensors,
                                                            const ShardingOptions& options = {});

}  // namespace shadowpeft::io
