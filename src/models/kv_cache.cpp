#include "shadowpeft/models/kv_cache.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "shadowpeft/core/error.h"

namespace shadowpeft::models {
namespace {

// Sequence index held by each slot of a ring of `ring` slots after `length` tokens (token p lives
// in slot p % ring); -1 where no token has been written yet.
at::Tensor ring_positions(int64_t ring, int64_t length, const c10::Device& device) {
  std::vector<int64_t> positions(static_cast<std::size_t>(ring), -1);
  for (int64_t p = std::max<int64_t>(0, length - ring); p < length; ++p) positions[static_cast<std::size_t>(p % ring)] = p;
  return at::tensor(positions, at::TensorOptions().dtype(at::kLong)).to(device);
}

}  // namespace

KVCache::KVCache(const ModelConfig& config, int64_t batch, int64_t capacity, c10::TensorOptions options)
    : capacity_(capacity) {
  for (const LayerSpec& spec : config.layers) {
    LayerBuffers layer;
    if (spec.attention == AttentionKind::Full) {
      int64_t slots = capacity;
      // A query sees at most the last `window` keys, or the keys of its chunk (the last `chunk`).
      const int64_t reach = std::min(spec.sliding_window.value_or(capacity), spec.attention_chunk_size.value_or(capacity));
      if (reach < capacity) slots = layer.ring = reach;
      // Attention reads a ring's empty slots too (masked out); zeros keep NaN garbage out of the
      // weighted sum, where a zero weight times NaN would still be NaN.
      const auto make = [&] { return layer.ring ? at::zeros({batch, spec.num_kv_heads, slots, spec.head_dim}, options)
                                                : at::empty({batch, spec.num_kv_heads, slots, spec.head_dim}, options); };
      layer.keys = make();
      layer.values = make();
    } else if (spec.attention == AttentionKind::Mamba2) {
      const MambaSpec& m = spec.mamba;
      layer.recurrent.conv = at::zeros({batch, m.conv_channels(), m.conv_kernel - 1}, options);
      layer.recurrent.ssm = at::zeros({batch, m.num_heads, m.head_dim, m.state_size}, options.dtype(at::kFloat));
    }
    layers_.push_back(std::move(layer));
  }
}

int64_t KVCache::slots(int64_t layer) const {
  const LayerBuffers& buffers = layers_.at(static_cast<std::size_t>(layer));
  return buffers.keys.defined() ? buffers.keys.size(2) : 0;
}

CachedKeys KVCache::append(int64_t layer, const at::Tensor& k, const at::Tensor& v) {
  LayerBuffers& buffers = layers_.at(static_cast<std::size_t>(layer));
  const int64_t t = k.size(2), end = length_ + t;
  if (end > capacity_)
    throw ShapeError(fmt::format("KV cache full: {} cached + {} new tokens exceed its capacity of {}", length_, t, capacity_));
  if (buffers.ring) return append_ring(buffers, k, v);
  buffers.keys.slice(2, length_, end).copy_(k);
  buffers.values.slice(2, length_, end).copy_(v);
  return {buffers.keys.slice(2, 0, end), buffers.values.slice(2, 0, end), {}};
}

CachedKeys KVCache::append_ring(LayerBuffers& layer, const at::Tensor& k, const at::Tensor& v) const {
  const int64_t t = k.size(2), ring = layer.ring, end = length_ + t;
  const c10::Device device = k.device();
  if (t == 1) {
    // One new token: overwriting the oldest slot leaves exactly the window the query attends to.
    const int64_t slot = length_ % ring;
    layer.keys.slice(2, slot, slot + 1).copy_(k);
    layer.values.slice(2, slot, slot + 1).copy_(v);
    return {layer.keys, layer.values, ring_positions(ring, end, device)};
  }
  // Several new tokens: the earliest of them still needs keys the later ones will overwrite, so
  // attention reads the ring as it was plus all new keys; then the newest `ring` tokens are stored.
  CachedKeys cached{at::cat({layer.keys, k}, 2), at::cat({layer.values, v}, 2),
                    at::cat({ring_positions(ring, length_, device), at::arange(length_, end, at::TensorOptions().dtype(at::kLong).device(device))})};
  const int64_t first = std::max(length_, end - ring);
  const at::Tensor slots = at::arange(first, end, at::TensorOptions().dtype(at::kLong).device(device)).remainder(ring);
  layer.keys.index_copy_(2, slots, k.slice(2, first - length_, t));
  layer.values.index_copy_(2, slots, v.slice(2, first - length_, t));
  return cached;
}

RecurrentState& KVCache::recurrent_state(int64_t layer) {
  RecurrentState& state = layers_.at(static_cast<std::size_t>(layer)).recurrent;
  if (!state.ssm.defined()) throw ShapeError(fmt::format("layer {} has no recurrent state: it is not a Mamba layer", layer));
  return state;
}

void KVCache::advance(int64_t tokens) { length_ += tokens; }

}  // namespace shadowpeft::models
