// Llama (LlamaForCausalLM): RMSNorm, SwiGLU, RoPE with every scaling type, GQA, and transformers'
// own per_layer_config for heterogeneous models.
#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

class LlamaDescriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "llama"; }
  std::vector<std::string> model_types() const override { return {"llama"}; }
  std::vector<std::string> architectures() const override { return {"LlamaForCausalLM"}; }
  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    ModelConfig config = detail::parse_llama_like(json, file, {});
    const detail::ConfigReader cfg(json, file);
    detail::apply_block_configs(config, cfg);  // puzzletron AnyModel checkpoints keep the parent model_type
    detail::apply_per_layer_config(config, cfg);
    return config;
  }
};

}  // namespace

const ModelDescriptor& llama_descriptor() {
  static const LlamaDescriptor d;
  return d;
}

}  // namespace shadowpeft::models
