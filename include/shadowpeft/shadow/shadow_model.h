#pragma once
// ShadowPeftModel: a frozen base causal LM, a small trainable shadow backbone beside it, and the
// injection/update adapters that couple them at every base layer i > 0. Saved and loaded in the
// files and tensor names of the Python package shadow-peft.
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/shadow/shadow_config.h"
#include "shadowpeft/shadow/shadow_modules.h"

namespace shadowpeft {

class ShadowPeftModelImpl : public torch::nn::Module {
 public:
  // Implicit shadow: a backbone of the base's family with `config.num_shadow_layers` layers (and
  // the optional size overrides), freshly initialised, sharing the base's token embeddings.
  // Explicit shadow (`explicit_shadow` non-null): the backbone of a given causal LM with its own
  // token embeddings (its head is dropped); when its hidden size differs from the base's, a
  // shadow_hidden_projection Linear(H_shadow → H_base) is added.
  ShadowPeftModelImpl(models::CausalLM base, ShadowConfig config, models::CausalLM explicit_shadow = nullptr);

  // The shadow state before the first base layer: shadow backbone on the shared embeddings,
  // projected to the base hidden size. [B, T, H_base]. `shadow_cache`: the shadow backbone's own
  // KV cache for incremental decoding (options.cache is the base model's).
  at::Tensor initial_shadow_hidden(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                   models::KVCache* shadow_cache = nullptr);

  struct Output {
    at::Tensor hidden;         // base final hidden states (after the final norm) [B, T, H]
    at::Tensor shadow_hidden;  // initial shadow hidden (what shadow heads read) [B, T, H]
  };
  // The base model with injection before and update after every layer i > 0. Injection and update
  // act on each position alone, so a base cache (options.cache) plus a shadow cache is exact.
  Output forward(const at::Tensor& input_ids, const models::ForwardOptions& options = {},
                 models::KVCache* shadow_cache = nullptr);

  // Adapter tensors under shadow-peft's names (shadow_model.*, shadow_hidden_projection.*,
  // shadow_injection_model.*, shadow_update_model.*).
  io::TensorMap adapter_state_dict();
  // The same names mapped to the gradients of the trainable adapter parameters.
  io::TensorMap adapter_gradients();
  // Strict: every adapter tensor present with the expected shape, nothing else. The projection
  // is optional (older checkpoints). `source` names the file in errors.
  void load_adapter_state_dict(const io::TensorMap& state, const std::string& source);

  void save_pretrained(const std::filesystem::path& dir);
  // Loads shadow_config.json + shadow_adapter.safetensors onto `base`. Trainable (adapter
  // requires_grad, dropout active) only when `is_trainable`.
  static std::shared_ptr<ShadowPeftModelImpl> from_pretrained(models::CausalLM base, const std::filesystem::path& dir,
                                                              bool is_trainable = false,
                                                              models::CausalLM explicit_shadow = nullptr);

  // A standalone causal LM of the base's family made of the shadow backbone, the base's token
  // embeddings and the base's lm_head (copies; nothing shared with this model), as shadow-peft's
  // export_shadow(). Its config is the shadow's (fewer layers, size overrides). A shadow with a
  // hidden projection exports as a projected model (backbone, projection, base lm_head).
  models::CausalLM export_shadow();

  // (trainable, total) over distinct parameters, like shadow-peft's count_parameters.
  std::pair<int64_t, int64_t> count_parameters();
  // "Trainable params: 9,073,920 || Total params: 605,123,840 || Trainable%: 1.50%"
  std::string trainable_parameters_string();
  void print_trainable_parameters();
  void set_adapter_trainable(bool trainable);

  const ShadowConfig& shadow_config() const { return config_; }
  const models::ModelConfig& shadow_model_config() const { return shadow_model_config_; }
  // dtype and device of the shadow backbone's parameters (what its KV cache holds).
  at::TensorOptions shadow_parameter_options() const;

  models::CausalLM base_model{nullptr};
  models::Decoder shadow_model{nullptr};
  models::Linear shadow_hidden_projection{nullptr};  // null when hidden sizes agree
  ShadowInjectionModel shadow_injection_model{nullptr};
  ShadowUpdateModel shadow_update_model{nullptr};

 private:
  void freeze_base();
  // Adapter tensors in checkpoint layout, each parameter seen through `view`.
  io::TensorMap adapter_tensors(const std::function<at::Tensor(const at::Tensor&)>& view);
  ShadowConfig config_;
  models::ModelConfig shadow_model_config_;
  const models::ModelDescriptor* shadow_descriptor_ = nullptr;
  bool shares_embeddings_ = true;
  models::CausalLM explicit_shadow_{nullptr};  // owns the explicit backbone's config
  bool freeze_shadow_embeddings_ = false;
};
TORCH_MODULE(ShadowPeftModel);

// shadow-peft's get_shadow_model(model, config).
ShadowPeftModel get_shadow_model(models::CausalLM base, const ShadowConfig& config,
                                 models::CausalLM explicit_shadow = nullptr);

// The ModelConfig of an implicit shadow: the base config with `num_shadow_layers` layers and the
// config's size overrides, read back through the family's descriptor (so the overrides mean what
// they mean to transformers).
models::ModelConfig implicit_shadow_config(const models::ModelConfig& base, const ShadowConfig& config);

// (trainable, total) of an implicit ShadowPeftModel computed from configs alone, without weights.
std::pair<int64_t, int64_t> count_parameters_from_config(const models::ModelConfig& base, const ShadowConfig& config);

// The string shadow-peft's print_trainable_parameters prints.
std::string trainable_parameters_string(int64_t trainable, int64_t total);

}  // namespace shadowpeft
