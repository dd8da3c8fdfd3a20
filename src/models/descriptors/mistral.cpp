// Mistral (MistralForCausalLM): Llama layout with a sliding attention window on every layer.
#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

class MistralDescriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "mistral"; }
  std::vector<std::string> model_types() const override { return {"mistral"}; }
  std::vector<std::string> architectures() const override { return {"MistralForCausalLM"}; }
  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    detail::LlamaLikeDefaults defaults;
    defaults.norm_eps = 1e-6;
    defaults.sliding_window = 4096;  // transformers' MistralConfig default
    ModelConfig config = detail::parse_llama_like(json, file, defaults);
    const detail::ConfigReader cfg(json, file);
    detail::apply_block_configs(config, cfg);  // puzzletron AnyModel checkpoints keep the parent model_type
    detail::apply_per_layer_config(config, cfg);
    return config;
  }
};

}  // namespace

const ModelDescriptor& mistral_descriptor() {
  static const MistralDescriptor d;
  return d;
}

}  // namespace shadowpeft::models
