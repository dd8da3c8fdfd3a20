#include "rope.h"

#include <ATen/ATen.h>

#include <cmath>
#include <numbers>

namespace shadowpeft::models::detail {

namespace {

at::Tensor default_inv_freq(double base, int64_t dim) {
  const at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  return 1.0 / at::pow(base, exponents);
}

double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

std::pair<at::Tensor, double> yarn(const RopeConfig& rope, int64_t dim, int64_t max_pos) {
  const double base = rope.theta;
  const double original = static_cast<double>(rope.original_max_position_embeddings.value_or(max_pos));
  const double factor = rope.factor > 0 ? rope.factor : static_cast<double>(max_pos) / original;
  double attention_factor;
  if (rope.attention_factor) {
    attention_factor = *rope.attention_factor;
  } else if (rope.mscale && rope.mscale_all_dim && *rope.mscale != 0 && *rope.mscale_all_dim != 0) {
    attention_factor = yarn_mscale(factor, *rope.mscale) / yarn_mscale(factor, *rope.mscale_all_dim);
  } else {
    attention_factor = yarn_mscale(factor, 1.0);
  }
  auto correction_dim = [&](double rotations) {
    return (static_cast<double>(dim) * std::log(original / (rotations * 2 * std::numbers::pi))) / (2 * std::log(base));
  };
  double low = correction_dim(rope.beta_fast), high = correction_dim(rope.beta_slow);
  if (rope.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;
  const at::Tensor pos_freqs = at::pow(base, at::arange(0, dim, 2).to(at::kFloat) / static_cast<double>(dim));
  const at::Tensor extrapolation = 1.0 / pos_freqs;
  const at::Tensor interpolation = 1.0 / (factor * pos_freqs);
  const at::Tensor ramp = at::clamp((at::arange(dim / 2, at::kFloat) - low) / (high - low), 0, 1);
  const at::Tensor extrapolation_factor = 1 - ramp;
  return {interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor, attention_factor};
}

at::Tensor llama3(const RopeConfig& rope, int64_t dim) {
  const at::Tensor inv_freq = default_inv_freq(rope.theta, dim);
  const double old_context = static_cast<double>(*rope.original_max_position_embeddings);
  const double low_wavelen = old_context / rope.low_freq_factor, high_wavelen = old_context / rope.high_freq_factor;
  const at::Tensor wavelen = 2 * std::numbers::pi / inv_freq;
  at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / rope.factor, inv_freq);
  const at::Tensor smooth = (old_context / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
  const at::Tensor smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
  const at::Tensor medium = at::logical_not(wavelen < high_wavelen) * at::logical_not(wavelen > low_wavelen);
  return at::where(medium, smoothed, scaled);
}

// Phi-3's LongRoPE: frequencies divided per dimension by the short factors, or by the long ones
// once the sequence is longer than the original context.
std::pair<at::Tensor, double> longrope(const RopeConfig& rope, int64_t dim, int64_t max_pos, int64_t seq_len) {
  const double original = static_cast<double>(*rope.original_max_position_embeddings);
  const double factor = rope.factor > 0 ? rope.factor : static_cast<double>(max_pos) / original;
  const double attention_factor =
      rope.attention_factor ? *rope.attention_factor : factor <= 1.0 ? 1.0 : std::sqrt(1 + std::log(factor) / std::log(original));
  const std::vector<double>& ext = static_cast<double>(seq_len) > original ? rope.long_factor : rope.short_factor;
  const at::Tensor ext_factors = at::tensor(ext, at::kDouble).to(at::kFloat);
  const at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  return {1.0 / (ext_factors * at::pow(rope.theta, exponents)), attention_factor};
}

}  // namespace

std::pair<at::Tensor, double> rope_inv_freq(const RopeConfig& rope, int64_t dim, int64_t max_pos, int64_t seq_len) {
  if (rope.type == "linear") return {default_inv_freq(rope.theta, dim) / rope.factor, 1.0};
  if (rope.type == "llama3") return {llama3(rope, dim), 1.0};
  if (rope.type == "yarn") return yarn(rope, dim, max_pos);
  if (rope.type == "longrope") return longrope(rope, dim, max_pos, seq_len);
  if (rope.type == "dynamic" && seq_len > max_pos) {
    const double len = static_cast<double>(seq_len), max = static_cast<double>(max_pos), d = static_cast<double>(dim);
    const double base = rope.theta * std::pow(rope.factor * len / max - (rope.factor - 1), d / (d - 2));
    return {default_inv_freq(base, dim), 1.0};
  }
  return {default_inv_freq(rope.theta, dim), 1.0};
}

}  // namespace shadowpeft::models::detail
