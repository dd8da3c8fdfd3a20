// shadow-peft's projected causal LM (model_type "causal_lm_with_hidden_projection",
// AutoModelForCausalLMWithHiddenProjection): an inner backbone whose config sits under
// `shadow_model_config`, a shadow_hidden_projection to `base_hidden_size`, and an lm_head of that
// width. Checkpoint names: shadow_model.<backbone>, shadow_hidden_projection.weight, lm_head.weight.
#include <fmt/format.h>

#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

class ProjectedDescriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "causal_lm_with_hidden_projection"; }
  std::vector<std::string> model_types() const override { return {"causal_lm_with_hidden_projection", "shadow_proj_causal_lm"}; }
  std::vector<std::string> architectures() const override { return {"AutoModelForCausalLMWithHiddenProjection"}; }
  std::string input_embedding_name() const override { return "shadow_model.embed_tokens"; }
  std::string final_norm_name() const override { return "shadow_model.norm"; }
  std::string layer_block_name(int64_t i) const override { return fmt::format("shadow_model.layers.{}", i); }

  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    const detail::ConfigReader cfg(json, file);
    if (!cfg.has("shadow_model_config")) throw ConfigError(cfg.where("shadow_model_config") + " is required");
    const detail::ConfigReader inner_cfg = cfg.child("shadow_model_config");
    const ModelDescriptor& inner = descriptor_for(inner_cfg.json(), file);
    if (inner.input_embedding_name() != "model.embed_tokens")
      throw UnsupportedError(fmt::format("{}: projected models over a {} backbone are not supported (Llama-layout families only)",
                                         file.string(), inner.name()));
    ModelConfig config = inner.parse_config(inner_cfg.json(), file);
    config.raw = json;
    config.model_type = name();
    config.architecture = "AutoModelForCausalLMWithHiddenProjection";
    config.projected_hidden_size = cfg.integer("base_hidden_size");
    config.vocab_size = cfg.integer("vocab_size", config.vocab_size);
    config.tie_word_embeddings = false;  // tie_weights is a no-op in the Python class
    return config;
  }

  std::optional<std::string> weight_group(const std::string& tensor, int64_t num_layers) const override {
    if (tensor.starts_with("shadow_hidden_projection.")) return "lm_head";
    if (tensor.starts_with("lm_head.")) return "lm_head";
    if (tensor.starts_with("shadow_model.")) return ModelDescriptor::weight_group("model." + tensor.substr(13), num_layers);
    return std::nullopt;
  }

  void checkpoint_to_modules(io::TensorMap& t, const ModelConfig&) const override {
    io::TensorMap out;
    for (auto& [name, v] : t) out.emplace(name.starts_with("shadow_model.") ? "model." + name.substr(13) : name, v);
    t = std::move(out);
  }
  void modules_to_checkpoint(io::TensorMap& t, const ModelConfig&) const override {
    io::TensorMap out;
    for (auto& [name, v] : t) out.emplace(name.starts_with("model.") ? "shadow_model." + name.substr(6) : name, v);
    t = std::move(out);
  }
};

}  // namespace

const ModelDescriptor& projected_descriptor() {
  static const ProjectedDescriptor d;
  return d;
}

}  // namespace shadowpeft::models
