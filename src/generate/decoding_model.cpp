#include "shadowpeft/generate/decoding_model.h"

#include <ATen/ATen.h>

#include <optional>

namespace shadowpeft::generate {
namespace {

models::ForwardOptions forward_options(const at::Tensor& position_ids, const at::Tensor& attention_mask) {
  models::ForwardOptions options;
  options.position_ids = position_ids;
  options.attention_mask = attention_mask;
  return options;
}

class CausalLMDecoding final : public DecodingModel {
 public:
  explicit CausalLMDecoding(models::CausalLM model) : model_(std::move(model)) {}
  void start(int64_t batch, int64_t capacity, bool use_cache) override {
    cache_.reset();
    if (use_cache) cache_.emplace(model_->config(), batch, capacity, model_->output_embedding().options());
  }
  at::Tensor next_token_logits(const at::Tensor& input_ids, const at::Tensor& position_ids,
                               const at::Tensor& attention_mask) override {
    models::ForwardOptions options = forward_options(position_ids, attention_mask);
    options.cache = cache_ ? &*cache_ : nullptr;
    return model_->last_token_logits(input_ids, options).to(at::kFloat);
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
    caches_.reset();
    if (use_cache) caches_ = model_->new_decoding_caches(batch, capacity, mode_);
  }
  at::Tensor next_token_logits(const at::Tensor& input_ids, const at::Tensor& position_ids,
                               const at::Tensor& attention_mask) override {
    return model_->last_token_logits(input_ids, forward_options(position_ids, attention_mask), caches_ ? &*caches_ : nullptr, mode_)
        .to(at::kFloat);
  }
  c10::Device device() const override { return model_->device(); }

 private:
  ShadowForCausalLM model_;
  InferenceMode mode_;
  std::optional<ShadowForCausalLMImpl::DecodingCaches> caches_;
};

}  // namespace

std::unique_ptr<DecodingModel> make_decoding_model(models::CausalLM model) {
  return std::make_unique<CausalLMDecoding>(std::move(model));
}

std::unique_ptr<DecodingModel> make_decoding_model(ShadowForCausalLM model, InferenceMode mode) {
  return std::make_unique<ShadowDecoding>(std::move(model), mode);
}

}  // namespace shadowpeft::generate
