// Gemma (GemmaForCausalLM): embeddings scaled by sqrt(hidden_size), (1 + w) RMSNorm in float32,
// GeGLU with the tanh GELU, tied embeddings by default.
#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

class GemmaDescriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "gemma"; }
  std::vector<std::string> model_types() const override { return {"gemma"}; }
  std::vector<std::string> architectures() const override { return {"GemmaForCausalLM"}; }
  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    detail::LlamaLikeDefaults defaults;
    defaults.hidden_act = "gelu_pytorch_tanh";
    defaults.norm = NormKind::RMSNormPlusOne;
    defaults.tie_word_embeddings = true;
    defaults.scale_embeddings = true;
    ModelConfig config = detail::parse_llama_like(json, file, defaults);
    detail::apply_per_layer_config(config, detail::ConfigReader(json, file));
    return config;
  }
};

}  // namespace

const ModelDescriptor& gemma_descriptor() {
  static const GemmaDescriptor d;
  return d;
}

}  // namespace shadowpeft::models
