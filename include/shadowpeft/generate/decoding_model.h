#pragma once
// What generation drives: a model that scores the next token given the tokens so far, with its
// own KV caches (one for a plain model; base + shadow backbone for ShadowPEFT in base_shadow mode;
// the shadow backbone's alone in shadow_only mode).
#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/peft/lora_model.h"
#include "shadowpeft/peft/shadow_model.h"
#include "shadowpeft/shadow/task_models.h"

namespace shadowpeft::generate {

class DecodingModel {
 public:
  virtual ~DecodingModel() = default;
  // Drops all cached state; with `use_cache`, allocates caches for `batch` rows of up to
  // `capacity` tokens (prompt + new tokens), once.
  virtual void start(int64_t batch, int64_t capacity, bool use_cache) = 0;
  // input_ids [B, T]: the tokens not yet seen (with a cache) or the whole sequence (without);
  // position_ids [B, T]; attention_mask [B, S]: every token so far. → logits of the last
  // position [B, V], float32.
  virtual at::Tensor next_token_logits(const at::Tensor& input_ids, const at::Tensor& position_ids,
                                       const at::Tensor& attention_mask) = 0;
  virtual c10::Device device() const = 0;
  // A decoder on the same weights with no caches: a batch of its own.
  virtual std::unique_ptr<DecodingModel> fork() const = 0;

  // Continuous batching on the cached batch (after start with use_cache), where rows leave and
  // join: see models::KVCache's methods of the same names.
  int64_t cached_length();
  void keep_rows(const at::Tensor& rows);
  void realign(int64_t shift, int64_t capacity);
  // Appends `other`'s rows (a fork of this decoder, cached to the same length and capacity).
  void append_rows(DecodingModel& other);

 protected:
  // The caches of the current batch (none before start or without use_cache), in a fixed order.
  virtual std::vector<models::KVCache*> caches() = 0;
};

// A plain causal LM (base model or an exported shadow).
std::unique_ptr<DecodingModel> make_decoding_model(models::CausalLM model);
// ShadowPEFT in `mode`: base_shadow scores with the base head, shadow_only with the shadow head.
std::unique_ptr<DecodingModel> make_decoding_model(ShadowForCausalLM model, InferenceMode mode);
// peft's SHADOW adapter (causal LM) in `mode`: base_shadow scores with the base's head (or its
// trained copy), shadow_only with head(s0), as peft's unload_shadow() model.
std::unique_ptr<DecodingModel> make_decoding_model(peft::ShadowModel model, InferenceMode mode);
// peft's LoRA: the adapted base (base_shadow; shadow_only is an UnsupportedError).
std::unique_ptr<DecodingModel> make_decoding_model(peft::LoraModel model, InferenceMode mode);

}  // namespace shadowpeft::generate
