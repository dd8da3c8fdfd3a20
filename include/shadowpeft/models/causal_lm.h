#pragma once
// One generic decoder-only causal LM for every family: built from a ModelConfig (one LayerSpec per
// layer), with optional hooks around each layer for adapters such as ShadowPEFT.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <functional>

#include "shadowpeft/models/heads.h"
#include "shadowpeft/models/kv_cache.h"
#include "shadowpeft/models/layers.h"
#include "shadowpeft/models/model_config.h"

namespace shadowpeft::models {

// Called around every decoder layer; `before_layer` may return a replacement hidden state.
struct LayerHooks {
  std::function<at::Tensor(int64_t layer, const at::Tensor& hidden)> before_layer;
  std::function<void(int64_t layer, const at::Tensor& hidden)> after_layer;
};

struct ForwardOptions {
  at::Tensor attention_mask;  // [B, T], 1 for real tokens, 0 for padding; undefined = all real
  at::Tensor position_ids;    // [B, T]; undefined = 0..T-1 (what transformers' forward uses)
  const LayerHooks* hooks = nullptr;
  // Incremental decoding: keys/values of earlier tokens; input_ids are the new tokens only,
  // attention_mask (if given) covers cached + new tokens, default positions continue the cache.
  KVCache* cache = nullptr;
};

// The `model.` part: embeddings, layers, final norm.
class DecoderImpl : public torch::nn::Module {
 public:
  // `token_embeddings` false: the decoder is fed embeddings from elsewhere (a shadow backbone
  // sharing its base model's table) and holds no embed_tokens.
  explicit DecoderImpl(const ModelConfig& config, bool token_embeddings = true);
  // Token (and, for learned positions, position) embeddings: [B, T] → [B, T, H].
  at::Tensor embed(const at::Tensor& input_ids, const at::Tensor& position_ids);
  // What the decoder does to `inputs_embeds` (raw table rows) before its first layer: the
  // family's embedding scale and learned positions, as transformers' forward(inputs_embeds=...).
  at::Tensor prepare_inputs_embeds(at::Tensor embeds, const at::Tensor& position_ids);
  // Runs every layer and the final norm on embeddings `h`.
  at::Tensor forward(at::Tensor h, const at::Tensor& position_ids, const ForwardOptions& options);

  // Gradient (activation) checkpointing: while set, in training mode, with grad enabled and no KV
  // cache, each layer keeps only its input; backward recomputes it (see set_gradient_checkpointing).
  bool gradient_checkpointing = false;

  Embedding embed_tokens{nullptr};     // [V, E] (E: output_hidden_size)
  Embedding embed_positions{nullptr};  // [P + offset, H], learned positions only
  Linear project_in{nullptr}, project_out{nullptr};  // E → H and H → E when E ≠ H (OPT)
  torch::nn::ModuleList layers;
  Norm norm{nullptr};  // null when the family has no final norm

 private:
  const ModelConfig* config_;
};
TORCH_MODULE(Decoder);

// Switches gradient checkpointing on or off for every Decoder in the tree under `root` (itself
// included): for a ShadowPEFT model, the base model's and the shadow backbone's. Returns how many.
//
// Like transformers' checkpointing with torch.utils.checkpoint(use_reentrant=True), only the
// decoder layer itself is checkpointed — the layer hooks (ShadowPEFT's injection before a layer,
// its update after it) run normally — and only while the module is in training mode, grad mode is
// on and no KV cache is used; otherwise forward is unchanged. Losses and gradients are the same
// as without it (dropout replays the same masks), but parameter gradients reach .grad only through
// backward(): differentiate the loss with backward(), not torch::autograd::grad.
// shadow-peft's gradient_checkpointing_enable() checkpoints the base model's layers only; here the
// shadow backbone's are checkpointed too, which saves a little more memory for the cost of
// recomputing the (small) shadow layers.
int64_t set_gradient_checkpointing(torch::nn::Module& root, bool enabled);

// The positions of input_ids [B, T] when the caller gives none, as `config`'s family computes them
// (default_positions); past: tokens already cached; attention_mask: [B, past + T] or undefined.
at::Tensor default_position_ids(const ModelConfig& config, const at::Tensor& input_ids, int64_t past = 0,
                                const at::Tensor& attention_mask = {});

// The hidden states of the last position: [B, T, H] → [B, H] (what next-token scoring reads).
inline at::Tensor last_position(const at::Tensor& hidden) { return hidden.select(1, hidden.size(1) - 1); }

class CausalLMImpl : public torch::nn::Module {
 public:
  explicit CausalLMImpl(ModelConfig config);

  // input_ids [B, T] → logits [B, T, V].
  at::Tensor forward(const at::Tensor& input_ids, const ForwardOptions& options = {});
  // Final hidden states after the last norm (and projection): [B, T, output_hidden_size].
  at::Tensor hidden_states(const at::Tensor& input_ids, const ForwardOptions& options = {});
  at::Tensor logits_from_hidden(const at::Tensor& hidden) const;
  // The logits with `head_weight` (of output_embedding()'s shape) in place of the head's matrix.
  at::Tensor logits_from_hidden(const at::Tensor& hidden, const at::Tensor& head_weight) const {
    return head_->scores_with(hidden, head_weight);
  }
  // Logits of the last position only, [B, V] (the head never sees the other positions): what
  // generation scores the next token with.
  at::Tensor last_token_logits(const at::Tensor& input_ids, const ForwardOptions& options = {});
  // Sequence classification: per-token scores [B, T, L] → [B, L] at each row's last
  // non-padding token (by pad_token_id, as transformers pools).
  at::Tensor pool_last_token(const at::Tensor& input_ids, const at::Tensor& per_token) const {
    return head_->pool(input_ids, per_token);
  }

  const ModelConfig& config() const { return config_; }
  const OutputHead& head() const { return *head_; }
  // The output projection: lm_head.weight, the token embeddings when tied, or score.weight.
  at::Tensor output_embedding() const { return head_->weight(); }
  // For inference after LoadOptions::quantization: an int8 copy of the head that decoding reads
  // (OutputHead::quantize_int8_for_inference).
  void quantize_head_int8_for_inference() { head_->quantize_int8_for_inference(); }
  at::Tensor input_embedding() const { return model->embed_tokens->weight; }  // [V, E]

  Decoder model{nullptr};

 private:
  ModelConfig config_;
  std::unique_ptr<OutputHead> head_;
};
TORCH_MODULE(CausalLM);

}  // namespace shadowpeft::models
