#pragma once
// Keys and values of past tokens, per layer, for incremental decoding. Each full-attention layer
// gets buffers shaped by its own spec (KV heads, head dim), allocated once for `capacity` tokens;
// skipped and linear-attention layers hold nothing. Sliding windows are applied by the attention
// mask over the full buffer.
#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

#include "shadowpeft/models/model_config.h"

namespace shadowpeft::models {

class KVCache {
 public:
  KVCache(const ModelConfig& config, int64_t batch, int64_t capacity, c10::TensorOptions options);

  int64_t length() const { return length_; }  // tokens cached so far
  int64_t capacity() const { return capacity_; }
  bool holds(int64_t layer) const { return keys_.at(static_cast<std::size_t>(layer)).defined(); }
  // Stores k, v [B, kv_heads, T, D] of `layer` after the cached tokens and returns views of all
  // keys and values [B, kv_heads, length + T, D]. ShapeError when the capacity would be exceeded.
  std::pair<at::Tensor, at::Tensor> append(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  // Called once per forward pass, after every layer appended `tokens`.
  void advance(int64_t tokens);

 private:
  std::vector<at::Tensor> keys_, values_;  // [B, kv_heads, capacity, D] or undefined
  int64_t length_ = 0;
  int64_t capacity_;
};

}  // namespace shadowpeft::models
