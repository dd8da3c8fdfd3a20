#include "shadowpeft/models/layers.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "int8_weights.h"
#include "mixture_of_experts.h"
#include "rope.h"
#include "shadowpeft/models/kv_cache.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {

namespace {
thread_local bool meta_parameters = false;

// A quantized layer's int8 rows, or an error where something cast them after quantize_int8.
const at::Tensor& int8_rows_checked(const at::Tensor& rows) {
  if (rows.scalar_type() != at::kChar)
    throw Error(fmt::format("an int8-quantized Linear's weight was converted to {} after quantization; "
                            "convert the model's dtype before quantizing it",
                            c10::toString(rows.scalar_type())));
  return rows;
}
}  // namespace

MetaParameters::MetaParameters() : previous_(meta_parameters) { meta_parameters = true; }
MetaParameters::~MetaParameters() { meta_parameters = previous_; }

at::Tensor new_parameter(at::IntArrayRef sizes) {
  return at::empty(sizes, at::TensorOptions().device(meta_parameters ? c10::Device(c10::kMeta) : c10::Device(c10::kCPU)));
}

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool has_bias) {
  weight = register_parameter("weight", new_parameter({out_features, in_features}));
  if (has_bias) bias = register_parameter("bias", new_parameter({out_features}));
}

at::Tensor LinearImpl::forward(const at::Tensor& x) const {
  // A layer computes in its weights' dtype: where a float32 adapter meets a bfloat16 base (or the
  // reverse), the activations are converted at the layer that consumes them.
  const at::Tensor input = x.to(compute_dtype());
  const at::Tensor y = quantized() ? int8_linear(input, int8_rows_checked(weight), weight_scale, kernel_scales_, bias)
                                   : at::linear(input, weight, bias);
  // peft's LoRA order: the sum in the wider of the two dtypes, rounded once to the layer's.
  return adapter ? (y + adapter->delta(x)).to(y.scalar_type()) : y;
}

void LinearImpl::quantize_int8() {
  if (quantized()) return;
  if (!at::isFloatingType(weight.scalar_type()))
    throw Error(fmt::format("quantize_int8: expected a floating-point weight, got {}", c10::toString(weight.scalar_type())));
  compute_dtype_ = weight.scalar_type();
  auto [rows, scales] = quantize_rows_int8(weight);
  weight.set_requires_grad(false);  // int8 rows have no gradient: quantizing freezes the layer
  weight.set_data(rows);  // the registered parameter itself, so named_parameters() sees the int8 rows
  weight_scale = register_buffer("weight_scale", scales);
  kernel_scales_ = scales.to(compute_dtype_);
}

at::Tensor LinearImpl::dense_weight() const {
  return quantized() ? dequantize_rows_int8(int8_rows_checked(weight), weight_scale, compute_dtype_) : weight;
}

EmbeddingImpl::EmbeddingImpl(int64_t num_embeddings, int64_t dim) {
  weight = register_parameter("weight", new_parameter({num_embeddings, dim}));
}

at::Tensor EmbeddingImpl::forward(const at::Tensor& ids) const { return at::embedding(weight, ids); }

NormImpl::NormImpl(NormKind kind_, int64_t size, double eps_) : kind(kind_), eps(eps_) {
  weight = register_parameter("weight", new_parameter({size}));
  if (kind == NormKind::LayerNorm) bias = register_parameter("bias", new_parameter({size}));
}

at::Tensor NormImpl::forward(const at::Tensor& x) const {
  switch (kind) {
    case NormKind::LayerNorm:
      return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
    case NormKind::RMSNorm: {
      const at::Tensor xf = x.to(at::kFloat);
      const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
      return weight * normed.to(x.scalar_type());
    }
    case NormKind::RMSNormWeightInFloat32: {
      const at::Tensor xf = x.to(at::kFloat);
      const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
      return (weight * normed).to(x.scalar_type());
    }
    case NormKind::RMSNormPlusOne: {
      const at::Tensor xf = x.to(at::kFloat);
      const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
      return (normed * (1.0 + weight.to(at::kFloat))).to(x.scalar_type());
    }
  }
  return x;
}

