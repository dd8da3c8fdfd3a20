// GPT-2 (GPT2LMHeadModel): learned absolute positions, LayerNorm with bias, GELU (tanh) MLP with
// biases, tied head. Its modules live under `transformer.` with their own names (the rename
// table); two things a rename cannot express are converted here: Conv1D weights are stored
// [in, out] (the transpose of a Linear) and q, k, v are one fused c_attn.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

class Gpt2Descriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "gpt2"; }
  std::vector<std::string> model_types() const override { return {"gpt2"}; }
  std::vector<std::string> architectures() const override { return {"GPT2LMHeadModel"}; }
  std::span<const ModuleRename> module_renames() const override { return kRenames; }

  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    const detail::ConfigReader cfg(json, file);
    for (const char* unsupported : {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention"})
      if (cfg.boolean(unsupported, false)) throw UnsupportedError(cfg.where(unsupported) + " = true is not supported");
    if (!cfg.boolean("scale_attn_weights", true)) throw UnsupportedError(cfg.where("scale_attn_weights") + " = false is not supported");
    ModelConfig config;
    config.model_type = "gpt2";
    config.architecture = "GPT2LMHeadModel";
    config.vocab_size = cfg.integer("vocab_size");
    config.hidden_size = cfg.integer("n_embd");
    config.max_position_embeddings = cfg.integer("n_positions", 1024);
    config.norm = NormKind::LayerNorm;
    config.norm_eps = cfg.number("layer_norm_epsilon", 1e-5);
    config.activation = detail::parse_activation(cfg, "activation_function", "gelu_new");
    config.positions = PositionKind::Learned;
    config.tie_word_embeddings = cfg.boolean("tie_word_embeddings", true);
    LayerSpec spec;
    spec.mlp = MlpKind::Plain;
    spec.num_heads = spec.num_kv_heads = cfg.integer("n_head");
    if (config.hidden_size % spec.num_heads != 0)
      throw ConfigError(fmt::format("{}: n_embd {} is not divisible by n_head {}", file.string(), config.hidden_size, spec.num_heads));
    spec.head_dim = config.hidden_size / spec.num_heads;
    spec.intermediate_size = cfg.integer("n_inner", 4 * config.hidden_size);
    spec.qkv_bias = spec.o_bias = spec.mlp_bias = true;
    config.layers.assign(static_cast<std::size_t>(cfg.integer("n_layer")), spec);
    return config;
  }

  void checkpoint_to_modules(io::TensorMap& t, const ModelConfig& config) const override {
    ModelDescriptor::checkpoint_to_modules(t, config);  // the renames
    for (int64_t i = 0; i < config.num_layers(); ++i) {
      const std::string layer = fmt::format("model.layers.{}.", i);
      // Older checkpoints carry the causal-mask buffers; they are not parameters.
      if (auto it = t.find(layer + "self_attn.bias"); it != t.end() && it->second.dim() == 4) t.erase(it);
      t.erase(layer + "self_attn.masked_bias");
      for (const char* conv1d : kConv1dWeights)
        if (auto it = t.find(layer + conv1d); it != t.end() && it->second.dim() == 2) it->second = it->second.t().contiguous();
      for (const char* p : {"weight", "bias"}) {
        auto it = t.find(layer + "self_attn.c_attn." + p);
        if (it == t.end()) continue;
        const at::Tensor fused = it->second.dim() == 2 ? it->second.t() : it->second;  // Conv1D [H, 3H] → [3H, H]
        t.erase(it);
        const auto parts = fused.split(config.hidden_size, 0);
        for (std::size_t k = 0; k < parts.size() && k < 3; ++k) t[layer + "self_attn." + kQkv[k] + "." + p] = parts[k].contiguous();
      }
    }
  }

  void modules_to_checkpoint(io::TensorMap& t, const ModelConfig& config) const override {
    for (int64_t i = 0; i < config.num_layers(); ++i) {
      const std::string layer = fmt::format("model.layers.{}.", i);
      for (const char* conv1d : kConv1dWeights)
        if (auto it = t.find(layer + conv1d); it != t.end() && it->second.dim() == 2) it->second = it->second.t().contiguous();
      for (const char* p : {"weight", "bias"}) {
        std::vector<at::Tensor> qkv;
        for (const char* n : kQkv)
          if (auto it = t.find(layer + "self_attn." + n + "." + p); it != t.end()) qkv.push_back(it->second);
        if (qkv.size() != 3) continue;
        for (const char* n : kQkv) t.erase(layer + "self_attn." + n + "." + p);
        const at::Tensor fused = at::cat(qkv, 0);
        t[layer + "self_attn.c_attn." + p] = fused.dim() == 2 ? fused.t().contiguous() : fused;
      }
    }
    ModelDescriptor::modules_to_checkpoint(t, config);  // the renames
  }

 private:
  static constexpr ModuleRename kRenames[] = {
      {"model.embed_tokens", "transformer.wte"},
      {"model.embed_positions", "transformer.wpe"},
      {"model.norm", "transformer.ln_f"},
      {"model.layers.{i}.input_layernorm", "transformer.h.{i}.ln_1"},
      {"model.layers.{i}.post_attention_layernorm", "transformer.h.{i}.ln_2"},
      {"model.layers.{i}.self_attn.o_proj", "transformer.h.{i}.attn.c_proj"},
      {"model.layers.{i}.self_attn", "transformer.h.{i}.attn"},  // c_attn, split below
      {"model.layers.{i}.mlp.up_proj", "transformer.h.{i}.mlp.c_fc"},
      {"model.layers.{i}.mlp.down_proj", "transformer.h.{i}.mlp.c_proj"},
  };
  // Our names of the weights GPT-2 stores as Conv1D ([in, out]).
  static constexpr const char* kConv1dWeights[] = {"self_attn.o_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"};
  static constexpr const char* kQkv[] = {"q_proj", "k_proj", "v_proj"};
};

}  // namespace

const ModelDescriptor& gpt2_descriptor() {
  static const Gpt2Descriptor d;
  return d;
}

}  // namespace shadowpeft::models
