#include "shadowpeft/models/parameter_count.h"

namespace shadowpeft::models {

int64_t count_decoder_parameters(const ModelConfig& c, bool token_embeddings) {
  const int64_t h = c.hidden_size;
  int64_t total = c.norm == NormKind::LayerNorm ? 2 * h : h;  // final norm
  if (token_embeddings) total += c.vocab_size * h;
  if (c.positions == PositionKind::Learned) total += c.max_position_embeddings * h;
  for (const LayerSpec& s : c.layers) {
    const int64_t q = s.num_heads * s.head_dim, kv = s.num_kv_heads * s.head_dim, m = s.intermediate_size;
    const int64_t norm = (s.norm_placement == NormPlacement::Sandwich ? 2 : 1) * (c.norm == NormKind::LayerNorm ? 2 * h : h);
    // (Post placement: one norm per sub-block, as Pre.)
    switch (s.attention) {
      case AttentionKind::Full:
        total += norm + h * q + 2 * h * kv + q * h;
        if (s.qkv_bias) total += q + 2 * kv;
        if (s.o_bias) total += h;
        if (s.qk_norm != QkNorm::None) {
          const int64_t scale = c.norm == NormKind::LayerNorm ? 2 : 1;
          total += scale * (s.qk_norm == QkNorm::PerHead ? 2 * s.head_dim : q + kv);
        }
        break;
      case AttentionKind::Linear: total += norm + h * h; break;
      case AttentionKind::None: break;
    }
    switch (s.mlp) {
      case MlpKind::Gated: total += norm + 3 * h * m + (s.mlp_bias ? 2 * m + h : 0); break;
      case MlpKind::Plain: total += norm + 2 * h * m + (s.mlp_bias ? m + h : 0); break;
      case MlpKind::Linear: total += norm + h * h; break;
      case MlpKind::None: break;
    }
  }
  return total;
}

int64_t count_causal_lm_parameters(const ModelConfig& c) {
  return count_decoder_parameters(c, true) + (c.tie_word_embeddings ? 0 : c.vocab_size * c.hidden_size);
}

}  // namespace shadowpeft::models