at::Tensor activate(const at::Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::SiLU: return at::silu(x);
    case Activation::GeluTanh: return at::gelu(x, "tanh");
    case Activation::GeluExact: return at::gelu(x);
    case Activation::ReLU: return at::relu(x);
    case Activation::ReLUSquared: return at::relu(x).square();
  }
  return x;
}

// ---- attention context ----------------------------------------------------------------------

AttentionContext::AttentionContext(const ModelConfig& config, at::Tensor position_ids, at::Tensor key_padding_mask,
                                   KVCache* cache)
    : config_(config),
      position_ids_(std::move(position_ids)),
      key_padding_mask_(std::move(key_padding_mask)),
      cache_(cache),
      past_(cache ? cache->length() : 0) {
  if (key_padding_mask_.defined() || cache_ || position_ids_.size(1) < 2) return;
  // transformers' find_packed_sequence_indices: a step other than +1 starts a new sequence.
  const at::Tensor starts = position_ids_.diff(1, -1).ne(1);
  if (!starts.any().item<bool>()) return;
  sequence_ids_ = at::cat({at::zeros_like(position_ids_.narrow(1, 0, 1)), starts.to(at::kLong).cumsum(-1)}, -1);
}

std::pair<at::Tensor, at::Tensor> AttentionContext::rotary(const RopeConfig& rope, int64_t head_dim, at::ScalarType dtype) {
  for (const RotaryTables& t : rotary_)
    if (t.head_dim == head_dim && t.dtype == dtype && t.rope == rope) return {t.cos, t.sin};
  const int64_t seq_len = position_ids_.numel() ? position_ids_.max().item<int64_t>() + 1 : 0;
  auto [inv_freq, scale] = detail::rope_inv_freq(rope, head_dim, config_.max_position_embeddings, seq_len);
  inv_freq = inv_freq.to(position_ids_.device());
  // [B, T, 1] * [D/2] in float32, as transformers computes it (autocast disabled).
  const at::Tensor freqs = position_ids_.to(at::kFloat).unsqueeze(-1) * inv_freq;
  // Frequency j turns dimensions (j, j + D/2), or (2j, 2j + 1) when interleaved.
  const at::Tensor emb = rope.interleaved ? freqs.repeat_interleave(2, -1) : at::cat({freqs, freqs}, -1);
  rotary_.push_back({rope, head_dim, dtype, (emb.cos() * scale).to(dtype).unsqueeze(1), (emb.sin() * scale).to(dtype).unsqueeze(1)});
  return {rotary_.back().cos, rotary_.back().sin};
}

at::Tensor AttentionContext::query_padding_mask() const {
  if (!key_padding_mask_.defined()) return {};
  const int64_t t = position_ids_.size(1);
  return key_padding_mask_.narrow(1, key_padding_mask_.size(1) - t, t);
}

at::Tensor AttentionContext::query_indices() const {
  const int64_t t = position_ids_.size(1);
  return at::arange(past_, past_ + t, at::TensorOptions().dtype(at::kFloat).device(position_ids_.device()));
}

