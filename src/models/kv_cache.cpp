#include "shadowpeft/models/kv_cache.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "shadowpeft/core/error.h"

namespace shadowpeft::models {

KVCache::KVCache(const ModelConfig& config, int64_t batch, int64_t capacity, c10::TensorOptions options)
    : capacity_(capacity) {
  for (const LayerSpec& spec : config.layers) {
    if (spec.attention == AttentionKind::Full) {
      keys_.push_back(at::empty({batch, spec.num_kv_heads, capacity, spec.head_dim}, options));
      values_.push_back(at::empty({batch, spec.num_kv_heads, capacity, spec.head_dim}, options));
    } else {
      keys_.emplace_back();
      values_.emplace_back();
    }
  }
}

std::pair<at::Tensor, at::Tensor> KVCache::append(int64_t layer, const at::Tensor& k, const at::Tensor& v) {
  const auto i = static_cast<std::size_t>(layer);
  const int64_t t = k.size(2), end = length_ + t;
  if (end > capacity_)
    throw ShapeError(fmt::format("KV cache full: {} cached + {} new tokens exceed its capacity of {}", length_, t, capacity_));
  keys_[i].slice(2, length_, end).copy_(k);
  values_[i].slice(2, length_, end).copy_(v);
  return {keys_[i].slice(2, 0, end), values_[i].slice(2, 0, end)};
}

void KVCache::advance(int64_t tokens) { length_ += tokens; }

}  // namespace shadowpeft::models
