// GPT-OSS (GptOssForCausalLM): attention with biases and a learned sink logit per head, sliding and
// full layers alternating by `layer_types`, YaRN RoPE, RMSNorm with the weight applied in float32,
// and a mixture of experts on every layer: a router with bias whose k best logits are softmaxed,
// experts with biases and the clamped SwiGLU. transformers' modules (and adapters) hold the router
// as mlp.router and the experts as gate_up_proj [E, H, 2I] with gate and up interleaved column by
// column and down_proj [E, I, H]: transposed and de-interleaved into our layout here. Released
// checkpoints store the experts in MXFP4 (`*_blocks` + `*_scales`), dequantized on load.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "llama_like.h"
#include "shadowpeft/models/loader.h"

namespace shadowpeft::models {
namespace {

// MXFP4: each byte of `blocks` [E, R, G, 16] holds two 4-bit floats (low nibble first), each group
// of 32 scaled by 2^(scales [E, R, G] - 127). Returns [E, G * 32, R] in `dtype`, as transformers'
// dequantization does (the rows R become the last dimension).
at::Tensor dequantize_mxfp4(const at::Tensor& blocks, const at::Tensor& scales, at::ScalarType dtype, const std::string& name) {
  if (blocks.scalar_type() != at::kByte || scales.scalar_type() != at::kByte || blocks.dim() != 4 ||
      scales.sizes() != blocks.sizes().slice(0, 3))
    throw LoadError(fmt::format("MXFP4 tensor '{}': expected uint8 blocks [E, R, G, B] and uint8 scales [E, R, G], got {} "
                                "[{}] and {} [{}]",
                                name, c10::toString(blocks.scalar_type()), fmt::join(blocks.sizes(), ", "),
                                c10::toString(scales.scalar_type()), fmt::join(scales.sizes(), ", ")));
  static const float kValues[16] = {+0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f, +4.0f, +6.0f,
                                    -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
  const at::Tensor lut = at::from_blob(const_cast<float*>(kValues), {16}, at::kFloat);
  std::vector<at::Tensor> experts;
  for (int64_t e = 0; e < blocks.size(0); ++e) {  // one expert at a time bounds the index tensors
    const at::Tensor b = blocks[e].to(at::kInt);
    const at::Tensor values = at::stack({lut.index({b.bitwise_and(0x0F)}), lut.index({b.bitwise_right_shift(4)})}, -1);
    const at::Tensor exponent = scales[e].to(at::kInt).sub(127).unsqueeze(-1).unsqueeze(-1);
    const at::Tensor rows = at::ldexp(values, exponent).reshape({blocks.size(1), -1});  // [R, G * 32]
    experts.push_back(rows.t().to(dtype));
  }
  return at::stack(experts);
}

class GptOssDescriptor final : public ModelDescriptor {
 public:
  std::string name() const override { return "gpt_oss"; }
  std::vector<std::string> model_types() const override { return {"gpt_oss"}; }
  std::vector<std::string> architectures() const override { return {"GptOssForCausalLM"}; }
  std::vector<std::string> quantization_methods() const override { return {"mxfp4"}; }
  std::span<const ModuleRename> module_renames() const override { return kRenames; }
  ExpertLayout expert_layout() const override { return {.transposed = true, .interleaved = true}; }

  ModelConfig parse_config(const io::Json& json, const std::filesystem::path& file) const override {
    io::Json with_defaults = json;
    // GptOssConfig's defaults where config.json leaves them out.
    if (!with_defaults.contains("attention_bias")) with_defaults["attention_bias"] = true;
    if (!with_defaults.contains("rope_parameters") && !with_defaults.contains("rope_scaling"))
      with_defaults["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 32.0}, {"beta_fast", 32.0}, {"beta_slow", 1.0},
                                          {"truncate", false}, {"original_max_position_embeddings", 4096},
                                          {"rope_theta", with_defaults.value("rope_theta", 150000.0)}};
    const detail::ConfigReader cfg(with_defaults, file);
    ModelConfig config = detail::parse_llama_like(with_defaults, file, kDefaults);
    config.raw = json;
    detail::apply_layer_types(config, cfg, kDefaults);
    detail::apply_mixture_of_experts(config, cfg, kMoe);
    for (LayerSpec& spec : config.layers) spec.attention_sinks = true;
    detail::apply_per_layer_config(config, cfg, &kMoe);
    return config;
  }

  void file_to_state_dict(io::TensorMap& t, const ModelConfig& config) const override {
    std::vector<std::string> quantized;
    for (const auto& [name, tensor] : t)
      if (name.ends_with("_blocks")) quantized.push_back(name.substr(0, name.size() - 7));
    for (const std::string& base : quantized) {
      const auto scales = t.find(base + "_scales");
      if (scales == t.end()) throw LoadError(fmt::format("MXFP4 tensor '{}_blocks' has no '{}_scales' beside it", base, base));
      t[base] = dequantize_mxfp4(t.at(base + "_blocks"), scales->second, parameter_scalar_type(config.dtype), base);
      t.erase(base + "_blocks");
      t.erase(base + "_scales");
    }
    ModelDescriptor::file_to_state_dict(t, config);
  }

 private:
  inline static const detail::LlamaLikeDefaults kDefaults{.norm = NormKind::RMSNormWeightInFloat32,
                                                          .norm_eps = 1e-5,
                                                          .rope_theta = 150000.0,
                                                          .sliding_window_pattern = 2};
  inline static const detail::MoeFields kMoe{.spec = {.scoring = RouterScoring::TopKSoftmax,
                                                      .router_bias = true,
                                                      .expert_bias = true,
                                                      .activation = ExpertActivation::ClampedSwiGLU},
                                             .expert_size_key = "intermediate_size"};
  inline static const ModuleRename kRenames[] = {{"model.layers.{i}.mlp.gate", "model.layers.{i}.mlp.router"}};
};

}  // namespace

const ModelDescriptor& gpt_oss_descriptor() {
  static const GptOssDescriptor d;
  return d;
}

}  // namespace shadowpeft::models
