#include "shadowpeft/peft/shadow_model.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>


#include "adapter_support.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/models/backbone_state.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/models/initialization.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/models/chunked_loss.h"
#include "shadowpeft/models/losses.h"
#include "shadowpeft/shadow/projected_causal_lm.h"

namespace shadowpeft::peft {
namespace fs = std::filesystem;

namespace {

// peft keeps the adapter name inside the keys of its shadow containers; files always say "default".
constexpr const char* kAdapterName = "default";

// The pooled position of each row: its last attended token (peft's _pool_last_token), whatever the
// padding side; the last position without a mask.
at::Tensor pool_last_token(const at::Tensor& hidden, const at::Tensor& attention_mask) {
  if (!attention_mask.defined()) return hidden.select(1, hidden.size(1) - 1);
  const at::Tensor positions = at::arange(attention_mask.size(-1), attention_mask.options().dtype(at::kLong));
  const at::Tensor last = (attention_mask.ne(0).to(at::kLong) * positions).argmax(-1);
  return hidden.index({at::arange(hidden.size(0), last.options()), last});
}

template <typename Holder>
torch::nn::Module* module_or_null(const Holder& holder) {
  return holder.is_empty() ? nullptr : holder.ptr().get();
}

}  // namespace

// ---- the per-block adapter -----------------------------------------------------------------------

UpdateMlpImpl::UpdateMlpImpl(int64_t hidden_size, int64_t width)
    : in(register_module("0", models::Linear(hidden_size, width, true))),
      out(register_module("2", models::Linear(width, hidden_size, true))) {}

at::Tensor UpdateMlpImpl::forward(const at::Tensor& x) { return out->forward(at::gelu(in->forward(x))); }

ShadowLayerImpl::ShadowLayerImpl(int64_t hidden_size, const ShadowConfig& config)
    : shadow_down(register_module("shadow_down", models::Linear(hidden_size, config.r, false))),
      shadow_up(register_module("shadow_up", models::Linear(config.r, hidden_size, false))),
      shadow_update_transform(register_module("shadow_update_transform", UpdateMlp(hidden_size, config.update_width()))),
      shadow_update_gate(register_module("shadow_update_gate", UpdateMlp(hidden_size, config.update_width()))),
      alpha(config.shadow_alpha),
      dropout(config.shadow_dropout) {
  reset_parameters(config.init_weights);
}

void ShadowLayerImpl::reset_parameters(bool zero_up) {
  for (models::LinearImpl* linear : {shadow_down.get(), shadow_up.get(), shadow_update_transform->in.get(),
                                     shadow_update_transform->out.get(), shadow_update_gate->in.get(),
                                     shadow_update_gate->out.get()})
    models::init_linear_like_torch(*linear);
  if (zero_up) {
    torch::NoGradGuard no_grad;
    shadow_up->weight.zero_();
  }
}

at::Tensor ShadowLayerImpl::inject(const at::Tensor& h, const at::Tensor& s) {
  const at::ScalarType adapter = shadow_down->weight.scalar_type();
  const at::Tensor delta = at::dropout((h - s).to(adapter), dropout, is_training());
  return h + (alpha * shadow_up->forward(shadow_down->forward(delta))).to(h.scalar_type());
}

at::Tensor ShadowLayerImpl::update(const at::Tensor& h, const at::Tensor& s) {
  const at::ScalarType adapter = shadow_down->weight.scalar_type();
  const at::Tensor x = h.to(adapter);
  const at::Tensor gate = at::sigmoid(shadow_update_gate->forward(x));
  return ((1.0 - gate) * s.to(adapter) + gate * shadow_update_transform->forward(x)).to(s.scalar_type());
}

// ---- block selection ---------------------------------------------------------------------------------

std::pair<int64_t, int64_t> select_blocks(const ShadowConfig& config, int64_t num_layers,
                                          const std::function<std::string(int64_t)>& block_key) {
  std::vector<int64_t> chosen;
  for (int64_t i = 0; i < num_layers; ++i)
    if (targets_module({config.target_modules, config.exclude_modules, config.layers_to_transform, config.layers_pattern,
                        config.modules_to_save},
                       block_key(i)))
      chosen.push_back(i);
  if (chosen.empty())
    throw ConfigError(fmt::format("peft SHADOW: target_modules / layers_to_transform select none of the {} decoder blocks "
                                  "({} .. {}); name whole blocks, e.g. \"{}\"",
                                  num_layers, block_key(0), block_key(num_layers - 1), block_key(0)));
  for (std::size_t k = 1; k < chosen.size(); ++k)
    if (chosen[k] != chosen[k - 1] + 1)
      throw ConfigError(fmt::format("peft SHADOW: the wrapped blocks must be contiguous (the shadow state rides the decoder "
                                    "loop from the first to the last), got blocks {}",
                                    fmt::join(chosen, ", ")));
  return {chosen.front(), chosen.back()};
}

// ---- the tuner -------------------------------------------------------------------------------------

ShadowModelImpl::ShadowModelImpl(models::CausalLM base, ShadowConfig config, models::CausalLM shadow_backbone_model)
    : config_(std::move(config)) {
  config_.validate();
  base_model = register_module("base_model", std::move(base));
  for (auto& p : base_model->parameters()) p.set_requires_grad(false);
  const models::ModelConfig& base_config = base_model->config();
  const std::string what = base_config.architecture.empty() ? base_config.model_type : base_config.architecture;
  if (base_config.is_sequence_classifier() != is_classifier())
    throw ConfigError(fmt::format("peft SHADOW: task_type {} does not fit the base model {} ({})", to_string(config_.task_type),
                                  what, base_config.is_sequence_classifier() ? "a sequence classifier" : "a causal LM"));
  const int64_t hidden = base_config.hidden_size;
  if (base_config.output_hidden_size() != hidden)
    throw UnsupportedError(fmt::format("peft SHADOW on {}: the base projects its final hidden states from {} to {}, so "
                                       "the shadow state cannot be scored by its head",
                                       what, hidden, base_config.output_hidden_size()));

  // The shadow backbone: a mirror of the base's family, or a pretrained model's backbone.
  const at::TensorOptions base_options = base_model->output_embedding().options();
  if (config_.is_mirror()) {
    if (shadow_backbone_model)
      throw ConfigError("peft SHADOW: a shadow model was given, but the adapter's shadow_model is \"mirror\"");
    backbone_config_ = models::derive_config(base_config,
                                             {.num_layers = config_.mirror_layers(),
                                              .hidden_size = config_.shadow_hidden_size,
                                              .intermediate_size = config_.shadow_intermediate_size,
                                              .num_attention_heads = config_.shadow_num_attention_heads},
                                             fmt::format("mirror shadow of {}", what));
    shares_embeddings_ = config_.share_embeddings && backbone_config_.hidden_size == hidden;
    const bool own_table = !shares_embeddings_ || models::shared_backbone_keeps_token_table(*backbone_config_.descriptor);
    shadow_backbone = register_module("shadow_backbone", models::Decoder(backbone_config_, own_table));
    models::init_like_transformers(*shadow_backbone, backbone_config_.initializer_range);
  } else {
    if (!shadow_backbone_model)
      throw ConfigError(fmt::format("peft SHADOW: the adapter's shadow_model is '{}'; load it and pass it as the shadow "
                                    "model (CLI: --shadow-model DIR)",
                                    config_.shadow_model));
    shadow_backbone_model_ = std::move(shadow_backbone_model);
    backbone_config_ = shadow_backbone_model_->config();
    shadow_backbone = register_module("shadow_backbone", shadow_backbone_model_->model);
  }
  const int64_t shadow_hidden = backbone_config_.output_hidden_size();
  if (shadow_backbone_model_ && !shadow_backbone_model_->head().projection().is_empty()) {
    // A projected checkpoint brings its trained projection.
    shadow_projection = register_module("shadow_projection", models::Linear(shadow_hidden, hidden, false));
    torch::NoGradGuard no_grad;
    shadow_projection->weight.copy_(shadow_backbone_model_->head().projection()->weight);
  } else if (shadow_hidden != hidden) {
    shadow_projection = register_module("shadow_projection", models::Linear(shadow_hidden, hidden, false));
    models::init_linear_like_torch(*shadow_projection);
  }

  const auto [first_block, last_block] =
      select_blocks(config_, base_config.num_layers(), [this](int64_t i) { return block_key(i); });
  first_block_ = first_block;
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = first_block_; i <= last_block; ++i) layers->push_back(ShadowLayer(hidden, config_));

