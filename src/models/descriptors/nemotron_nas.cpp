// Nemotron-NAS / DeciLM (DeciLMForCausalLM, model_type "nemotron-nas"): a Llama whose layers come
// from `block_configs` — per-layer KV groups and FFN multipliers, no-op and linear sub-blocks.
// transformers needs trust_remote_code for these checkpoints; we implement them natively.
#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

class NemotronNasDescriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "nemotron-nas"; }
  std::vector<std::string> model_types() const override { return {"nemotron-nas", "deci"}; }
  std::vector<std::string> architectures() const override { return {"DeciLMForCausalLM"}; }
  bool requires_trust_remote_code() const override { return true; }
  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    io::Json with_defaults = json;
    // block_configs carry the sizes; the globals may be absent.
    if (!with_defaults.contains("intermediate_size") || with_defaults["intermediate_size"].is_null())
      with_defaults["intermediate_size"] = 0;
    ModelConfig config = detail::parse_llama_like(with_defaults, file, {});
    config.raw = json;
    detail::apply_block_configs(config, detail::ConfigReader(json, file));
    return config;
  }
};

}  // namespace

const ModelDescriptor& nemotron_nas_descriptor() {
  static const NemotronNasDescriptor d;
  return d;
}

}  // namespace shadowpeft::models
