#include "shadowpeft/generate/logits_processing.h"

#include <ATen/ATen.h>

#include <limits>

namespace shadowpeft::generate {
namespace {

constexpr double kFiltered = -std::numeric_limits<double>::infinity();

}  // namespace

at::Tensor apply_repetition_penalty(const at::Tensor& scores, const at::Tensor& sequences, double penalty,
                                    const at::Tensor& attention_mask) {
  if (penalty == 1.0) return scores;
  at::Tensor tokens = sequences;
  // Padding positions repeat the row's newest token instead: penalising a token twice is the same
  // as once, and the newest position is always real under left padding.
  if (attention_mask.defined())
    tokens = at::where(attention_mask.to(at::kBool), sequences, sequences.select(1, sequences.size(1) - 1).unsqueeze(1));
  const at::Tensor seen = scores.gather(1, tokens);
  // Dividing a positive score and multiplying a negative one both make the token less likely.
  const at::Tensor penalised = at::where(seen < 0, seen * penalty, seen / penalty);
  return scores.scatter(1, tokens, penalised);
}

at::Tensor apply_top_k(const at::Tensor& scores, int64_t top_k) {
  const int64_t k = std::min(top_k, scores.size(-1));
  if (k <= 0) return scores;
  const at::Tensor kth = std::get<0>(scores.topk(k)).select(-1, k - 1).unsqueeze(-1);
  return scores.masked_fill(scores < kth, kFiltered);
}

at::Tensor apply_top_p(const at::Tensor& scores, double top_p) {
  if (top_p >= 1.0) return scores;
  // Ascending order: drop the low tail whose cumulative probability stays within 1 - top_p,
  // always keeping the most likely token.
  const auto [sorted, order] = scores.sort(/*dim=*/-1, /*descending=*/false);
  at::Tensor remove = sorted.softmax(-1).cumsum(-1) <= (1.0 - top_p);
  remove.select(-1, remove.size(-1) - 1).fill_(false);
  return scores.masked_fill(remove.scatter(1, order, remove), kFiltered);
}

at::Tensor apply_min_p(const at::Tensor& scores, double min_p) {
  if (min_p <= 0.0) return scores;
  const at::Tensor probs = scores.softmax(-1);
  const at::Tensor threshold = probs.amax(-1, /*keepdim=*/true) * min_p;
  at::Tensor remove = probs < threshold;
  // The most likely token always stays.
  const at::Tensor best = scores.argmax(-1, /*keepdim=*/true);
  remove.scatter_(1, best, false);
  return scores.masked_fill(remove, kFiltered);
}

at::Tensor process_scores(const at::Tensor& scores, const at::Tensor& sequences, const at::Tensor& attention_mask,
                          const GenerationConfig& config) {
  at::Tensor out = apply_repetition_penalty(scores, sequences, config.repetition_penalty, attention_mask);
  if (!config.do_sample) return out;
  if (config.temperature != 1.0) out = out / config.temperature;
  if (config.top_k > 0) out = apply_top_k(out, config.top_k);
  out = apply_top_p(out, config.top_p);
  return apply_min_p(out, config.min_p);
}

at::Tensor select_tokens(const at::Tensor& processed, const GenerationConfig& config, at::Generator& generator) {
  if (!config.do_sample) return processed.argmax(-1);
  return at::multinomial(processed.softmax(-1), 1, /*replacement=*/false, generator).squeeze(1);
}

}  // namespace shadowpeft::generate
