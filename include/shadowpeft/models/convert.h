#pragma once
// Converting a checkpoint directory between layouts and dtypes tensor by tensor, without building
// the model: one output file's tensors are in memory at a time, so a model larger than RAM converts.
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace shadowpeft::models {

enum class CheckpointFormat {
  HuggingFace,  // model.safetensors, or shards + model.safetensors.index.json (save_pretrained's layout)
  Subblocks,    // subblocks_safetensors/<weight group>.safetensors + the index (puzzletron's layout)
};
// "hf" | "subblocks"; ConfigError otherwise.
CheckpointFormat parse_checkpoint_format(const std::string& name);

struct ConvertOptions {
  CheckpointFormat format = CheckpointFormat::HuggingFace;
  // Floating-point tensors are cast to this dtype (and config.json records it); integer tensors
  // (quantized blocks, scales) are copied as they are. nullopt: every tensor keeps its dtype.
  std::optional<c10::ScalarType> dtype;
  uint64_t max_shard_bytes = 5'000'000'000;  // HuggingFace format only
  // Called after each tensor and after each file written; bytes are counted in the output dtype.
  struct Progress {
    uint64_t bytes = 0, total_bytes = 0;
    std::size_t files = 0, total_files = 0;
  };
  std::function<void(const Progress&)> progress;
};

struct ConvertResult {
  std::size_t files = 0;    // safetensors files written
  std::size_t tensors = 0;
  uint64_t bytes = 0;       // tensor data written
};

// Converts the model directory `in` into `out` (created; it must not exist or be empty): the
// weights in `options.format`, config.json (with the new dtype, else byte for byte), and every other
// file of `in` (tokenizer, generation config, chat template) copied. Without a dtype change the
// tensors are bit for bit those of `in`.
ConvertResult convert_checkpoint(const std::filesystem::path& in, const std::filesystem::path& out,
                                 const ConvertOptions& options);

// "5GB", "500MB", "10KB" (powers of 1000, as transformers' max_shard_size), "2GiB", "512MiB"
// (powers of 1024), or a plain number of bytes; ConfigError naming `what` otherwise.
uint64_t parse_byte_size(const std::string& text, const std::string& what);

}  // namespace shadowpeft::models