  // modules_to_save: the base's head is the one module that can be named.
  const bool copy_head = detail::saves_head_copy(config_.modules_to_save, head_module(), is_classifier(), "SHADOW");
  if (copy_head) head_copy = register_parameter("head_copy", base_model->output_embedding().detach().clone());
  if (is_classifier()) {
    const at::Tensor score = base_model->output_embedding();
    shadow_head = register_module("shadow_head", models::Linear(score.size(1), score.size(0), false));
    torch::NoGradGuard no_grad;
    shadow_head->weight.copy_(score);
  }
  // peft: the backbone, projection and head take the base's device and dtype; the layers' adapter
  // weights are upcast from float16/bfloat16 (autocast_adapter_dtype).
  const at::ScalarType base_dtype = base_options.dtype().toScalarType();
  for (torch::nn::Module* m : {module_or_null(shadow_backbone), module_or_null(shadow_projection), module_or_null(shadow_head)})
    if (m) m->to(base_options.device(), base_dtype);
  layers->to(base_options.device(), detail::tuner_layer_dtype(base_dtype));
  set_adapter_trainable(true);
}

std::string ShadowModelImpl::block_key(int64_t i) const {
  return base_model->config().descriptor->checkpoint_name(fmt::format("model.layers.{}", i));
}

std::string ShadowModelImpl::head_module() const { return detail::head_module_name(*base_model); }

