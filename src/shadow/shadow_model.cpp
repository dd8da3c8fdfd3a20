#include "shadowpeft/shadow/shadow_model.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>
#include <torch/torch.h>

#include <unordered_set>

#include "shadowpeft/core/error.h"
#include "shadowpeft/core/format.h"
#include "shadowpeft/io/checkpoint.h"
#include "shadowpeft/models/backbone_state.h"
#include "shadowpeft/models/initialization.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/projected_causal_lm.h"

namespace shadowpeft {
namespace fs = std::filesystem;
using models::ModelConfig;

namespace {

constexpr const char* kAdapterFile = "shadow_adapter.safetensors";

// The module a holder points to, or nullptr for an empty holder (whose get() throws).
template <typename Holder>
torch::nn::Module* module_or_null(const Holder& holder) {
  return holder.is_empty() ? nullptr : holder.ptr().get();
}

}  // namespace

std::string trainable_parameters_string(int64_t trainable, int64_t total) {
  const double pct = total > 0 ? 100.0 * static_cast<double>(trainable) / static_cast<double>(total) : 0.0;
  return fmt::format("Trainable params: {} || Total params: {} || Trainable%: {:.2f}%", with_thousands(trainable),
                     with_thousands(total), pct);
}

ModelConfig implicit_shadow_config(const ModelConfig& base, const ShadowConfig& config) {
  config.validate();
  return models::derive_config(base,
                               {.num_layers = config.num_shadow_layers,
                                .intermediate_size = config.shadow_intermediate_size,
                                .num_attention_heads = config.shadow_num_attention_heads,
                                .num_key_value_heads = config.shadow_num_key_value_heads,
                                .head_dim = config.shadow_head_dim},
                               fmt::format("implicit shadow of {}", base.architecture.empty() ? base.model_type : base.architecture));
}

// ---- ShadowPeftModel ------------------------------------------------------------------------

ShadowPeftModelImpl::ShadowPeftModelImpl(models::CausalLM base, ShadowConfig config, models::CausalLM explicit_shadow)
    : config_(std::move(config)) {
  config_.validate();
  base_model = register_module("base_model", std::move(base));
  freeze_base();
  const ModelConfig& base_config = base_model->config();
  if (base_config.output_hidden_size() != base_config.hidden_size)
    throw UnsupportedError(fmt::format(
        "ShadowPEFT on {}: the base projects its final hidden states from hidden_size {} to {} (word_embed_proj_dim), "
        "so the shadow state cannot be scored by its head; shadow-peft cannot wrap it either",
        base_config.architecture, base_config.hidden_size, base_config.output_hidden_size()));
  if (base_config.num_layers() < 2)
    throw ConfigError(fmt::format("Shadow requires at least 2 decoder layers to apply injection; the base model has {}",
                                  base_config.num_layers()));
  if (explicit_shadow) {
    explicit_shadow_ = std::move(explicit_shadow);
    shadow_model_config_ = explicit_shadow_->config();
    shadow_descriptor_ = shadow_model_config_.descriptor;
    if (explicit_shadow_->model->embed_tokens.is_empty())
      throw ConfigError("the explicit shadow model has no token embeddings");
    shares_embeddings_ = false;
    shadow_model = register_module("shadow_model", explicit_shadow_->model);
    if (const models::Linear carried = explicit_shadow_->head().projection(); !carried.is_empty()) {
      // A projected model (AutoModelForCausalLMWithHiddenProjection) brings its trained projection;
      // its embeddings stay frozen, as that class loads them by default.
      shadow_hidden_projection = register_module(
          "shadow_hidden_projection", models::Linear(shadow_model_config_.output_hidden_size(), base_config.hidden_size, false));
      torch::NoGradGuard no_grad;
      shadow_hidden_projection->weight.copy_(carried->weight);
      freeze_shadow_embeddings_ = true;
    } else if (shadow_model_config_.output_hidden_size() != base_config.hidden_size) {
      shadow_hidden_projection = register_module(
          "shadow_hidden_projection", models::Linear(shadow_model_config_.output_hidden_size(), base_config.hidden_size, false));
      models::init_linear_like_torch(*shadow_hidden_projection);
    }
  } else {
    shadow_model_config_ = implicit_shadow_config(base_config, config_);
    shadow_descriptor_ = shadow_model_config_.descriptor;
    shadow_model =
        register_module("shadow_model", models::Decoder(shadow_model_config_, models::shared_backbone_keeps_token_table(*shadow_descriptor_)));
    models::init_like_transformers(*shadow_model, shadow_model_config_.initializer_range);
  }

  const int64_t slots = base_config.num_layers() - 1, h = base_config.hidden_size;
  shadow_injection_model = register_module(
      "shadow_injection_model", ShadowInjectionModel(slots, h, config_.injection_hidden_size, config_.dropout, config_.alpha));
  shadow_update_model =
      register_module("shadow_update_model", ShadowUpdateModel(slots, h, config_.gate_hidden_size, config_.dropout));
  const c10::Device device = base_model->output_embedding().device();
  for (torch::nn::Module* m : {module_or_null(shadow_model), module_or_null(shadow_injection_model),
                               module_or_null(shadow_update_model), module_or_null(shadow_hidden_projection)})
    if (m) m->to(device);
  set_adapter_trainable(true);
}

at::TensorOptions ShadowPeftModelImpl::shadow_parameter_options() const {
  return shadow_model->parameters().front().options();
}

void ShadowPeftModelImpl::freeze_base() {
  for (auto& p : base_model->parameters()) p.set_requires_grad(false);
}

void ShadowPeftModelImpl::set_adapter_trainable(bool trainable) {
  for (torch::nn::Module* m : {module_or_null(shadow_model), module_or_null(shadow_injection_model),
                               module_or_null(shadow_update_model), module_or_null(shadow_hidden_projection)})
    if (m)
      for (auto& p : m->parameters()) p.set_requires_grad(trainable);
  if (freeze_shadow_embeddings_) shadow_model->embed_tokens->weight.set_requires_grad(false);
}

at::Tensor ShadowPeftModelImpl::initial_shadow_hidden(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                                      models::KVCache* shadow_cache) {
  // Without explicit positions the shadow backbone counts its own, as its family does.
  const at::Tensor positions =
      options.position_ids.defined()
          ? options.position_ids
          : models::default_position_ids(shadow_model_config_, input_ids, shadow_cache ? shadow_cache->length() : 0,
                                         options.attention_mask);
  const at::Tensor table_rows = shares_embeddings_ ? base_model->model->embed_tokens->forward(input_ids)
                                                   : shadow_model->embed_tokens->forward(input_ids);
  const at::ScalarType dtype = shadow_parameter_options().dtype().toScalarType();
  models::ForwardOptions shadow_options;
  shadow_options.attention_mask = options.attention_mask;
  shadow_options.cache = shadow_cache;
  at::Tensor s = shadow_model->forward(shadow_model->prepare_inputs_embeds(table_rows.to(dtype), positions), positions, shadow_options);
  if (shadow_hidden_projection) s = shadow_hidden_projection->forward(s);
  return s;
}

ShadowPeftModelImpl::Output ShadowPeftModelImpl::forward(const at::Tensor& input_ids, const models::ForwardOptions& options,
                                                         models::KVCache* shadow_cache) {
  if (options.hooks) throw UnsupportedError("ShadowPeftModel installs its own layer hooks; nested hooks are not supported");
  const at::Tensor s0 = initial_shadow_hidden(input_ids, options, shadow_cache);
  at::Tensor s = s0;
  models::LayerHooks hooks;
  hooks.before_layer = [&](int64_t i, const at::Tensor& h) {
    return i > 0 ? shadow_injection_model->forward(h, s, i - 1).to(h.scalar_type()) : h;
  };
  hooks.after_layer = [&](int64_t i, const at::Tensor& h) {
    // The update computes in the shadow's dtype (float32 beside a bfloat16 base, as peft's update).
    if (i > 0) s = shadow_update_model->forward(h.to(s.scalar_type()), s, i - 1);
  };
  models::ForwardOptions base_options = options;
  base_options.hooks = &hooks;
  return {base_model->hidden_states(input_ids, base_options), s0};
}

io::TensorMap ShadowPeftModelImpl::adapter_tensors(const std::function<at::Tensor(const at::Tensor&)>& view) {
  io::TensorMap state;
  for (auto& [name, t] : models::backbone_state_dict(*shadow_model, shadow_model_config_, view))
    state.emplace("shadow_model." + name, t);
  auto add = [&](const std::string& module, torch::nn::Module* m) {
    if (m)
      for (const auto& item : m->named_parameters()) state.emplace(module + "." + item.key(), view(item.value()));
  };
  add("shadow_hidden_projection", module_or_null(shadow_hidden_projection));
  add("shadow_injection_model", module_or_null(shadow_injection_model));
  add("shadow_update_model", module_or_null(shadow_update_model));
  return state;
}

io::TensorMap ShadowPeftModelImpl::adapter_state_dict() {
  return adapter_tensors([](const at::Tensor& p) { return p.detach(); });
}

io::TensorMap ShadowPeftModelImpl::adapter_gradients() {
  // Trainable tensors only; one that took no part in the loss (the update after the last layer)
  // has a zero gradient, as PyTorch reports it after zero-filling.
  io::TensorMap grads = adapter_tensors([](const at::Tensor& p) {
    if (!p.requires_grad()) return at::Tensor();
    return p.grad().defined() ? p.grad().detach() : at::zeros_like(p);
  });
  std::erase_if(grads, [](const auto& entry) { return !entry.second.defined(); });
  return grads;
}

void ShadowPeftModelImpl::load_adapter_state_dict(const io::TensorMap& state, const std::string& source) {
  io::TensorMap backbone, others;
  for (const auto& [name, t] : state) {
    if (name.starts_with("shadow_model.")) backbone.emplace(name.substr(13), t);
    else others.emplace(name, t);
  }
  models::load_backbone_state_dict(*shadow_model, shadow_model_config_, std::move(backbone), source + " (shadow_model.*)");
  // The other modules load through one holder so that every problem is reported together. The
  // projection is optional, as upstream: checkpoints from before it existed lack it.
  torch::nn::Module holder;
  holder.register_module("shadow_injection_model", shadow_injection_model);
  holder.register_module("shadow_update_model", shadow_update_model);
  if (shadow_hidden_projection && others.count("shadow_hidden_projection.weight"))
    holder.register_module("shadow_hidden_projection", shadow_hidden_projection);
  models::load_parameters(holder, std::move(others), source);
}

void ShadowPeftModelImpl::save_pretrained(const fs::path& dir) {
  fs::create_directories(dir);
  config_.save_pretrained(dir);
  io::TensorMap state;
  for (auto& [name, t] : adapter_state_dict()) state.emplace(name, t.to(at::kCPU).contiguous());
  io::save_safetensors(dir / kAdapterFile, state);
}

std::shared_ptr<ShadowPeftModelImpl> ShadowPeftModelImpl::from_pretrained(models::CausalLM base, const fs::path& dir,
                                                                          bool is_trainable, models::CausalLM explicit_shadow) {
  if (!fs::is_directory(dir)) throw LoadError(fmt::format("{}: adapter directory not found", dir.string()));
  const ShadowConfig config = ShadowConfig::from_pretrained(dir);
  const bool implicit = !explicit_shadow;
  auto model = std::make_shared<ShadowPeftModelImpl>(std::move(base), config, std::move(explicit_shadow));
  const fs::path file = dir / kAdapterFile;
  if (!fs::exists(file))
    throw LoadError(fmt::format("Missing adapter checkpoint. Expected {} in {}", kAdapterFile, dir.string()));
  io::TensorMap state = io::SafetensorsFile::open(file).load_all();
  // shadow_config.json does not say how the shadow was made; the tensors do: a projection to the
  // base's width, or token embeddings of its own where an implicit shadow shares the base's.
  const bool own_embeddings = model->shares_embeddings_ && state.contains("shadow_model.embed_tokens.weight");
  if (implicit && (state.contains("shadow_hidden_projection.weight") || own_embeddings))
    throw ConfigError(fmt::format("{}: this adapter was trained with an explicit shadow model ({}); load it with that "
                                  "model (CLI: --shadow-model DIR)",
                                  dir.string(), own_embeddings ? "its shadow has token embeddings of its own"
                                                               : "it projects the shadow to the base's hidden size"));
  model->load_adapter_state_dict(state, file.string());
  model->train(is_trainable);
  model->set_adapter_trainable(is_trainable);
  return model;
}

models::CausalLM ShadowPeftModelImpl::export_shadow() {
  if (shadow_hidden_projection) {
    // A projected model: the explicit shadow's backbone and embeddings, the trained projection,
    // the base's head (as shadow-peft's export_shadow does through wrap()).
    return wrap_with_hidden_projection(*explicit_shadow_, base_model->output_embedding(), shadow_hidden_projection->weight);
  }
  models::ModelConfig config = shadow_model_config_;
  models::CausalLM exported(config);
  torch::NoGradGuard no_grad;
  const at::Tensor base_head = base_model->output_embedding();
  exported->to(base_head.scalar_type());
  io::TensorMap weights;
  for (const auto& item : shadow_model->named_parameters())
    if (!item.key().starts_with("embed_tokens.")) weights.emplace("model." + item.key(), item.value().detach());
  weights.emplace("model.embed_tokens.weight", base_model->model->embed_tokens->weight.detach());
  if (!config.tie_word_embeddings) weights.emplace("lm_head.weight", base_head.detach());
  models::load_parameters(*exported, std::move(weights), "export_shadow");  // copies: nothing shared
  exported->to(base_head.device());
  exported->eval();
  return exported;
}

std::pair<int64_t, int64_t> ShadowPeftModelImpl::count_parameters() {
  std::unordered_set<const void*> seen;
  int64_t trainable = 0, total = 0;
  for (const auto& p : parameters()) {
    if (!seen.insert(p.unsafeGetTensorImpl()).second) continue;
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  return {trainable, total};
}

std::string ShadowPeftModelImpl::trainable_parameters_string() {
  const auto [trainable, total] = count_parameters();
  return shadowpeft::trainable_parameters_string(trainable, total);
}

void ShadowPeftModelImpl::print_trainable_parameters() { fmt::print("{}\n", trainable_parameters_string()); }

ShadowPeftModel get_shadow_model(models::CausalLM base, const ShadowConfig& config, models::CausalLM explicit_shadow) {
  return ShadowPeftModel(std::move(base), config, std::move(explicit_shadow));
}

}  // namespace shadowpeft

namespace shadowpeft {

std::pair<int64_t, int64_t> count_parameters_from_config(const models::ModelConfig& base, const ShadowConfig& config) {
  const models::MetaParameters meta;  // shapes only: nothing allocated, nothing initialised
  ShadowPeftModel model(models::CausalLM(base), config);
  return model->count_parameters();
}

}  // namespace shadowpeft
