#pragma once
// peft's SHADOW tuner (peft.tuners.shadow.ShadowModel) on a frozen causal LM or sequence classifier:
//   s0 = projection(backbone(embeddings))            a mirror (or pretrained) shadow backbone
//   before each wrapped block: h + alpha * up(down(dropout(h - s)))
//   after it:                  s = (1 - g) * s + g * T(h_out),  g = sigmoid(G(h_out)),
//                              T, G = Linear → GELU → Linear
// The base's output (its own head, or the trained copy modules_to_save keeps) is the prediction;
// the shadow's prediction head(s0) only adds auxiliary_loss_weight × its loss, and is what
// shadow_only (peft's unload_shadow()) runs alone. Saved in peft's files (adapter_config.json,
// adapter_model.safetensors), so adapters move between peft and this library both ways.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/models/chunked_loss.h"
#include "shadowpeft/models/kv_cache.h"
#include "shadowpeft/peft/shadow_config.h"
#include "shadowpeft/shadow/task_models.h"

namespace shadowpeft::peft {

// Linear(H, u) → GELU (erf) → Linear(u, H), with biases; submodules "0" and "2" as peft's
// nn.Sequential names them.
class UpdateMlpImpl : public torch::nn::Module {
 public:
  UpdateMlpImpl(int64_t hidden_size, int64_t width);
  at::Tensor forward(const at::Tensor& x);
  models::Linear in{nullptr}, out{nullptr};
};
TORCH_MODULE(UpdateMlp);

// The adapter of one wrapped decoder block (peft's ShadowLayer), parameters named as peft's.
class ShadowLayerImpl : public torch::nn::Module {
 public:
  ShadowLayerImpl(int64_t hidden_size, const ShadowConfig& config);
  at::Tensor inject(const at::Tensor& h, const at::Tensor& s);  // before the block
  at::Tensor update(const at::Tensor& h, const at::Tensor& s);  // after it, from its output h
  // As peft initialises a new layer: torch.nn.Linear's defaults, shadow_up zero when init_weights.
  void reset_parameters(bool zero_up);

  models::Linear shadow_down{nullptr}, shadow_up{nullptr};
  UpdateMlp shadow_update_transform{nullptr}, shadow_update_gate{nullptr};
  double alpha, dropout;
};
TORCH_MODULE(ShadowLayer);

struct ShadowOutput {
  at::Tensor loss;         // 0-d when labels were given: the task loss (+ weight × shadow_loss in base_shadow)
  at::Tensor logits;         // [B, T, V] (causal LM) or [B, num_labels]
  at::Tensor shadow_logits;  // base_shadow: the shadow's own prediction head(s0), what shadow_only returns
  at::Tensor shadow_loss;    // base_shadow with labels: its loss, unweighted
};

class ShadowModelImpl : public torch::nn::Module {
 public:
  // A fresh adapter on `base` (frozen here): a causal LM for CAUSAL_LM, a sequence classifier
  // (models::load_sequence_classifier) for SEQ_CLS. `shadow_backbone_model`: the pretrained model
  // of a non-mirror config.shadow_model (its backbone is used, its head dropped).
  ShadowModelImpl(models::CausalLM base, ShadowConfig config, models::CausalLM shadow_backbone_model = nullptr);

  // The initial shadow state s0 [B, T, H_base]; `shadow_cache`: the backbone's own KV cache.
  at::Tensor initial_shadow_state(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                  models::KVCache* shadow_cache = nullptr);
  // base_shadow: the base model with every wrapped block injected and the shadow state carried
  // along; shadow_only: the detached shadow, head(s0).
  ShadowOutput forward(const at::Tensor& input_ids, const models::ForwardOptions& options = {},
                       const at::Tensor& labels = {});
  // forward(input_ids, options, labels).loss; a causal LM's without logits (models::chunked_causal_lm_loss).
  at::Tensor loss(const at::Tensor& input_ids, const models::ForwardOptions& options, const at::Tensor& labels);
  // A causal LM's evaluation sums (ShadowForCausalLM::evaluation_cross_entropy): base_shadow,
  // shadow_only and the plain base with its original head, no logits. A classifier's evaluation
  // reads its [B, num_labels] logits instead (an UnsupportedError here).
  models::ModeCrossEntropySums evaluation_cross_entropy(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                                        const at::Tensor& labels);
  void set_inference_mode(InferenceMode mode) { mode_ = mode; }
  InferenceMode inference_mode() const { return mode_; }
  // The plain base model's logits, its original head included (peft's disable_adapter()).
  at::Tensor base_logits(const at::Tensor& input_ids, const models::ForwardOptions& options = {});

  // Incremental decoding (causal LM): the base's KV cache (base_shadow only) and the backbone's.
  struct DecodingCaches {
    std::optional<models::KVCache> base, shadow;
  };
  DecodingCaches new_decoding_caches(int64_t batch, int64_t capacity, InferenceMode mode) const;
  // Logits of the last position [B, V] in `mode`; `caches` null: no caching.
  at::Tensor last_token_logits(const at::Tensor& input_ids, const models::ForwardOptions& options, DecodingCaches* caches,
                               InferenceMode mode);

