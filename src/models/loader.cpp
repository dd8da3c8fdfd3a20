#include "shadowpeft/models/loader.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <map>
#include <regex>
#include <unordered_map>

#include "shadowpeft/core/error.h"
#include "shadowpeft/core/logging.h"
#include "shadowpeft/io/model_dir.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/layers.h"
#include "shadowpeft/models/quantization.h"

namespace shadowpeft::models {
namespace fs = std::filesystem;

namespace {

// Config dtype names (the ones parse_model_config accepts) and their parameter types.
constexpr std::pair<const char*, at::ScalarType> kDtypes[] = {
    {"float32", at::kFloat}, {"bfloat16", at::kBFloat16}, {"float16", at::kHalf}, {"float64", at::kDouble}};

// The parameters' dtype, as transformers records it in the config it saves.
std::string parameter_dtype_name(CausalLMImpl& model) {
  for (const auto& p : model.parameters())
    if (p.is_floating_point()) return config_dtype_name(p.scalar_type());
  return model.config().dtype;
}

std::string shape_text(at::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

std::string layer_of(const std::string& name) {
  static const std::regex layer(R"(layers\.(\d+)\.)");
  std::smatch m;
  return std::regex_search(name, m, layer) ? fmt::format(" (layer {})", m[1].str()) : "";
}

}  // namespace

void load_parameters(torch::nn::Module& model, io::TensorMap tensors, const std::string& source, const ParameterLoading& loading) {
  const auto& [ignorable, describe, progress, filled] = loading;
  const auto tensor = [&](const std::string& name) { return describe ? describe(name) : fmt::format("'{}'", name); };
  std::vector<std::string> problems;
  torch::NoGradGuard no_grad;
  int64_t total_bytes = 0, done_bytes = 0;
  if (progress)
    for (const auto& p : model.parameters()) total_bytes += p.nbytes();
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    at::Tensor& param = item.value();
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      problems.push_back(fmt::format("missing tensor {}{}: expected shape {}", tensor(name), layer_of(name), shape_text(param.sizes())));
      continue;
    }
    if (it->second.sizes() != param.sizes()) {
      problems.push_back(fmt::format("tensor {}{}: expected shape {}, got {}", tensor(name), layer_of(name),
                                     shape_text(param.sizes()), shape_text(it->second.sizes())));
    } else if (!at::isFloatingType(it->second.scalar_type())) {
      problems.push_back(fmt::format("tensor {}: expected a floating-point dtype, got {}", tensor(name),
                                     c10::toString(it->second.scalar_type())));
    } else {
      param.copy_(it->second);
      io::release_mapped_pages(it->second);
      done_bytes += param.nbytes();
      if (filled) filled(param);
      if (progress) progress(done_bytes, total_bytes);
    }
    tensors.erase(it);
  }
  for (const auto& entry : tensors) {
    const std::string& name = entry.first;  // not a structured binding: lambdas capture those from clang 16 on
    const at::Tensor& t = entry.second;
    const bool ignored = std::any_of(ignorable.begin(), ignorable.end(), [&](const std::string& pattern) {
      return std::regex_match(name, std::regex(pattern));
    });
    if (!ignored)
      problems.push_back(fmt::format("unused tensor {}{} with shape {}", tensor(name), layer_of(name), shape_text(t.sizes())));
  }
  if (problems.empty()) return;
  constexpr std::size_t kShown = 12;
  std::string listed = fmt::format("{}", fmt::join(problems.begin(), problems.begin() + std::min(problems.size(), kShown), "; "));
  if (problems.size() > kShown) listed += fmt::format("; and {} more", problems.size() - kShown);
  throw LoadError(fmt::format("{}: checkpoint does not match the model config ({} problems): {}", source, problems.size(), listed));
}

