#pragma once
// What the trainer optimises: a ShadowPEFT task model seen through one small interface (the loss
// of a batch, evaluation sums, saving the adapter), for causal LM and sequence classification.
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "shadowpeft/shadow/task_models.h"

namespace shadowpeft::train {

// input_ids, attention_mask [B, T]; labels [B, T] (causal LM, -100 = no loss) or [B] (classes).
struct TrainBatch {
  at::Tensor input_ids, attention_mask, labels;
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
  // Metric sums of a batch: base+shadow, shadow-only and the plain base model.
  virtual EvalSums evaluate(const TrainBatch& batch) = 0;
  // The adapter in shadow-peft's files.
  virtual void save_adapter(const std::filesystem::path& dir) = 0;

 protected:
  virtual bool is_shadow_parameter(const std::string& name) const;
};

std::unique_ptr<TrainingTask> make_training_task(ShadowForCausalLM model);
std::unique_ptr<TrainingTask> make_training_task(ShadowForSequenceClassification model);

}  // namespace shadowpeft::train