const at::Tensor& AttentionContext::mask(const LayerSpec& spec, const at::Tensor& key_positions) {
  // Every layer with the same window and chunk reads the same key layout from the cache, so one
  // mask serves them.
  const std::pair<int64_t, int64_t> key{spec.sliding_window.value_or(-1), spec.attention_chunk_size.value_or(-1)};
  if (auto it = masks_.find(key); it != masks_.end()) return it->second;
  // Queries and keys are identified by their index in the sequence: causal means key <= query.
  const int64_t t = position_ids_.size(1);
  const int64_t s = key_padding_mask_.defined() ? key_padding_mask_.size(1) : past_ + t;
  const auto opts = at::TensorOptions().dtype(at::kLong).device(position_ids_.device());
  const at::Tensor q = at::arange(s - t, s, opts).unsqueeze(1);  // [T, 1]
  const at::Tensor k = (key_positions.defined() ? key_positions : at::arange(0, s, opts)).unsqueeze(0);  // [1, S]
  at::Tensor allowed = (k <= q) & (k >= 0);
  if (spec.sliding_window) allowed = allowed & (k > q - *spec.sliding_window);
  allowed = allowed.unsqueeze(0).unsqueeze(0);  // [1, 1, T, S]
  if (spec.attention_chunk_size && packed()) {
    // Packed: chunks count from each sequence's first position (transformers remaps the indices to
    // position_ids there).
    const at::Tensor chunk = at::div(position_ids_, *spec.attention_chunk_size, "floor");
    allowed = allowed & (chunk.unsqueeze(1).unsqueeze(-1) == chunk.unsqueeze(1).unsqueeze(-2));
  } else if (spec.attention_chunk_size) {
    // Chunks count from each row's first real token (transformers' chunked mask does so too).
    const at::Tensor left_padding = key_padding_mask_.defined()
                                        ? (key_padding_mask_.cumsum(-1) == 0).sum(-1).view({-1, 1, 1, 1})
                                        : at::zeros({1, 1, 1, 1}, opts);
    const auto chunk_of = [&](const at::Tensor& index) { return at::div(index - left_padding, *spec.attention_chunk_size, "floor"); };
    allowed = allowed & (chunk_of(q.view({1, 1, t, 1})) == chunk_of(k.view({1, 1, 1, -1})));
  }
  if (packed()) allowed = allowed & (sequence_ids_.unsqueeze(1).unsqueeze(-1) == sequence_ids_.unsqueeze(1).unsqueeze(-2));
  if (key_padding_mask_.defined()) {
    at::Tensor real = key_padding_mask_.to(at::kBool);  // [B, S]
    if (key_positions.defined()) real = real.index_select(1, key_positions.clamp_min(0));
    allowed = allowed & real.unsqueeze(1).unsqueeze(1);
  }
  // A padded query may see no key at all; letting it see itself keeps its (ignored) output finite,
  // so no NaN reaches later layers through it.
  allowed = allowed | (k == q).unsqueeze(0).unsqueeze(0);
  return masks_.emplace(key, allowed).first->second;
}

// ---- attention ------------------------------------------------------------------------------

AttentionImpl::AttentionImpl(const LayerSpec& spec_, const ModelConfig& config, int64_t layer_index_)
    : spec(spec_), layer_index(layer_index_), norm_eps(config.norm_eps) {
  const int64_t h = config.hidden_size;
  if (spec.attention == AttentionKind::Linear) {
    linear_attn = register_module("linear_attn", Linear(h, h, false));
    return;
  }
  q_proj = register_module("q_proj", Linear(h, spec.num_heads * spec.head_dim, spec.qkv_bias));
  k_proj = register_module("k_proj", Linear(h, spec.num_kv_heads * spec.head_dim, spec.qkv_bias));
  v_proj = register_module("v_proj", Linear(h, spec.num_kv_heads * spec.head_dim, spec.qkv_bias));
  o_proj = register_module("o_proj", Linear(spec.num_heads * spec.head_dim, h, spec.o_bias));
  if (spec.qk_norm == QkNorm::PerHead || spec.qk_norm == QkNorm::AllHeads) {
    const bool per_head = spec.qk_norm == QkNorm::PerHead;
    q_norm = register_module("q_norm", Norm(config.norm, per_head ? spec.head_dim : spec.num_heads * spec.head_dim, config.norm_eps));
    k_norm = register_module("k_norm", Norm(config.norm, per_head ? spec.head_dim : spec.num_kv_heads * spec.head_dim, config.norm_eps));
  }
  if (spec.attention_sinks) sinks = register_parameter("sinks", new_parameter({spec.num_heads}));
}