namespace {

// A checkpoint's tensors in our module layout, and the file each checkpoint name is stored in.
struct CheckpointTensors {
  io::TensorMap tensors;
  std::map<std::string, std::string> files;
};

// Every tensor must fall in a weight group.
CheckpointTensors read_tensors(const fs::path& dir, const ModelConfig& config) {
  const ModelDescriptor& descriptor = *config.descriptor;
  const auto checkpoint = io::SafetensorsCheckpoint::open(dir);
  CheckpointTensors out;
  io::TensorMap& tensors = out.tensors;
  std::vector<std::string> outside_groups;
  int64_t other_tower_tensors = 0;
  for (const std::string& name : checkpoint.names()) {
    const auto group = descriptor.weight_group(name, config);
    if (group == "other_towers") {
      ++other_tower_tensors;
      continue;
    }
    if (!group)
      outside_groups.push_back(fmt::format("'{}' (in {})", name, checkpoint.file_of(name).path().filename().string()));
    tensors.emplace(name, checkpoint.tensor(name));
    out.files.emplace(name, checkpoint.file_of(name).path().filename().string());
  }
  if (!outside_groups.empty())
    throw LoadError(fmt::format("{}: tensors that belong to no weight group of a {} model with {} layers: {}", dir.string(),
                                descriptor.name(), config.num_layers(), fmt::join(outside_groups, ", ")));
  if (other_tower_tensors > 0)
    log_info(fmt::format("{}: loading the language model of this {} checkpoint; {} tensors of its other towers ({}) are left "
                         "untouched",
                         dir.string(), config.architecture, other_tower_tensors, fmt::join(descriptor.other_towers(), ", ")));
  descriptor.file_to_state_dict(tensors, config);
  descriptor.checkpoint_to_modules(tensors, config);
  return out;
}

CausalLM build_model(ModelConfig config, CheckpointTensors checkpoint, const fs::path& dir, const LoadOptions& options) {
  const at::ScalarType dtype = options.dtype.value_or(parameter_scalar_type(config.dtype));
  CausalLM model(std::move(config));
  model->to(dtype);
  // transformers drops a stored lm_head.weight when embeddings are tied; so do we.
  std::vector<std::string> ignorable;
  if (model->config().tie_word_embeddings)
    ignorable.push_back(model->config().descriptor->output_embedding_name() + R"(\.weight)");
  // Problems are told by the checkpoint's names, with the shard each is stored in.
  const ModelDescriptor& descriptor = *model->config().descriptor;
  const TensorDescriber describe = [&](const std::string& module_name) {
    const std::string name = descriptor.checkpoint_name(module_name);
    const auto file = checkpoint.files.find(name);
    return file == checkpoint.files.end() ? fmt::format("'{}'", name) : fmt::format("'{}' in {}", name, file->second);
  };
  // On the CPU each layer is quantized as soon as its weight is read: the model is never whole in
  // `dtype` (elsewhere it moves to the device first and is quantized there).
  std::unordered_map<const c10::TensorImpl*, LinearImpl*> quantize_when_filled;
  if (options.device.is_cpu())
    for (LinearImpl* linear : quantizable_linear_layers(*model->model, options.quantization))
      quantize_when_filled.emplace(linear->weight.unsafeGetTensorImpl(), linear);
  load_parameters(*model, std::move(checkpoint.tensors), dir.string(),
                  {.ignorable = std::move(ignorable),
                   .describe = describe,
                   .progress = options.progress,
                   .filled = [&](at::Tensor& parameter) {
                     if (const auto it = quantize_when_filled.find(parameter.unsafeGetTensorImpl()); it != quantize_when_filled.end())
                       it->second->quantize_int8();
                   }});
  model->to(options.device);
  quantize_linear_layers(*model->model, options.quantization);
  model->eval();
  return model;
}

// GPT2LMHeadModel → GPT2ForSequenceClassification, LlamaForCausalLM → LlamaForSequenceClassification.
std::string classifier_architecture(const ModelConfig& config, const fs::path& file) {
  const ModelDescriptor& descriptor = *config.descriptor;
  if (descriptor.requires_trust_remote_code() || config.projected_hidden_size)
    throw UnsupportedError(fmt::format("{}: transformers has no sequence-classification class for a {} model ({})",
                                       file.string(), descriptor.name(), config.architecture));
  const std::string arch = config.architecture.empty() ? descriptor.architectures().front() : config.architecture;
  for (const std::string suffix : {"ForCausalLM", "LMHeadModel"})
    if (arch.ends_with(suffix)) return arch.substr(0, arch.size() - suffix.size()) + "ForSequenceClassification";
  throw UnsupportedError(fmt::format("{}: architecture '{}' is neither a causal LM (*ForCausalLM, *LMHeadModel) nor a "
                                     "*ForSequenceClassification model",
                                     file.string(), arch));
}

}  // namespace

CausalLM load_causal_lm(const std::string& model_name, const LoadOptions& options) {
  const fs::path dir = io::resolve_model_dir(model_name);
  ModelConfig config = read_model_config(dir / "config.json");
  CheckpointTensors checkpoint = read_tensors(dir, config);
  return build_model(std::move(config), std::move(checkpoint), dir, options);
}

