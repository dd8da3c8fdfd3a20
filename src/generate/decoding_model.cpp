#include "shadowpeft/generate/decoding_model.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <optional>

#include "shadowpeft/core/error.h"

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
  std::unique_ptr<DecodingModel> fork() const override { return std::make_unique<CausalLMDecoding>(model_); }

 protected:
  std::vector<models::KVCache*> caches() override {
    if (!cache_) return {};
    return {&*cache_};
  }

 private:
  models::CausalLM model_;
  std::optional<models::KVCache> cache_;
};

// An adapter model in a mode, with the caches it keeps (its base's, and its shadow backbone's):
// shadow-peft's ShadowForCausalLM, peft's SHADOW model or peft's LoRA.
template <typename Model>
class AdapterDecoding final : public DecodingModel {
 public:
  AdapterDecoding(Model model, InferenceMode mode) : model_(std::move(model)), mode_(mode) {}
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
  std::unique_ptr<DecodingModel> fork() const override { return std::make_unique<AdapterDecoding>(model_, mode_); }

 protected:
  std::vector<models::KVCache*> caches() override {
    std::vector<models::KVCache*> out;
    if (caches_ && caches_->base) out.push_back(&*caches_->base);
    if constexpr (requires(Caches c) { c.shadow; })
      if (caches_ && caches_->shadow) out.push_back(&*caches_->shadow);
    return out;
  }

 private:
  using Caches = decltype(std::declval<Model&>()->new_decoding_caches(0, 0, InferenceMode::BaseShadow));
  Model model_;
  InferenceMode mode_;
  std::optional<Caches> caches_;
};

}  // namespace

int64_t DecodingModel::cached_length() {
  const std::vector<models::KVCache*> all = caches();
  if (all.empty()) throw ShapeError("continuous batching needs a decoder started with caches");
  return all.front()->length();
}

void DecodingModel::keep_rows(const at::Tensor& rows) {
  for (models::KVCache* cache : caches()) cache->keep_rows(rows);
}

void DecodingModel::realign(int64_t shift, int64_t capacity) {
  for (models::KVCache* cache : caches()) cache->realign(shift, capacity);
}

void DecodingModel::append_rows(DecodingModel& other) {
  const std::vector<models::KVCache*> mine = caches(), theirs = other.caches();
  if (mine.size() != theirs.size())
    throw ShapeError(fmt::format("append_rows: a decoder with {} caches cannot take rows from one with {}", mine.size(), theirs.size()));
  for (std::size_t i = 0; i < mine.size(); ++i) mine[i]->append_rows(*theirs[i]);
}

std::unique_ptr<DecodingModel> make_decoding_model(models::CausalLM model) {
  return std::make_unique<CausalLMDecoding>(std::move(model));
}

std::unique_ptr<DecodingModel> make_decoding_model(ShadowForCausalLM model, InferenceMode mode) {
  return std::make_unique<AdapterDecoding<ShadowForCausalLM>>(std::move(model), mode);
}

std::unique_ptr<DecodingModel> make_decoding_model(peft::ShadowModel model, InferenceMode mode) {
  return std::make_unique<AdapterDecoding<peft::ShadowModel>>(std::move(model), mode);
}

std::unique_ptr<DecodingModel> make_decoding_model(peft::LoraModel model, InferenceMode mode) {
  (void)model->new_decoding_caches(1, 1, mode);  // an unsupported mode fails here, not at the first token
  return std::make_unique<AdapterDecoding<peft::LoraModel>>(std::move(model), mode);
}

}  // namespace shadowpeft::generate
