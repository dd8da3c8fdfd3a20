#include "shadowpeft/generate/decoding_model.h"

#include <ATen/ATen.h>

#include <optional>

namespace shadowpeft::generate {
namespace {

// Only the last position's logits are needed: the head runs on [B, 1, H], not on every token.
at::Tensor last_position(const at::Tensor& hidden) { return hidden.select(1, hidden.size(1) - 1); }

std::optional<models::KVCache> make_cache(const models::ModelConfig& config, int64_t batch, int64_t capacity,
                                          bool use_cache, const at::Tensor& like) {
  if (!use_cache) return std::nullopt;
  return models::KVCache(config, batch, capacity, like.options());
}

models::ForwardOptions forward_options(const at::Tensor& position_ids, const at::Tensor& attention_mask,
                                       std::optional<models::KVCache>& cache) {
  models::ForwardOptions options;
  options.position_ids = position_ids;
  options.attention_mask = attention_mask;
  options.cache = cache ? &*cache : nullptr;
  return options;
}

class CausalLMDecoding final : public DecodingModel {
 public:
  explicit CausalLMDecoding(models::CausalLM model) : model_(std::move(model)) {}
  void start(int64_t batch, int64_t capacity, bool use_cache) override {
    cache_ = make_cache(model_->config(), batch, capacity, use_cache, model_->output_embedding());
  }
  at::Tensor next_token_logits(const at::Tensor& input_ids, const at::Tensor& position_ids,
                               const at::Tensor& attention_mask) override {
    const at::Tensor hidden = model_->hidden_states(input_ids, forward_options(position_ids, attention_mask, cache_));
    return model_->logits_from_hidden(last_position(hidden)).to(at::kFloat);
  }
  c10::Device device() const override { return model_->output_embedding().device(); }

 private:
  models::CausalLM model_;
  std::optional<models::KVCache> cache_;
};

class ShadowDecoding final : public DecodingModel {
 public:
  ShadowDecoding(ShadowForCausalLM model, InferenceMode mode) : model_(std::move(model)), mode_(mode) {}
  void start(int64_t batch, int64_t capacity, bool use_cache) override {
    const ShadowPeftModel& peft = model_->peft_model;
    const at::Tensor like = peft->shadow_model->norm->weight;
    base_cache_.reset();
    if (mode_ == InferenceMode::BaseShadow)
      base_cache_ = make_cache(peft->base_model->config(), batch, capacity, use_cache, peft->base_model->output_embedding());
    shadow_cache_ = make_cache(peft->shadow_model_config(), batch, capacity, use_cache, like);
  }
  at::Tensor next_token_logits(const at::Tensor& input_ids, const at::Tensor& position_ids,
                               const at::Tensor& attention_mask) override {
    ShadowPeftModel& peft = model_->peft_model;
    models::KVCache* shadow_cache = shadow_cache_ ? &*shadow_cache_ : nullptr;
    const models::ForwardOptions options = forward_options(position_ids, attention_mask, base_cache_);
    if (mode_ == InferenceMode::ShadowOnly) {
      const at::Tensor s0 = peft->initial_shadow_hidden(input_ids, options, shadow_cache);
      return model_->shadow_lm_head->forward(last_position(s0)).to(at::kFloat);
    }
    const ShadowPeftModelImpl::Output out = peft->forward(input_ids, options, shadow_cache);
    return peft->base_model->logits_from_hidden(last_position(out.hidden)).to(at::kFloat);
  }
  c10::Device device() const override { return model_->peft_model->base_model->output_embedding().device(); }

 private:
  ShadowForCausalLM model_;
  InferenceMode mode_;
  std::optional<models::KVCache> base_cache_, shadow_cache_;
};

}  // namespace

std::unique_ptr<DecodingModel> make_decoding_model(models::CausalLM model) {
  return std::make_unique<CausalLMDecoding>(std::move(model));
}

std::unique_ptr<DecodingModel> make_decoding_model(ShadowForCausalLM model, InferenceMode mode) {
  return std::make_unique<ShadowDecoding>(std::move(model), mode);
}

}  // namespace shadowpeft::generate
