#pragma once
// Loading and saving Hugging Face model directories with the generic decoder.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/io/checkpoint.h"
#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {

struct LoadOptions {
  // Parameter dtype; default: the checkpoint's own (config `dtype` / `torch_dtype`, else float32).
  std::optional<at::ScalarType> dtype;
  c10::Device device = c10::kCPU;
};

// Loads a model directory (or org/name[@revision] in the local HF cache). Every parameter is
// requested with its expected shape; missing, unused and mis-shaped tensors are all reported
// together in one LoadError naming file, tensor, layer, expected and actual.
CausalLM load_causal_lm(const std::string& model, const LoadOptions& options = {});

// Copies checkpoint tensors (already in our module layout) into `model`'s parameters, checking
// completeness. `source` names the checkpoint in errors.
void load_parameters(torch::nn::Module& model, io::TensorMap tensors, const std::string& source,
                     const std::vector<std::string>& ignorable = {});

// The model's tensors in checkpoint layout (names and values the family's checkpoints use).
io::TensorMap checkpoint_tensors(CausalLMImpl& model, const ModelDescriptor& descriptor);

// Writes config.json (the config as read, keys sorted like transformers) and the weights, sharded
// above `max_shard_bytes`.
void save_pretrained(CausalLMImpl& model, const std::filesystem::path& dir, uint64_t max_shard_bytes = 5'000'000'000);

// Writes a sub-block checkpoint as puzzletron does: config.json, one
// subblocks_safetensors/<group>.safetensors per weight group (embeddings, block_{i}_attention,
// block_{i}_ffn, lm_head) and a model.safetensors.index.json mapping every tensor to its file.
// Skipped sub-blocks have no file. It loads back like any sharded checkpoint.
void save_subblocks(CausalLMImpl& model, const std::filesystem::path& dir);

at::ScalarType dtype_from_config(const io::Json& config);

}  // namespace shadowpeft::models
