#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/core/logging.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/chunked_loss.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/models/losses.h"
#include "shadowpeft/shadow/task_models.h"
#include "task_heads.h"

namespace shadowpeft {
namespace fs = std::filesystem;

namespace {

// shadow_lm_head in storage of its own, no longer the base head's (see the constructor).
void own_shadow_head(ShadowForCausalLMImpl& model) {
  const at::Tensor base_head = model.peft_model->base_model->output_embedding();
  at::Tensor& weight = model.shadow_lm_head->weight;
  if (weight.is_alias_of(base_head)) weight.set_data(base_head.detach().clone());
}

}  // namespace

InferenceMode parse_inference_mode(const std::string& name) {
  if (name == "base_shadow") return InferenceMode::BaseShadow;
  if (name == "shadow_only") return InferenceMode::ShadowOnly;
  throw ConfigError(fmt::format("inference mode '{}' is not one of base_shadow, shadow_only", name));
}

ShadowForCausalLMImpl::ShadowForCausalLMImpl(ShadowPeftModel peft, double shadow_loss_weight, InferenceMode mode)
    : shadow_loss_weight_(shadow_loss_weight), mode_(mode) {
  peft_model = register_module("peft_model", std::move(peft));
  const at::Tensor head = lm_head_weight();
  // Uninitialised and never touched: no memory is resident before set_data replaces it.
  shadow_lm_head = register_module("shadow_lm_head", models::Linear(head.size(1), head.size(0), false));
  // shadow-peft's shadow_lm_head starts as a copy of lm_head. While both stay frozen, the copy is
  // the base's own storage (a vocabulary-sized matrix: 1.2 GB for Qwen3-8B in bfloat16); a head
  // that trains or loads saved weights gets its own (own_shadow_head).
  shadow_lm_head->weight.set_data(head.detach());
  // Causal LM heads are vocabulary-sized: frozen unless modules_to_save names them.
  detail::apply_modules_to_save(peft_model->shadow_config(), heads(), false);
  if (head.requires_grad() || shadow_lm_head->weight.requires_grad()) own_shadow_head(*this);
}

std::vector<detail::Head> ShadowForCausalLMImpl::heads() const {
  return {{"lm_head", {{"weight", lm_head_weight()}}}, {"shadow_lm_head", {{"weight", shadow_lm_head->weight}}}};
}

ShadowCausalLMOutput ShadowForCausalLMImpl::forward(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                                    const at::Tensor& labels) {
  ShadowCausalLMOutput out;
  if (mode_ == InferenceMode::ShadowOnly) {
    out.shadow_logits = shadow_lm_head->forward(peft_model->initial_shadow_hidden(input_ids, options));
    out.logits = out.shadow_logits;
    if (labels.defined()) out.loss = models::shifted_cross_entropy(out.shadow_logits, labels);
    return out;
  }
  const auto result = peft_model->forward(input_ids, options);
  out.logits = peft_model->base_model->logits_from_hidden(result.hidden);
  out.shadow_logits = shadow_lm_head->forward(result.shadow_hidden);
  if (labels.defined()) {
    // As shadow-peft: the base model's own loss (transformers' ForCausalLMLoss, in float32) plus the
    // weighted shadow term in shadow-peft's shifted cross-entropy.
    out.loss = models::causal_lm_loss(out.logits, labels);
    if (shadow_loss_weight_ > 0) out.loss = out.loss + shadow_loss_weight_ * models::shifted_cross_entropy(out.shadow_logits, labels);
  }
  return out;
}

at::Tensor ShadowForCausalLMImpl::loss(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                       const at::Tensor& labels) {
  const auto shadow_scores = [this](const at::Tensor& hidden) { return shadow_lm_head->forward(hidden); };
  // As forward: shadow-peft's shadow loss in the logits' dtype, the base's in float32 (transformers').
  const models::ChunkedLossOptions shadow_head{.head_has_trainable_parameters = shadow_lm_head->weight.requires_grad(),
                                               .float32_loss = false};
  if (mode_ == InferenceMode::ShadowOnly)
    return models::chunked_causal_lm_loss(peft_model->initial_shadow_hidden(input_ids, options), labels, shadow_scores,
                                          shadow_head);
  const auto result = peft_model->forward(input_ids, options);
  const models::CausalLMImpl& base = *peft_model->base_model;
  at::Tensor loss = models::chunked_causal_lm_loss(
      result.hidden, labels, [&base](const at::Tensor& hidden) { return base.logits_from_hidden(hidden); },
      {.head_has_trainable_parameters = lm_head_weight().requires_grad()});
  if (shadow_loss_weight_ > 0)
    loss = loss + shadow_loss_weight_ * models::chunked_causal_lm_loss(result.shadow_hidden, labels, shadow_scores, shadow_head);
  return loss;
}

models::ModeCrossEntropySums ShadowForCausalLMImpl::evaluation_cross_entropy(const at::Tensor& input_ids,
                                                                             const models::ForwardOptions& options,
                                                                             const at::Tensor& labels) {
  models::CausalLMImpl& base = *peft_model->base_model;
  const auto base_scores = [&base](const at::Tensor& hidden) { return base.logits_from_hidden(hidden); };
  const auto result = peft_model->forward(input_ids, options);
  return {{"base_shadow", models::chunked_cross_entropy_sum(result.hidden, labels, base_scores)},
          {"shadow_only", models::chunked_cross_entropy_sum(
                              result.shadow_hidden, labels, [this](const at::Tensor& s) { return shadow_lm_head->forward(s); })},
          {"base", models::chunked_cross_entropy_sum(base.hidden_states(input_ids, options), labels, base_scores)}};
}

ShadowForCausalLMImpl::DecodingCaches ShadowForCausalLMImpl::new_decoding_caches(int64_t batch, int64_t capacity,
                                                                                InferenceMode mode) const {
  DecodingCaches caches;
  const models::CausalLM& base = peft_model->base_model;
  if (mode == InferenceMode::BaseShadow) caches.base.emplace(base->config(), batch, capacity, base->output_embedding().options());
  caches.shadow.emplace(peft_model->shadow_model_config(), batch, capacity, peft_model->shadow_parameter_options());
  return caches;
}

at::Tensor ShadowForCausalLMImpl::last_token_logits(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                                    DecodingCaches* caches, InferenceMode mode) {
  models::ForwardOptions base_options = options;
  base_options.cache = caches && caches->base ? &*caches->base : nullptr;
  models::KVCache* shadow_cache = caches && caches->shadow ? &*caches->shadow : nullptr;
  if (mode == InferenceMode::ShadowOnly)
    return shadow_lm_head->forward(models::last_position(peft_model->initial_shadow_hidden(input_ids, base_options, shadow_cache)));
  const ShadowPeftModelImpl::Output out = peft_model->forward(input_ids, base_options, shadow_cache);
  return peft_model->base_model->logits_from_hidden(models::last_position(out.hidden));
}

void ShadowForCausalLMImpl::save_pretrained(const fs::path& dir) {
  peft_model->save_pretrained(dir);
  detail::save_heads(dir, peft_model->shadow_config(), heads());
}

std::shared_ptr<ShadowForCausalLMImpl> ShadowForCausalLMImpl::from_pretrained(models::CausalLM base, const fs::path& dir,
                                                                              bool is_trainable, double shadow_loss_weight,
                                                                              InferenceMode mode, models::CausalLM explicit_shadow) {
  auto peft = ShadowPeftModel(ShadowPeftModelImpl::from_pretrained(std::move(base), dir, is_trainable, std::move(explicit_shadow)));
  auto model = std::make_shared<ShadowForCausalLMImpl>(peft, shadow_loss_weight, mode);
  if (detail::has_saved_heads(dir)) own_shadow_head(*model);
  detail::load_heads(dir, model->heads());
  if (!is_trainable) detail::set_heads_trainable(model->heads(), false);
  return model;
}

}  // namespace shadowpeft
