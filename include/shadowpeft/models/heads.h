#pragma once
// What turns a causal LM's final hidden states into scores. The family's descriptor picks it
// (ModelDescriptor::make_head): here, a language-model head over the vocabulary (its own lm_head
// or the tied embeddings) or a sequence classifier's `score` with last-token pooling; shadow/ adds
// shadow-peft's projected head. A head creates its modules on the model that owns it, under the
// names its checkpoints use, so named_parameters() stay checkpoint keys.
#include <ATen/core/Tensor.h>

#include <memory>

#include "shadowpeft/models/layers.h"
#include "shadowpeft/models/model_config.h"

namespace shadowpeft::models {

class OutputHead {
 public:
  virtual ~OutputHead() = default;
  // Per-token scores: [..., output_hidden_size] → [..., out] (vocabulary or labels).
  at::Tensor scores(const at::Tensor& hidden) const { return scores_with(hidden, weight()); }
  // The same scores with another matrix of weight()'s shape in its place: a trained copy of the
  // head that an adapter keeps beside the frozen original (peft's modules_to_save).
  virtual at::Tensor scores_with(const at::Tensor& hidden, const at::Tensor& weight) const = 0;
  // The matrix applied last, [out, in]: lm_head.weight, the tied embeddings or score.weight.
  virtual at::Tensor weight() const = 0;
  // The head's own Linear (lm_head, score); null when it reuses the embeddings.
  virtual Linear linear() const { return nullptr; }
  // A projection applied before the head's matrix (shadow-peft's shadow_hidden_projection); null
  // for heads without one.
  virtual Linear projection() const { return nullptr; }
  // Per-token scores [B, T, L] → [B, L] where the head reads a sequence; only classifiers pool.
  virtual at::Tensor pool(const at::Tensor& input_ids, const at::Tensor& per_token) const;
  // Keeps a weight-only int8 copy of weight() (LinearImpl::quantize_int8's arithmetic) that scores()
  // reads whenever no gradient is recorded: decoding reads the whole head for every token. weight()
  // stays as it is (training, shadow heads, tied embeddings). Heads without a plain matrix product
  // keep scoring with weight().
  virtual void quantize_int8_for_inference() {}
};

// The language-model head, or the classifier's when config.num_labels > 0, with its modules
// registered on `owner`; `token_embeddings` is the table a tied head reuses.
std::unique_ptr<OutputHead> make_output_head(const ModelConfig& config, torch::nn::Module& owner, const Embedding& token_embeddings);

}  // namespace shadowpeft::models