void ShadowModelImpl::set_adapter_trainable(bool trainable) {
  for (torch::nn::Module* m : {module_or_null(shadow_backbone), module_or_null(shadow_projection), module_or_null(layers),
                               module_or_null(shadow_head)})
    if (m)
      for (auto& p : m->parameters()) p.set_requires_grad(trainable);
  if (head_copy.defined()) head_copy.set_requires_grad(trainable);
  // A pretrained backbone's embeddings stay frozen: training them is not parameter-efficient.
  if (shadow_backbone_model_ && !shadow_backbone->embed_tokens.is_empty())
    shadow_backbone->embed_tokens->weight.set_requires_grad(false);
}

at::Tensor ShadowModelImpl::initial_shadow_state(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                                 models::KVCache* shadow_cache) {
  const at::Tensor positions =
      options.position_ids.defined()
          ? options.position_ids
          : models::default_position_ids(backbone_config_, input_ids, shadow_cache ? shadow_cache->length() : 0,
                                         options.attention_mask);
  models::ForwardOptions backbone_options;
  backbone_options.attention_mask = options.attention_mask;
  backbone_options.cache = shadow_cache;
  const at::Tensor embeddings =
      shares_embeddings_ ? shadow_backbone->prepare_inputs_embeds(base_model->model->embed_tokens->forward(input_ids), positions)
                         : shadow_backbone->embed(input_ids, positions);
  at::Tensor s = shadow_backbone->forward(embeddings, positions, backbone_options);
  if (shadow_projection) s = shadow_projection->forward(s);
  return s;
}

at::Tensor ShadowModelImpl::shadow_logits(const at::Tensor& s0, const models::ForwardOptions& options) const {
  if (is_classifier()) return shadow_head->forward(pool_last_token(s0, options.attention_mask));
  // peft scores s0 with the head module itself: no soft-capping (Gemma 2) on this path.
  const at::Tensor head = head_weight();
  return at::linear(s0.to(head.scalar_type()), head);
}

at::Tensor ShadowModelImpl::task_loss(const at::Tensor& logits, const at::Tensor& labels, bool shadow) const {
  if (is_classifier()) return models::classification_loss(logits, labels);
  // The base's loss is transformers' ForCausalLMLoss; the shadow's, peft's shifted cross-entropy.
  return shadow ? models::shifted_cross_entropy(logits, labels) : models::causal_lm_loss(logits, labels);
}

at::Tensor ShadowModelImpl::adapted_hidden_states(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                                  const at::Tensor& s0, models::KVCache* base_cache) {
  at::Tensor s = s0;
  const int64_t first = first_block_, last = first_block_ + static_cast<int64_t>(layers->size()) - 1;
  models::LayerHooks hooks;
  hooks.before_layer = [&](int64_t i, const at::Tensor& h) {
    return i >= first && i <= last ? layers->at<ShadowLayerImpl>(static_cast<std::size_t>(i - first)).inject(h, s) : h;
  };
  hooks.after_layer = [&](int64_t i, const at::Tensor& h) {
    if (i >= first && i <= last) s = layers->at<ShadowLayerImpl>(static_cast<std::size_t>(i - first)).update(h, s);
  };
  models::ForwardOptions base_options = options;
  base_options.hooks = &hooks;
  base_options.cache = base_cache;
  return base_model->hidden_states(input_ids, base_options);
}