  // Every trainable tensor under its key in adapter_model.safetensors.
  io::TensorMap adapter_state_dict();
  io::TensorMap adapter_gradients();  // the same keys → gradients (zeros where none reached)
  // Strict: every key present with its shape, nothing else; `source` names the file in errors.
  void load_adapter_state_dict(const io::TensorMap& state, const std::string& source);
  void save_pretrained(const std::filesystem::path& dir);
  // adapter_config.json + adapter_model.safetensors onto `base`; trainable only when `is_trainable`.
  static std::shared_ptr<ShadowModelImpl> from_pretrained(models::CausalLM base, const std::filesystem::path& dir,
                                                          bool is_trainable = false,
                                                          models::CausalLM shadow_backbone_model = nullptr);

  // peft's unload_shadow() as a standalone causal LM of the backbone's family, nothing shared with
  // this model: the backbone, its token table (the base's when shared) and the head that scores s0
  // (the trained copy, else the base's); a projected model when the backbone is narrower. Its logits
  // are the detached shadow's.
  models::CausalLM export_shadow();

  // A SEQ_CLS adapter's classes: the rows of the classifier copy it saved; nullopt for other adapters.
  static std::optional<int64_t> saved_num_labels(const std::filesystem::path& dir);

  // (trainable, all) as peft's get_nb_trainable_parameters: the base, the adapter and the
  // modules_to_save copies, each distinct parameter once.
  std::pair<int64_t, int64_t> count_parameters();
  // "trainable params: 13,880 || all params: 45,848 || trainable%: 30.2739"
  std::string trainable_parameters_string();
  void set_adapter_trainable(bool trainable);
  c10::Device device() const { return base_model->output_embedding().device(); }

  const ShadowConfig& config() const { return config_; }
  const models::ModelConfig& backbone_config() const { return backbone_config_; }
  // The decoder blocks the adapter wraps: [first, last], contiguous.
  std::pair<int64_t, int64_t> wrapped_blocks() const { return {first_block_, first_block_ + static_cast<int64_t>(layers->size()) - 1}; }

  models::CausalLM base_model{nullptr};
  models::Decoder shadow_backbone{nullptr};
  models::Linear shadow_projection{nullptr};  // null where the backbone already has the base's width
  torch::nn::ModuleList layers;               // one ShadowLayer per wrapped block, in order
  at::Tensor head_copy;                       // modules_to_save's trained copy of the base head; undefined if none
  models::Linear shadow_head{nullptr};        // SEQ_CLS: the shadow's own classifier (a copy of score)

 private:
  bool is_classifier() const { return config_.task_type == TaskType::SequenceClassification; }
  at::Tensor head_weight() const { return head_copy.defined() ? head_copy : base_model->output_embedding(); }
  // The shadow's prediction from s0: per token (causal LM) or pooled at the last real token.
  at::Tensor shadow_logits(const at::Tensor& s0, const models::ForwardOptions& options) const;
  at::Tensor task_loss(const at::Tensor& logits, const at::Tensor& labels, bool shifted_only) const;
  // The base's final hidden states with the wrapped blocks injected and the shadow state, from s0,
  // carried along (`base_cache`: the base's KV cache, or null).
  at::Tensor adapted_hidden_states(const at::Tensor& input_ids, const models::ForwardOptions& options, const at::Tensor& s0,
                                   models::KVCache* base_cache);
  // The trainable tensors under their file keys, each seen through `view`.
  io::TensorMap adapter_tensors(const std::function<at::Tensor(const at::Tensor&)>& view);
  // The base's module paths of block i and of its head, as transformers names them.
  std::string block_key(int64_t i) const;
  std::string head_module() const;

  ShadowConfig config_;
  models::ModelConfig backbone_config_;
  models::CausalLM shadow_backbone_model_{nullptr};  // owns a pretrained backbone's config
  bool shares_embeddings_ = false;
  int64_t first_block_ = 0;
  InferenceMode mode_ = InferenceMode::BaseShadow;
};
TORCH_MODULE(ShadowModel);

// peft's get_peft_model(base, config) for a SHADOW config.
ShadowModel get_peft_model(models::CausalLM base, const ShadowConfig& config, models::CausalLM shadow_backbone_model = nullptr);

// The blocks a config wraps on a base with `num_layers` blocks named by `block_key`, by peft's
// target_modules / exclude_modules / layers_to_transform rules: [first, last]. ConfigError when
// none is selected or the selection has gaps (the shadow state must ride an unbroken run).
std::pair<int64_t, int64_t> select_blocks(const ShadowConfig& config, int64_t num_layers,
                                          const std::function<std::string(int64_t)>& block_key);

}  // namespace shadowpeft::peft