namespace {
at::Tensor rotate_half(const at::Tensor& x) {
  const auto halves = x.chunk(2, -1);
  return at::cat({-halves[1], halves[0]}, -1);
}

// (x0, x1, x2, x3, ...) → (-x1, x0, -x3, x2, ...): the pairs times i.
at::Tensor rotate_pairs(const at::Tensor& x) {
  const at::Tensor even = x.slice(-1, 0, std::nullopt, 2), odd = x.slice(-1, 1, std::nullopt, 2);
  return at::stack({-odd, even}, -1).flatten(-2);
}

// Each head over its last dimension to unit RMS, in float32, without weights.
at::Tensor l2_norm(const at::Tensor& x, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  return (xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps)).to(x.scalar_type());
}

// A few queries after cached keys, in bfloat16/float16 on the CPU: a decoding step.
bool decoding_in_half_precision(const at::Tensor& q, const AttentionContext& ctx) {
  constexpr int64_t kMaxDecodingQueries = 16;
  const at::ScalarType dtype = q.scalar_type();
  return ctx.cache() && q.is_cpu() && (dtype == at::kBFloat16 || dtype == at::kHalf) && q.size(2) <= kMaxDecodingQueries;
}
}  // namespace

at::Tensor AttentionImpl::forward(const at::Tensor& x, AttentionContext& ctx) {
  if (linear_attn) return linear_attn->forward(x);
  const int64_t b = x.size(0), t = x.size(1), d = spec.head_dim;
  // [B, T, heads * D] → [B, heads, T, D]
  at::Tensor q = q_proj->forward(x), k = k_proj->forward(x);
  if (spec.qk_norm == QkNorm::AllHeads) {
    q = q_norm->forward(q);
    k = k_norm->forward(k);
  }
  q = q.view({b, t, spec.num_heads, d});
  k = k.view({b, t, spec.num_kv_heads, d});
  at::Tensor v = v_proj->forward(x).view({b, t, spec.num_kv_heads, d}).transpose(1, 2);
  if (spec.qk_norm == QkNorm::PerHead) {
    q = q_norm->forward(q);
    k = k_norm->forward(k);
  }
  q = q.transpose(1, 2);
  k = k.transpose(1, 2);
  if (spec.rope) {
    // Partial rotary (Phi-3): only the leading dimensions of each head rotate. Interleaved pairs
    // rotate in float32 (Llama 4's complex product).
    const auto rotary_dim = static_cast<int64_t>(static_cast<double>(d) * spec.rope->partial_rotary_factor);
    const at::ScalarType dtype = spec.rope->interleaved ? at::kFloat : q.scalar_type();
    // Named references, not a structured binding: lambdas capture those only from clang 16 on.
    const auto rotary = ctx.rotary(*spec.rope, rotary_dim, dtype);
    const at::Tensor& cos = std::get<0>(rotary);
    const at::Tensor& sin = std::get<1>(rotary);
    auto rotate = [&](const at::Tensor& x) {
      if (spec.rope->interleaved) {
        const at::Tensor xf = x.to(at::kFloat);
        return (xf * cos + rotate_pairs(xf) * sin).to(x.scalar_type());
      }
      if (rotary_dim == d) return x * cos + rotate_half(x) * sin;
      const at::Tensor r = x.narrow(-1, 0, rotary_dim);
      return at::cat({r * cos + rotate_half(r) * sin, x.narrow(-1, rotary_dim, d - rotary_dim)}, -1);
    };
    q = rotate(q);
    k = rotate(k);
  }
  if (spec.qk_norm == QkNorm::L2AfterRope) {
    q = l2_norm(q, norm_eps);
    k = l2_norm(k, norm_eps);
  }
  if (spec.attention_temperature) {
    const LayerSpec::Temperature& temp = *spec.attention_temperature;
    const at::Tensor scales = at::log1p(at::floor((ctx.query_indices() + 1.0) / temp.floor_scale)) * temp.scale + 1.0;
    q = (q * scales.view({1, 1, -1, 1})).to(q.scalar_type());
  }
  at::Tensor key_positions;
  if (KVCache* cache = ctx.cache()) {
    CachedKeys cached = cache->append(layer_index, k, v);
    k = std::move(cached.keys);
    v = std::move(cached.values);
    key_positions = std::move(cached.key_positions);
  }
  const at::Tensor& allowed = ctx.mask(spec, key_positions);
  const double scale = spec.attention_scale.value_or(1.0 / std::sqrt(static_cast<double>(d)));
  const bool grouped = spec.num_kv_heads != spec.num_heads;
  at::Tensor out;
  if (spec.attn_logit_softcap || sinks.defined()) {
    if (grouped) {
      const int64_t groups = spec.num_heads / spec.num_kv_heads;
      k = k.repeat_interleave(groups, 1);
      v = v.repeat_interleave(groups, 1);
    }
    // SDPA has neither soft-capping nor sinks: transformers' eager path.
    at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * scale;
    if (spec.attn_logit_softcap) scores = at::tanh(scores / *spec.attn_logit_softcap) * *spec.attn_logit_softcap;
    scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<double>::infinity());
    at::Tensor weights;
    if (sinks.defined()) {
      // Softmax over [scores, sink] in the scores' dtype; the sink's share is dropped.
      const at::Tensor sink = sinks.to(scores.scalar_type()).view({1, -1, 1, 1}).expand({b, -1, t, 1});
      at::Tensor combined = at::cat({scores, sink}, -1);
      combined = combined - std::get<0>(combined.max(-1, true));
      weights = at::softmax(combined, -1).narrow(-1, 0, scores.size(-1)).to(v.scalar_type());
    } else {
      weights = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
    }
    out = at::matmul(weights, v);
  } else if (decoding_in_half_precision(q, ctx)) {
    // ATen's CPU attention in bfloat16/float16 converts block by block and is many times slower than
    // in float32 for a few queries over a long cache (1 query over 600 keys: ~630 vs ~55 us). A
    // decoding step attends in float32 and rounds its result once.
    out = at::scaled_dot_product_attention(q.to(at::kFloat), k.to(at::kFloat), v.to(at::kFloat), allowed, 0.0, false, scale,
                                           grouped)
              .to(q.scalar_type());
  } else {
    // enable_gqa reads each key/value head for its group of query heads (the same result as
    // repeating them, without copying the cache for every step).
    out = at::scaled_dot_product_attention(q, k, v, allowed, 0.0, false, scale, grouped);
  }
  return o_proj->forward(out.transpose(1, 2).reshape({b, t, spec.num_heads * d}));
}

