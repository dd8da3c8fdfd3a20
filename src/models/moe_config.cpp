// The mixture-of-experts fields of config.json → LayerSpec::moe.
#include <fmt/format.h>

#include <set>

#include "config_fields.h"

namespace shadowpeft::models::detail {

void apply_mixture_of_experts(ModelConfig& config, const ConfigReader& cfg, const MoeFields& fields) {
  // transformers maps num_experts onto num_local_experts (attribute_map) for these families.
  const char* experts_key = cfg.has("num_local_experts") ? "num_local_experts" : "num_experts";
  MoeSpec moe = fields.spec;
  moe.num_experts = cfg.integer(experts_key);
  moe.top_k = cfg.integer("num_experts_per_tok");
  moe.expert_intermediate_size = cfg.integer(fields.expert_size_key);
  if (fields.normalize_from_config) moe.normalize_top_k = cfg.boolean("norm_topk_prob", false);
  if (moe.activation == ExpertActivation::ClampedSwiGLU) {
    moe.swiglu_alpha = cfg.number("swiglu_alpha", moe.swiglu_alpha);
    moe.swiglu_limit = cfg.number("swiglu_limit", moe.swiglu_limit);
  }
  if (moe.num_experts < 0) throw ConfigError(fmt::format("{} must not be negative, got {}", cfg.where(experts_key), moe.num_experts));
  if (moe.num_experts == 0) {
    if (!fields.sparse_step) throw ConfigError(cfg.where(experts_key) + " must be at least 1");
    return;  // Qwen-MoE with no experts is a dense model
  }
  if (moe.top_k < 1 || moe.top_k > moe.num_experts)
    throw ConfigError(fmt::format("{} = {} must be in [1, {}] ({} = {})", cfg.where("num_experts_per_tok"), moe.top_k,
                                  moe.num_experts, experts_key, moe.num_experts));
  if (moe.expert_intermediate_size <= 0)
    throw ConfigError(fmt::format("{} must be positive, got {}", cfg.where(fields.expert_size_key), moe.expert_intermediate_size));

  int64_t step = 1;
  std::set<int64_t> dense_layers;
  if (fields.sparse_step) {
    step = cfg.integer("decoder_sparse_step", 1);
    if (step < 1) throw ConfigError(fmt::format("{} must be at least 1, got {}", cfg.where("decoder_sparse_step"), step));
    dense_layers = cfg.layer_indices("mlp_only_layers");
  }
  for (int64_t i = 0; i < config.num_layers(); ++i) {
    if (dense_layers.contains(i) || (i + 1) % step != 0) continue;
    LayerSpec& spec = config.layers[static_cast<std::size_t>(i)];
    spec.mlp = MlpKind::MixtureOfExperts;
    spec.moe = moe;
  }
}

}  // namespace shadowpeft::models::detail
