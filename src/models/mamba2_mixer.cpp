// The Mamba-2 mixer of Nemotron-H, as transformers' pure-PyTorch path computes it (the path it takes
// without the mamba_ssm kernels): the chunked scan ("state space duality") for a sequence, the
// recurrent update for one token after cached ones. Both keep the SSM in float32.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <limits>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/kv_cache.h"
#include "shadowpeft/models/layers.h"

namespace shadowpeft::models {

Mamba2MixerImpl::Mamba2MixerImpl(const MambaSpec& spec_, const ModelConfig& config, int64_t layer_index_)
    : spec(spec_), layer_index(layer_index_), norm_eps(config.norm_eps) {
  const int64_t h = config.hidden_size, inner = spec.intermediate_size(), channels = spec.conv_channels();
  in_proj = register_module("in_proj", Linear(h, inner + channels + spec.num_heads, spec.proj_bias));
  const auto conv1d = register_module("conv1d", std::make_shared<torch::nn::Module>());
  conv1d_weight = conv1d->register_parameter("weight", new_parameter({channels, 1, spec.conv_kernel}));
  if (spec.conv_bias) conv1d_bias = conv1d->register_parameter("bias", new_parameter({channels}));
  dt_bias = register_parameter("dt_bias", new_parameter({spec.num_heads}));
  A_log = register_parameter("A_log", new_parameter({spec.num_heads}));
  D = register_parameter("D", new_parameter({spec.num_heads}));
  norm_weight = register_module("norm", std::make_shared<torch::nn::Module>())->register_parameter("weight", new_parameter({inner}));
  out_proj = register_module("out_proj", Linear(inner, h, spec.proj_bias));
}

namespace {

// [..., L] → [..., L, L] with [i, j] = x[j+1] + ... + x[i] for i >= j, -inf above the diagonal:
// the log-decay from position j to i. Cumulative sums of masked copies, not differences of one
// cumulative sum, as transformers does it for stability.
at::Tensor segment_sum(const at::Tensor& x) {
  const int64_t l = x.size(-1);
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes.push_back(l);
  const auto opts = at::TensorOptions().dtype(at::kBool).device(x.device());
  at::Tensor expanded = x.unsqueeze(-1).expand(sizes);
  expanded = expanded.masked_fill(at::tril(at::ones({l, l}, opts), -1).logical_not(), 0);
  const at::Tensor sums = at::cumsum(expanded, -2);
  return sums.masked_fill(at::tril(at::ones({l, l}, opts), 0).logical_not(), -std::numeric_limits<double>::infinity());
}

// [B, T, ...] padded with zeros to a multiple of `chunk` tokens and split: [B, chunks, chunk, ...].
at::Tensor into_chunks(const at::Tensor& x, int64_t pad, int64_t chunk) {
  std::vector<int64_t> sizes(x.sizes().begin(), x.sizes().end());
  sizes[1] = pad;
  const at::Tensor padded = pad ? at::cat({x, at::zeros(sizes, x.options())}, 1) : x;
  std::vector<int64_t> out{x.size(0), -1, chunk};
  out.insert(out.end(), x.sizes().begin() + 2, x.sizes().end());
  return padded.reshape(out);
}

struct ScanInputs {
  at::Tensor x;   // [B, T, heads, P] float32
  at::Tensor dt;  // [B, T, heads] after bias, softplus and clamp
  at::Tensor A;   // [heads] = -exp(A_log)
  at::Tensor B, C;  // [B, T, heads, N] float32 (groups repeated over their heads)
};

// The chunked selective scan: y [B, T, heads, P] (without the D skip) and the state after the last
// token [B, heads, P, N], starting from `initial` (undefined: zeros).
std::pair<at::Tensor, at::Tensor> chunked_scan(const ScanInputs& in, int64_t chunk, const at::Tensor& initial) {
  const int64_t t = in.x.size(1), pad = (chunk - t % chunk) % chunk;
  const at::Tensor x = into_chunks(in.x * in.dt.unsqueeze(-1), pad, chunk);   // b c l h p
  const at::Tensor A = into_chunks(in.A * in.dt, pad, chunk).permute({0, 3, 1, 2});  // b h c l
  const at::Tensor B = into_chunks(in.B, pad, chunk), C = into_chunks(in.C, pad, chunk);  // b c l h n
  const at::Tensor A_cumsum = at::cumsum(A, -1);

  // Within each chunk: attention-like weights C·B decayed from source s to target l.
  const at::Tensor L = at::exp(segment_sum(A));
  const at::Tensor G = at::einsum("bclhn,bcshn->bclsh", {C, B});
  const at::Tensor M = G * L.permute({0, 2, 3, 4, 1});
  const at::Tensor y_diag = at::einsum("bclsh,bcshp->bclhp", {M, x});

  // Each chunk's contribution to the state at its end, then the states carried across chunks.
  const at::Tensor decay_states = at::exp(A_cumsum.narrow(-1, A_cumsum.size(-1) - 1, 1) - A_cumsum);
  const at::Tensor B_decay = B * decay_states.permute({0, 2, 3, 1}).unsqueeze(-1);
  at::Tensor states = at::einsum("bclhn,bclhp->bchpn", {B_decay, x});
  const at::Tensor previous = initial.defined() ? initial.unsqueeze(1).to(states.scalar_type()) : at::zeros_like(states.narrow(1, 0, 1));
  states = at::cat({previous, states}, 1);
  const at::Tensor chunk_ends = at::constant_pad_nd(A_cumsum.select(-1, A_cumsum.size(-1) - 1), {1, 0});
  const at::Tensor decay_chunk = at::exp(segment_sum(chunk_ends)).transpose(1, 3);
  const at::Tensor new_states = at::einsum("bzch,bzhpn->bchpn", {decay_chunk, states});
  const int64_t chunks = new_states.size(1);
  states = new_states.narrow(1, 0, chunks - 1);
  const at::Tensor final_state = new_states.select(1, chunks - 1);

  // The carried state's output at each position of the next chunk.
  const at::Tensor C_times_states = at::einsum("bclhn,bchpn->bclhp", {C, states});
  const at::Tensor y_off = C_times_states * at::exp(A_cumsum).permute({0, 2, 3, 1}).unsqueeze(-1);
  at::Tensor y = (y_diag + y_off).contiguous();
  y = y.reshape({y.size(0), -1, y.size(3), y.size(4)});
  return {y.narrow(1, 0, t), final_state};
}

}  // namespace

at::Tensor Mamba2MixerImpl::forward(const at::Tensor& input, AttentionContext& ctx) {
  // The scan would carry one sequence's state into the next (transformers' torch path has no
  // sequence boundaries either).
  if (ctx.packed())
    throw UnsupportedError(fmt::format("layer {}: a Mamba mixer cannot run packed sequences (position_ids restarting "
                                       "inside a row); train this model without --packing",
                                       layer_index));
  const int64_t b = input.size(0), t = input.size(1);
  const int64_t inner = spec.intermediate_size(), channels = spec.conv_channels(), heads = spec.num_heads;
  const int64_t p = spec.head_dim, groups = spec.num_groups, n = spec.state_size, k = spec.conv_kernel;
  const at::ScalarType dtype = input.scalar_type();
  // Padding tokens are zeroed before the projection and after the conv, so that they neither reach
  // the conv's window of real tokens nor enter the SSM state.
  const at::Tensor padding = t > 1 ? ctx.query_padding_mask() : at::Tensor();
  const auto zero_padding = [&](const at::Tensor& v) { return padding.defined() ? (v * padding.unsqueeze(-1)).to(v.scalar_type()) : v; };
  KVCache* cache = ctx.cache();
  RecurrentState* state = cache ? &cache->recurrent_state(layer_index) : nullptr;
  const bool step = state && cache->length() > 0 && t == 1;

  const at::Tensor projected = in_proj->forward(zero_padding(input));
  const auto parts = projected.split_with_sizes({inner, channels, heads}, -1);
  const at::Tensor& gate = parts[0];
  const at::Tensor& dt_raw = parts[2];

  // Causal depthwise conv over x B C, continuing from the cached inputs of the last k - 1 tokens.
  at::Tensor conv_in = parts[1].transpose(1, 2);  // [B, C, T]
  at::Tensor conv_out;
  if (state) {
    conv_in = at::cat({state->conv.to(conv_in.scalar_type()), conv_in}, -1);
    conv_out = at::conv1d(conv_in, conv1d_weight, conv1d_bias, at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, channels);
    state->conv = conv_in.narrow(-1, conv_in.size(-1) - (k - 1), k - 1).clone();
  } else {
    conv_out = at::conv1d(conv_in, conv1d_weight, conv1d_bias, at::IntArrayRef{1}, at::IntArrayRef{k - 1}, at::IntArrayRef{1}, channels)
                   .narrow(-1, 0, t);
  }
  const at::Tensor xBC = zero_padding(activate(conv_out, spec.activation).to(dtype).transpose(1, 2));
  const auto xbc = xBC.split_with_sizes({inner, groups * n, groups * n}, -1);
  const at::Tensor A = -at::exp(A_log.to(at::kFloat));

  at::Tensor y;  // [B, T, I] float32
  if (step) {
    // One token: h ← exp(dt·A) h + dt·B x; y = C h + D x. No dt clamp, as in transformers' step.
    const at::Tensor dt = at::softplus(dt_raw.view({b, heads}) + dt_bias).unsqueeze(-1).unsqueeze(-1);  // [B, heads, 1, 1]
    const at::Tensor x = xbc[0].reshape({b, heads, p});
    const at::Tensor Bh = xbc[1].reshape({b, groups, 1, n}).expand({b, groups, heads / groups, n}).reshape({b, heads, 1, n});
    const at::Tensor Ch = xbc[2].reshape({b, groups, 1, n}).expand({b, groups, heads / groups, n}).reshape({b, heads, n, 1});
    const at::Tensor dA = at::exp(dt.to(at::kFloat) * A.view({1, heads, 1, 1}));
    const at::Tensor dBx = dt * Bh * x.unsqueeze(-1);  // [B, heads, P, N]
    state->ssm = (state->ssm * dA + dBx).to(state->ssm.scalar_type());
    at::Tensor out = at::matmul(state->ssm.to(Ch.scalar_type()), Ch).view({b, heads, p});
    out = out + x * D.view({1, heads, 1});
    y = out.reshape({b, 1, inner});
  } else {
    at::Tensor dt = at::softplus(dt_raw + dt_bias).clamp(spec.time_step_min, spec.time_step_max);
    ScanInputs in;
    in.x = xbc[0].reshape({b, t, heads, p}).to(at::kFloat);
    in.dt = dt.to(at::kFloat);
    in.A = A;
    in.B = xbc[1].reshape({b, t, groups, n}).to(at::kFloat).repeat_interleave(heads / groups, 2);
    in.C = xbc[2].reshape({b, t, groups, n}).to(at::kFloat).repeat_interleave(heads / groups, 2);
    auto [scanned, final_state] = chunked_scan(in, spec.chunk_size, state && cache->length() > 0 ? state->ssm : at::Tensor());
    scanned = scanned + D.to(at::kFloat).view({1, 1, heads, 1}) * in.x;
    if (state) state->ssm = final_state.to(at::kFloat);
    y = scanned.reshape({b, t, inner});
  }

  // RMSNorm of y · silu(gate) over each group of channels, in float32.
  const at::ScalarType y_dtype = y.scalar_type();
  at::Tensor gated = (y.to(at::kFloat) * at::silu(gate.to(at::kFloat))).view({b, t, groups, inner / groups});
  gated = gated * at::rsqrt(gated.pow(2).mean(-1, true) + norm_eps);
  const at::Tensor normed = norm_weight * gated.view({b, t, inner}).to(y_dtype);
  return out_proj->forward(normed.to(dtype));
}

}  // namespace shadowpeft::models
