// Qwen2 (Qwen2ForCausalLM): Llama layout with biases on q/k/v (not o), sliding windows by layer_types.
#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

class Qwen2Descriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "qwen2"; }
  std::vector<std::string> model_types() const override { return {"qwen2"}; }
  std::vector<std::string> architectures() const override { return {"Qwen2ForCausalLM"}; }
  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    detail::LlamaLikeDefaults defaults;
    defaults.qkv_bias = true;
    defaults.read_attention_bias = false;
    ModelConfig config = detail::parse_llama_like(json, file, defaults);
    const detail::ConfigReader cfg(json, file);
    detail::apply_layer_types(config, cfg);
    detail::apply_block_configs(config, cfg);  // puzzletron AnyModel checkpoints keep the parent model_type
    detail::apply_per_layer_config(config, cfg);
    return config;
  }
};

}  // namespace

const ModelDescriptor& qwen2_descriptor() {
  static const Qwen2Descriptor d;
  return d;
}

}  // namespace shadowpeft::models