ShadowOutput ShadowModelImpl::forward(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                      const at::Tensor& labels) {
  if (options.hooks) throw UnsupportedError("peft SHADOW installs its own layer hooks; nested hooks are not supported");
  ShadowOutput out;
  if (mode_ == InferenceMode::ShadowOnly) {
    out.logits = shadow_logits(initial_shadow_state(input_ids, options), options);
    if (labels.defined()) out.loss = task_loss(out.logits, labels, true);
    return out;
  }
  const at::Tensor s0 = initial_shadow_state(input_ids, options);
  const at::Tensor scores =
      base_model->logits_from_hidden(adapted_hidden_states(input_ids, options, s0, options.cache), head_weight());
  out.logits = is_classifier() ? base_model->pool_last_token(input_ids, scores) : scores;
  out.shadow_logits = shadow_logits(s0, options);
  if (labels.defined()) {
    out.loss = task_loss(out.logits, labels, false);
    out.shadow_loss = task_loss(out.shadow_logits, labels, true);
    if (config_.auxiliary_loss_weight > 0) out.loss = out.loss + config_.auxiliary_loss_weight * out.shadow_loss;
  }
  return out;
}

at::Tensor ShadowModelImpl::loss(const at::Tensor& input_ids, const models::ForwardOptions& options, const at::Tensor& labels) {
  if (is_classifier()) return forward(input_ids, options, labels).loss;
  if (options.hooks) throw UnsupportedError("peft SHADOW installs its own layer hooks; nested hooks are not supported");
  const at::Tensor weight = head_weight();
  // As forward: the base's loss in float32 (transformers'), the shadow's (bare head, no soft-capping)
  // in its own dtype (peft's).
  const auto shadow_scores = [weight](const at::Tensor& s) { return at::linear(s.to(weight.scalar_type()), weight); };
  const models::ChunkedLossOptions shadow_head{.head_has_trainable_parameters = weight.requires_grad(), .float32_loss = false};
  const at::Tensor s0 = initial_shadow_state(input_ids, options);
  if (mode_ == InferenceMode::ShadowOnly) return models::chunked_causal_lm_loss(s0, labels, shadow_scores, shadow_head);
  at::Tensor loss = models::chunked_causal_lm_loss(
      adapted_hidden_states(input_ids, options, s0, options.cache), labels,
      [this, weight](const at::Tensor& hidden) { return base_model->logits_from_hidden(hidden, weight); },
      {.head_has_trainable_parameters = weight.requires_grad()});
  if (config_.auxiliary_loss_weight > 0)
    loss = loss + config_.auxiliary_loss_weight * models::chunked_causal_lm_loss(s0, labels, shadow_scores, shadow_head);
  return loss;
}

models::ModeCrossEntropySums ShadowModelImpl::evaluation_cross_entropy(const at::Tensor& input_ids,
                                                                       const models::ForwardOptions& options,
                                                                       const at::Tensor& labels) {
  if (is_classifier())
    throw UnsupportedError("evaluation_cross_entropy: a sequence classifier is evaluated from its logits (forward)");
  if (options.hooks) throw UnsupportedError("peft SHADOW installs its own layer hooks; nested hooks are not supported");
  const at::Tensor weight = head_weight();
  const at::Tensor s0 = initial_shadow_state(input_ids, options);
  return {{"base_shadow", models::chunked_cross_entropy_sum(
                              adapted_hidden_states(input_ids, options, s0, options.cache), labels,
                              [this, weight](const at::Tensor& hidden) { return base_model->logits_from_hidden(hidden, weight); })},
          {"shadow_only", models::chunked_cross_entropy_sum(
                              s0, labels, [weight](const at::Tensor& s) { return at::linear(s.to(weight.scalar_type()), weight); })},
          {"base", models::chunked_cross_entropy_sum(base_model->hidden_states(input_ids, options), labels,
                                                     [this](const at::Tensor& hidden) { return base_model->logits_from_hidden(hidden); })}};
}

at::Tensor ShadowModelImpl::base_logits(const at::Tensor& input_ids, const models::ForwardOptions& options) {
  const at::Tensor scores = base_model->forward(input_ids, options);
  return is_classifier() ? base_model->pool_last_token(input_ids, scores) : scores;
}

