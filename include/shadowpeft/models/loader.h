#pragma once
// Loading and saving Hugging Face model directories with the generic decoder.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/io/checkpoint.h"
#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/models/quantization.h"

namespace shadowpeft::models {

struct LoadOptions {
  // Parameter dtype; default: the checkpoint's own (config `dtype` / `torch_dtype`, else float32).
  std::optional<at::ScalarType> dtype;
  c10::Device device = c10::kCPU;
  // Weight-only quantization of the decoder's Linear layers (quantization.h); they then compute
  // in `dtype`. The head and embeddings keep `dtype`.
  WeightQuantization quantization = WeightQuantization::None;
  // Called after each parameter is filled with (bytes loaded, bytes in all), e.g. for a progress bar.
  std::function<void(int64_t done, int64_t total)> progress;
};

// Loads a model directory (or org/name[@revision] in the local HF cache). Every parameter is
// requested with its expected shape; missing, unused and mis-shaped tensors are all reported
// together in one LoadError naming file, tensor, layer, expected and actual.
CausalLM load_causal_lm(const std::string& model, const LoadOptions& options = {});

// How load_sequence_classifier names the classes and initialises a new head.
struct SequenceClassifierOptions {
  // Class names by index, written as config id2label / label2id; empty: LABEL_0 … LABEL_{n-1}
  // (transformers' names). When given, its size must equal num_labels.
  std::vector<std::string> labels;
  // Seeds the new `score` head's normal(0, initializer_range) init; unset: torch's default generator.
  std::optional<uint64_t> seed;
};

// A sequence classifier, as transformers' AutoModelForSequenceClassification.from_pretrained(model,
// num_labels=N) builds it. `model` may be
//  - a causal-LM directory (LlamaForCausalLM, Qwen3ForCausalLM, GPT2LMHeadModel, ...): the backbone is
//    loaded strictly as by load_causal_lm, the causal head (`lm_head.weight`, if stored) is ignored, and a
//    new bias-free head `score` [num_labels, hidden] is drawn from normal(0, initializer_range) (config
//    `initializer_range`, default 0.02), announced by a warning. The in-memory config becomes
//    `<Family>ForSequenceClassification` with id2label / label2id, so save_pretrained writes a directory
//    transformers loads as that class;
//  - a *ForSequenceClassification directory: loaded as is; its label count must equal num_labels.
// The result pools the logits of the last non-padding token (config pad_token_id; without one only
// batch size 1 works), and is the base ShadowForSequenceClassification expects.
// Throws ConfigError for num_labels < 1, a label-count mismatch or a bad `labels` size;
// UnsupportedError for families transformers has no sequence-classification class for (DeciLM,
// projected models); LoadError for checkpoint problems as load_causal_lm.
CausalLM load_sequence_classifier(const std::string& model, int64_t num_labels, const LoadOptions& options = {},
                                  const SequenceClassifierOptions& classifier = {});

// How errors show a tensor given by its module name: e.g. its checkpoint name and shard file.
using TensorDescriber = std::function<std::string(const std::string& module_name)>;

struct ParameterLoading {
  std::vector<std::string> ignorable;  // regular expressions of checkpoint tensors nothing needs
  TensorDescriber describe;            // says where each problem tensor is stored (default: its quoted name)
  std::function<void(int64_t done, int64_t total)> progress;  // hears (bytes copied, bytes in all)
  std::function<void(at::Tensor& parameter)> filled;        // after each parameter is copied in
};

// Copies checkpoint tensors (already in our module layout) into `model`'s parameters, checking
// completeness; `source` names the checkpoint in errors. Each tensor read from a mapped file gives
// its pages back once copied (io::release_mapped_pages): the checkpoint never adds its size to the
// model's.
void load_parameters(torch::nn::Module& model, io::TensorMap tensors, const std::string& source,
                     const ParameterLoading& loading = {});

// The parameter type of a config dtype name (ModelConfig::dtype: float32, bfloat16, float16, float64).
at::ScalarType parameter_scalar_type(const std::string& dtype);
// The config dtype name of a parameter type; Error for types a config cannot name.
std::string config_dtype_name(at::ScalarType type);

// The model's tensors as `config`'s family saves them (names and values of its files).
io::TensorMap checkpoint_tensors(CausalLMImpl& model, const ModelConfig& config);
// The config a model is saved with: its own, or for the language model of a multimodal checkpoint
// that model as a causal LM of its text family (the other towers are not saved; a warning says so).
ModelConfig config_to_save(const ModelConfig& config);

// Writes config.json (the config as read, keys sorted like transformers) and the weights, sharded
// above `max_shard_bytes`.
void save_pretrained(CausalLMImpl& model, const std::filesystem::path& dir, uint64_t max_shard_bytes = 5'000'000'000);

// Writes a sub-block checkpoint as puzzletron does: config.json, one
// subblocks_safetensors/<group>.safetensors per weight group (embeddings, block_{i}_attention,
// block_{i}_ffn, lm_head) and a model.safetensors.index.json mapping every tensor to its file.
// Skipped sub-blocks have no file. It loads back like any sharded checkpoint.
void save_subblocks(CausalLMImpl& model, const std::filesystem::path& dir);

}  // namespace shadowpeft::models
