#include "shadowpeft/io/checkpoint.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"

namespace shadowpeft::io {
namespace fs = std::filesystem;

namespace {

void open_index(const fs::path& index_path, std::vector<SafetensorsFile>& shards,
                                 std::map<std::string, std::size_t>& shard_of) {
  const Json index = read_json_file(index_path);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw LoadError(fmt::format("{}: missing object field 'weight_map'", index_path.string()));
  std::map<std::string, std::size_t> shard_index;  // shard file name → position in `shards`
  for (const auto& [name, file] : index["weight_map"].items()) {
    if (!file.is_string())
      throw LoadError(fmt::format("{}: weight_map['{}'] must be a file name, got {}", index_path.string(),
                                  name, file.type_name()));
    const std::string shard_name = file.get<std::string>();
    auto it = shard_index.find(shard_name);
    if (it == shard_index.end()) {
      const fs::path shard_path = index_path.parent_path() / shard_name;
      if (!fs::exists(shard_path))
        throw LoadError(fmt::format("{}: shard '{}' (holding tensor '{}') does not exist at {}",
                                    index_path.string(), shard_name, name, shard_path.string()));
      shards.push_back(SafetensorsFile::open(shard_path));
      it = shard_index.emplace(shard_name, shards.size() - 1).first;
    }
    if (!shards[it->second].contains(name))
      throw LoadError(fmt::format("{}: tensor '{}' is listed in shard '{}' but that file does not hold it",
                                  index_path.string(), name, shard_name));
    shard_of[name] = it->second;
  }
  for (const SafetensorsFile& shard : shards)
    for (const TensorInfo& t : shard.tensors())
      if (!shard_of.count(t.name))
        throw LoadError(fmt::format("{}: tensor '{}' in shard {} is not listed in the index",
                                    index_path.string(), t.name, shard.path().filename().string()));
}

}  // namespace

SafetensorsCheckpoint SafetensorsCheckpoint::open(const fs::path& path) {
  SafetensorsCheckpoint ckpt;
  fs::path target = path;
  if (fs::is_directory(path)) {
    if (fs::exists(path / "model.safetensors")) target = path / "model.safetensors";
    else if (fs::exists(path / "model.safetensors.index.json")) target = path / "model.safetensors.index.json";
    else
      throw LoadError(fmt::format("{}: no model.safetensors or model.safetensors.index.json in this directory",
                                  path.string()));
  } else if (!fs::exists(path)) {
    throw LoadError(fmt::format("{}: file not found", path.string()));
  }

  if (target.string().ends_with(".json")) {
    open_index(target, ckpt.shards_, ckpt.shard_of_);
    ckpt.index_path_ = target;
  } else {
    ckpt.shards_.push_back(SafetensorsFile::open(target));
    for (const TensorInfo& t : ckpt.shards_.front().tensors()) ckpt.shard_of_[t.name] = 0;
  }
  return ckpt;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(shard_of_.size());
  for (const auto& [name, _] : shard_of_) out.push_back(name);
  return out;
}

const SafetensorsFile& SafetensorsCheckpoint::file_of(const std::string& name) const {
  auto it = shard_of_.find(name);
  if (it == shard_of_.end()) {
    const fs::path where = index_path_ ? *index_path_ : shards_.front().path();
    throw LoadError(fmt::format("{}: no tensor named '{}'", where.string(), name));
  }
  return shards_[it->second];
}

const TensorInfo& SafetensorsCheckpoint::info(const std::string& name) const { return *file_of(name).find(name); }
at::Tensor SafetensorsCheckpoint::tensor(const std::string& name) const { return file_of(name).tensor(name); }

uint64_t SafetensorsCheckpoint::total_bytes() const {
  uint64_t total = 0;
  for (const auto& shard : shards_)
    for (const auto& t : shard.tensors()) total += t.end - t.begin;
  return total;
}

int64_t SafetensorsCheckpoint::total_numel() const {
  int64_t total = 0;
  for (const auto& shard : shards_)
    for (const auto& t : shard.tensors()) total += t.numel();
  return total;
}

std::vector<ShardPlan> plan_shards(const std::vector<std::pair<std::string, uint64_t>>& sizes, const ShardingOptions& options) {
  std::vector<ShardPlan> shards(1);
  uint64_t current = 0;
  for (const auto& [name, bytes] : sizes) {
    if (current > 0 && current + bytes > options.max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().tensors.push_back(name);
    current += bytes;
  }
  if (shards.size() == 1) shards.front().file = options.prefix + ".safetensors";
  else
    for (std::size_t i = 0; i < shards.size(); ++i)
      shards[i].file = fmt::format("{}-{:05d}-of-{:05d}.safetensors", options.prefix, i + 1, shards.size());
  return shards;
}

void write_safetensors_index(const fs::path& file, const Json& weight_map, int64_t total_parameters, uint64_t total_bytes) {
  const Json index = {{"metadata", {{"total_parameters", total_parameters}, {"total_size", total_bytes}}}, {"weight_map", weight_map}};
  write_json_file(file, index, {.indent = 2, .sort_keys = true});
}

std::vector<fs::path> save_sharded_safetensors(const fs::path& dir, const TensorMap& tensors,
                                               const ShardingOptions& options) {
  fs::create_directories(dir);
  std::vector<std::pair<std::string, uint64_t>> sizes;
  uint64_t total = 0;
  int64_t numel = 0;
  for (const auto& [name, t] : tensors) {
    sizes.emplace_back(name, static_cast<uint64_t>(t.numel()) * t.element_size());
    total += sizes.back().second;
    numel += t.numel();
  }
  const std::vector<ShardPlan> shards = plan_shards(sizes, options);
  std::vector<fs::path> written;
  Json weight_map = Json::object();
  for (const ShardPlan& shard : shards) {
    TensorMap part;
    for (const std::string& name : shard.tensors) {
      part.emplace(name, tensors.at(name));
      weight_map[name] = shard.file;
    }
    written.push_back(dir / shard.file);
    save_safetensors(written.back(), part, options.metadata);
  }
  if (shards.size() > 1) {
    written.push_back(dir / (options.prefix + ".safetensors.index.json"));
    write_safetensors_index(written.back(), weight_map, numel, total);
  }
  return written;
}

}  // namespace shadowpeft::io
