// shadow-peft's projected causal LM as a model family: its descriptor (config, tensor names), its
// head (a hidden projection before the lm_head) and its config writer. The family belongs to
// shadow-peft, so it lives in shadow/ and joins models' registry at start-up.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "../models/config_fields.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/shadow/projected_causal_lm.h"

namespace shadowpeft {
namespace {

// The projected model's head: the backbone's hidden states projected to the base's width
// (shadow_hidden_projection), then scored by an lm_head of that width.
class ProjectedHead final : public models::OutputHead {
 public:
  ProjectedHead(const models::ModelConfig& config, torch::nn::Module& owner)
      : projection_(owner.register_module(
            "shadow_hidden_projection", models::Linear(config.output_hidden_size(), *config.projected_hidden_size, false))),
        lm_head_(owner.register_module("lm_head", models::Linear(*config.projected_hidden_size, config.vocab_size, false))) {}
  at::Tensor scores_with(const at::Tensor& hidden, const at::Tensor& weight) const override {
    return at::linear(projection_->forward(hidden), weight);
  }
  at::Tensor weight() const override { return lm_head_->weight; }
  models::Linear linear() const override { return lm_head_; }
  models::Linear projection() const override { return projection_; }

 private:
  models::Linear projection_, lm_head_;
};

// shadow-peft's projected causal LM (model_type "causal_lm_with_hidden_projection",
// AutoModelForCausalLMWithHiddenProjection): an inner backbone whose config sits under
// `shadow_model_config`, a shadow_hidden_projection to `base_hidden_size`, and an lm_head of that
// width. Checkpoint names: shadow_model.<backbone>, shadow_hidden_projection.weight, lm_head.weight.
class ProjectedDescriptor final : public models::ModelDescriptor {
 public:
  std::string name() const override { return "causal_lm_with_hidden_projection"; }
  std::vector<std::string> model_types() const override { return {"causal_lm_with_hidden_projection", "shadow_proj_causal_lm"}; }
  std::vector<std::string> architectures() const override { return {"AutoModelForCausalLMWithHiddenProjection"}; }
  std::string input_embedding_name() const override { return "shadow_model.embed_tokens"; }

  models::ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    const models::detail::ConfigReader cfg(json, file);
    if (!cfg.has("shadow_model_config")) throw ConfigError(cfg.where("shadow_model_config") + " is required");
    const models::detail::ConfigReader inner_cfg = cfg.child("shadow_model_config");
    const models::ModelDescriptor& inner = models::descriptor_for(inner_cfg.json(), file);
    if (inner.input_embedding_name() != "model.embed_tokens")
      throw UnsupportedError(fmt::format("{}: projected models over a {} backbone are not supported (Llama-layout families only)",
                                         file.string(), inner.name()));
    models::ModelConfig config = inner.parse_config(inner_cfg.json(), file);
    config.raw = json;
    config.model_type = name();
    config.architecture = "AutoModelForCausalLMWithHiddenProjection";
    config.projected_hidden_size = cfg.integer("base_hidden_size");
    config.vocab_size = cfg.integer("vocab_size", config.vocab_size);
    config.tie_word_embeddings = false;  // tie_weights is a no-op in the Python class
    return config;
  }

  std::optional<std::string> weight_group(const std::string& tensor, const models::ModelConfig& config) const override {
    if (tensor.starts_with("shadow_hidden_projection.")) return "lm_head";
    if (tensor.starts_with("lm_head.")) return "lm_head";
    if (tensor.starts_with("shadow_model.")) return models::ModelDescriptor::weight_group("model." + tensor.substr(13), config);
    return std::nullopt;
  }

  void checkpoint_to_modules(io::TensorMap& t, const models::ModelConfig&) const override {
    io::TensorMap out;
    for (auto& [name, v] : t) out.emplace(name.starts_with("shadow_model.") ? "model." + name.substr(13) : name, v);
    t = std::move(out);
  }
  void modules_to_checkpoint(io::TensorMap& t, const models::ModelConfig&) const override {
    io::TensorMap out;
    for (auto& [name, v] : t) out.emplace(name.starts_with("model.") ? "shadow_model." + name.substr(6) : name, v);
    t = std::move(out);
  }

  std::unique_ptr<models::OutputHead> make_head(const models::ModelConfig& config, torch::nn::Module& owner,
                                                const models::Embedding&) const override {
    return std::make_unique<ProjectedHead>(config, owner);
  }
};

// The Python class records where the backbone's classes live, e.g.
// transformers.models.llama.modeling_llama:LlamaModel.
std::pair<std::string, std::string> backbone_class_paths(const models::ModelConfig& c) {
  std::string prefix = c.architecture;
  if (prefix.empty()) throw ConfigError("projected model: the small model's config names no architecture");
  if (const auto pos = prefix.find("For"); pos != std::string::npos) prefix.resize(pos);
  const std::string mt = c.model_type;
  return {fmt::format("transformers.models.{0}.modeling_{0}:{1}Model", mt, prefix),
          fmt::format("transformers.models.{0}.configuration_{0}:{1}Config", mt, prefix)};
}

const models::ModelDescriptor& projected_descriptor() {
  static const ProjectedDescriptor d;
  return d;
}

const bool kProjectedRegistered = (models::register_descriptor(projected_descriptor()), true);

}  // namespace

models::ModelConfig backbone_config(const models::ModelConfig& config) {
  if (!config.projected_hidden_size) return config;
  return models::parse_model_config(config.raw.at("shadow_model_config"), "backbone of a projected model");
}

models::ModelConfig projected_model_config(const models::ModelConfig& small, int64_t base_hidden_size, int64_t vocab_size) {
  const models::ModelConfig inner = backbone_config(small);
  const auto [model_class, config_class] =
      small.projected_hidden_size
          ? std::pair{small.raw.value("shadow_model_class", ""), small.raw.value("shadow_model_config_class", "")}
          : backbone_class_paths(inner);
  io::Json raw = {{"architectures", {"AutoModelForCausalLMWithHiddenProjection"}},
                  {"model_type", "causal_lm_with_hidden_projection"},
                  {"base_hidden_size", base_hidden_size},
                  {"hidden_size", base_hidden_size},
                  {"vocab_size", vocab_size},
                  {"shadow_model_class", model_class},
                  {"shadow_model_config_class", config_class},
                  {"shadow_model_config", inner.raw}};
  // The Python config copies these from the inner config for convenience.
  for (const char* key : {"num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size",
                          "max_position_embeddings", "rope_theta", "rms_norm_eps", "layer_types", "sliding_window",
                          "attention_dropout", "head_dim", "use_sliding_window", "max_window_layers", "dtype"})
    if (inner.raw.contains(key)) raw[key] = inner.raw[key];
  return models::parse_model_config(raw, "projected model");
}

}  // namespace shadowpeft

// Registration runs when this file is linked: programs that link the `shadowpeft` target ask the
// linker for this symbol (src/CMakeLists.txt), so `models::load_causal_lm` reads projected
// models even where no ShadowPEFT code is called.
extern "C" const int shadowpeft_projected_family_anchor = 1;
