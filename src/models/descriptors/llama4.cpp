// Llama 4 text (Llama4ForCausalLM, model_type llama4_text): RoPE layers (interleaved pairs, L2
// q/k norm after RoPE when use_qk_norm, chunked attention of `attention_chunk_size` tokens) and
// NoPE layers (`no_rope_layers`, full causal attention, attention temperature tuning); a mixture of
// experts on the `moe_layers` (every `interleave_moe_layer_step`-th): sigmoid of the top-k router
// logits scaling each expert's input, plus a shared expert; dense layers of `intermediate_size_mlp`.
// Its modules sit under feed_forward.*, the router is feed_forward.router and the expert stacks are
// held as x @ W.
#include <fmt/format.h>

#include <set>

#include "llama_like.h"

namespace shadowpeft::models {
namespace {

class Llama4TextDescriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "llama4_text"; }
  std::vector<std::string> model_types() const override { return {"llama4_text"}; }
  std::vector<std::string> architectures() const override { return {"Llama4ForCausalLM"}; }
  std::span<const ModuleRename> module_renames() const override { return kRenames; }
  ExpertLayout expert_layout() const override { return {.transposed = true}; }

  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    const detail::ConfigReader cfg(json, file);
    io::Json without_chunks = json;  // chunked layers are this family's, set below
    without_chunks.erase("attention_chunk_size");
    ModelConfig config = detail::parse_llama_like(without_chunks, file, kDefaults);
    config.raw = json;
    const int64_t n = config.num_layers();
    // Llama4TextConfig's defaults where config.json leaves them out.
    const std::optional<int64_t> chunk =
        json.contains("attention_chunk_size") ? cfg.optional_integer("attention_chunk_size") : std::optional<int64_t>(8192);
    const bool qk_norm = cfg.boolean("use_qk_norm", true), temperature = cfg.boolean("attn_temperature_tuning", true);
    const LayerSpec::Temperature tuning{cfg.number("floor_scale", 8192), cfg.number("attn_scale", 0.1)};
    std::vector<std::string> types;
    if (cfg.has("layer_types")) {
      const io::Json& lt = json.at("layer_types");
      if (!lt.is_array() || static_cast<int64_t>(lt.size()) != n)
        throw ConfigError(fmt::format("{} must list one type per layer ({}), got {}", cfg.where("layer_types"), n, lt.dump()));
      for (const io::Json& t : lt) {
        const std::string type = t.is_string() ? t.get<std::string>() : t.dump();
        if (type != "chunked_attention" && type != "full_attention")
          throw UnsupportedError(fmt::format("{}: '{}' is not supported (chunked_attention, full_attention)", cfg.where("layer_types"), type));
        types.push_back(type);
      }
    } else {
      for (const LayerSpec& spec : config.layers) types.push_back(spec.rope ? "chunked_attention" : "full_attention");
    }
    for (int64_t i = 0; i < n; ++i) {
      LayerSpec& spec = config.layers[static_cast<std::size_t>(i)];
      if (spec.rope) {
        spec.rope->interleaved = true;
        if (qk_norm) spec.qk_norm = QkNorm::L2AfterRope;
      } else if (temperature) {
        spec.attention_temperature = tuning;
      }
      if (types[static_cast<std::size_t>(i)] == "chunked_attention") spec.attention_chunk_size = chunk;
    }

    detail::apply_mixture_of_experts(config, cfg, kMoe);
    std::set<int64_t> moe_layers;
    if (cfg.has("moe_layers")) {
      moe_layers = cfg.layer_indices("moe_layers");
    } else {
      const int64_t step = cfg.integer("interleave_moe_layer_step", 1);
      if (step < 1) throw ConfigError(fmt::format("{} must be at least 1, got {}", cfg.where("interleave_moe_layer_step"), step));
      for (int64_t i = step - 1; i < n; i += step) moe_layers.insert(i);
    }
    for (int64_t i = 0; i < n; ++i)
      if (!moe_layers.contains(i)) config.layers[static_cast<std::size_t>(i)].mlp = MlpKind::Gated;
    detail::apply_per_layer_config(config, cfg, &kMoe);
    // After the per-layer overrides: a layer's intermediate_size is its experts' and its shared
    // expert's width; dense layers keep intermediate_size_mlp, as transformers builds them.
    const int64_t dense_size = cfg.integer("intermediate_size_mlp", 16384);
    for (LayerSpec& spec : config.layers) {
      if (spec.mlp == MlpKind::MixtureOfExperts) spec.moe.shared_expert_intermediate_size = spec.moe.expert_intermediate_size;
      else if (spec.mlp == MlpKind::Gated) spec.intermediate_size = dense_size;
    }
    return config;
  }

 private:
  inline static const detail::LlamaLikeDefaults kDefaults{.norm_eps = 1e-5, .rope_theta = 500000.0, .no_rope_layer_interval = 4};
  inline static const detail::MoeFields kMoe{
      .spec = {.scoring = RouterScoring::TopKSigmoid, .weights_on_input = true}, .expert_size_key = "intermediate_size"};
  inline static const ModuleRename kRenames[] = {{"model.layers.{i}.mlp.gate", "model.layers.{i}.feed_forward.router"},
                                                 {"model.layers.{i}.mlp", "model.layers.{i}.feed_forward"}};
};

}  // namespace

const ModelDescriptor& llama4_descriptor() {
  static const Llama4TextDescriptor d;
  return d;
}

}  // namespace shadowpeft::models
