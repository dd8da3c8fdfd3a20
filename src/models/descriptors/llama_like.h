#pragma once
// The descriptor of a family in the Llama mould (Llama layout of tensor names, config keys of
// LlamaConfig): everything but the name and the family defaults is shared. Every per-layer source
// applies — `layer_types` where the family has them, puzzletron `block_configs`, and
// transformers' `per_layer_config`. A mixture-of-experts family adds where its expert fields are and
// how its saved checkpoints store the experts.
#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models::detail {

class LlamaLikeDescriptor final : public ModelDescriptor {
 public:
  LlamaLikeDescriptor(std::string name, std::string architecture, LlamaLikeDefaults defaults, bool has_layer_types = false,
                      std::optional<MoeFields> moe = std::nullopt, std::span<const ModuleRename> file_renames = {},
                      std::span<const StackedExperts> stacked_experts = {})
      : name_(std::move(name)), architecture_(std::move(architecture)), defaults_(std::move(defaults)),
        has_layer_types_(has_layer_types), moe_(std::move(moe)), file_renames_(file_renames),
        stacked_experts_(stacked_experts) {}

  std::string name() const override { return name_; }
  std::vector<std::string> model_types() const override { return {name_}; }
  std::vector<std::string> architectures() const override { return {architecture_}; }
  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    ModelConfig config = parse_llama_like(json, file, defaults_);
    const ConfigReader cfg(json, file);
    if (has_layer_types_) apply_layer_types(config, cfg, defaults_);
    if (moe_) apply_mixture_of_experts(config, cfg, *moe_);
    apply_block_configs(config, cfg);  // puzzletron AnyModel checkpoints keep the parent model_type
    apply_per_layer_config(config, cfg, moe_ ? &*moe_ : nullptr);
    return config;
  }
  std::span<const ModuleRename> file_renames() const override { return file_renames_; }
  std::span<const StackedExperts> stacked_experts() const override { return stacked_experts_; }

 private:
  std::string name_, architecture_;
  LlamaLikeDefaults defaults_;
  bool has_layer_types_;
  std::optional<MoeFields> moe_;
  std::span<const ModuleRename> file_renames_;
  std::span<const StackedExperts> stacked_experts_;
};

}  // namespace shadowpeft::models::detail
