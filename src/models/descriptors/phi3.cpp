// Phi-3 / Phi-4-mini (Phi3ForCausalLM): Llama's layer with fused projections in the checkpoint —
// self_attn.qkv_proj = [q; k; v] and mlp.gate_up_proj = [gate; up] — split into our modules on
// load and fused again on save; partial rotary and LongRoPE come with its rope_parameters.
#include <ATen/ATen.h>
#include <fmt/format.h>

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

  void checkpoint_to_modules(io::TensorMap& t, const ModelConfig& config) const override {
    for (std::size_t i = 0; i < config.layers.size(); ++i) {
      const LayerSpec& s = config.layers[i];
      const std::string prefix = fmt::format("model.layers.{}.", i);
      if (auto it = t.find(prefix + "self_attn.qkv_proj.weight"); it != t.end() && s.attention == AttentionKind::Full) {
        const std::vector<at::Tensor> parts =
            it->second.split_with_sizes({s.num_heads * s.head_dim, s.num_kv_heads * s.head_dim, s.num_kv_heads * s.head_dim});
        t.erase(it);
        t.emplace(prefix + "self_attn.q_proj.weight", parts[0]);
        t.emplace(prefix + "self_attn.k_proj.weight", parts[1]);
        t.emplace(prefix + "self_attn.v_proj.weight", parts[2]);
      }
      if (auto it = t.find(prefix + "mlp.gate_up_proj.weight"); it != t.end() && s.mlp == MlpKind::Gated) {
        const std::vector<at::Tensor> parts = it->second.chunk(2, 0);
        t.erase(it);
        t.emplace(prefix + "mlp.gate_proj.weight", parts[0]);
        t.emplace(prefix + "mlp.up_proj.weight", parts[1]);
      }
    }
  }

  void modules_to_checkpoint(io::TensorMap& t, const ModelConfig& config) const override {
    auto fuse = [&](const std::string& fused, std::initializer_list<const char*> names, const std::string& prefix) {
      std::vector<at::Tensor> parts;
      for (const char* n : names) {
        auto it = t.find(prefix + n);
        if (it == t.end()) return;
        parts.push_back(it->second);
      }
      for (const char* n : names) t.erase(prefix + n);
      t.emplace(prefix + fused, at::cat(parts, 0));
    };
    for (std::size_t i = 0; i < config.layers.size(); ++i) {
      const std::string prefix = fmt::format("model.layers.{}.", i);
      fuse("self_attn.qkv_proj.weight", {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"}, prefix);
      fuse("mlp.gate_up_proj.weight", {"mlp.gate_proj.weight", "mlp.up_proj.weight"}, prefix);
    }
  }
};

}  // namespace

const ModelDescriptor& phi3_descriptor() {
  static const Phi3Descriptor d;
  return d;
}

}  // namespace shadowpeft::models
