#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/losses.h"
#include "shadowpeft/shadow/task_models.h"
#include "task_heads.h"

namespace shadowpeft {
namespace fs = std::filesystem;

ShadowForSequenceClassificationImpl::ShadowForSequenceClassificationImpl(ShadowPeftModel peft, double shadow_loss_weight,
                                                                         InferenceMode mode)
    : shadow_loss_weight_(shadow_loss_weight), mode_(mode) {
  peft_model = register_module("peft_model", std::move(peft));
  const models::CausalLMImpl& base = *peft_model->base_model;
  if (!base.config().is_sequence_classifier())
    throw ConfigError(fmt::format("ShadowForSequenceClassification needs a *ForSequenceClassification base model (a `score` "
                                  "head); this one is {} (load a causal LM with models::load_sequence_classifier)",
                                  base.config().architecture));
  const models::LinearImpl& head = *base.head().linear();
  shadow_classifier_head = register_module(
      "shadow_classifier_head", models::Linear(head.weight.size(1), head.weight.size(0), head.bias.defined()));
  {
    torch::NoGradGuard no_grad;
    shadow_classifier_head->weight.copy_(head.weight);
    if (head.bias.defined()) shadow_classifier_head->bias.copy_(head.bias);
  }
  shadow_classifier_head->to(head.weight.device());
  // Classification heads are small and usually worth adapting: trainable unless modules_to_save says otherwise.
  detail::apply_modules_to_save(peft_model->shadow_config(), heads(), true);
}

std::vector<detail::Head> ShadowForSequenceClassificationImpl::heads() const {
  auto params = [](const models::LinearImpl& l) {
    std::vector<std::pair<std::string, at::Tensor>> p{{"weight", l.weight}};
    if (l.bias.defined()) p.emplace_back("bias", l.bias);
    return p;
  };
  return {{"classifier_head", params(*peft_model->base_model->head().linear())},
          {"shadow_classifier_head", params(*shadow_classifier_head)}};
}

at::Tensor ShadowForSequenceClassificationImpl::pool_shadow(const at::Tensor& s0, const models::ForwardOptions& options) const {
  if (!options.attention_mask.defined()) return s0.select(1, -1);
  const at::Tensor index = (options.attention_mask.to(at::kLong).sum(1) - 1).clamp_min(0);
  return s0.index({at::arange(s0.size(0), index.options()), index});
}

ShadowSequenceClassifierOutput ShadowForSequenceClassificationImpl::forward(const at::Tensor& input_ids,
                                                                             const models::ForwardOptions& options,
                                                                             const at::Tensor& labels) {
  ShadowSequenceClassifierOutput out;
  auto cross_entropy = [&](const at::Tensor& logits) { return models::classification_loss(logits, labels); };
  if (mode_ == InferenceMode::ShadowOnly) {
    out.shadow_logits = shadow_classifier_head->forward(pool_shadow(peft_model->initial_shadow_hidden(input_ids, options), options));
    out.logits = out.shadow_logits;
    if (labels.defined()) out.loss = cross_entropy(out.shadow_logits);
    return out;
  }
  const auto result = peft_model->forward(input_ids, options);
  const models::CausalLMImpl& base = *peft_model->base_model;
  out.logits = base.pool_last_token(input_ids, base.logits_from_hidden(result.hidden));
  out.shadow_logits = shadow_classifier_head->forward(pool_shadow(result.shadow_hidden, options));
  if (labels.defined()) {
    out.loss = cross_entropy(out.logits);
    if (shadow_loss_weight_ > 0) out.loss = out.loss + shadow_loss_weight_ * cross_entropy(out.shadow_logits);
  }
  return out;
}

void ShadowForSequenceClassificationImpl::save_pretrained(const fs::path& dir) {
  peft_model->save_pretrained(dir);
  detail::save_heads(dir, peft_model->shadow_config(), heads());
}

ShadowConfig ShadowForSequenceClassificationImpl::fresh_adapter_config(ShadowConfig config) {
  if (config.modules_to_save.empty()) config.modules_to_save = {"classifier_head", "shadow_classifier_head"};
  return config;
}

std::optional<int64_t> ShadowForSequenceClassificationImpl::saved_num_labels(const fs::path& dir) {
  const std::optional<at::Tensor> head = detail::saved_head_tensor(dir, "classifier_head.weight");
  return head ? std::optional<int64_t>(head->size(0)) : std::nullopt;
}

std::shared_ptr<ShadowForSequenceClassificationImpl> ShadowForSequenceClassificationImpl::from_pretrained(
    models::CausalLM base, const fs::path& dir, bool is_trainable, double shadow_loss_weight, InferenceMode mode,
    models::CausalLM explicit_shadow) {
  auto peft =
      ShadowPeftModel(ShadowPeftModelImpl::from_pretrained(std::move(base), dir, is_trainable, std::move(explicit_shadow)));
  auto model = std::make_shared<ShadowForSequenceClassificationImpl>(peft, shadow_loss_weight, mode);
  detail::load_heads(dir, model->heads());
  return model;
}

}  // namespace shadowpeft
