#include "shadowpeft/peft/lora_model.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "adapter_support.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/models/initialization.h"
#include "shadowpeft/models/chunked_loss.h"
#include "shadowpeft/models/losses.h"

namespace shadowpeft::peft {
namespace fs = std::filesystem;

namespace {

// The base's Linear layers by transformers' module name, in module order. A family whose
// checkpoints fuse several of our layers into one (Phi-3's qkv_proj, GPT-2's c_attn) names layers
// transformers does not have, so LoRA on it is refused.
std::vector<std::pair<std::string, models::LinearImpl*>> linear_layers(models::CausalLMImpl& base) {
  const models::ModelDescriptor& family = *base.config().descriptor;
  if (!family.fused_modules().empty())
    throw UnsupportedError(fmt::format("LoRA on {}: its checkpoints fuse layers that are separate here ({}), so adapters "
                                       "name modules this model does not have; not supported yet",
                                       family.name(), family.fused_modules().front().fused));
  std::vector<std::pair<std::string, models::LinearImpl*>> out;
  for (const auto& item : base.named_modules("", false))
    if (auto* linear = item.value()->as<models::LinearImpl>()) out.emplace_back(family.checkpoint_name(item.key()), linear);
  return out;
}

}  // namespace

// ---- one adapted layer ----------------------------------------------------------------------------

LoraLinearImpl::LoraLinearImpl(int64_t in_features, int64_t out_features, const LoraConfig& config)
    : lora_A(register_module("lora_A", models::Linear(in_features, config.r, false))),
      lora_B(register_module("lora_B", models::Linear(config.r, out_features, false))),
      scaling(config.scaling()),
      dropout(config.lora_dropout) {
  reset_parameters(config.init_lora_weights);
}

void LoraLinearImpl::reset_parameters(bool zero_b) {
  models::init_linear_like_torch(*lora_A);
  if (zero_b) {
    torch::NoGradGuard no_grad;
    lora_B->weight.zero_();
  } else {
    models::init_linear_like_torch(*lora_B);
  }
}

at::Tensor LoraLinearImpl::delta(const at::Tensor& x) {
  const at::Tensor input = at::dropout(x.to(lora_A->weight.scalar_type()), dropout, is_training());
  return lora_B->forward(lora_A->forward(input)) * scaling;  // the layer adds it as peft does
}

at::Tensor LoraLinearImpl::delta_weight() const { return at::matmul(lora_B->weight, lora_A->weight) * scaling; }

// ---- the tuner -------------------------------------------------------------------------------------

LoraModelImpl::LoraModelImpl(models::CausalLM base, LoraConfig config) : config_(std::move(config)) {
  config_.validate();
  base_model = register_module("base_model", std::move(base));
  for (auto& p : base_model->parameters()) p.set_requires_grad(false);
  const models::ModelConfig& base_config = base_model->config();
  if (base_config.is_sequence_classifier() != is_classifier())
    throw ConfigError(fmt::format("peft LORA: task_type {} does not fit the base model {} ({})", to_string(config_.task_type),
                                  base_config.architecture, base_config.is_sequence_classifier() ? "a sequence classifier" : "a causal LM"));
  const std::string head = head_module();
  const TargetRules rules{config_.target_modules, config_.exclude_modules, config_.layers_to_transform,
                          config_.layers_pattern, config_.modules_to_save};
  lora = register_module("lora", torch::nn::ModuleList());
  for (const auto& [name, layer] : linear_layers(*base_model)) {
    // "all-linear" is every Linear but the output head (peft removes the output embedding).
    const bool chosen = config_.targets_all_linear()
                            ? name != head && targets_module({std::nullopt, config_.exclude_modules, std::nullopt,
                                                              std::nullopt, config_.modules_to_save},
                                                             name)
                            : targets_module(rules, name);
    if (!chosen) continue;
    target_names_.push_back(name);
    target_layers_.push_back(layer);
    lora->push_back(LoraLinear(layer->weight.size(1), layer->weight.size(0), config_));
  }
  if (target_names_.empty())
    throw ConfigError(fmt::format("peft LORA: target_modules selects none of the Linear layers of {} (names like "
                                  "\"q_proj\", \"model.layers.0.mlp.up_proj\", a regular expression, or \"all-linear\")",
                                  base_config.architecture));
  if (detail::saves_head_copy(config_.modules_to_save, head, is_classifier(), "LORA"))
    head_copy = register_parameter("head_copy", base_model->output_embedding().detach().clone());
  const at::TensorOptions options = base_model->output_embedding().options();
  lora->to(options.device(), detail::tuner_layer_dtype(options.dtype().toScalarType()));
  attach(true);
  set_adapter_trainable(true);
}

LoraModelImpl::~LoraModelImpl() { attach(false); }

void LoraModelImpl::attach(bool attached) {
  for (std::size_t k = 0; k < target_layers_.size(); ++k)
    target_layers_[k]->adapter = attached ? std::dynamic_pointer_cast<models::LinearAdapter>(lora[k]) : nullptr;
}

std::string LoraModelImpl::head_module() const { return detail::head_module_name(*base_model); }

void LoraModelImpl::set_adapter_trainable(bool trainable) {
  for (auto& p : lora->parameters()) p.set_requires_grad(trainable);
  if (head_copy.defined()) head_copy.set_requires_grad(trainable);
}

LoraOutput LoraModelImpl::forward(const at::Tensor& input_ids, const models::ForwardOptions& options, const at::Tensor& labels) {
  LoraOutput out;
  const at::Tensor scores = base_model->logits_from_hidden(base_model->hidden_states(input_ids, options), head_weight());
  out.logits = is_classifier() ? base_model->pool_last_token(input_ids, scores) : scores;
  if (labels.defined())
    out.loss = is_classifier() ? models::classification_loss(out.logits, labels) : models::causal_lm_loss(out.logits, labels);
  return out;
}

at::Tensor LoraModelImpl::loss(const at::Tensor& input_ids, const models::ForwardOptions& options, const at::Tensor& labels) {
  if (is_classifier()) return forward(input_ids, options, labels).loss;
  const at::Tensor weight = head_weight();
  return models::chunked_causal_lm_loss(
      base_model->hidden_states(input_ids, options), labels,
      [this, weight](const at::Tensor& hidden) { return base_model->logits_from_hidden(hidden, weight); },
      {.head_has_trainable_parameters = weight.requires_grad()});
}

models::ModeCrossEntropySums LoraModelImpl::evaluation_cross_entropy(const at::Tensor& input_ids,
                                                                     const models::ForwardOptions& options,
                                                                     const at::Tensor& labels) {
  if (is_classifier())
    throw UnsupportedError("evaluation_cross_entropy: a sequence classifier is evaluated from its logits (forward)");
  const at::Tensor weight = head_weight();
  const at::Tensor plain_hidden = without_updates([&] { return base_model->hidden_states(input_ids, options); });
  return {{"lora", models::chunked_cross_entropy_sum(
                       base_model->hidden_states(input_ids, options), labels,
                       [this, weight](const at::Tensor& hidden) { return base_model->logits_from_hidden(hidden, weight); })},
          {"base", models::chunked_cross_entropy_sum(plain_hidden, labels,
                                                     [this](const at::Tensor& hidden) { return base_model->logits_from_hidden(hidden); })}};
}

at::Tensor LoraModelImpl::without_updates(const std::function<at::Tensor()>& run) {
  attach(false);
  at::Tensor out;
  try {
    out = run();
  } catch (...) {
    attach(true);
    throw;
  }
  attach(true);
  return out;
}

at::Tensor LoraModelImpl::base_logits(const at::Tensor& input_ids, const models::ForwardOptions& options) {
  const at::Tensor scores = without_updates([&] { return base_model->forward(input_ids, options); });
  return is_classifier() ? base_model->pool_last_token(input_ids, scores) : scores;
}

LoraModelImpl::DecodingCaches LoraModelImpl::new_decoding_caches(int64_t batch, int64_t capacity, InferenceMode mode) const {
  if (mode != InferenceMode::BaseShadow)
    throw UnsupportedError("a LoRA adapter has no shadow to run alone (shadow_only); it adapts the base model itself");
  if (is_classifier()) throw UnsupportedError("a sequence-classification adapter does not generate");
  DecodingCaches caches;
  caches.base.emplace(base_model->config(), batch, capacity, base_model->output_embedding().options());
  return caches;
}

at::Tensor LoraModelImpl::last_token_logits(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                            DecodingCaches* caches, InferenceMode mode) {
  if (mode != InferenceMode::BaseShadow)
    throw UnsupportedError("a LoRA adapter has no shadow to run alone (shadow_only); it adapts the base model itself");
  models::ForwardOptions base_options = options;
  base_options.cache = caches && caches->base ? &*caches->base : nullptr;
  const at::Tensor hidden = base_model->hidden_states(input_ids, base_options);
  return base_model->logits_from_hidden(models::last_position(hidden), head_weight());
}

// ---- files -----------------------------------------------------------------------------------------

io::TensorMap LoraModelImpl::adapter_tensors(const std::function<at::Tensor(const at::Tensor&)>& view) {
  // peft drops the adapter name from LoRA keys: ...q_proj.lora_A.weight.
  io::TensorMap state;
  for (std::size_t k = 0; k < target_names_.size(); ++k) {
    const auto& layer = lora[k]->as<LoraLinearImpl>();
    state.emplace(fmt::format("base_model.model.{}.lora_A.weight", target_names_[k]), view(layer->lora_A->weight));
    state.emplace(fmt::format("base_model.model.{}.lora_B.weight", target_names_[k]), view(layer->lora_B->weight));
  }
  if (head_copy.defined()) state.emplace(fmt::format("base_model.model.{}.weight", head_module()), view(head_copy));
  return state;
}

io::TensorMap LoraModelImpl::adapter_state_dict() {
  return adapter_tensors([](const at::Tensor& t) { return t; });
}

io::TensorMap LoraModelImpl::adapter_gradients() {
  return adapter_tensors([](const at::Tensor& t) { return t.grad().defined() ? t.grad() : at::zeros_like(t); });
}

void LoraModelImpl::load_adapter_state_dict(const io::TensorMap& state, const std::string& source) {
  const io::TensorMap expected = adapter_state_dict();
  detail::check_adapter_keys(expected, state, source,
                             fmt::format("peft LORA on {} layers of {}", target_names_.size(), base_model->config().architecture));
  detail::copy_adapter_tensors(expected, state, source);
}

void LoraModelImpl::save_pretrained(const fs::path& dir) {
  fs::create_directories(dir);
  LoraConfig saved = config_;
  saved.inference_mode = true;  // as peft's PeftModel.save_pretrained writes it
  saved.save_pretrained(dir);
  detail::save_adapter_weights(dir, adapter_state_dict());
}

std::shared_ptr<LoraModelImpl> LoraModelImpl::from_pretrained(models::CausalLM base, const fs::path& dir, bool is_trainable) {
  detail::require_adapter_dir(dir);
  LoraConfig config = LoraConfig::from_pretrained(dir);
  config.inference_mode = !is_trainable;
  auto model = std::make_shared<LoraModelImpl>(std::move(base), std::move(config));
  const auto [state, source] = detail::load_adapter_weights(dir);
  model->load_adapter_state_dict(state, source);
  model->train(is_trainable);
  model->set_adapter_trainable(is_trainable);
  return model;
}

std::optional<int64_t> LoraModelImpl::saved_num_labels(const fs::path& dir) {
  if (LoraConfig::from_pretrained(dir).task_type != TaskType::SequenceClassification) return std::nullopt;
  const fs::path file = dir / detail::kAdapterWeightsFile;
  if (!fs::exists(file)) return std::nullopt;
  const io::TensorInfo* info = io::SafetensorsFile::open(file).find("base_model.model.score.weight");
  return info && info->shape.size() == 2 ? std::optional(info->shape[0]) : std::nullopt;
}

models::CausalLM LoraModelImpl::merge_and_unload() {
  if (head_copy.defined() && base_model->head().linear().is_empty())
    throw UnsupportedError("merge: the base ties its head to its embeddings, but the adapter trained a copy of the head "
                           "(modules_to_save), which a tied checkpoint cannot hold");
  for (const auto& layer : target_layers_)
    if (layer->quantized())
      throw UnsupportedError("merge: the base's layers are int8-quantized; load the base without quantization to merge "
                             "the adapter into it");
  torch::NoGradGuard no_grad;
  attach(false);
  for (std::size_t k = 0; k < target_layers_.size(); ++k) {
    at::Tensor weight = target_layers_[k]->weight;
    weight.add_(lora[k]->as<LoraLinearImpl>()->delta_weight().to(weight.scalar_type()));
  }
  if (head_copy.defined()) {
    at::Tensor head = base_model->head().linear()->weight;
    head.copy_(head_copy);
  }
  target_layers_.clear();  // nothing to detach any more
  return base_model;
}

std::pair<int64_t, int64_t> LoraModelImpl::count_parameters() { return detail::count_distinct_parameters(*this); }

std::string LoraModelImpl::trainable_parameters_string() {
  const auto [trainable, total] = count_parameters();
  return peft::trainable_parameters_string(trainable, total);
}

LoraModel get_peft_model(models::CausalLM base, const LoraConfig& config) { return LoraModel(std::move(base), config); }

}  // namespace shadowpeft::peft
