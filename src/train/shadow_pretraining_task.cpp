// Shadow pretraining: a causal LM trained on its own with frozen input embeddings and LM head.
#include <fmt/format.h>

#include <functional>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/chunked_loss.h"
#include "shadowpeft/models/heads.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/models/losses.h"
#include "shadowpeft/shadow/task_models.h"
#include "shadowpeft/train/training_task.h"
#include "task_support.h"

namespace shadowpeft::train {
namespace {

class ShadowPretrainingTask final : public TrainingTask {
 public:
  explicit ShadowPretrainingTask(models::CausalLM model) : model_(std::move(model)) {
    model_->input_embedding().set_requires_grad(false);
    model_->output_embedding().set_requires_grad(false);  // the same tensor when tied
  }
  torch::nn::Module& module() override { return *model_; }
  at::Tensor loss(const TrainBatch& batch) override {
    // The model's own loss, as upstream's pretraining script trains it: transformers' ForCausalLMLoss,
    // without its logits. The head's matrix is frozen, a projection before it may train.
    const models::Linear projection = model_->head().projection();
    return models::chunked_causal_lm_loss(model_->hidden_states(batch.input_ids, options_of(batch)), batch.labels, scores(),
                                          {.head_has_trainable_parameters = projection && projection->weight.requires_grad()});
  }
  EvalSums evaluate(const TrainBatch& batch) override {
    const auto ce = models::chunked_cross_entropy_sum(model_->hidden_states(batch.input_ids, options_of(batch)), batch.labels, scores());
    return {{{"tokens", ce.tokens}, {"model_ce", ce.sum}}};
  }
  std::string eval_loss_metric() const override { return "model_loss"; }
  void save_pretrained(const std::filesystem::path& dir) override { models::save_pretrained(*model_, dir); }

 protected:
  bool is_shadow_parameter(const std::string&) const override { return false; }

 private:
  std::function<at::Tensor(const at::Tensor&)> scores() {
    return [this](const at::Tensor& hidden) { return model_->logits_from_hidden(hidden); };
  }
  models::CausalLM model_;
};

}  // namespace

std::unique_ptr<TrainingTask> make_shadow_pretraining_task(models::CausalLM model) {
  if (model->head().projection())
    throw ConfigError("shadow pretraining trains a plain causal LM; this is a projected model (train its projection "
                      "with projection alignment, or pretrain the small model before wrapping it)");
  if (model->config().is_sequence_classifier())
    throw ConfigError(fmt::format("shadow pretraining needs a causal LM; this model is a {}", model->config().architecture));
  return std::make_unique<ShadowPretrainingTask>(std::move(model));
}

}  // namespace shadowpeft::train