ShadowModelImpl::DecodingCaches ShadowModelImpl::new_decoding_caches(int64_t batch, int64_t capacity, InferenceMode mode) const {
  if (is_classifier()) throw UnsupportedError("a sequence-classification adapter does not generate");
  DecodingCaches caches;
  if (mode == InferenceMode::BaseShadow)
    caches.base.emplace(base_model->config(), batch, capacity, base_model->output_embedding().options());
  caches.shadow.emplace(backbone_config_, batch, capacity, shadow_backbone->parameters().front().options());
  return caches;
}

at::Tensor ShadowModelImpl::last_token_logits(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                              DecodingCaches* caches, InferenceMode mode) {
  if (options.hooks) throw UnsupportedError("peft SHADOW installs its own layer hooks; nested hooks are not supported");
  models::KVCache* shadow_cache = caches && caches->shadow ? &*caches->shadow : nullptr;
  const at::Tensor s0 = initial_shadow_state(input_ids, options, shadow_cache);
  if (mode == InferenceMode::ShadowOnly) return shadow_logits(models::last_position(s0), options);
  const at::Tensor hidden = adapted_hidden_states(input_ids, options, s0, caches && caches->base ? &*caches->base : nullptr);
  return base_model->logits_from_hidden(models::last_position(hidden), head_weight());
}

// ---- files -----------------------------------------------------------------------------------------

io::TensorMap ShadowModelImpl::adapter_tensors(const std::function<at::Tensor(const at::Tensor&)>& view) {
  io::TensorMap state;
  const std::string tuner = "base_model.", model = "base_model.model.";
  auto add = [&](const std::string& container, torch::nn::Module* m) {
    if (m)
      for (const auto& item : m->named_parameters())
        state.emplace(fmt::format("{}{}.{}.{}", tuner, container, kAdapterName, item.key()), view(item.value()));
  };
  for (auto& [name, t] : models::backbone_state_dict(*shadow_backbone, backbone_config_, view))
    state.emplace(fmt::format("{}shadow_backbone.{}.{}", tuner, kAdapterName, name), t);
  add("shadow_projection", module_or_null(shadow_projection));
  add("shadow_head", module_or_null(shadow_head));
  for (std::size_t k = 0; k < layers->size(); ++k) {
    const std::string block = model + block_key(first_block_ + static_cast<int64_t>(k));
    for (const auto& item : layers[k]->named_parameters()) {
      // shadow_down.weight → shadow_down.default.weight: the adapter name follows the container.
      const std::string& key = item.key();
      const std::size_t dot = key.find('.');
      state.emplace(fmt::format("{}.{}.{}{}", block, key.substr(0, dot), kAdapterName, key.substr(dot)), view(item.value()));
    }
  }
  if (head_copy.defined()) state.emplace(fmt::format("{}{}.weight", model, head_module()), view(head_copy));
  return state;
}

io::TensorMap ShadowModelImpl::adapter_state_dict() {
  return adapter_tensors([](const at::Tensor& t) { return t; });
}

io::TensorMap ShadowModelImpl::adapter_gradients() {
  return adapter_tensors([](const at::Tensor& t) { return t.grad().defined() ? t.grad() : at::zeros_like(t); });
}

void ShadowModelImpl::load_adapter_state_dict(const io::TensorMap& state, const std::string& source) {
  const io::TensorMap expected = adapter_state_dict();
  detail::check_adapter_keys(expected, state, source,
                             fmt::format("peft SHADOW on blocks {}..{} of {}", first_block_, wrapped_blocks().second,
                                         base_model->config().architecture));
  // The backbone's tensors go through the family's layout (transposes, fused modules); the rest
  // are our parameters as they are.
  const std::string backbone_prefix = fmt::format("base_model.shadow_backbone.{}.", kAdapterName);
  io::TensorMap backbone;
  for (const auto& [name, t] : state)
    if (name.starts_with(backbone_prefix)) backbone.emplace(name.substr(backbone_prefix.size()), t);
  models::load_backbone_state_dict(*shadow_backbone, backbone_config_, std::move(backbone), source + " (shadow_backbone)");
  detail::copy_adapter_tensors(expected, state, source, backbone_prefix);
}

