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
namespace {

using ChunkLoss = std::function<at::Tensor(const at::Tensor&)>;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A chunk's loss with its gradient with respect to the chunk's rows, both computed in the forward
// pass: the backward pass scales the kept [rows, hidden] gradient instead of keeping (or
// recomputing) the [rows, vocabulary] scores. Only for heads without trainable weights: their
// gradient would have to wait for the upstream gradient (models::checkpoint recomputes those).
class LossWithRowGradient : public torch::autograd::Function<LossWithRowGradient> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& rows, const ChunkLoss& loss_of) {
    const at::Tensor x = rows.detach().requires_grad_(true);
    at::Tensor loss;
    {
      const at::AutoGradMode grad(true);
      loss = loss_of(x);
    }
    ctx->save_for_backward({torch::autograd::grad({loss}, {x}).at(0)});
    return loss.detach();
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    return {ctx->get_saved_variables().at(0) * grad_outputs.at(0), at::Tensor()};
  }
};

// The positions whose next label counts: their hidden rows [N, H] and those labels [N].
struct ScoredRows {
  at::Tensor rows, targets;
};

ScoredRows scored_rows(const at::Tensor& hidden, const at::Tensor& labels, int64_t chunk_rows) {
  if (hidden.dim() != 3 || labels.sizes() != hidden.sizes().slice(0, 2))
    throw ShapeError(fmt::format("labels must be [batch, sequence] like the hidden states: hidden [{}], labels [{}]",
                                 fmt::join(hidden.sizes(), ", "), fmt::join(labels.sizes(), ", ")));
  if (chunk_rows < 1) throw ConfigError(fmt::format("chunk_rows must be >= 1, got {}", chunk_rows));
  // Position t predicts label t + 1.
  const at::Tensor targets = labels.slice(1, 1).reshape({-1}).to(at::kLong);
  const at::Tensor scored = targets.ne(kIgnoreIndex).nonzero().squeeze(1);
  return {hidden.slice(1, 0, -1).reshape({-1, hidden.size(-1)}).index_select(0, scored), targets.index_select(0, scored)};
}

}  // namespace

CrossEntropySum chunked_cross_entropy_sum(const at::Tensor& hidden, const at::Tensor& labels,
                                          const std::function<at::Tensor(const at::Tensor&)>& score, int64_t chunk_rows) {
  const at::NoGradGuard no_grad;
  const auto [rows, targets] = scored_rows(hidden, labels, chunk_rows);
  const int64_t count = rows.size(0);
  // Added up where the scores are, in float64, and read once: no device sync per chunk.
  at::Tensor sum = at::zeros({}, rows.options().dtype(at::kDouble));
  for (int64_t start = 0; start < count; start += chunk_rows) {
    const int64_t length = std::min(chunk_rows, count - start);
    sum += at::cross_entropy_loss(upcast_for_loss(score(rows.narrow(0, start, length))), targets.narrow(0, start, length), {},
                                  at::Reduction::Sum, kIgnoreIndex)
               .to(at::kDouble);
  }
  return {sum.item<double>(), static_cast<double>(count)};
}

at::Tensor chunked_causal_lm_loss(const at::Tensor& hidden, const at::Tensor& labels,
                                  const std::function<at::Tensor(const at::Tensor&)>& score, ChunkedLossOptions options) {
  const auto [rows, wanted] = scored_rows(hidden, labels, options.chunk_rows);
  const int64_t count = rows.size(0);
  // No label at all: the reference's mean over nothing (NaN), with the graph it would have.
  if (count == 0)
    return options.float32_loss ? causal_lm_loss(score(hidden), labels) : shifted_cross_entropy(score(hidden), labels);

  const bool needs_graph = at::GradMode::is_enabled() && (rows.requires_grad() || options.head_has_trainable_parameters);
  at::Tensor total;
  for (int64_t start = 0; start < count; start += options.chunk_rows) {
    const int64_t length = std::min(options.chunk_rows, count - start);
    const at::Tensor chunk_targets = wanted.narrow(0, start, length);
    // The chunk's share of the mean, divided in the loss dtype as the reference's mean reduction
    // scales its gradient. A copy of `score`: the backward pass may re-run it after this returns.
    auto chunk_loss = [score, chunk_targets, count, float32 = options.float32_loss](const at::Tensor& x) {
      const at::Tensor scores = score(x);
      return at::cross_entropy_loss(float32 ? scores.to(at::kFloat) : upcast_for_loss(scores), chunk_targets, {},
                                    at::Reduction::Sum, kIgnoreIndex) /
             static_cast<double>(count);
    };
    const at::Tensor chunk = rows.narrow(0, start, length);
    at::Tensor part;
    if (!needs_graph) part = chunk_loss(chunk);
    else if (options.head_has_trainable_parameters) part = checkpoint(chunk_loss, chunk, true);
    else part = LossWithRowGradient::apply(chunk, ChunkLoss(chunk_loss));
    total = total.defined() ? total + part : part;
  }
  return total;
}

}  // namespace shadowpeft::models
