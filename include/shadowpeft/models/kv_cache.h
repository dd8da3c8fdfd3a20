#pragma once
// Keys and values of past tokens, per layer, for incremental decoding. Each attention layer gets
// buffers shaped by its own spec (KV heads, head dim), allocated once; skipped and linear-attention
// layers hold nothing. A sliding-window layer whose window is shorter than the capacity keeps a
// ring buffer of `window` slots: the keys it can still attend to, nothing older. A Mamba layer
// holds its recurrent state instead: the last conv inputs and the SSM state, a fixed size whatever
// the length, so each new token costs the same.
#include <ATen/core/Tensor.h>

#include <vector>

#include "shadowpeft/models/model_config.h"

namespace shadowpeft::models {

// What attention reads after an append: keys and values [B, kv_heads, S, D], and the sequence
// index of each key [S] (int64, -1 for an empty slot), undefined when the keys are simply 0..S-1.
struct CachedKeys {
  at::Tensor keys, values;
  at::Tensor key_positions;
};

// A Mamba layer's state after the cached tokens.
struct RecurrentState {
  at::Tensor conv;  // [B, conv channels, kernel - 1]: the conv's inputs for the last kernel - 1 tokens (zeros before any)
  at::Tensor ssm;   // [B, heads, head_dim, state_size], float32
};

class KVCache {
 public:
  KVCache(const ModelConfig& config, int64_t batch, int64_t capacity, c10::TensorOptions options);

  int64_t length() const { return length_; }  // tokens cached so far
  int64_t capacity() const { return capacity_; }
  bool holds(int64_t layer) const { return layers_.at(static_cast<std::size_t>(layer)).keys.defined(); }
  // Slots the layer keeps: the capacity, or its window for a ring buffer; 0 when it holds nothing.
  int64_t slots(int64_t layer) const;
  // Stores k, v [B, kv_heads, T, D] of `layer` after the cached tokens and returns what attention
  // over cached + new tokens reads. ShapeError when the capacity would be exceeded.
  CachedKeys append(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  // The state of Mamba layer `layer`, which its mixer reads and replaces.
  RecurrentState& recurrent_state(int64_t layer);
  // Called once per forward pass, after every layer appended `tokens`.
  void advance(int64_t tokens);

  // Continuous batching, where rows join and leave a running batch.
  // Keeps rows `rows` (int64 indices), in that order.
  void keep_rows(const at::Tensor& rows);
  // Moves every cached token `shift` columns later, with padding before it (earlier when negative:
  // the first -shift columns are dropped, so they must be padding in every row), and makes room
  // for `capacity` columns in all.
  void realign(int64_t shift, int64_t capacity);
  // Appends `other`'s rows after these: a cache of the same config, length and capacity.
  void append_rows(const KVCache& other);

 private:
  struct LayerBuffers {
    at::Tensor keys, values;  // [B, kv_heads, slots, D] or undefined
    int64_t ring = 0;         // slots of a ring buffer; 0 for a plain buffer
    int64_t reach = 0;        // the most recent keys a query can see (window or chunk); 0: all
    RecurrentState recurrent;  // Mamba layers
  };
  CachedKeys append_ring(LayerBuffers& layer, const at::Tensor& k, const at::Tensor& v) const;
  std::vector<LayerBuffers> layers_;
  int64_t length_ = 0;
  int64_t capacity_;
};

}  // namespace shadowpeft::models