// ---- MLP ------------------------------------------------------------------------------------

MlpImpl::MlpImpl(const LayerSpec& spec, const ModelConfig& config) : kind(spec.mlp), activation(config.activation) {
  const int64_t h = config.hidden_size, m = spec.intermediate_size;
  switch (kind) {
    case MlpKind::Gated:
      gate_proj = register_module("gate_proj", Linear(h, m, spec.mlp_bias));
      up_proj = register_module("up_proj", Linear(h, m, spec.mlp_bias));
      down_proj = register_module("down_proj", Linear(m, h, spec.mlp_bias));
      break;
    case MlpKind::Plain:
      up_proj = register_module("up_proj", Linear(h, m, spec.mlp_bias));
      down_proj = register_module("down_proj", Linear(m, h, spec.mlp_bias));
      break;
    case MlpKind::Linear:
      linear_mlp = register_module("linear_mlp", Linear(h, h, false));
      break;
    case MlpKind::MixtureOfExperts: {
      const MoeSpec& moe = spec.moe;
      gate = register_module("gate", Linear(h, moe.num_experts, moe.router_bias));
      if (moe.scoring == RouterScoring::SigmoidGroupLimited) {
        // A buffer in transformers: loaded and saved, never trained.
        score_correction_bias = gate->register_parameter("e_score_correction_bias", new_parameter({moe.num_experts}), false);
      }
      if (moe.latent_size > 0) {
        fc1_latent_proj = register_module("fc1_latent_proj", Linear(h, moe.latent_size, spec.mlp_bias));
        fc2_latent_proj = register_module("fc2_latent_proj", Linear(moe.latent_size, h, spec.mlp_bias));
      }
      experts = register_module("experts", Experts(moe, moe.latent_size > 0 ? moe.latent_size : h, config.activation));
      if (moe.shared_expert_intermediate_size > 0) {
        LayerSpec shared;  // a dense MLP of the shared expert's width, like the experts gated or not
        shared.mlp = moe.activation == ExpertActivation::Plain ? MlpKind::Plain : MlpKind::Gated;
        shared.mlp_bias = moe.activation == ExpertActivation::Plain && spec.mlp_bias;
        shared.intermediate_size = moe.shared_expert_intermediate_size;
        shared_expert = register_module("shared_expert", std::make_shared<MlpImpl>(shared, config));
      }
      break;
    }
    case MlpKind::None:
      break;
  }
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  switch (kind) {
    case MlpKind::Gated: return down_proj->forward(activate(gate_proj->forward(x), activation) * up_proj->forward(x));
    case MlpKind::Plain: return down_proj->forward(activate(up_proj->forward(x), activation));
    case MlpKind::Linear: return linear_mlp->forward(x);
    case MlpKind::MixtureOfExperts: {
      const at::Tensor routed = detail::mixture_of_experts(x, *this);
      return shared_expert ? shared_expert->forward(x) + routed : routed;
    }
    case MlpKind::None: break;
  }
  return at::zeros_like(x);
}

