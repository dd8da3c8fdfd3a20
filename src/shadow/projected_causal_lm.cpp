#include "shadowpeft/shadow/projected_causal_lm.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/models/loader.h"

namespace shadowpeft {

at::Tensor optimal_projection(const at::Tensor& lm_head_weight, const at::Tensor& reference_lm_head) {
  if (lm_head_weight.dim() != 2 || reference_lm_head.dim() != 2 || lm_head_weight.size(0) != reference_lm_head.size(0))
    throw ShapeError(fmt::format("optimal_projection: lm_head [{}] and reference lm_head [{}] must be [V, H] with the same V",
                                 fmt::join(lm_head_weight.sizes(), ", "), fmt::join(reference_lm_head.sizes(), ", ")));
  torch::NoGradGuard no_grad;
  return at::matmul(at::linalg_pinv(lm_head_weight.to(at::kFloat)), reference_lm_head.to(at::kFloat));
}

namespace {

// The Python class records where the backbone's classes live, e.g.
// transformers.models.llama.modeling_llama:LlamaModel.
std::pair<std::string, std::string> backbone_class_paths(const models::ModelConfig& c) {
  std::string prefix = c.architecture;
  if (prefix.empty()) throw ConfigError("wrap_with_hidden_projection: the small model's config names no architecture");
  if (const auto pos = prefix.find("For"); pos != std::string::npos) prefix.resize(pos);
  const std::string mt = c.model_type;
  return {fmt::format("transformers.models.{0}.modeling_{0}:{1}Model", mt, prefix),
          fmt::format("transformers.models.{0}.configuration_{0}:{1}Config", mt, prefix)};
}

}  // namespace

models::CausalLM wrap_with_hidden_projection(models::CausalLMImpl& small, const at::Tensor& lm_head_weight,
                                             const at::Tensor& projection) {
  // Re-wrapping a projected model keeps its inner backbone config.
  const models::ModelConfig inner =
      small.config().projected_hidden_size
          ? models::descriptor_for(small.config().raw.at("shadow_model_config"), "projected model")
                .parse_config(small.config().raw.at("shadow_model_config"), "projected model")
          : small.config();
  const int64_t base_hidden = lm_head_weight.size(1);
  const at::Tensor p = projection.defined() ? projection : optimal_projection(lm_head_weight, small.output_embedding());
  if (p.sizes() != at::IntArrayRef({base_hidden, inner.hidden_size}))
    throw ShapeError(fmt::format("projection must be [{}, {}], got [{}]", base_hidden, inner.hidden_size, fmt::join(p.sizes(), ", ")));

  // Re-wrapping a projected model keeps the classes it records.
  const auto [model_class, config_class] =
      small.config().projected_hidden_size
          ? std::pair{small.config().raw.value("shadow_model_class", ""), small.config().raw.value("shadow_model_config_class", "")}
          : backbone_class_paths(inner);
  io::Json raw = {{"architectures", {"AutoModelForCausalLMWithHiddenProjection"}},
                  {"model_type", "causal_lm_with_hidden_projection"},
                  {"base_hidden_size", base_hidden},
                  {"hidden_size", base_hidden},
                  {"vocab_size", lm_head_weight.size(0)},
                  {"shadow_model_class", model_class},
                  {"shadow_model_config_class", config_class},
                  {"shadow_model_config", inner.raw}};
  // The Python config copies these from the inner config for convenience.
  for (const char* key : {"num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size",
                          "max_position_embeddings", "rope_theta", "rms_norm_eps", "layer_types", "sliding_window",
                          "attention_dropout", "head_dim", "use_sliding_window", "max_window_layers", "dtype"})
    if (inner.raw.contains(key)) raw[key] = inner.raw[key];

  models::ModelConfig config = models::descriptor_for(raw, "projected model").parse_config(raw, "projected model");
  models::CausalLM wrapped(std::move(config));
  io::TensorMap weights;
  for (const auto& item : small.model->named_parameters()) weights.emplace("model." + item.key(), item.value().detach());
  weights.emplace("shadow_hidden_projection.weight", p.detach());
  weights.emplace("lm_head.weight", lm_head_weight.detach());
  wrapped->to(lm_head_weight.scalar_type());
  models::load_parameters(*wrapped, std::move(weights), "wrap_with_hidden_projection");
  wrapped->eval();
  return wrapped;
}

}  // namespace shadowpeft
