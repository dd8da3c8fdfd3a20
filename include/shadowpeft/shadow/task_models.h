#pragma once
// Task wrappers of shadow-peft: ShadowForCausalLM scores the base hidden states with the base
// lm_head and the initial shadow state with its own copy of it (shadow_lm_head).
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <optional>

#include "shadowpeft/models/chunked_loss.h"
#include "shadowpeft/shadow/shadow_model.h"

namespace shadowpeft {

namespace detail {
struct Head;
}

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

class ShadowForCausalLMImpl : public torch::nn::Module {
 public:
  ShadowForCausalLMImpl(ShadowPeftModel peft_model, double shadow_loss_weight = 0.05,
                        InferenceMode mode = InferenceMode::BaseShadow);

  // loss = base CE + shadow_loss_weight * shadow CE (base_shadow); shadow CE alone (shadow_only).
  ShadowCausalLMOutput forward(const at::Tensor& input_ids, const models::ForwardOptions& options = {},
                               const at::Tensor& labels = {});
  // forward(input_ids, options, labels).loss without the logits: each head scores only the
  // labelled positions, a chunk at a time (models::chunked_causal_lm_loss). What training calls.
  at::Tensor loss(const at::Tensor& input_ids, const models::ForwardOptions& options, const at::Tensor& labels);
  // Evaluation's next-token cross-entropy sums of base_shadow, shadow_only and the plain base
  // ("base": base_logits), each head scoring a chunk of labelled positions at a time (no logits).
  models::ModeCrossEntropySums evaluation_cross_entropy(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                                        const at::Tensor& labels);
  void set_inference_mode(InferenceMode mode) { mode_ = mode; }
  InferenceMode inference_mode() const { return mode_; }

  // The base model's logits without the shadow (no injection or update): the baseline the
  // adapter is measured against.
  at::Tensor base_logits(const at::Tensor& input_ids, const models::ForwardOptions& options = {}) {
    return peft_model->base_model->forward(input_ids, options);
  }

  // Incremental decoding in `mode`: the KV caches it keeps (the base model's in base_shadow only,
  // the shadow backbone's always) for `batch` rows of up to `capacity` tokens, allocated once.
  struct DecodingCaches {
    std::optional<models::KVCache> base, shadow;
  };
  DecodingCaches new_decoding_caches(int64_t batch, int64_t capacity, InferenceMode mode) const;
  // Logits of the last position [B, V] in `mode` (base head in base_shadow, shadow head in
  // shadow_only); options.cache is ignored: `caches` (null: no caching) holds both.
  at::Tensor last_token_logits(const at::Tensor& input_ids, const models::ForwardOptions& options, DecodingCaches* caches,
                               InferenceMode mode);

  // shadow_config.json, shadow_adapter.safetensors and, for trainable heads named in
  // modules_to_save (or any trainable head when it is empty), shadow_modules.safetensors.
  void save_pretrained(const std::filesystem::path& dir);
  static std::shared_ptr<ShadowForCausalLMImpl> from_pretrained(models::CausalLM base, const std::filesystem::path& dir,
                                                                bool is_trainable = false, double shadow_loss_weight = 0.05,
                                                                InferenceMode mode = InferenceMode::BaseShadow,
                                                                models::CausalLM explicit_shadow = nullptr);
  std::string trainable_parameters_string() { return peft_model->trainable_parameters_string(); }
  c10::Device device() const { return lm_head_weight().device(); }

  ShadowPeftModel peft_model{nullptr};
  models::Linear shadow_lm_head{nullptr};  // a copy of the base lm_head

 private:
  at::Tensor lm_head_weight() const { return peft_model->base_model->output_embedding(); }
  std::vector<detail::Head> heads() const;
  double shadow_loss_weight_;
  InferenceMode mode_;
};
TORCH_MODULE(ShadowForCausalLM);

struct ShadowSequenceClassifierOutput {
  at::Tensor loss;           // 0-d, when labels were given
  at::Tensor logits;         // [B, num_labels]
  at::Tensor shadow_logits;  // [B, num_labels]
};

// Sequence classification over a *ForSequenceClassification base (head `score`; from a causal-LM
// directory, load it with models::load_sequence_classifier). The base head is saved and restored as
// `classifier_head` in shadow_modules.safetensors, so a freshly initialised score travels with the
// adapter. The base pools
// at the last non-padding token (transformers); the shadow pools s0 at attention_mask.sum(1) - 1
// (shadow-peft's rule — the real-token count, which for left padding is not the last token).
class ShadowForSequenceClassificationImpl : public torch::nn::Module {
 public:
  ShadowForSequenceClassificationImpl(ShadowPeftModel peft_model, double shadow_loss_weight = 0.05,
                                      InferenceMode mode = InferenceMode::BaseShadow);

  // labels: [B] class indices. loss = CE(base) + shadow_loss_weight * CE(shadow).
  ShadowSequenceClassifierOutput forward(const at::Tensor& input_ids, const models::ForwardOptions& options = {},
                                         const at::Tensor& labels = {});
  void set_inference_mode(InferenceMode mode) { mode_ = mode; }

  void save_pretrained(const std::filesystem::path& dir);
  // A fresh classification adapter's config: `config` with modules_to_save naming both heads when it
  // names none, so that they are trained, saved and restored with the adapter.
  static ShadowConfig fresh_adapter_config(ShadowConfig config);
  // The classes of the classifier head an adapter directory saved (shadow_modules.safetensors
  // classifier_head.weight rows); nullopt when it saved no classifier head.
  static std::optional<int64_t> saved_num_labels(const std::filesystem::path& dir);
  // As upstream, the heads stay trainable when loaded for inference too (modules_to_save rules).
  // `explicit_shadow`: the model an explicit-shadow adapter was trained with (as for causal LMs).
  static std::shared_ptr<ShadowForSequenceClassificationImpl> from_pretrained(
      models::CausalLM base, const std::filesystem::path& dir, bool is_trainable = false, double shadow_loss_weight = 0.05,
      InferenceMode mode = InferenceMode::BaseShadow, models::CausalLM explicit_shadow = nullptr);
  std::string trainable_parameters_string() { return peft_model->trainable_parameters_string(); }

  ShadowPeftModel peft_model{nullptr};
  models::Linear shadow_classifier_head{nullptr};

 private:
  std::vector<detail::Head> heads() const;
  at::Tensor pool_shadow(const at::Tensor& s0, const models::ForwardOptions& options) const;
  double shadow_loss_weight_;
  InferenceMode mode_;
};
TORCH_MODULE(ShadowForSequenceClassification);

}  // namespace shadowpeft
