#include "shadowpeft/train/training_task.h"

#include <ATen/ATen.h>

#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "shadowpeft/models/chunked_loss.h"
#include "shadowpeft/models/layers.h"
#include "shadowpeft/models/losses.h"
#include "task_support.h"

namespace shadowpeft::train {
namespace {

// A classifier's evaluation sums of a batch for each (mode, logits): "<mode>_ce" and "<mode>_correct"
// over "examples".
EvalSums classification_sums(const TrainBatch& batch, const std::vector<std::pair<std::string, at::Tensor>>& modes) {
  EvalSums sums;
  sums.sums["examples"] = static_cast<double>(batch.labels.size(0));
  for (const auto& [mode, logits] : modes) {
    sums.sums[mode + "_correct"] = static_cast<double>(logits.argmax(-1).eq(batch.labels).sum().item<int64_t>());
    sums.sums[mode + "_ce"] = models::classification_loss_sum(logits, batch.labels);
  }
  return sums;
}

// A language model's: "<mode>_ce" over "tokens" (next-token).
EvalSums language_model_sums(const models::ModeCrossEntropySums& modes) {
  EvalSums sums;
  for (const auto& [mode, ce] : modes) {
    sums.sums[mode + "_ce"] = ce.sum;
    sums.sums["tokens"] = ce.tokens;
  }
  return sums;
}

class CausalLMTask final : public TrainingTask {
 public:
  explicit CausalLMTask(ShadowForCausalLM model) : model_(std::move(model)) {}
  torch::nn::Module& module() override { return *model_; }
  at::Tensor loss(const TrainBatch& batch) override { return model_->loss(batch.input_ids, options_of(batch), batch.labels); }
  EvalSums evaluate(const TrainBatch& batch) override {
    return language_model_sums(model_->evaluation_cross_entropy(batch.input_ids, options_of(batch), batch.labels));
  }
  void save_pretrained(const std::filesystem::path& dir) override { model_->save_pretrained(dir); }
  std::string trainable_parameters_string() override { return model_->trainable_parameters_string(); }

 private:
  ShadowForCausalLM model_;
};

class SequenceClassificationTask final : public TrainingTask {
 public:
  explicit SequenceClassificationTask(ShadowForSequenceClassification model) : model_(std::move(model)) {}
  torch::nn::Module& module() override { return *model_; }
  at::Tensor loss(const TrainBatch& batch) override {
    return model_->forward(batch.input_ids, options_of(batch), batch.labels).loss;
  }
  EvalSums evaluate(const TrainBatch& batch) override {
    const auto out = model_->forward(batch.input_ids, options_of(batch));
    return classification_sums(batch, {{"base_shadow", out.logits}, {"shadow_only", out.shadow_logits}});
  }
  void save_pretrained(const std::filesystem::path& dir) override { model_->save_pretrained(dir); }
  std::string trainable_parameters_string() override { return model_->trainable_parameters_string(); }

 private:
  ShadowForSequenceClassification model_;
};

// peft's SHADOW adapter, either task: the metrics of the shadow-peft tasks of the same kind.
class PeftShadowTask final : public TrainingTask {
 public:
  explicit PeftShadowTask(peft::ShadowModel model) : model_(std::move(model)) {}
  torch::nn::Module& module() override { return *model_; }
  at::Tensor loss(const TrainBatch& batch) override { return model_->loss(batch.input_ids, options_of(batch), batch.labels); }
  EvalSums evaluate(const TrainBatch& batch) override {
    if (model_->config().task_type != peft::TaskType::SequenceClassification)
      return language_model_sums(model_->evaluation_cross_entropy(batch.input_ids, options_of(batch), batch.labels));
    const auto out = model_->forward(batch.input_ids, options_of(batch));
    return classification_sums(batch, {{"base_shadow", out.logits},
                                       {"shadow_only", out.shadow_logits},
                                       {"base", model_->base_logits(batch.input_ids, options_of(batch))}});
  }
  void save_pretrained(const std::filesystem::path& dir) override { model_->save_pretrained(dir); }
  std::string trainable_parameters_string() override { return model_->trainable_parameters_string(); }

 protected:
  // Everything but the trained copy of the base's head is the shadow's.
  bool is_shadow_parameter(const std::string& name) const override { return name.find("head_copy") == std::string::npos; }

