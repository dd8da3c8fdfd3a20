#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/core/logging.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"

namespace shadowpeft {
namespace fs = std::filesystem;

namespace {
constexpr const char* kModulesFile = "shadow_modules.safetensors";

bool requested(const ShadowConfig& c, const std::string& module) {
  return std::find(c.modules_to_save.begin(), c.modules_to_save.end(), module) != c.modules_to_save.end();
}
}  // namespace

InferenceMode parse_inference_mode(const std::string& name) {
  if (name == "base_shadow") return InferenceMode::BaseShadow;
  if (name == "shadow_only") return InferenceMode::ShadowOnly;
  throw ConfigError(fmt::format("inference mode '{}' is not one of base_shadow, shadow_only", name));
}

at::Tensor shifted_cross_entropy(const at::Tensor& logits, const at::Tensor& labels) {
  if (labels.sizes() != logits.sizes().slice(0, 2))
    throw ShapeError(fmt::format("labels must be [batch, sequence] like the input ids, got {}", fmt::join(labels.sizes(), "x")));
  const int64_t v = logits.size(-1);
  const at::Tensor shift_logits = logits.slice(1, 0, -1).to(at::kFloat).reshape({-1, v});
  const at::Tensor shift_labels = labels.slice(1, 1).reshape({-1}).to(at::kLong);
  return at::cross_entropy_loss(shift_logits, shift_labels, {}, at::Reduction::Mean, -100);
}

ShadowForCausalLMImpl::ShadowForCausalLMImpl(ShadowPeftModel peft, double shadow_loss_weight, InferenceMode mode)
    : shadow_loss_weight_(shadow_loss_weight), mode_(mode) {
  peft_model = register_module("peft_model", std::move(peft));
  const at::Tensor head = lm_head_weight();
  shadow_lm_head = register_module("shadow_lm_head", models::Linear(head.size(1), head.size(0), false));
  {
    torch::NoGradGuard no_grad;
    shadow_lm_head->weight.copy_(head);
  }
  shadow_lm_head->to(head.device());
  apply_modules_to_save();
}

void ShadowForCausalLMImpl::apply_modules_to_save() {
  const ShadowConfig& c = peft_model->shadow_config();
  lm_head_weight().set_requires_grad(requested(c, "lm_head"));
  shadow_lm_head->weight.set_requires_grad(requested(c, "shadow_lm_head"));
}

ShadowCausalLMOutput ShadowForCausalLMImpl::forward(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                                    const at::Tensor& labels) {
  ShadowCausalLMOutput out;
  if (mode_ == InferenceMode::ShadowOnly) {
    out.shadow_logits = shadow_lm_head->forward(peft_model->initial_shadow_hidden(input_ids, options));
    out.logits = out.shadow_logits;
    if (labels.defined()) out.loss = shifted_cross_entropy(out.shadow_logits, labels);
    return out;
  }
  const auto result = peft_model->forward(input_ids, options);
  out.logits = peft_model->base_model->logits_from_hidden(result.hidden);
  out.shadow_logits = shadow_lm_head->forward(result.shadow_hidden);
  if (labels.defined()) {
    out.loss = shifted_cross_entropy(out.logits, labels);
    if (shadow_loss_weight_ > 0) out.loss = out.loss + shadow_loss_weight_ * shifted_cross_entropy(out.shadow_logits, labels);
  }
  return out;
}

void ShadowForCausalLMImpl::save_pretrained(const fs::path& dir) {
  peft_model->save_pretrained(dir);
  const ShadowConfig& c = peft_model->shadow_config();
  io::TensorMap heads;
  const at::Tensor lm_head = lm_head_weight();
  auto wanted = [&](const char* name) { return c.modules_to_save.empty() || requested(c, name); };
  if (wanted("lm_head") && lm_head.requires_grad()) heads["lm_head.weight"] = lm_head.detach().to(at::kCPU).contiguous();
  if (wanted("shadow_lm_head") && shadow_lm_head->weight.requires_grad())
    heads["shadow_lm_head.weight"] = shadow_lm_head->weight.detach().to(at::kCPU).contiguous();
  if (!heads.empty()) io::save_safetensors(dir / kModulesFile, heads);
}

std::shared_ptr<ShadowForCausalLMImpl> ShadowForCausalLMImpl::from_pretrained(models::CausalLM base, const fs::path& dir,
                                                                              bool is_trainable, double shadow_loss_weight,
                                                                              InferenceMode mode) {
  auto peft = ShadowPeftModel(ShadowPeftModelImpl::from_pretrained(std::move(base), dir, is_trainable));
  auto model = std::make_shared<ShadowForCausalLMImpl>(peft, shadow_loss_weight, mode);
  const fs::path file = dir / kModulesFile;
  if (fs::exists(file)) {
    const auto heads = io::SafetensorsFile::open(file);
    for (const auto& info : heads.tensors()) {
      at::Tensor target;
      if (info.name == "lm_head.weight") target = model->lm_head_weight();
      else if (info.name == "shadow_lm_head.weight") target = model->shadow_lm_head->weight;
      else throw LoadError(fmt::format("{}: unexpected tensor '{}' (expected lm_head.weight, shadow_lm_head.weight)", file.string(), info.name));
      if (target.sizes() != at::IntArrayRef(info.shape))
        throw LoadError(fmt::format("{}: tensor '{}' has shape [{}], expected [{}]", file.string(), info.name,
                                    fmt::join(info.shape, ", "), fmt::join(target.sizes(), ", ")));
      torch::NoGradGuard no_grad;
      target.copy_(heads.tensor(info.name));
    }
  }
  if (!is_trainable) {
    model->lm_head_weight().set_requires_grad(false);
    model->shadow_lm_head->weight.set_requires_grad(false);
  }
  return model;
}

}  // namespace shadowpeft
