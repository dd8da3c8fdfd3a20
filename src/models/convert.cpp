// Checkpoint conversion between the Hugging Face layout and sub-block files, and between dtypes,
// one output file at a time.
#include "shadowpeft/models/convert.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cctype>
#include <map>
#include <vector>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/checkpoint.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/models/loader.h"

namespace shadowpeft::models {
namespace fs = std::filesystem;

CheckpointFormat parse_checkpoint_format(const std::string& name) {
  if (name == "hf") return CheckpointFormat::HuggingFace;
  if (name == "subblocks") return CheckpointFormat::Subblocks;
  throw ConfigError(fmt::format("checkpoint format '{}' is not one of: hf, subblocks", name));
}

uint64_t parse_byte_size(const std::string& text, const std::string& what) {
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) ++digits;
  std::string unit = text.substr(digits);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::map<std::string, double> kUnits = {{"", 1},      {"B", 1},          {"KB", 1e3},       {"MB", 1e6},
                                                       {"GB", 1e9},  {"TB", 1e12},      {"KIB", 1024.0},   {"MIB", 1048576.0},
                                                       {"GIB", 1073741824.0}, {"TIB", 1099511627776.0}};
  const auto it = kUnits.find(unit);
  double value = 0;
  bool number = digits > 0;
  try {
    std::size_t used = 0;
    if (number) value = std::stod(text.substr(0, digits), &used);
    number = number && used == digits;
  } catch (const std::exception&) {
    number = false;
  }
  if (!number || it == kUnits.end() || value * it->second < 1)
    throw ConfigError(fmt::format("{} = '{}' is not a size: give bytes or a number with KB, MB, GB (or KiB, MiB, GiB), "
                                  "e.g. 5GB",
                                  what, text));
  return static_cast<uint64_t>(value * it->second);
}

namespace {

bool casts(const io::TensorInfo& info, const std::optional<c10::ScalarType>& dtype) {
  return dtype && c10::isFloatingType(io::to_scalar_type(info.dtype));
}

uint64_t output_bytes(const io::TensorInfo& info, const std::optional<c10::ScalarType>& dtype) {
  const uint64_t element = casts(info, dtype) ? c10::elementSize(*dtype) : io::dtype_size(info.dtype);
  return static_cast<uint64_t>(info.numel()) * element;
}

// Files and their tensors as save_pretrained shards them.
std::vector<io::ShardPlan> plan_shards(const io::SafetensorsCheckpoint& in, const ConvertOptions& options) {
  std::vector<std::pair<std::string, uint64_t>> sizes;
  for (const std::string& name : in.names()) sizes.emplace_back(name, output_bytes(in.info(name), options.dtype));
  return io::plan_shards(sizes, {.max_shard_bytes = options.max_shard_bytes});
}

// One file per weight group, as save_subblocks writes them.
std::vector<io::ShardPlan> plan_subblocks(const io::SafetensorsCheckpoint& in, const ModelConfig& config, const fs::path& source) {
  std::map<std::string, io::ShardPlan> groups;
  for (const std::string& name : in.names()) {
    const auto group = config.descriptor->weight_group(name, config);
    if (!group)
      throw LoadError(fmt::format("{}: tensor '{}' belongs to no weight group of this {}-layer {} model", source.string(), name,
                                  config.num_layers(), config.descriptor->name()));
    io::ShardPlan& file = groups[*group];
    file.file = "subblocks_safetensors/" + *group + ".safetensors";
    file.tensors.push_back(name);
  }
  std::vector<io::ShardPlan> files;
  for (auto& [group, file] : groups) files.push_back(std::move(file));
  return files;
}

bool is_weight_file(const fs::path& file) {
  const std::string name = file.filename().string();
  return name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json") || name == "config.json";
}

}  // namespace

ConvertResult convert_checkpoint(const fs::path& in, const fs::path& out, const ConvertOptions& options) {
  if (!fs::is_directory(in)) throw LoadError(fmt::format("{}: not a model directory", in.string()));
  if (fs::exists(out) && (!fs::is_directory(out) || !fs::is_empty(out)))
    throw ConfigError(fmt::format("{}: the output directory exists and is not empty; convert writes a new directory", out.string()));
  const ModelConfig config = read_model_config(in / "config.json");
  const io::SafetensorsCheckpoint checkpoint = io::SafetensorsCheckpoint::open(in);
  const std::vector<io::ShardPlan> files = options.format == CheckpointFormat::HuggingFace
                                            ? plan_shards(checkpoint, options)
                                            : plan_subblocks(checkpoint, config, in);
  // Weights first (each file atomic), then the index, config.json and the other files: a directory
  // interrupted before its config.json is visibly incomplete.
  fs::create_directories(out);
  ConvertResult result;
  io::Json weight_map = io::Json::object();
  int64_t numel = 0;
  uint64_t total_bytes = 0;
  for (const io::ShardPlan& file : files)
    for (const std::string& name : file.tensors) total_bytes += output_bytes(checkpoint.info(name), options.dtype);
  for (const io::ShardPlan& file : files) {
    io::TensorMap tensors;
    for (const std::string& name : file.tensors) {
      const io::TensorInfo& info = checkpoint.info(name);
      at::Tensor t = checkpoint.tensor(name);
      if (casts(info, options.dtype)) t = t.to(*options.dtype);
      result.bytes += output_bytes(info, options.dtype);
      numel += info.numel();
      weight_map[name] = file.file;
      tensors.emplace(name, std::move(t));
      if (options.progress) options.progress({result.bytes, total_bytes, result.files, files.size()});
    }
    fs::create_directories((out / file.file).parent_path());
    io::save_safetensors(out / file.file, tensors, {{"format", "pt"}});
    result.tensors += tensors.size();
    ++result.files;
    if (options.progress) options.progress({result.bytes, total_bytes, result.files, files.size()});
  }
  if (files.size() > 1 || options.format == CheckpointFormat::Subblocks)
    io::write_safetensors_index(out / "model.safetensors.index.json", weight_map, numel, result.bytes);
  if (options.dtype)
    io::write_json_file(out / "config.json", config_json_with_dtype(config, config_dtype_name(*options.dtype)),
                        {.indent = 2, .sort_keys = true});
  else
    fs::copy_file(in / "config.json", out / "config.json");
  for (const auto& entry : fs::directory_iterator(in))
    if (entry.is_regular_file() && !is_weight_file(entry.path())) fs::copy_file(entry.path(), out / entry.path().filename());
  return result;
}

}  // namespace shadowpeft::models
