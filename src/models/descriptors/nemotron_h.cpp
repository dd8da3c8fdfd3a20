// Nemotron-H (NemotronHForCausalLM; Nemotron Nano 2 and 3): a hybrid stack of one-mixer blocks,
// h += mixer(norm(h)), the mixer per layer from `layers_block_type` (or the older
// `hybrid_override_pattern`): a Mamba-2 mixer ("M"), attention without positions ("*"), a ReLU² MLP
// ("-") or a mixture of non-gated ReLU² experts with DeepSeek-V3 routing and a shared expert ("E").
// Each block is one of our layers with a single sub-block, both named `norm` + `mixer` as the
// checkpoints name them. Saved files keep the backbone under `backbone.*` and experts one by one.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <limits>

#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

// transformers' names of the block kinds and the one-letter pattern of older configs.
constexpr std::array<std::pair<const char*, char>, 4> kBlockKinds{
    {{"linear_attention", 'M'}, {"full_attention", '*'}, {"mlp", '-'}, {"moe", 'E'}}};

std::vector<std::string> block_kinds(const detail::ConfigReader& cfg) {
  std::vector<std::string> kinds;
  if (cfg.has("layers_block_type")) {
    const io::Json& list = cfg.json().at("layers_block_type");
    if (!list.is_array()) throw ConfigError(fmt::format("{} must be a list of block types, got {}", cfg.where("layers_block_type"), list.dump()));
    for (const io::Json& k : list) kinds.push_back(k.is_string() ? k.get<std::string>() : k.dump());
  } else if (cfg.has("hybrid_override_pattern")) {
    for (const char c : cfg.string("hybrid_override_pattern", "")) {
      const auto* kind = std::find_if(kBlockKinds.begin(), kBlockKinds.end(), [&](const auto& k) { return k.second == c; });
      if (kind == kBlockKinds.end())
        throw ConfigError(fmt::format("{} = '{}': '{}' is not a block type (M: mamba, *: attention, -: mlp, E: moe)",
                                      cfg.where("hybrid_override_pattern"), cfg.string("hybrid_override_pattern", ""), c));
      kinds.emplace_back(kind->first);
    }
  } else {
    kinds = {"linear_attention", "moe", "full_attention", "mlp"};  // NemotronHConfig's default
  }
  if (kinds.empty()) throw ConfigError(cfg.where("layers_block_type") + " must list at least one block");
  return kinds;
}

class NemotronHDescriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "nemotron_h"; }
  std::vector<std::string> model_types() const override { return {"nemotron_h"}; }
  std::vector<std::string> architectures() const override { return {"NemotronHForCausalLM"}; }
  std::span<const ModuleRename> module_renames() const override { return kRenames; }
  std::span<const ModuleRename> file_renames() const override { return kFileRenames; }
  std::span<const StackedExperts> stacked_experts() const override { return kStackedExperts; }
  // Multi-token-prediction layers, which transformers does not load either.
  std::vector<std::string> other_towers() const override { return {"mtp"}; }
  LayerPartNames layer_part_names(NormPlacement) const override {
    return {.attention = "mixer", .mlp = "mixer", .attention_pre = "norm", .mlp_pre = "norm"};
  }

  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    const detail::ConfigReader cfg(json, file);
    ModelConfig config;
    config.raw = json;
    config.model_type = "nemotron_h";
    config.architecture = "NemotronHForCausalLM";
    config.vocab_size = cfg.integer("vocab_size", 131072);
    config.hidden_size = cfg.integer("hidden_size", 4096);
    config.max_position_embeddings = cfg.integer("max_position_embeddings", 4096);
    config.norm = NormKind::RMSNormWeightInFloat32;
    config.norm_eps = cfg.number("layer_norm_epsilon", 1e-5);
    config.activation = detail::parse_activation(cfg, "mlp_hidden_act", "relu2");
    config.tie_word_embeddings = cfg.boolean("tie_word_embeddings", false);

    LayerSpec spec;  // every field of every kind; the kind of each layer decides what is used
    spec.rope.reset();  // attention has no positions
    spec.num_heads = cfg.integer("num_attention_heads", 32);
    spec.num_kv_heads = cfg.integer("num_key_value_heads", spec.num_heads);
    spec.head_dim = cfg.integer("head_dim", 128);
    spec.intermediate_size = cfg.integer("intermediate_size", 21504);
    spec.mlp_bias = cfg.boolean("mlp_bias", false);
    if (cfg.has("sliding_window")) throw UnsupportedError(cfg.where("sliding_window") + ": Nemotron-H attention with a window is not supported");
    MambaSpec& m = spec.mamba;
    m.num_heads = cfg.integer("mamba_num_heads", 128);
    m.head_dim = cfg.integer("mamba_head_dim", 64);
    m.num_groups = cfg.integer(cfg.has("mamba_n_groups") ? "mamba_n_groups" : "n_groups", 8);
    m.state_size = cfg.integer("ssm_state_size", 128);
    m.conv_kernel = cfg.integer(cfg.has("mamba_d_conv") ? "mamba_d_conv" : "conv_kernel", 4);
    m.chunk_size = cfg.integer(cfg.has("mamba_chunk_size") ? "mamba_chunk_size" : "chunk_size", 128);
    m.conv_bias = cfg.boolean(cfg.has("mamba_conv_bias") ? "mamba_conv_bias" : "use_conv_bias", true);
    m.proj_bias = cfg.boolean("use_bias", false);
    m.activation = detail::parse_activation(cfg, "mamba_hidden_act", "silu");
    // transformers' mixer clamps dt below at time_step_min and nowhere above (time_step_limit unused).
    m.time_step_min = cfg.number(cfg.has("mamba_dt_min") ? "mamba_dt_min" : "time_step_min", 0.001);
    m.time_step_max = std::numeric_limits<double>::infinity();
    m.dt_init_min = m.time_step_min;
    m.dt_init_max = cfg.number(cfg.has("mamba_dt_max") ? "mamba_dt_max" : "time_step_max", 0.1);
    m.dt_init_floor = cfg.number(cfg.has("mamba_dt_init_floor") ? "mamba_dt_init_floor" : "time_step_floor", 1e-4);
    MoeSpec& moe = spec.moe;
    moe.num_experts = cfg.integer(cfg.has("n_routed_experts") ? "n_routed_experts" : "num_local_experts", 8);
    moe.top_k = cfg.integer("num_experts_per_tok", 2);
    moe.expert_intermediate_size = cfg.integer("moe_intermediate_size", 7688);
    moe.scoring = RouterScoring::SigmoidGroupLimited;
    moe.activation = ExpertActivation::Plain;
    moe.normalize_top_k = cfg.boolean("norm_topk_prob", true);
    moe.routed_scaling_factor = cfg.number("routed_scaling_factor", 1.0);
    moe.num_groups = cfg.integer("n_group", 1);
    moe.top_k_groups = cfg.integer("topk_group", 1);
    moe.shared_expert_intermediate_size = cfg.integer("moe_shared_expert_intermediate_size", 7688);
    moe.latent_size = cfg.integer("moe_latent_size", 0);

    const std::vector<std::string> kinds = block_kinds(cfg);
    for (std::size_t i = 0; i < kinds.size(); ++i) {
      LayerSpec layer = spec;
      layer.attention = AttentionKind::None;
      layer.mlp = MlpKind::None;
      if (kinds[i] == "linear_attention") layer.attention = AttentionKind::Mamba2;
      else if (kinds[i] == "full_attention") layer.attention = AttentionKind::Full;
      else if (kinds[i] == "mlp") layer.mlp = MlpKind::Plain;
      else if (kinds[i] == "moe") layer.mlp = MlpKind::MixtureOfExperts;
      else
        throw ConfigError(fmt::format("{}[{}] = '{}' is not a block type (accepted: linear_attention, full_attention, mlp, moe)",
                                      cfg.where("layers_block_type"), i, kinds[i]));
      config.layers.push_back(layer);
    }
    detail::apply_per_layer_config(config, cfg, &kMoe, detail::LayerParts::OneMixer);
    for (std::size_t i = 0; i < config.layers.size(); ++i) check_layer(config.layers[i], i, file);
    return config;
  }

 private:
  static void check_layer(const LayerSpec& spec, std::size_t i, const std::filesystem::path& file) {
    if (spec.mlp != MlpKind::MixtureOfExperts) return;
    const MoeSpec& m = spec.moe;
    if (m.num_groups < 1 || m.num_experts % m.num_groups != 0 || m.top_k_groups < 1 || m.top_k_groups > m.num_groups ||
        m.num_experts / m.num_groups < 2)
      throw ConfigError(fmt::format("{}: layer {}: {} experts in n_group {} with topk_group {}; expected groups of at least "
                                    "two experts dividing them evenly and 1 <= topk_group <= n_group",
                                    file.string(), i, m.num_experts, m.num_groups, m.top_k_groups));
    if (m.top_k < 1 || m.top_k > m.top_k_groups * (m.num_experts / m.num_groups))
      throw ConfigError(fmt::format("{}: layer {}: num_experts_per_tok {} must be in [1, {}] (the experts of topk_group groups)",
                                    file.string(), i, m.top_k, m.top_k_groups * (m.num_experts / m.num_groups)));
  }

  inline static const detail::MoeFields kMoe{.expert_size_key = "moe_intermediate_size"};
  static constexpr ModuleRename kRenames[] = {
      {"model.embed_tokens", "model.embeddings"},
      {"model.norm", "model.norm_f"},
      {"model.layers.{i}.mixer.shared_expert", "model.layers.{i}.mixer.shared_experts"},
  };
  static constexpr ModuleRename kFileRenames[] = {{"model", "backbone"}};
  inline static const StackedExperts kStackedExperts[] = {
      {"model.layers.{i}.mixer.experts.up_proj", {"model.layers.{i}.mixer.experts.{e}.up_proj.weight"}},
      {"model.layers.{i}.mixer.experts.down_proj", {"model.layers.{i}.mixer.experts.{e}.down_proj.weight"}},
  };
};

}  // namespace

const ModelDescriptor& nemotron_h_descriptor() {
  static const NemotronHDescriptor d;
  return d;
}

}  // namespace shadowpeft::models
