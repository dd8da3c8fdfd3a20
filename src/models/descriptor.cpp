#include "shadowpeft/models/descriptor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>

#include "config_fields.h"
#include "layout_tables.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/models/causal_lm.h"

namespace shadowpeft::models {
namespace fs = std::filesystem;

const io::Json& ModelDescriptor::language_model_config(const io::Json& config) const {
  return config.contains("text_config") && config["text_config"].is_object() ? config["text_config"] : config;
}

std::optional<std::string> rename_module(const std::string& name, std::string_view from, std::string_view to) {
  const std::size_t slot = from.find("{i}");
  std::string index, rest;
  if (slot == std::string_view::npos) {
    if (!name.starts_with(from)) return std::nullopt;
    rest = name.substr(from.size());
  } else {
    const std::string_view head = from.substr(0, slot), tail = from.substr(slot + 3);
    if (!name.starts_with(head)) return std::nullopt;
    std::size_t end = head.size();
    while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
    if (end == head.size() || name.compare(end, tail.size(), tail) != 0) return std::nullopt;
    index = name.substr(head.size(), end - head.size());
    rest = name.substr(end + tail.size());
  }
  if (!rest.empty() && rest[0] != '.') return std::nullopt;  // "norm" must not match "norm_out"
  std::string renamed(to);
  if (const std::size_t s = renamed.find("{i}"); s != std::string::npos) renamed.replace(s, 3, index);
  return renamed + rest;
}

namespace detail {

std::pair<std::string, const ModuleRename*> rename_first(const std::string& name, std::span<const ModuleRename> renames,
                                                         bool to_ours) {
  for (const ModuleRename& r : renames)
    if (auto n = to_ours ? rename_module(name, r.theirs, r.ours) : rename_module(name, r.ours, r.theirs)) return {std::move(*n), &r};
  return {name, nullptr};
}

void rename_tensors(io::TensorMap& tensors, std::span<const ModuleRename> renames, bool to_ours) {
  if (renames.empty()) return;
  io::TensorMap renamed;
  for (auto& [name, t] : tensors) {
    auto [target, rule] = rename_first(name, renames, to_ours);
    renamed.emplace(std::move(target), rule && rule->transposed && t.dim() == 2 ? t.t().contiguous() : t);
  }
  tensors = std::move(renamed);
}

}  // namespace detail

std::string ModelDescriptor::checkpoint_name(const std::string& ours) const {
  return detail::rename_first(ours, module_renames(), /*to_ours=*/false).first;
}

std::string ModelDescriptor::module_name(const std::string& theirs) const {
  return detail::rename_first(theirs, module_renames(), /*to_ours=*/true).first;
}

std::optional<std::string> ModelDescriptor::weight_group(const std::string& checkpoint_tensor, const ModelConfig& config) const {
  // Grouped by where the tensor sits in our (Llama) layout.
  const std::string state_dict_tensor = state_dict_name(checkpoint_tensor);
  for (const std::string& tower : other_towers())
    if (state_dict_tensor.starts_with(tower + ".")) return "other_towers";
  const std::string tensor = module_name(state_dict_tensor);
  static const std::regex block(R"(model\.layers\.(\d+)\.(\w+)\..+)");
  const int64_t num_layers = config.num_layers();
  for (const char* embedding : {"model.embed_tokens.", "model.embed_positions.", "model.project_in."})
    if (tensor.starts_with(embedding)) return "embeddings";
  for (const char* head : {"lm_head.", "model.norm.", "model.project_out.", "score."})
    if (tensor.starts_with(head)) return "lm_head";
  std::smatch m;
  if (!std::regex_match(tensor, m, block)) return std::nullopt;
  const int64_t i = std::stoll(m[1]);
  if (i >= num_layers) return std::nullopt;
  // A part belongs to the sub-block its name says; a norm to the one it sits around (per the
  // layer's NormPlacement), so post_attention_layernorm is the MLP's input norm in a Pre layer.
  const LayerSpec& spec = config.layers[static_cast<std::size_t>(i)];
  const LayerPartNames names = layer_part_names(spec.norm_placement);
  const std::string part = m[2];
  const auto named = [&](std::initializer_list<std::string_view> candidates) {
    return std::any_of(candidates.begin(), candidates.end(), [&](std::string_view c) { return !c.empty() && part == c; });
  };
  if (spec.attention != AttentionKind::None &&
      named({names.attention, names.attention_pre, names.attention_post, names.attention_residual}))
    return fmt::format("block_{}_{}", i, spec.attention == AttentionKind::Mamba2 ? "mixer" : "attention");
  if (spec.mlp != MlpKind::None && named({names.mlp, names.mlp_pre, names.mlp_post, names.mlp_residual}))
    return fmt::format("block_{}_ffn", i);
  return std::nullopt;
}

LayerPartNames llama_layer_part_names(NormPlacement placement) {
  switch (placement) {
    case NormPlacement::Pre: return {.attention_pre = "input_layernorm", .mlp_pre = "post_attention_layernorm"};
    case NormPlacement::Sandwich:
      return {.attention_pre = "input_layernorm", .attention_post = "post_attention_layernorm",
              .mlp_pre = "pre_feedforward_layernorm", .mlp_post = "post_feedforward_layernorm"};
    case NormPlacement::Post: return {.attention_post = "post_attention_layernorm", .mlp_post = "post_feedforward_layernorm"};
    case NormPlacement::PostResidual:
      return {.attention_residual = "input_layernorm", .mlp_residual = "post_attention_layernorm"};
  }
  return {};
}

namespace {

// The instance of a fused module's path (with "{i}" resolved) that `name` lies under, and the rest
// of the name (".weight", ".bias"); nullopt when `name` is not under it.
std::optional<std::pair<std::string, std::string>> fused_instance(const std::string& name, std::string_view fused) {
  const auto same = rename_module(name, fused, fused);
  if (!same) return std::nullopt;
  const std::size_t dot = name.rfind('.');
  return std::pair{name.substr(0, dot), name.substr(dot)};
}

}  // namespace

void ModelDescriptor::checkpoint_to_modules(io::TensorMap& tensors, const ModelConfig& config) const {
  detail::rename_tensors(tensors, module_renames(), /*to_ours=*/true);
  detail::convert_expert_stacks(tensors, config, expert_layout(), /*to_ours=*/true);
  if (fused_modules().empty()) return;
  // Each part's rows: the shape of its module in a model of this config built on the meta device.
  std::map<std::string, int64_t> rows;
  {
    const MetaParameters meta;
    const CausalLM shapes(config);
    for (const auto& p : shapes->named_parameters()) rows.emplace(p.key(), p.value().size(0));
  }
  for (const FusedModules& f : fused_modules()) {
    std::vector<std::string> names;
    for (const auto& [name, t] : tensors)
      if (fused_instance(name, f.fused)) names.push_back(name);
    for (const std::string& name : names) {
      const auto [instance, param] = *fused_instance(name, f.fused);
      const std::string parent = instance.substr(0, instance.rfind('.') + 1);
      at::Tensor fused = tensors.at(name);
      if (f.transposed && fused.dim() == 2) fused = fused.t();
      std::vector<int64_t> sizes;
      for (std::string_view part : f.parts) {
        const std::string target = parent + std::string(part) + param;
        const auto it = rows.find(target);
        if (it == rows.end())
          throw LoadError(fmt::format("fused tensor '{}': this {} config has no '{}' to split it into", name, this->name(), target));
        sizes.push_back(it->second);
      }
      const auto parts = fused.split_with_sizes(sizes, 0);
      tensors.erase(name);
      for (std::size_t k = 0; k < parts.size(); ++k) tensors[parent + std::string(f.parts[k]) + param] = parts[k].contiguous();
    }
  }
}

void ModelDescriptor::modules_to_checkpoint(io::TensorMap& tensors, const ModelConfig& config) const {
  detail::convert_expert_stacks(tensors, config, expert_layout(), /*to_ours=*/false);
  for (const FusedModules& f : fused_modules()) {
    const bool per_layer = f.fused.find("{i}") != std::string_view::npos;
    for (int64_t i = 0; i < (per_layer ? config.num_layers() : 1); ++i) {
      std::string instance(f.fused);
      if (per_layer) instance.replace(instance.find("{i}"), 3, std::to_string(i));
      const std::string parent = instance.substr(0, instance.rfind('.') + 1);
      for (const char* param : {".weight", ".bias"}) {
        std::vector<at::Tensor> parts;
        for (std::string_view part : f.parts)
          if (auto it = tensors.find(parent + std::string(part) + param); it != tensors.end()) parts.push_back(it->second);
        if (parts.size() != f.parts.size()) continue;
        for (std::string_view part : f.parts) tensors.erase(parent + std::string(part) + param);
        const at::Tensor fused = at::cat(parts, 0);
        tensors[instance + param] = f.transposed && fused.dim() == 2 ? fused.t().contiguous() : fused;
      }
    }
  }
  detail::rename_tensors(tensors, module_renames(), /*to_ours=*/false);
}

const std::vector<const ModelDescriptor*>& built_in_descriptors();  // generated from src/models/descriptors/

namespace {

std::vector<const ModelDescriptor*>& registered_descriptors() {
  static std::vector<const ModelDescriptor*> registered;
  return registered;
}

}  // namespace

void register_descriptor(const ModelDescriptor& descriptor) {
  auto& registered = registered_descriptors();
  if (std::find(registered.begin(), registered.end(), &descriptor) == registered.end()) registered.push_back(&descriptor);
}

std::vector<const ModelDescriptor*> all_descriptors() {
  std::vector<const ModelDescriptor*> all = built_in_descriptors();
  all.insert(all.end(), registered_descriptors().begin(), registered_descriptors().end());
  return all;
}

const ModelDescriptor& descriptor_for(const io::Json& config, const fs::path& file) {
  std::string architecture, model_type;
  if (config.contains("architectures") && config["architectures"].is_array() && !config["architectures"].empty() &&
      config["architectures"][0].is_string())
    architecture = config["architectures"][0].get<std::string>();
  if (config.contains("model_type") && config["model_type"].is_string()) model_type = config["model_type"].get<std::string>();
  const std::vector<const ModelDescriptor*> descriptors = all_descriptors();
  for (const ModelDescriptor* d : descriptors) {
    const auto archs = d->architectures();
    if (!architecture.empty() && std::find(archs.begin(), archs.end(), architecture) != archs.end()) return *d;
  }
  for (const ModelDescriptor* d : descriptors) {
    const auto types = d->model_types();
    if (!model_type.empty() && std::find(types.begin(), types.end(), model_type) != types.end()) return *d;
  }
  std::vector<std::string> supported;
  for (const ModelDescriptor* d : descriptors)
    supported.push_back(fmt::format("{} ({})", d->name(), fmt::join(d->architectures(), ", ")));
  throw UnsupportedError(fmt::format("{}: unsupported architecture '{}' (model_type '{}'); supported: {}", file.string(),
                                     architecture.empty() ? "?" : architecture, model_type.empty() ? "?" : model_type,
                                     fmt::join(supported, "; ")));
}

namespace {

// `dtype` (transformers 5) or `torch_dtype`: at the top level, else in the language-model config.
std::string parse_dtype(const io::Json& json, const io::Json& language_model, const fs::path& file) {
  static const std::vector<std::string> known = {"float32", "bfloat16", "float16", "float64"};
  for (const io::Json* scope : {&json, &language_model})
    for (const char* key : {"dtype", "torch_dtype"}) {
      if (!scope->contains(key) || (*scope)[key].is_null()) continue;
      const io::Json& v = (*scope)[key];
      if (!v.is_string() || std::find(known.begin(), known.end(), v.get<std::string>()) == known.end())
        throw ConfigError(fmt::format("{}: field '{}' is {}; expected one of {}", file.string(), key, v.dump(), fmt::join(known, ", ")));
      return v.get<std::string>();
    }
  return "float32";
}

std::vector<int64_t> parse_eos_token_ids(const detail::ConfigReader& cfg) {
  if (!cfg.has("eos_token_id")) return {};
  const io::Json& v = cfg.json().at("eos_token_id");
  if (!v.is_array()) return {cfg.integer("eos_token_id")};
  std::vector<int64_t> ids;
  for (const io::Json& id : v) ids.push_back(cfg.as_integer("eos_token_id", id));
  return ids;
}

// Stored quantized weights load only where the family dequantizes them; nothing is read as floats
// that was not stored as floats.
void check_quantization(const io::Json& json, const io::Json& language_model, const ModelDescriptor& descriptor,
                        const fs::path& file) {
  for (const io::Json* scope : {&json, &language_model}) {
    if (!scope->contains("quantization_config") || (*scope)["quantization_config"].is_null()) continue;
    if (!(*scope)["quantization_config"].is_object())
      throw ConfigError(fmt::format("{}: field 'quantization_config' must be an object", file.string()));
    const detail::ConfigReader q((*scope)["quantization_config"], file, "quantization_config.");
    const std::string method = q.string("quant_method", "");
    const auto accepted = descriptor.quantization_methods();
    if (std::find(accepted.begin(), accepted.end(), method) == accepted.end())
      throw UnsupportedError(fmt::format("{} = '{}': quantized {} checkpoints are not supported ({})", q.where("quant_method"), method,
                                         descriptor.name(),
                                         accepted.empty() ? std::string("this family loads float weights only")
                                                          : fmt::format("accepted: {}", fmt::join(accepted, ", "))));
  }
}

}  // namespace

ModelConfig read_model_config(const fs::path& config_file) {
  return parse_model_config(io::read_json_file(config_file), config_file);
}

ModelConfig parse_model_config(const io::Json& json, const fs::path& config_file) {
  if (!json.is_object()) throw ConfigError(config_file.string() + ": must hold a JSON object");
  const ModelDescriptor& descriptor = descriptor_for(json, config_file);
  const io::Json& language_model = descriptor.language_model_config(json);
  ModelConfig config = descriptor.parse_full_config(json, config_file);
  config.descriptor = &descriptor;
  config.raw = json;
  config.dtype = parse_dtype(json, language_model, config_file);
  const detail::ConfigReader lm(language_model, config_file);
  config.initializer_range = lm.number("initializer_range", config.initializer_range);
  config.eos_token_ids = parse_eos_token_ids(json.contains("eos_token_id") ? detail::ConfigReader(json, config_file) : lm);
  // architectures[0] as declared: a family's parse_config may name its causal class (GPT-2 does).
  const bool declared_classifier = json.contains("architectures") && json["architectures"].is_array() &&
                                   !json["architectures"].empty() && json["architectures"][0].is_string() &&
                                   json["architectures"][0].get<std::string>().ends_with("ForSequenceClassification");
  if (declared_classifier) {
    // transformers derives num_labels from id2label when present.
    const detail::ConfigReader cfg(json, config_file);
    config.architecture = json["architectures"][0].get<std::string>();
      config.num_labels = json.contains("id2label") && json["id2label"].is_object() ? static_cast<int64_t>(json["id2label"].size())
                                                                                 : cfg.integer("num_labels", 2);
    config.tie_word_embeddings = false;
  }
  check_quantization(json, language_model, descriptor, config_file);
  if (json.contains("pad_token_id") && json["pad_token_id"].is_number_integer()) config.pad_token_id = json["pad_token_id"].get<int64_t>();
  if (config.num_layers() == 0) throw ConfigError(config_file.string() + ": num_hidden_layers must be at least 1");
  for (std::size_t i = 0; i < config.layers.size(); ++i) {
    const LayerSpec& s = config.layers[i];
    if (s.attention == AttentionKind::Full &&
        (s.num_heads <= 0 || s.num_kv_heads <= 0 || s.head_dim <= 0 || s.num_heads % s.num_kv_heads != 0))
      throw ConfigError(fmt::format("{}: layer {}: {} attention heads cannot share {} key/value heads (head_dim {})",
                                    config_file.string(), i, s.num_heads, s.num_kv_heads, s.head_dim));
    if ((s.mlp == MlpKind::Gated || s.mlp == MlpKind::Plain) && s.intermediate_size <= 0)
      throw ConfigError(fmt::format("{}: layer {}: intermediate_size must be positive, got {}", config_file.string(), i,
                                    s.intermediate_size));
    const MambaSpec& m = s.mamba;
    if (s.attention == AttentionKind::Mamba2 &&
        (m.num_heads <= 0 || m.head_dim <= 0 || m.state_size <= 0 || m.conv_kernel <= 0 || m.chunk_size <= 0 ||
         m.num_groups <= 0 || m.num_heads % m.num_groups != 0))
      throw ConfigError(fmt::format("{}: layer {}: Mamba mixer with {} heads of {} in {} groups, state {}, conv kernel {}, "
                                    "chunk {}; expected positive sizes and groups dividing the heads",
                                    config_file.string(), i, m.num_heads, m.head_dim, m.num_groups, m.state_size,
                                    m.conv_kernel, m.chunk_size));
  }
  return config;
}

std::string to_string(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::Full: return "full";
    case AttentionKind::Linear: return "linear";
    case AttentionKind::Mamba2: return "mamba2";
    case AttentionKind::None: return "none";
  }
  return "?";
}

std::string to_string(QkNorm kind) {
  switch (kind) {
    case QkNorm::None: return "none";
    case QkNorm::PerHead: return "per_head";
    case QkNorm::AllHeads: return "all_heads";
    case QkNorm::L2AfterRope: return "l2";
  }
  return "?";
}

std::string to_string(NormPlacement placement) {
  switch (placement) {
    case NormPlacement::Pre: return "pre";
    case NormPlacement::Sandwich: return "sandwich";
    case NormPlacement::Post: return "post";
    case NormPlacement::PostResidual: return "post_residual";
  }
  return "?";
}

std::string to_string(MlpKind kind) {
  switch (kind) {
    case MlpKind::Gated: return "gated";
    case MlpKind::Plain: return "plain";
    case MlpKind::Linear: return "linear";
    case MlpKind::MixtureOfExperts: return "moe";
    case MlpKind::None: return "none";
  }
  return "?";
}

}  // namespace shadowpeft::models
