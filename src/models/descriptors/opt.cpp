// OPT (OPTForCausalLM): the "nested decoder" layout (model.decoder.layers), learned positions
// with an offset of 2 counted over the real tokens, LayerNorm with bias, ReLU MLP (fc1, fc2),
// biases everywhere, a tied head. Post-norm checkpoints (do_layer_norm_before = false, OPT-350m)
// normalise each residual sum and have no final norm; word_embed_proj_dim ≠ hidden_size projects
// embeddings in and the final hidden states out.
#include <fmt/format.h>

#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

class OptDescriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "opt"; }
  std::vector<std::string> model_types() const override { return {"opt"}; }
  std::vector<std::string> architectures() const override { return {"OPTForCausalLM"}; }

  std::span<const ModuleRename> module_renames() const override { return kRenames; }

  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    const detail::ConfigReader cfg(json, file);
    if (!cfg.boolean("layer_norm_elementwise_affine", true))
      throw UnsupportedError(cfg.where("layer_norm_elementwise_affine") + " = false (norms without weights) is not supported");
    ModelConfig config;
    config.model_type = "opt";
    config.architecture = "OPTForCausalLM";
    config.vocab_size = cfg.integer("vocab_size", 50272);
    config.hidden_size = cfg.integer("hidden_size", 768);
    config.max_position_embeddings = cfg.integer("max_position_embeddings", 2048);
    config.norm = NormKind::LayerNorm;
    config.norm_eps = 1e-5;  // torch.nn.LayerNorm's default; OPT has no key for it
    config.activation = detail::parse_activation(cfg, "activation_function", "relu");
    config.positions = PositionKind::Learned;
    config.position_offset = 2;
    config.default_positions = DefaultPositions::CountRealTokens;
    if (const int64_t e = cfg.integer("word_embed_proj_dim", config.hidden_size); e != config.hidden_size)
      config.word_embedding_size = e;
    const bool norm_before = cfg.boolean("do_layer_norm_before", true);
    config.final_norm = norm_before && !cfg.boolean("_remove_final_layer_norm", false);
    config.tie_word_embeddings = cfg.boolean("tie_word_embeddings", true);
    config.initializer_range = cfg.number("init_std", 0.02);
    config.pad_token_id = 1;  // OPTConfig's default; a pad_token_id key overrides it
    LayerSpec spec;
    spec.mlp = MlpKind::Plain;
    spec.norm_placement = norm_before ? NormPlacement::Pre : NormPlacement::PostResidual;
    spec.num_heads = spec.num_kv_heads = cfg.integer("num_attention_heads", 12);
    if (spec.num_heads <= 0 || config.hidden_size % spec.num_heads != 0)
      throw ConfigError(fmt::format("{}: hidden_size {} is not divisible by num_attention_heads {}", file.string(),
                                    config.hidden_size, spec.num_heads));
    spec.head_dim = config.hidden_size / spec.num_heads;
    spec.intermediate_size = cfg.integer("ffn_dim", 3072);
    spec.qkv_bias = spec.o_bias = spec.mlp_bias = cfg.boolean("enable_bias", true);
    config.layers.assign(cfg.layer_count("num_hidden_layers", 12), spec);
    return config;
  }

 private:
  static constexpr ModuleRename kRenames[] = {
      {"model.embed_tokens", "model.decoder.embed_tokens"},
      {"model.embed_positions", "model.decoder.embed_positions"},
      {"model.project_in", "model.decoder.project_in"},
      {"model.project_out", "model.decoder.project_out"},
      {"model.norm", "model.decoder.final_layer_norm"},
      {"model.layers.{i}.input_layernorm", "model.decoder.layers.{i}.self_attn_layer_norm"},
      {"model.layers.{i}.post_attention_layernorm", "model.decoder.layers.{i}.final_layer_norm"},
      {"model.layers.{i}.self_attn.o_proj", "model.decoder.layers.{i}.self_attn.out_proj"},
      {"model.layers.{i}.self_attn", "model.decoder.layers.{i}.self_attn"},
      {"model.layers.{i}.mlp.up_proj", "model.decoder.layers.{i}.fc1"},
      {"model.layers.{i}.mlp.down_proj", "model.decoder.layers.{i}.fc2"},
      {"model.layers.{i}", "model.decoder.layers.{i}"},  // the block itself (what adapters that wrap blocks name)
  };
};

}  // namespace

const ModelDescriptor& opt_descriptor() {
  static const OptDescriptor d;
  return d;
}

}  // namespace shadowpeft::models