// ---- decoder layer --------------------------------------------------------------------------

DecoderLayerImpl::DecoderLayerImpl(const LayerSpec& spec, const ModelConfig& config, int64_t layer_index) {
  const LayerPartNames names = config.descriptor ? config.descriptor->layer_part_names(spec.norm_placement)
                                                 : llama_layer_part_names(spec.norm_placement);
  auto norm = [&](std::string_view name) {
    return name.empty() ? Norm(nullptr) : register_module(std::string(name), Norm(config.norm, config.hidden_size, config.norm_eps));
  };
  if (spec.attention != AttentionKind::None) {
    attention_pre_norm = norm(names.attention_pre);
    if (spec.attention == AttentionKind::Mamba2)
      mamba = register_module(std::string(names.attention), Mamba2Mixer(spec.mamba, config, layer_index));
    else
      self_attn = register_module(std::string(names.attention), Attention(spec, config, layer_index));
    attention_post_norm = norm(names.attention_post);
    attention_residual_norm = norm(names.attention_residual);
  }
  if (spec.mlp != MlpKind::None) {
    mlp_pre_norm = norm(names.mlp_pre);
    mlp = register_module(std::string(names.mlp), Mlp(spec, config));
    mlp_post_norm = norm(names.mlp_post);
    mlp_residual_norm = norm(names.mlp_residual);
  }
}

at::Tensor DecoderLayerImpl::forward(at::Tensor h, AttentionContext& ctx) {
  auto apply = [](const Norm& norm, const at::Tensor& x) { return norm ? norm->forward(x) : x; };
  if (self_attn || mamba) {
    const at::Tensor normed = apply(attention_pre_norm, h);
    const at::Tensor mixed = self_attn ? self_attn->forward(normed, ctx) : mamba->forward(normed, ctx);
    h = apply(attention_residual_norm, h + apply(attention_post_norm, mixed));
  }
  if (mlp) h = apply(mlp_residual_norm, h + apply(mlp_post_norm, mlp->forward(apply(mlp_pre_norm, h))));
  return h;
}

}  // namespace shadowpeft::models
