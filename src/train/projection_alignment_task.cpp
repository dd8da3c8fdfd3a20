// Projection alignment: only the projection of a projected model trains, distilled from the small
// model's own LM head on the same backbone states (the backbone runs once for both).
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/nn/module.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/chunked_loss.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/models/losses.h"
#include "shadowpeft/shadow/task_models.h"
#include "shadowpeft/train/training_task.h"
#include "task_support.h"

namespace shadowpeft::train {
namespace {

class ProjectionAlignmentTask final : public TrainingTask {
 public:
  ProjectionAlignmentTask(models::CausalLM model, at::Tensor teacher_lm_head, ProjectionAlignmentOptions options)
      : model_(std::move(model)), teacher_(std::move(teacher_lm_head)), options_(options) {
    for (auto& p : model_->parameters()) p.set_requires_grad(false);
    projection().set_requires_grad(true);
    initial_projection_ = projection().detach().clone();
  }
  torch::nn::Module& module() override { return *model_; }

  void begin_step(int64_t step, int64_t total_steps) override {
    temperature_ = options_.adaptive_temperature && total_steps > 0
                       ? options_.initial_temperature + (options_.final_temperature - options_.initial_temperature) *
                                                            static_cast<double>(step) / static_cast<double>(total_steps)
                       : options_.temperature;
  }

  at::Tensor loss(const TrainBatch& batch) override {
    const at::Tensor hidden = model_->hidden_states(batch.input_ids, options_of(batch));
    const at::Tensor student = model_->logits_from_hidden(hidden);
    at::Tensor teacher;
    {
      at::NoGradGuard no_grad;
      teacher = at::linear(hidden, teacher_);
    }
    at::Tensor total = at::zeros({}, student.options());
    if (options_.alpha < 1.0) total = total + (1.0 - options_.alpha) * models::shifted_cross_entropy(student, batch.labels);
    const at::Tensor mask = batch.labels.ne(kIgnoreIndex).to(student.scalar_type());
    auto masked_mean = [&](const at::Tensor& per_token) { return (per_token * mask).sum() / mask.sum(); };
    std::vector<at::Tensor> distill;
    if (options_.use_kld) {
      const double t = temperature_;
      const at::Tensor per_token =
          at::kl_div(at::log_softmax(student / t, -1), at::softmax(teacher / t, -1), at::Reduction::None).sum(-1);
      distill.push_back(masked_mean(per_token) * (t * t));
    }
    if (options_.use_mse) distill.push_back(masked_mean(at::mse_loss(student, teacher, at::Reduction::None).mean(-1)));
    const at::Tensor distill_loss = distill.size() == 2 ? (distill[0] + distill[1]) / 2.0 : distill[0];
    total = total + options_.alpha * distill_loss;
    if (options_.regularization_weight > 0)
      total = total + options_.regularization_weight * (projection() - initial_projection_).pow(2).mean();
    return total;
  }

  EvalSums evaluate(const TrainBatch& batch) override {
    const at::Tensor hidden = model_->hidden_states(batch.input_ids, options_of(batch));
    const auto projected = models::chunked_cross_entropy_sum(
        hidden, batch.labels, [this](const at::Tensor& h) { return model_->logits_from_hidden(h); });
    const auto small_model =
        models::chunked_cross_entropy_sum(hidden, batch.labels, [this](const at::Tensor& h) { return at::linear(h, teacher_); });
    return {{{"tokens", projected.tokens}, {"projected_ce", projected.sum}, {"small_model_ce", small_model.sum}}};
  }
  std::string eval_loss_metric() const override { return "projected_loss"; }
  void save_pretrained(const std::filesystem::path& dir) override { models::save_pretrained(*model_, dir); }

 protected:
  bool is_shadow_parameter(const std::string&) const override { return false; }

 private:
  at::Tensor& projection() { return model_->head().projection()->weight; }

  models::CausalLM model_;
  at::Tensor teacher_, initial_projection_;
  ProjectionAlignmentOptions options_;
  double temperature_ = options_.temperature;
};

}  // namespace

void ProjectionAlignmentOptions::validate() const {
  if (!use_kld && !use_mse) throw ConfigError("projection alignment: enable the KL or the MSE distillation loss (or both)");
  if (alpha < 0 || alpha > 1) throw ConfigError(fmt::format("projection alignment: alpha must be in [0, 1], got {}", alpha));
  for (const double t : {temperature, initial_temperature, final_temperature})
    if (!(t > 0)) throw ConfigError(fmt::format("projection alignment: temperatures must be > 0, got {}", t));
  if (regularization_weight < 0)
    throw ConfigError(fmt::format("projection alignment: regularization_weight must be >= 0, got {}", regularization_weight));
}

std::unique_ptr<TrainingTask> make_projection_alignment_task(models::CausalLM projected, at::Tensor teacher_lm_head,
                                                             ProjectionAlignmentOptions options) {
  options.validate();
  if (!projected->head().projection())
    throw ConfigError(fmt::format("projection alignment needs a projected model (model_type causal_lm_with_hidden_projection); "
                                  "this one is {} (make one with `shadowpeft wrap-projection`)",
                                  projected->config().architecture));
  const at::Tensor& p = projected->head().projection()->weight;  // [base hidden, small hidden]
  const int64_t vocab = projected->output_embedding().size(0);
  if (teacher_lm_head.dim() != 2 || teacher_lm_head.size(0) != vocab || teacher_lm_head.size(1) != p.size(1))
    throw ConfigError(fmt::format("projection alignment: the teacher LM head must be [vocab {}, small hidden {}] to score the "
                                  "projected model's backbone states; got [{}]",
                                  vocab, p.size(1), fmt::join(teacher_lm_head.sizes(), ", ")));
  return std::make_unique<ProjectionAlignmentTask>(std::move(projected),
                                                   teacher_lm_head.detach().to(p.device(), p.scalar_type()), options);
}

}  // namespace shadowpeft::train