 private:
  peft::ShadowModel model_;
};

class LoraTask final : public TrainingTask {
 public:
  explicit LoraTask(peft::LoraModel model) : model_(std::move(model)) {}
  torch::nn::Module& module() override { return *model_; }
  at::Tensor loss(const TrainBatch& batch) override { return model_->loss(batch.input_ids, options_of(batch), batch.labels); }
  EvalSums evaluate(const TrainBatch& batch) override {
    if (model_->config().task_type != peft::TaskType::SequenceClassification)
      return language_model_sums(model_->evaluation_cross_entropy(batch.input_ids, options_of(batch), batch.labels));
    return classification_sums(batch, {{"lora", model_->forward(batch.input_ids, options_of(batch)).logits},
                                       {"base", model_->base_logits(batch.input_ids, options_of(batch))}});
  }
  std::string eval_loss_metric() const override { return "lora_loss"; }
  void save_pretrained(const std::filesystem::path& dir) override { model_->save_pretrained(dir); }
  std::string trainable_parameters_string() override { return model_->trainable_parameters_string(); }

 protected:
  bool is_shadow_parameter(const std::string&) const override { return false; }  // no shadow: one learning rate

 private:
  peft::LoraModel model_;
};

}  // namespace

int64_t TrainBatch::tokens() const {
  return attention_mask.defined() ? attention_mask.sum().item<int64_t>() : input_ids.numel();
}

void EvalSums::add(const EvalSums& other) {
  for (const auto& [key, value] : other.sums) sums[key] += value;
}

std::map<std::string, double> EvalSums::metrics() const {
  // <mode>_ce sums cross-entropy and <mode>_correct right answers, over "tokens" (language
  // modelling) or "examples" (classification).
  const auto count = [&](const char* key) {
    const auto it = sums.find(key);
    return it == sums.end() ? 0.0 : it->second;
  };
  const double tokens = count("tokens"), examples = count("examples");
  std::map<std::string, double> out;
  for (const auto& [key, value] : sums) {
    if (key.ends_with("_ce")) {
      const std::string mode = key.substr(0, key.size() - 3);
      if (tokens > 0) {
        out[mode + "_loss"] = value / tokens;
        out[mode + "_perplexity"] = std::exp(value / tokens);
      } else if (examples > 0) {
        out[mode + "_loss"] = value / examples;
      }
    } else if (key.ends_with("_correct") && examples > 0) {
      out[key.substr(0, key.size() - 8) + "_accuracy"] = value / examples;
    }
  }
  return out;
}

std::string TrainingTask::trainable_parameters_string() {
  std::set<const void*> seen;
  int64_t trainable = 0, total = 0;
  for (const auto& p : module().parameters()) {
    if (!seen.insert(p.unsafeGetTensorImpl()).second) continue;
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  return peft::trainable_parameters_string(trainable, total);
}

bool TrainingTask::is_shadow_parameter(const std::string& name) const {
  for (const char* part : {"shadow_model.", "shadow_hidden_projection.", "shadow_injection_model.", "shadow_update_model.",
                           "shadow_lm_head.", "shadow_classifier_head."})
    if (name.find(part) != std::string::npos) return true;
  return false;
}

std::vector<TrainingTask::Parameter> TrainingTask::trainable_parameters() {
  // Weight decay skips biases and norm weights, as transformers' get_decay_parameter_names.
  std::set<const void*> norm_parameters;
  for (const auto& item : module().named_modules()) {
    if (dynamic_cast<const models::NormImpl*>(item.value().get()))
      for (const auto& p : item.value()->parameters()) norm_parameters.insert(p.unsafeGetTensorImpl());
  }
  std::vector<Parameter> out;
  for (const auto& item : module().named_parameters()) {
    if (!item.value().requires_grad()) continue;
    const std::string& name = item.key();
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    out.push_back({name, item.value(), is_shadow_parameter(name),
                   !is_bias && !norm_parameters.count(item.value().unsafeGetTensorImpl())});
  }
  return out;
}

std::unique_ptr<TrainingTask> make_training_task(ShadowForCausalLM model) {
  return std::make_unique<CausalLMTask>(std::move(model));
}

std::unique_ptr<TrainingTask> make_training_task(ShadowForSequenceClassification model) {
  return std::make_unique<SequenceClassificationTask>(std::move(model));
}

std::unique_ptr<TrainingTask> make_training_task(peft::ShadowModel model) {
  return std::make_unique<PeftShadowTask>(std::move(model));
}

std::unique_ptr<TrainingTask> make_training_task(peft::LoraModel model) { return std::make_unique<LoraTask>(std::move(model)); }

}  // namespace shadowpeft::train
