// Phi-3 / Phi-4-mini (Phi3ForCausalLM): Llama's layer with fused projections in the checkpoint —
// self_attn.qkv_proj = [q; k; v] and mlp.gate_up_proj = [gate; up], two table entries; partial
// rotary and LongRoPE come with its rope_parameters.

#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

class Phi3Descriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "phi3"; }
  std::vector<std::string> model_types() const override { return {"phi3"}; }
  std::vector<std::string> architectures() const override { return {"Phi3ForCausalLM"}; }

  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    ModelConfig config = detail::parse_llama_like(json, file, {});
    detail::apply_per_layer_config(config, detail::ConfigReader(json, file));
    return config;
  }

  std::span<const FusedModules> fused_modules() const override { return kFused; }

 private:
  inline static const FusedModules kFused[] = {
      {"model.layers.{i}.self_attn.qkv_proj", {"q_proj", "k_proj", "v_proj"}},
      {"model.layers.{i}.mlp.gate_up_proj", {"gate_proj", "up_proj"}},
  };
};

}  // namespace

const ModelDescriptor& phi3_descriptor() {
  static const Phi3Descriptor d;
  return d;
}

}  // namespace shadowpeft::models
