#include "shadowpeft/models/chunked_loss.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/core/labels.h"
#include "shadowpeft/models/gradient_checkpoint.h"
#include "shadowpeft/models/losses.h"

namespace shadowpeft::models {

at::Tensor chunked_causal_lm_loss(const at::Tensor& hidden, const at::Tensor& labels,
                                  const std::function<at::Tensor(const at::Tensor&)>& score, ChunkedLossOptions options) {
  if (hidden.dim() != 3 || labels.sizes() != hidden.sizes().slice(0, 2))
    throw ShapeError(fmt::format("labels must be [batch, sequence] like the hidden states: hidden [{}], labels [{}]",
                                 fmt::join(hidden.sizes(), ", "), fmt::join(labels.sizes(), ", ")));
  if (options.chunk_rows < 1) throw ConfigError(fmt::format("chunk_rows must be >= 1, got {}", options.chunk_rows));
  // Position t predicts label t + 1; only the positions with a label are scored.
  const at::Tensor targets = labels.slice(1, 1).reshape({-1}).to(at::kLong);
  const at::Tensor scored = targets.ne(kIgnoreIndex).nonzero().squeeze(1);
  const int64_t count = scored.numel();
  // No label at all: the reference's mean over nothing (NaN), with the graph it would have.
  if (count == 0)
    return options.float32_loss ? causal_lm_loss(score(hidden), labels) : shifted_cross_entropy(score(hidden), labels);
  const at::Tensor rows = hidden.slice(1, 0, -1).reshape({-1, hidden.size(-1)}).index_select(0, scored);
  const at::Tensor wanted = targets.index_select(0, scored);

  const bool needs_graph = at::GradMode::is_enabled() && (rows.requires_grad() || options.head_has_trainable_parameters);
  at::Tensor total;
  for (int64_t start = 0; start < count; start += options.chunk_rows) {
    const int64_t length = std::min(options.chunk_rows, count - start);
    const at::Tensor chunk_targets = wanted.narrow(0, start, length);
    // A copy of `score`: the backward pass re-runs it after this function has returned.
    auto chunk_loss = [score, chunk_targets, float32 = options.float32_loss](const at::Tensor& x) {
      const at::Tensor scores = score(x);
      return at::cross_entropy_loss(float32 ? scores.to(at::kFloat) : upcast_for_loss(scores), chunk_targets, {},
                                    at::Reduction::Sum, kIgnoreIndex);
    };
    const at::Tensor chunk = rows.narrow(0, start, length);
    const at::Tensor part = needs_graph ? checkpoint(chunk_loss, chunk, options.head_has_trainable_parameters) : chunk_loss(chunk);
    total = total.defined() ? total + part : part;
  }
  return total / static_cast<double>(count);
}

}  // namespace shadowpeft::models
