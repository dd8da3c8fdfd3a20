// GPT-2 (GPT2LMHeadModel): learned absolute positions, LayerNorm with bias, GELU (tanh) MLP with
// biases, tied head. Its modules live under `transformer.` with their own names, Conv1D weights
// stored [in, out] and q, k, v fused in one c_attn: all three are table entries.
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
  std::span<const FusedModules> fused_modules() const override { return kFused; }

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
    config.layers.assign(cfg.layer_count("n_layer"), spec);
    return config;
  }

  void checkpoint_to_modules(io::TensorMap& t, const ModelConfig& config) const override {
    // Older checkpoints carry the causal-mask buffers; they are not parameters.
    std::erase_if(t, [](const auto& item) {
      const std::string& name = item.first;
      return name.starts_with("transformer.h.") &&
             (name.ends_with(".attn.masked_bias") || (name.ends_with(".attn.bias") && item.second.dim() == 4));
    });
    ModelDescriptor::checkpoint_to_modules(t, config);
  }

 private:
  // Conv1D modules store their weights [in, out]: `transposed`.
  static constexpr ModuleRename kRenames[] = {
      {"model.embed_tokens", "transformer.wte"},
      {"model.embed_positions", "transformer.wpe"},
      {"model.norm", "transformer.ln_f"},
      {"model.layers.{i}.input_layernorm", "transformer.h.{i}.ln_1"},
      {"model.layers.{i}.post_attention_layernorm", "transformer.h.{i}.ln_2"},
      {"model.layers.{i}.self_attn.o_proj", "transformer.h.{i}.attn.c_proj", true},
      {"model.layers.{i}.self_attn", "transformer.h.{i}.attn"},  // c_attn, fused below
      {"model.layers.{i}.mlp.up_proj", "transformer.h.{i}.mlp.c_fc", true},
      {"model.layers.{i}.mlp.down_proj", "transformer.h.{i}.mlp.c_proj", true},
      {"model.layers.{i}", "transformer.h.{i}"},  // the block itself (what adapters that wrap blocks name)
  };
  inline static const FusedModules kFused[] = {{"model.layers.{i}.self_attn.c_attn", {"q_proj", "k_proj", "v_proj"}, true}};
};

}  // namespace

const ModelDescriptor& gpt2_descriptor() {
  static const Gpt2Descriptor d;
  return d;
}

}  // namespace shadowpeft::models
