#include "shadowpeft/models/kv_cache.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <limits>

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
      constexpr int64_t unlimited = std::numeric_limits<int64_t>::max();
      const int64_t reach = std::min(spec.sliding_window.value_or(unlimited), spec.attention_chunk_size.value_or(unlimited));
      if (reach != unlimited) layer.reach = reach;
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

void KVCache::keep_rows(const at::Tensor& rows) {
  for (LayerBuffers& layer : layers_)
    for (at::Tensor* t : {&layer.keys, &layer.values, &layer.recurrent.conv, &layer.recurrent.ssm})
      if (t->defined()) *t = t->index_select(0, rows.to(t->device()));
}

void KVCache::realign(int64_t shift, int64_t capacity) {
  const int64_t length = length_ + shift;
  if (length < 0 || length > capacity)
    throw ShapeError(fmt::format("KV cache realign: {} cached tokens moved by {} do not fit a capacity of {}", length_, shift, capacity));
  for (LayerBuffers& layer : layers_) {
    if (!layer.keys.defined()) continue;
    const int64_t ring = layer.reach && layer.reach < capacity ? layer.reach : 0;
    const int64_t slots = ring ? ring : capacity;
    // For every new slot, the old slot holding its token (-1: padding, a token no query can see
    // any more, or room for later tokens).
    std::vector<int64_t> source(static_cast<std::size_t>(slots), -1);
    for (int64_t column = ring ? std::max<int64_t>(0, length - ring) : 0; column < length; ++column) {
      const int64_t old_column = column - shift;
      if (old_column < 0 || old_column >= length_ || (layer.ring && old_column < length_ - layer.ring)) continue;
      source[static_cast<std::size_t>(ring ? column % ring : column)] = layer.ring ? old_column % layer.ring : old_column;
    }
    const at::Tensor index = at::tensor(source, at::TensorOptions().dtype(at::kLong)).to(layer.keys.device());
    const at::Tensor empty = (index < 0).view({1, 1, -1, 1});
    for (at::Tensor* t : {&layer.keys, &layer.values}) *t = t->index_select(2, index.clamp_min(0)).masked_fill(empty, 0);
    layer.ring = ring;
  }
  length_ = length;
  capacity_ = capacity;
}

void KVCache::append_rows(const KVCache& other) {
  if (other.layers_.size() != layers_.size() || other.length_ != length_ || other.capacity_ != capacity_)
    throw ShapeError(fmt::format("KV cache append_rows: {} layers, {} of {} tokens cannot take rows of {} layers, {} of {} tokens",
                                 layers_.size(), length_, capacity_, other.layers_.size(), other.length_, other.capacity_));
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    LayerBuffers& mine = layers_[i];
    const LayerBuffers& theirs = other.layers_[i];
    if (mine.keys.defined()) {
      mine.keys = at::cat({mine.keys, theirs.keys});
      mine.values = at::cat({mine.values, theirs.values});
    }
    if (mine.recurrent.ssm.defined()) {
      mine.recurrent.conv = at::cat({mine.recurrent.conv, theirs.recurrent.conv});
      mine.recurrent.ssm = at::cat({mine.recurrent.ssm, theirs.recurrent.ssm});
    }
  }
}

}  // namespace shadowpeft::models
