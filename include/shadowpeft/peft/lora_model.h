#pragma once
// peft's LoRA (peft.tuners.lora.LoraModel) on a frozen causal LM or sequence classifier: every
// targeted Linear gains a low-rank update B(A(dropout(x))) · scaling, attached to the base's own
// layers for the adapter's lifetime (as peft wraps them in place). Saved in peft's files
// (adapter_config.json, adapter_model.safetensors), and merged into a plain checkpoint on request.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/models/chunked_loss.h"
#include "shadowpeft/models/kv_cache.h"
#include "shadowpeft/peft/lora_config.h"
#include "shadowpeft/shadow/task_models.h"

namespace shadowpeft::peft {

// One adapted Linear's update (peft's lora.Linear): delta(x) = B(A(dropout(x))) · scaling.
class LoraLinearImpl : public torch::nn::Module, public models::LinearAdapter {
 public:
  LoraLinearImpl(int64_t in_features, int64_t out_features, const LoraConfig& config);
  at::Tensor delta(const at::Tensor& x) override;
  // As peft initialises it: A kaiming-uniform (torch.nn.Linear's default), B zero when `zero_b`.
  void reset_parameters(bool zero_b);
  // B · A · scaling, [out, in]: what merging adds to the layer's weight.
  at::Tensor delta_weight() const;

  models::Linear lora_A{nullptr}, lora_B{nullptr};
  double scaling, dropout;
};
TORCH_MODULE(LoraLinear);

struct LoraOutput {
  at::Tensor loss;    // 0-d, when labels were given (the task's own loss)
  at::Tensor logits;  // [B, T, V] (causal LM) or [B, num_labels]
};

class LoraModelImpl : public torch::nn::Module {
 public:
  // A fresh adapter on `base` (frozen here), its updates attached to the targeted layers.
  LoraModelImpl(models::CausalLM base, LoraConfig config);
  ~LoraModelImpl() override;  // detaches the updates: the base is plain again

  LoraOutput forward(const at::Tensor& input_ids, const models::ForwardOptions& options = {},
                     const at::Tensor& labels = {});
  // forward(input_ids, options, labels).loss; a causal LM's without logits (models::chunked_causal_lm_loss).
  at::Tensor loss(const at::Tensor& input_ids, const models::ForwardOptions& options, const at::Tensor& labels);
  // A causal LM's evaluation sums, no logits: "lora" (the adapted model) and "base" (base_logits').
  // A classifier's evaluation reads its logits instead (an UnsupportedError here).
  models::ModeCrossEntropySums evaluation_cross_entropy(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                                        const at::Tensor& labels);
  // The plain base model's logits, the original head included (peft's disable_adapter()).
  at::Tensor base_logits(const at::Tensor& input_ids, const models::ForwardOptions& options = {});

  // Incremental decoding: the base's KV cache. A LoRA adapter has one mode, base_shadow's place
  // (the adapted base); shadow_only is an UnsupportedError.
  struct DecodingCaches {
    std::optional<models::KVCache> base;
  };
  DecodingCaches new_decoding_caches(int64_t batch, int64_t capacity, InferenceMode mode) const;
  at::Tensor last_token_logits(const at::Tensor& input_ids, const models::ForwardOptions& options, DecodingCaches* caches,
                               InferenceMode mode);

  // Every trainable tensor under its key in adapter_model.safetensors.
  io::TensorMap adapter_state_dict();
  io::TensorMap adapter_gradients();  // the same keys → gradients (zeros where none reached)
  void load_adapter_state_dict(const io::TensorMap& state, const std::string& source);
  void save_pretrained(const std::filesystem::path& dir);
  static std::shared_ptr<LoraModelImpl> from_pretrained(models::CausalLM base, const std::filesystem::path& dir,
                                                        bool is_trainable = false);
  // A SEQ_CLS adapter's classes (the rows of its classifier copy); nullopt for other adapters.
  static std::optional<int64_t> saved_num_labels(const std::filesystem::path& dir);

  // peft's merge_and_unload(): every update added into its layer's weight (and a trained head
  // copy put in the head's place), the updates detached; returns the base, now a plain model.
  models::CausalLM merge_and_unload();

  std::pair<int64_t, int64_t> count_parameters();  // (trainable, all), as peft counts them
  std::string trainable_parameters_string();       // peft's print_trainable_parameters line
  void set_adapter_trainable(bool trainable);
  c10::Device device() const { return base_model->output_embedding().device(); }
  const LoraConfig& config() const { return config_; }
  // The adapted layers under transformers' names ("model.layers.0.self_attn.q_proj"), in order.
  const std::vector<std::string>& targeted_modules() const { return target_names_; }

  models::CausalLM base_model{nullptr};
  torch::nn::ModuleList lora;  // one LoraLinear per targeted layer, in targeted_modules() order
  at::Tensor head_copy;        // modules_to_save's trained copy of the base head; undefined if none

 private:
  bool is_classifier() const { return config_.task_type == TaskType::SequenceClassification; }
  at::Tensor head_weight() const { return head_copy.defined() ? head_copy : base_model->output_embedding(); }
  std::string head_module() const;
  void attach(bool attached);  // the updates on (or off) their layers
  at::Tensor without_updates(const std::function<at::Tensor()>& run);  // run() on the plain base
  io::TensorMap adapter_tensors(const std::function<at::Tensor(const at::Tensor&)>& view);

  LoraConfig config_;
  std::vector<std::string> target_names_;
  std::vector<models::LinearImpl*> target_layers_;  // owned by base_model
};
TORCH_MODULE(LoraModel);

// peft's get_peft_model(base, config) for a LORA config.
LoraModel get_peft_model(models::CausalLM base, const LoraConfig& config);

}  // namespace shadowpeft::peft
