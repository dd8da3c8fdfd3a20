#pragma once
// What the trainer optimises, seen through one small interface (the loss of a batch, evaluation
// sums, saving the result): ShadowPEFT adapters for causal LM and sequence classification, and the
// two upstream workflows that prepare a shadow — pretraining a shadow causal LM on its own and
// aligning a projected shadow's projection with its small model's head.
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shadowpeft/peft/lora_model.h"
#include "shadowpeft/peft/shadow_model.h"
#include "shadowpeft/shadow/task_models.h"

namespace shadowpeft::train {

// input_ids, attention_mask [B, T]; labels [B, T] (causal LM, -100 = no loss) or [B] (classes).
// position_ids [B, T] for packed rows (data::Batch::position_ids), else undefined: the model then
// gets the positions and no attention mask, and attends within each packed example.
struct TrainBatch {
  at::Tensor input_ids, attention_mask, labels;
  std::vector<std::size_t> lines;  // where each row's (first) record starts in its data file; empty: unknown
  at::Tensor position_ids;
  int64_t tokens() const;  // real (unpadded) tokens
};

// Sums over evaluation batches; metrics() turns them into the reported numbers.
struct EvalSums {
  std::map<std::string, double> sums;
  void add(const EvalSums& other);
  std::map<std::string, double> metrics() const;
};

class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  virtual torch::nn::Module& module() = 0;
  // Trainable parameters by module name, and whether each belongs to the shadow side (backbone,
  // projection, injection, update, shadow heads) for shadow_lr_multiplier.
  struct Parameter {
    std::string name;
    at::Tensor tensor;
    bool shadow;
    bool decay;  // false for biases and norm weights
  };
  std::vector<Parameter> trainable_parameters();
  // The training objective of a batch (0-d).
  virtual at::Tensor loss(const TrainBatch& batch) = 0;
  // Metric sums of a batch (ShadowPEFT tasks: base+shadow, shadow-only and the plain base model).
  virtual EvalSums evaluate(const TrainBatch& batch) = 0;
  // The metric reported as eval_loss (without the eval_ prefix).
  virtual std::string eval_loss_metric() const { return "base_shadow_loss"; }
  // What training produces, in the files its users load: shadow-peft's adapter files, or a model
  // directory for the pretraining and alignment modes.
  virtual void save_pretrained(const std::filesystem::path& dir) = 0;
  // The trainable and total parameter counts, as the method's Python package prints them
  // (print_trainable_parameters); by default peft's wording over module().
  virtual std::string trainable_parameters_string();
  // Called before the micro-batches of optimizer step `step` (0-based) of `total_steps`.
  virtual void begin_step(int64_t /*step*/, int64_t /*total_steps*/) {}

 protected:
  virtual bool is_shadow_parameter(const std::string& name) const;
};

std::unique_ptr<TrainingTask> make_training_task(ShadowForCausalLM model);
std::unique_ptr<TrainingTask> make_training_task(ShadowForSequenceClassification model);
// peft's SHADOW adapter (CAUSAL_LM or SEQ_CLS); saves adapter_config.json + adapter_model.safetensors.
std::unique_ptr<TrainingTask> make_training_task(peft::ShadowModel model);
// peft's LoRA (CAUSAL_LM or SEQ_CLS). Metrics: lora_* (the adapted model) and base_*.
std::unique_ptr<TrainingTask> make_training_task(peft::LoraModel model);

// Shadow pretraining (upstream run_shadow_pretraining.py): next-token training of a causal LM on its
// own — typically the small model that becomes an explicit shadow — with its input embeddings and
// LM head frozen (one table when tied). Metrics: model_loss / model_perplexity. Saves the model
// directory (config + weights).
std::unique_ptr<TrainingTask> make_shadow_pretraining_task(models::CausalLM model);

// Projection alignment (upstream run_lm_head_alignment.py): only the projection P of a projected
// model (AutoModelForCausalLMWithHiddenProjection) trains, by distillation from the small model's
// own LM head on the same backbone states h:
//   loss = (1 - alpha) * CE(lm_head(P h)) + alpha * distill + regularization_weight * mean((P - P0)^2)
// distill: temperature-scaled KL (times T^2) and/or logit MSE, averaged over labelled tokens (labels
// != -100, unshifted), the mean of the two when both are on. Metrics: projected_loss (the projected
// model's CE) and small_model_loss (the teacher head's) with perplexities. Saves the projected model.
struct ProjectionAlignmentOptions {
  double alpha = 0.7;  // distillation weight (the upstream script's default)
  double temperature = 1.0;
  // Temperature falling linearly from initial to final over training (by completed steps).
  bool adaptive_temperature = false;
  double initial_temperature = 3.0, final_temperature = 1.0;
  double regularization_weight = 0.0;
  bool use_kld = true, use_mse = false;
  void validate() const;
};
// `teacher_lm_head`: [vocab, small hidden], e.g. the small model's output_embedding().
std::unique_ptr<TrainingTask> make_projection_alignment_task(models::CausalLM projected, at::Tensor teacher_lm_head,
                                                             ProjectionAlignmentOptions options);

}  // namespace shadowpeft::train
