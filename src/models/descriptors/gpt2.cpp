// GPT-2 (GPT2LMHeadModel): learned absolute positions, LayerNorm with bias, GELU (tanh) MLP with
// biases, tied head. Its checkpoints store Conv1D weights ([in, out], the transpose of a Linear)
// and one fused c_attn for q, k and v; this descriptor maps them to and from our layout.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <regex>

#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

class Gpt2Descriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "gpt2"; }
  std::vector<std::string> model_types() const override { return {"gpt2"}; }
  std::vector<std::string> architectures() const override { return {"GPT2LMHeadModel"}; }
  std::string input_embedding_name() const override { return "transformer.wte"; }

  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    const detail::ConfigReader cfg(json, file);
    for (const char* unsupported : {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention"})
      if (cfg.boolean(unsupported, false)) throw UnsupportedError(cfg.where(unsupported) + " = true is not supported");
    if (!cfg.boolean("scale_attn_weights", true)) throw UnsupportedError(cfg.where("scale_attn_weights") + " = false is not supported");
    ModelConfig config;
    config.raw = json;
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

  std::optional<std::string> weight_group(const std::string& tensor, const ModelConfig& config) const override {
    const int64_t num_layers = config.num_layers();
    static const std::regex block(R"(transformer\.h\.(\d+)\.(ln_1|attn|ln_2|mlp)\..+)");
    if (tensor.starts_with("transformer.wte.") || tensor.starts_with("transformer.wpe.")) return "embeddings";
    if (tensor.starts_with("lm_head.") || tensor.starts_with("transformer.ln_f.") || tensor.starts_with("score.")) return "lm_head";
    std::smatch m;
    if (!std::regex_match(tensor, m, block) || std::stoll(m[1]) >= num_layers) return std::nullopt;
    const bool attention = m[2] == "ln_1" || m[2] == "attn";
    return fmt::format("block_{}_{}", m[1].str(), attention ? "attention" : "ffn");
  }

  void checkpoint_to_modules(io::TensorMap& t, const ModelConfig& config) const override {
    for (const auto& [ours, theirs] : kGlobalNames) move(t, theirs, ours, false);
    const int64_t h = config.hidden_size;
    for (int64_t i = 0; i < config.num_layers(); ++i) {
      const std::string src = fmt::format("transformer.h.{}.", i), dst = fmt::format("model.layers.{}.", i);
      // Older checkpoints carry the causal-mask buffers; they are not parameters.
      if (auto it = t.find(src + "attn.bias"); it != t.end() && it->second.dim() == 4) t.erase(it);
      t.erase(src + "attn.masked_bias");
      for (const auto& [ours, theirs, conv1d] : kLayerNames) move(t, src + theirs, dst + ours, conv1d);
      for (const char* p : {"weight", "bias"}) {
        at::Tensor fused = take(t, src + "attn.c_attn." + p);
        if (!fused.defined()) continue;
        if (fused.dim() == 2) fused = fused.t();  // Conv1D [H, 3H] → [3H, H]
        const auto parts = fused.split(h, 0);
        for (std::size_t k = 0; k < parts.size() && k < 3; ++k)
          t[dst + "self_attn." + kQkv[k] + "." + p] = parts[k].contiguous();
      }
    }
  }

  void modules_to_checkpoint(io::TensorMap& t, const ModelConfig& config) const override {
    for (const auto& [ours, theirs] : kGlobalNames) move(t, ours, theirs, false);
    for (int64_t i = 0; i < config.num_layers(); ++i) {
      const std::string dst = fmt::format("transformer.h.{}.", i), src = fmt::format("model.layers.{}.", i);
      for (const auto& [ours, theirs, conv1d] : kLayerNames) move(t, src + ours, dst + theirs, conv1d);
      for (const char* p : {"weight", "bias"}) {
        std::vector<at::Tensor> qkv;
        for (const char* n : kQkv) qkv.push_back(take(t, src + "self_attn." + n + "." + p));
        if (!qkv[0].defined()) continue;
        const at::Tensor fused = at::cat(qkv, 0);
        t[dst + "attn.c_attn." + p] = fused.dim() == 2 ? fused.t().contiguous() : fused;
      }
    }
  }

 private:
  static at::Tensor take(io::TensorMap& t, const std::string& name) {
    auto it = t.find(name);
    if (it == t.end()) return {};
    at::Tensor v = std::move(it->second);
    t.erase(it);
    return v;
  }
  // Renames a tensor; Conv1D weights ([in, out]) are transposed to Linear's [out, in] and back.
  static void move(io::TensorMap& t, const std::string& from, const std::string& to, bool conv1d) {
    if (at::Tensor v = take(t, from); v.defined()) t[to] = conv1d && v.dim() == 2 ? v.t().contiguous() : v;
  }

  struct Rename {
    const char* ours;
    const char* theirs;
  };
  struct LayerRename {
    const char* ours;
    const char* theirs;
    bool conv1d;
  };
  static constexpr Rename kGlobalNames[] = {{"model.embed_tokens.weight", "transformer.wte.weight"},
                                            {"model.embed_positions.weight", "transformer.wpe.weight"},
                                            {"model.norm.weight", "transformer.ln_f.weight"},
                                            {"model.norm.bias", "transformer.ln_f.bias"}};
  static constexpr LayerRename kLayerNames[] = {{"input_layernorm.weight", "ln_1.weight", false},
                                                {"input_layernorm.bias", "ln_1.bias", false},
                                                {"post_attention_layernorm.weight", "ln_2.weight", false},
                                                {"post_attention_layernorm.bias", "ln_2.bias", false},
                                                {"self_attn.o_proj.weight", "attn.c_proj.weight", true},
                                                {"self_attn.o_proj.bias", "attn.c_proj.bias", false},
                                                {"mlp.up_proj.weight", "mlp.c_fc.weight", true},
                                                {"mlp.up_proj.bias", "mlp.c_fc.bias", false},
                                                {"mlp.down_proj.weight", "mlp.c_proj.weight", true},
                                                {"mlp.down_proj.bias", "mlp.c_proj.bias", false}};
  static constexpr const char* kQkv[] = {"q_proj", "k_proj", "v_proj"};
};

}  // namespace

const ModelDescriptor& gpt2_descriptor() {
  static const Gpt2Descriptor d;
  return d;
}

}  // namespace shadowpeft::models