void ShadowModelImpl::save_pretrained(const fs::path& dir) {
  fs::create_directories(dir);
  ShadowConfig saved = config_;
  saved.inference_mode = true;  // as peft's PeftModel.save_pretrained writes it
  if (!saved.target_modules) {
    // peft writes the blocks it wrapped.
    saved.target_modules.emplace();
    for (std::size_t k = 0; k < layers->size(); ++k) saved.target_modules->names.push_back(block_key(first_block_ + static_cast<int64_t>(k)));
  }
  saved.save_pretrained(dir);
  detail::save_adapter_weights(dir, adapter_state_dict());
}

std::shared_ptr<ShadowModelImpl> ShadowModelImpl::from_pretrained(models::CausalLM base, const fs::path& dir, bool is_trainable,
                                                                  models::CausalLM shadow_backbone_model) {
  detail::require_adapter_dir(dir);
  ShadowConfig config = ShadowConfig::from_pretrained(dir);
  config.inference_mode = !is_trainable;
  auto model = std::make_shared<ShadowModelImpl>(std::move(base), std::move(config), std::move(shadow_backbone_model));
  const auto [state, source] = detail::load_adapter_weights(dir);
  model->load_adapter_state_dict(state, source);
  model->train(is_trainable);
  model->set_adapter_trainable(is_trainable);
  return model;
}

models::CausalLM ShadowModelImpl::export_shadow() {
  const models::ModelConfig& config = backbone_config_;
  if (is_classifier())
    throw UnsupportedError("export-shadow: a SEQ_CLS adapter's shadow pools at the last attended token, which no "
                           "transformers classifier does; run it with --mode shadow_only instead");
  if (config.final_logit_softcap)
    throw UnsupportedError(fmt::format("export-shadow: {} soft-caps its logits, peft's detached shadow does not; run it "
                                       "with --mode shadow_only instead",
                                       config.architecture));
  if (config.tie_word_embeddings && !shadow_projection && (head_copy.defined() || !shares_embeddings_))
    throw UnsupportedError("export-shadow: the family ties its head to its token embeddings, but this shadow scores with "
                           "another matrix (a trained copy of the head, or a backbone with its own embeddings); run it "
                           "with --mode shadow_only instead");
  torch::NoGradGuard no_grad;
  models::CausalLM small(config);
  small->to(head_weight().scalar_type());
  io::TensorMap weights;
  for (const auto& item : shadow_backbone->named_parameters())
    if (!(shares_embeddings_ && item.key().starts_with("embed_tokens.")))
      weights.emplace("model." + item.key(), item.value().detach());
  if (shares_embeddings_) weights.emplace("model.embed_tokens.weight", base_model->model->embed_tokens->weight.detach());
  if (shadow_projection) {
    if (!config.tie_word_embeddings) weights.emplace("lm_head.weight", small->output_embedding().detach());
    models::load_parameters(*small, std::move(weights), "export_shadow");
    return wrap_with_hidden_projection(*small, head_weight().detach(), shadow_projection->weight.detach());
  }
  if (!config.tie_word_embeddings) weights.emplace("lm_head.weight", head_weight().detach());
  models::load_parameters(*small, std::move(weights), "export_shadow");  // copies: nothing shared
  small->to(head_weight().device());
  small->eval();
  return small;
}

std::optional<int64_t> ShadowModelImpl::saved_num_labels(const fs::path& dir) {
  if (ShadowConfig::from_pretrained(dir).task_type != TaskType::SequenceClassification) return std::nullopt;
  const fs::path file = dir / detail::kAdapterWeightsFile;
  if (!fs::exists(file)) return std::nullopt;
  const io::SafetensorsFile saved = io::SafetensorsFile::open(file);
  for (const char* key : {"base_model.model.score.weight", "base_model.shadow_head.default.weight"})
    if (const io::TensorInfo* info = saved.find(key); info && info->shape.size() == 2) return info->shape[0];
  return std::nullopt;
}

std::pair<int64_t, int64_t> ShadowModelImpl::count_parameters() { return detail::count_distinct_parameters(*this); }

std::string ShadowModelImpl::trainable_parameters_string() {
  const auto [trainable, total] = count_parameters();
  return peft::trainable_parameters_string(trainable, total);
}

ShadowModel get_peft_model(models::CausalLM base, const ShadowConfig& config, models::CausalLM shadow_backbone_model) {
  return ShadowModel(std::move(base), config, std::move(shadow_backbone_model));
}

}  // namespace shadowpeft::peft
