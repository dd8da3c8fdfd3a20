#pragma once
// Task wrappers of shadow-peft: ShadowForCausalLM scores the base hidden states with the base
// lm_head and the initial shadow state with its own copy of it (shadow_lm_head).
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <filesystem>

#include "shadowpeft/shadow/shadow_model.h"

namespace shadowpeft {

enum class InferenceMode {
  BaseShadow,  // base model with injection/update; also returns shadow logits
  ShadowOnly,  // the shadow backbone alone (fast, small)
};
InferenceMode parse_inference_mode(const std::string& name);  // "base_shadow" | "shadow_only"

struct ShadowCausalLMOutput {
  at::Tensor loss;           // 0-d, when labels were given
  at::Tensor logits;         // [B, T, V]
  at::Tensor shadow_logits;  // [B, T, V]
};

// Shifted next-token cross-entropy, mean over labels != -100 (transformers' causal LM loss).
at::Tensor shifted_cross_entropy(const at::Tensor& logits, const at::Tensor& labels);

class ShadowForCausalLMImpl : public torch::nn::Module {
 public:
  ShadowForCausalLMImpl(ShadowPeftModel peft_model, double shadow_loss_weight = 0.05,
                        InferenceMode mode = InferenceMode::BaseShadow);

  // loss = base CE + shadow_loss_weight * shadow CE (base_shadow); shadow CE alone (shadow_only).
  ShadowCausalLMOutput forward(const at::Tensor& input_ids, const models::ForwardOptions& options = {},
                               const at::Tensor& labels = {});
  void set_inference_mode(InferenceMode mode) { mode_ = mode; }
  InferenceMode inference_mode() const { return mode_; }

  // shadow_config.json, shadow_adapter.safetensors and, for trainable heads named in
  // modules_to_save (or any trainable head when it is empty), shadow_modules.safetensors.
  void save_pretrained(const std::filesystem::path& dir);
  static std::shared_ptr<ShadowForCausalLMImpl> from_pretrained(models::CausalLM base, const std::filesystem::path& dir,
                                                                bool is_trainable = false, double shadow_loss_weight = 0.05,
                                                                InferenceMode mode = InferenceMode::BaseShadow);
  std::string trainable_parameters_string() { return peft_model->trainable_parameters_string(); }

  ShadowPeftModel peft_model{nullptr};
  models::Linear shadow_lm_head{nullptr};  // a copy of the base lm_head

 private:
  at::Tensor lm_head_weight() const { return peft_model->base_model->output_embedding(); }
  void apply_modules_to_save();
  double shadow_loss_weight_;
  InferenceMode mode_;
};
TORCH_MODULE(ShadowForCausalLM);

}  // namespace shadowpeft
