#include "shadowpeft/models/heads.h"

#include <ATen/ATen.h>

#include <tuple>

#include "int8_weights.h"
#include "shadowpeft/core/error.h"

namespace shadowpeft::models {
namespace {

// Scores over the vocabulary, soft-capped where the family caps its logits (Gemma 2).
class LanguageModelHead final : public OutputHead {
 public:
  LanguageModelHead(const ModelConfig& config, torch::nn::Module& owner, Embedding token_embeddings)
      : softcap_(config.final_logit_softcap), embeddings_(std::move(token_embeddings)) {
    if (!config.tie_word_embeddings)
      lm_head_ = owner.register_module("lm_head", Linear(config.output_hidden_size(), config.vocab_size, false));
  }
  at::Tensor scores_with(const at::Tensor& hidden, const at::Tensor& weight) const override {
    const at::ScalarType dtype = weight.scalar_type();
    const bool int8 = int8_rows_.defined() && weight.is_same(this->weight()) &&
                      !(at::GradMode::is_enabled() && (hidden.requires_grad() || weight.requires_grad()));
    // A layer computes in its weights' dtype: a float32 shadow's state meets a bf16 head here.
    at::Tensor logits = int8 ? int8_linear(hidden.to(dtype), int8_rows_, int8_scales_, int8_kernel_scales_, {})
                             : at::linear(hidden.to(dtype), weight);
    if (softcap_) logits = at::tanh(logits / *softcap_) * *softcap_;
    return logits;
  }
  at::Tensor weight() const override { return lm_head_ ? lm_head_->weight : embeddings_->weight; }
  Linear linear() const override { return lm_head_; }
  void quantize_int8_for_inference() override {
    std::tie(int8_rows_, int8_scales_) = quantize_rows_int8(weight());
    int8_kernel_scales_ = int8_scales_.to(weight().scalar_type());
  }

 private:
  std::optional<double> softcap_;
  Embedding embeddings_;
  Linear lm_head_{nullptr};
  at::Tensor int8_rows_, int8_scales_, int8_kernel_scales_;  // quantize_int8_for_inference
};

// transformers' *ForSequenceClassification: `score` on every token, read at each row's last
// non-padding token. Its classifiers score the hidden states directly (no soft-cap).
class SequenceClassificationHead final : public OutputHead {
 public:
  SequenceClassificationHead(const ModelConfig& config, torch::nn::Module& owner)
      : pad_token_id_(config.pad_token_id),
        score_(owner.register_module("score", Linear(config.output_hidden_size(), config.num_labels, false))) {}
  at::Tensor scores_with(const at::Tensor& hidden, const at::Tensor& weight) const override {
    return at::linear(hidden.to(weight.scalar_type()), weight);
  }
  at::Tensor weight() const override { return score_->weight; }
  Linear linear() const override { return score_; }
  at::Tensor pool(const at::Tensor& input_ids, const at::Tensor& per_token) const override {
    const int64_t b = input_ids.size(0), t = input_ids.size(1);
    at::Tensor last;
    if (pad_token_id_) {
      // transformers: the rightmost token that is not the pad id.
      const at::Tensor positions = at::arange(t, input_ids.options().dtype(at::kLong));
      last = (positions * input_ids.ne(*pad_token_id_).to(at::kLong)).argmax(-1);
    } else {
      if (b > 1) throw ConfigError("Cannot handle batch sizes > 1 if no padding token is defined (config pad_token_id)");
      last = at::full({b}, t - 1, input_ids.options().dtype(at::kLong));
    }
    return per_token.index({at::arange(b, last.options()), last});
  }

 private:
  std::optional<int64_t> pad_token_id_;
  Linear score_;
};

}  // namespace

at::Tensor OutputHead::pool(const at::Tensor&, const at::Tensor&) const {
  throw UnsupportedError("only a sequence classifier pools its scores to one per sequence");
}

std::unique_ptr<OutputHead> make_output_head(const ModelConfig& config, torch::nn::Module& owner, const Embedding& token_embeddings) {
  if (config.is_sequence_classifier()) return std::make_unique<SequenceClassificationHead>(config, owner);
  return std::make_unique<LanguageModelHead>(config, owner, token_embeddings);
}

}  // namespace shadowpeft::models
