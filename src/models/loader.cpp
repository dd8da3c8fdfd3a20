#include "shadowpeft/models/loader.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <map>
#include <regex>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/model_dir.h"
#include "shadowpeft/io/safetensors.h"

namespace shadowpeft::models {
namespace fs = std::filesystem;

at::ScalarType dtype_from_config(const io::Json& config) {
  for (const char* key : {"dtype", "torch_dtype"}) {
    if (!config.contains(key) || !config[key].is_string()) continue;
    const std::string name = config[key].get<std::string>();
    if (name == "float32") return at::kFloat;
    if (name == "bfloat16") return at::kBFloat16;
    if (name == "float16") return at::kHalf;
    if (name == "float64") return at::kDouble;
  }
  return at::kFloat;
}

namespace {

std::string shape_text(at::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

std::string layer_of(const std::string& name) {
  static const std::regex layer(R"(layers\.(\d+)\.)");
  std::smatch m;
  return std::regex_search(name, m, layer) ? fmt::format(" (layer {})", m[1].str()) : "";
}

}  // namespace

void load_parameters(torch::nn::Module& model, io::TensorMap tensors, const std::string& source,
                     const std::vector<std::string>& ignorable) {
  std::vector<std::string> problems;
  torch::NoGradGuard no_grad;
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    at::Tensor& param = item.value();
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      problems.push_back(fmt::format("missing tensor '{}'{}: expected shape {}", name, layer_of(name), shape_text(param.sizes())));
      continue;
    }
    if (it->second.sizes() != param.sizes()) {
      problems.push_back(fmt::format("tensor '{}'{}: expected shape {}, got {}", name, layer_of(name),
                                     shape_text(param.sizes()), shape_text(it->second.sizes())));
    } else if (!at::isFloatingType(it->second.scalar_type())) {
      problems.push_back(fmt::format("tensor '{}': expected a floating-point dtype, got {}", name,
                                     c10::toString(it->second.scalar_type())));
    } else {
      param.copy_(it->second);
    }
    tensors.erase(it);
  }
  for (const auto& [name, t] : tensors) {
    const bool ignored = std::any_of(ignorable.begin(), ignorable.end(), [&](const std::string& pattern) {
      return std::regex_match(name, std::regex(pattern));
    });
    if (!ignored) problems.push_back(fmt::format("unused tensor '{}'{} with shape {}", name, layer_of(name), shape_text(t.sizes())));
  }
  if (problems.empty()) return;
  constexpr std::size_t kShown = 12;
  std::string listed = fmt::format("{}", fmt::join(problems.begin(), problems.begin() + std::min(problems.size(), kShown), "; "));
  if (problems.size() > kShown) listed += fmt::format("; and {} more", problems.size() - kShown);
  throw LoadError(fmt::format("{}: checkpoint does not match the model config ({} problems): {}", source, problems.size(), listed));
}

CausalLM load_causal_lm(const std::string& model_name, const LoadOptions& options) {
  const fs::path dir = io::resolve_model_dir(model_name);
  ModelConfig config = read_model_config(dir / "config.json");
  const ModelDescriptor& descriptor = descriptor_for(config.raw, dir / "config.json");
  const at::ScalarType dtype = options.dtype.value_or(dtype_from_config(config.raw));
  const auto checkpoint = io::SafetensorsCheckpoint::open(dir);

  io::TensorMap tensors;
  std::vector<std::string> outside_groups;
  for (const std::string& name : checkpoint.names()) {
    if (!descriptor.weight_group(name, config.num_layers()))
      outside_groups.push_back(fmt::format("'{}' (in {})", name, checkpoint.file_of(name).path().filename().string()));
    tensors.emplace(name, checkpoint.tensor(name));
  }
  if (!outside_groups.empty())
    throw LoadError(fmt::format("{}: tensors that belong to no weight group of a {} model with {} layers: {}", dir.string(),
                                descriptor.name(), config.num_layers(), fmt::join(outside_groups, ", ")));
  descriptor.checkpoint_to_modules(tensors, config);

  CausalLM model(std::move(config));
  model->to(dtype);
  // transformers drops a stored lm_head.weight when embeddings are tied; so do we.
  std::vector<std::string> ignorable;
  if (model->config().tie_word_embeddings) ignorable.push_back(descriptor.output_embedding_name() + R"(\.weight)");
  load_parameters(*model, std::move(tensors), dir.string(), ignorable);
  model->to(options.device);
  model->eval();
  return model;
}

io::TensorMap checkpoint_tensors(CausalLMImpl& model, const ModelDescriptor& descriptor) {
  io::TensorMap tensors;
  for (const auto& item : model.named_parameters()) tensors.emplace(item.key(), item.value().detach());
  descriptor.modules_to_checkpoint(tensors, model.config());
  return tensors;
}

void save_pretrained(CausalLMImpl& model, const fs::path& dir, uint64_t max_shard_bytes) {
  const ModelDescriptor& descriptor = descriptor_for(model.config().raw, dir / "config.json");
  fs::create_directories(dir);
  io::save_sharded_safetensors(dir, checkpoint_tensors(model, descriptor), {.max_shard_bytes = max_shard_bytes});
  io::write_json_file(dir / "config.json", model.config().raw, {.indent = 2, .sort_keys = true});
}

void save_subblocks(CausalLMImpl& model, const fs::path& dir) {
  const ModelDescriptor& descriptor = descriptor_for(model.config().raw, dir / "config.json");
  const fs::path subdir = dir / "subblocks_safetensors";
  fs::create_directories(subdir);
  std::map<std::string, io::TensorMap> groups;
  io::Json weight_map = io::Json::object();
  for (auto& [name, t] : checkpoint_tensors(model, descriptor)) {
    const auto group = descriptor.weight_group(name, model.config().num_layers());
    if (!group) throw Error(fmt::format("save_subblocks: tensor '{}' belongs to no weight group", name));
    groups[*group].emplace(name, t);
    weight_map[name] = "subblocks_safetensors/" + *group + ".safetensors";
  }
  for (const auto& [group, tensors] : groups) io::save_safetensors(subdir / (group + ".safetensors"), tensors, {{"format", "pt"}});
  io::write_json_file(dir / "config.json", model.config().raw, {.indent = 2, .sort_keys = true});
  io::write_json_file(dir / "model.safetensors.index.json", {{"metadata", {{"format", "pt"}}}, {"weight_map", weight_map}},
                      {.indent = 2, .sort_keys = true});
}

}  // namespace shadowpeft::models
