// Qwen3 (Qwen3ForCausalLM): Llama layout with RMSNorm on q and k per head, `attention_bias`, and
// sliding windows chosen by `layer_types`.
#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

class Qwen3Descriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "qwen3"; }
  std::vector<std::string> model_types() const override { return {"qwen3"}; }
  std::vector<std::string> architectures() const override { return {"Qwen3ForCausalLM"}; }
  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    detail::LlamaLikeDefaults defaults;
    defaults.qk_norm = true;
    ModelConfig config = detail::parse_llama_like(json, file, defaults);
    const detail::ConfigReader cfg(json, file);
    detail::apply_layer_types(config, cfg);
    detail::apply_block_configs(config, cfg);  // puzzletron AnyModel checkpoints keep the parent model_type
    detail::apply_per_layer_config(config, cfg);
    return config;
  }
};

}  // namespace

const ModelDescriptor& qwen3_descriptor() {
  static const Qwen3Descriptor d;
  return d;
}

}  // namespace shadowpeft::models
