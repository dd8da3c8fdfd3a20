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
  std::string final_norm_name() const override { return "transformer.ln_f"; }
  std::string layer_block_name(int64_t i) const override { return fmt::format("transformer.h.{}", i); }

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

  std::optional<std::string> weight_group(const std::string& tensor, int64_t num_layers) const override {
    static const std::regex block(R"(transformer\.h\.(\d+)\.(ln_1|attn|ln_2|mlp)\..+)");
    if (tensor.starts_with("transformer.wte.") || tensor.starts_with("transformer.wpe.")) return "embeddings";
    if (tensor.starts_with("lm_head.") || tensor.starts_with("transformer.ln_f.") || tensor.starts_with("score.")) return "lm_head";
    std::smatch m;
    if (!std::regex_match(tensor, m, block) || std::stoll(m[1]) >= num_layers) return std::nullopt;
    const bool attention = m[2] == "ln_1" || m[2] == "attn";
    return fmt::format("block_{}_{}", m[1].str(), attention ? "attention" : "ffn");
  }

  void checkpoint_to_modules(io::TensorMap& t, const ModelConfig& config) const override {
    move(t, "transformer.wte.weight", "model.embed_tokens.weight");
    move(t, "transformer.wpe.weight", "model.embed_positions.weight");
    move(t, "transformer.ln_f.weight", "model.norm.weight");
    move(t, "transformer.ln_f.bias", "model.norm.bias");
    const int64_t h = config.hidden_size;
    for (int64_t i = 0; i < config.num_layers(); ++i) {
      const std::string src = fmt::format("transformer.h.{}.", i), dst = fmt::format("model.layers.{}.", i);
      for (const char* p : {"weight", "bias"}) {
        move(t, src + "ln_1." + p, dst + "input_layernorm." + p);
        move(t, src + "ln_2." + p, dst + "post_attention_layernorm." + p);
      }
      // Older checkpoints carry the causal-mask buffers; they are not parameters.
      if (auto it = t.find(src + "attn.bias"); it != t.end() && it->second.dim() == 4) t.erase(it);
      t.erase(src + "attn.masked_bias");
      if (auto w = take(t, src + "attn.c_attn.weight"); w.defined()) {
        const auto parts = w.t().split(h, 0);  // [3H, H] → q, k, v
        const char* names[] = {"q_proj", "k_proj", "v_proj"};
        for (int k = 0; k < static_cast<int>(parts.size()) && k < 3; ++k)
          t[dst + "self_attn." + names[k] + ".weight"] = parts[k].contiguous();
      }
      if (auto b = take(t, src + "attn.c_attn.bias"); b.defined()) {
        const auto parts = b.split(h, 0);
        const char* names[] = {"q_proj", "k_proj", "v_proj"};
        for (int k = 0; k < static_cast<int>(parts.size()) && k < 3; ++k)
          t[dst + "self_attn." + names[k] + ".bias"] = parts[k].contiguous();
      }
      move_transposed(t, src + "attn.c_proj.weight", dst + "self_attn.o_proj.weight");
      move(t, src + "attn.c_proj.bias", dst + "self_attn.o_proj.bias");
      move_transposed(t, src + "mlp.c_fc.weight", dst + "mlp.up_proj.weight");
      move(t, src + "mlp.c_fc.bias", dst + "mlp.up_proj.bias");
      move_transposed(t, src + "mlp.c_proj.weight", dst + "mlp.down_proj.weight");
      move(t, src + "mlp.c_proj.bias", dst + "mlp.down_proj.bias");
    }
  }

  void modules_to_checkpoint(io::TensorMap& t, const ModelConfig& config) const override {
    move(t, "model.embed_tokens.weight", "transformer.wte.weight");
    move(t, "model.embed_positions.weight", "transformer.wpe.weight");
    move(t, "model.norm.weight", "transformer.ln_f.weight");
    move(t, "model.norm.bias", "transformer.ln_f.bias");
    for (int64_t i = 0; i < config.num_layers(); ++i) {
      const std::string dst = fmt::format("transformer.h.{}.", i), src = fmt::format("model.layers.{}.", i);
      for (const char* p : {"weight", "bias"}) {
        move(t, src + "input_layernorm." + p, dst + "ln_1." + p);
        move(t, src + "post_attention_layernorm." + p, dst + "ln_2." + p);
      }
      for (const char* p : {"weight", "bias"}) {
        std::vector<at::Tensor> qkv;
        for (const char* n : {"q_proj", "k_proj", "v_proj"}) qkv.push_back(take(t, src + "self_attn." + n + "." + p));
        if (qkv[0].defined()) t[dst + "attn.c_attn." + p] = std::string(p) == "weight" ? at::cat(qkv, 0).t().contiguous() : at::cat(qkv, 0);
      }
      move_transposed(t, src + "self_attn.o_proj.weight", dst + "attn.c_proj.weight");
      move(t, src + "self_attn.o_proj.bias", dst + "attn.c_proj.bias");
      move_transposed(t, src + "mlp.up_proj.weight", dst + "mlp.c_fc.weight");
      move(t, src + "mlp.up_proj.bias", dst + "mlp.c_fc.bias");
      move_transposed(t, src + "mlp.down_proj.weight", dst + "mlp.c_proj.weight");
      move(t, src + "mlp.down_proj.bias", dst + "mlp.c_proj.bias");
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
  static void move(io::TensorMap& t, const std::string& from, const std::string& to) {
    if (at::Tensor v = take(t, from); v.defined()) t[to] = std::move(v);
  }
  static void move_transposed(io::TensorMap& t, const std::string& from, const std::string& to) {
    if (at::Tensor v = take(t, from); v.defined()) t[to] = v.dim() == 2 ? v.t().contiguous() : v;
  }
};

}  // namespace

const ModelDescriptor& gpt2_descriptor() {
  static const Gpt2Descriptor d;
  return d;
}

}  // namespace shadowpeft::models