CausalLM load_sequence_classifier(const std::string& model_name, int64_t num_labels, const LoadOptions& options,
                                  const SequenceClassifierOptions& classifier) {
  if (num_labels < 1) throw ConfigError(fmt::format("{}: num_labels must be at least 1, got {}", model_name, num_labels));
  if (!classifier.labels.empty() && static_cast<int64_t>(classifier.labels.size()) != num_labels)
    throw ConfigError(fmt::format("{}: {} label names given for num_labels {}", model_name, classifier.labels.size(), num_labels));
  const fs::path dir = io::resolve_model_dir(model_name);
  const fs::path config_file = dir / "config.json";
  ModelConfig config = read_model_config(config_file);
  const ModelDescriptor& descriptor = *config.descriptor;

  if (config.is_sequence_classifier()) {
    if (config.num_labels != num_labels)
      throw ConfigError(fmt::format("{}: num_labels (from id2label, else num_labels) is {}, expected {}", config_file.string(),
                                    config.num_labels, num_labels));
    if (!classifier.labels.empty()) make_sequence_classifier(config, config.architecture, num_labels, classifier.labels);
    CheckpointTensors checkpoint = read_tensors(dir, config);
    return build_model(std::move(config), std::move(checkpoint), dir, options);
  }

  const std::string architecture = classifier_architecture(config, config_file);
  CheckpointTensors checkpoint = read_tensors(dir, config);
  io::TensorMap& tensors = checkpoint.tensors;
  // transformers leaves the causal head unused (the embeddings stay, tied or not).
  std::erase_if(tensors, [&](const auto& item) { return item.first.starts_with(descriptor.output_embedding_name() + "."); });

  make_sequence_classifier(config, architecture, num_labels, classifier.labels);
  const double std = config.initializer_range;
  at::Tensor score = at::empty({num_labels, config.output_hidden_size()}, at::kFloat);
  {
    torch::NoGradGuard no_grad;
    if (classifier.seed) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(*classifier.seed);
      score.normal_(0.0, std, gen);
    } else {
      score.normal_(0.0, std);
    }
  }
  tensors["score.weight"] = score;
  log_warning(fmt::format("Some weights of {} were not initialized from the model checkpoint at {} and are newly "
                          "initialized: ['score.weight'] ([{}, {}], normal(0, {})). Train this model on a down-stream "
                          "task before using it for predictions.",
                          architecture, dir.string(), num_labels, config.output_hidden_size(), std));
  return build_model(std::move(config), std::move(checkpoint), dir, options);
}

std::string config_dtype_name(at::ScalarType type) {
  for (const auto& [name, t] : kDtypes)
    if (t == type) return name;
  throw Error(fmt::format("parameters of dtype {} have no config name (float32, bfloat16, float16, float64)", c10::toString(type)));
}

at::ScalarType parameter_scalar_type(const std::string& dtype) {
  for (const auto& [name, type] : kDtypes)
    if (dtype == name) return type;
  throw Error(fmt::format("config dtype '{}' has no parameter type", dtype));
}

io::TensorMap checkpoint_tensors(CausalLMImpl& model, const ModelConfig& config) {
  io::TensorMap tensors;
  for (const auto& item : model.named_parameters()) {
    if (item.value().scalar_type() == at::kChar)
      throw UnsupportedError(fmt::format("'{}' is int8-quantized; a quantized model cannot be saved as a checkpoint (load it "
                                         "without quantization to save it)",
                                         item.key()));
    tensors.emplace(item.key(), item.value().detach());
  }
  config.descriptor->modules_to_checkpoint(tensors, config);
  config.descriptor->state_dict_to_file(tensors, config);
  return tensors;
}

ModelConfig config_to_save(const ModelConfig& config) {
  const auto standalone = config.descriptor->standalone_language_model(config.raw);
  if (!standalone) return config;
  ModelConfig text = parse_model_config(*standalone, fmt::format("the language model of {}", config.architecture));
  log_warning(fmt::format("saving the language model of this {} checkpoint as {}: its other towers ({}) are not saved",
                          config.architecture, text.architecture, fmt::join(config.descriptor->other_towers(), ", ")));
  return text;
}

void save_pretrained(CausalLMImpl& model, const fs::path& dir, uint64_t max_shard_bytes) {
  const ModelConfig config = config_to_save(model.config());
  fs::create_directories(dir);
  io::save_sharded_safetensors(dir, checkpoint_tensors(model, config), {.max_shard_bytes = max_shard_bytes});
  io::write_json_file(dir / "config.json", config_json_to_save(config, parameter_dtype_name(model)), {.indent = 2, .sort_keys = true});
}

void save_subblocks(CausalLMImpl& model, const fs::path& dir) {
  const ModelConfig config = config_to_save(model.config());
  const fs::path subdir = dir / "subblocks_safetensors";
  fs::create_directories(subdir);
  std::map<std::string, io::TensorMap> groups;
  io::Json weight_map = io::Json::object();
  for (auto& [name, t] : checkpoint_tensors(model, config)) {
    const auto group = config.descriptor->weight_group(name, config);
    if (!group) throw Error(fmt::format("save_subblocks: tensor '{}' belongs to no weight group", name));
    groups[*group].emplace(name, t);
    weight_map[name] = "subblocks_safetensors/" + *group + ".safetensors";
  }
  for (const auto& [group, tensors] : groups) io::save_safetensors(subdir / (group + ".safetensors"), tensors, {{"format", "pt"}});
  io::write_json_file(dir / "config.json", config_json_to_save(config, parameter_dtype_name(model)), {.indent = 2, .sort_keys = true});
  io::write_json_file(dir / "model.safetensors.index.json", {{"metadata", {{"format", "pt"}}}, {"weight_map", weight_map}},
                      {.indent = 2, .sort_keys = true});
}

}  // namespace shadowpeft::models
