#include "shadowpeft/models/causal_lm.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/models/gradient_checkpoint.h"

namespace shadowpeft::models {
namespace {

at::Tensor checkpointed_layer(const std::shared_ptr<DecoderLayerImpl>& layer, const at::Tensor& h,
                              const std::shared_ptr<AttentionContext>& ctx) {
  const auto parameters = layer->parameters();
  const bool parameters_need_grad =
      std::any_of(parameters.begin(), parameters.end(), [](const at::Tensor& p) { return p.requires_grad(); });
  // A skipped layer stores nothing, and without anything requiring grad there is no graph to save.
  if (parameters.empty() || (!h.requires_grad() && !parameters_need_grad)) return layer->forward(h, *ctx);
  // The context (rotary tables, masks) is shared with the recomputation, which runs after forward returns.
  return checkpoint([layer, ctx](const at::Tensor& x) { return layer->forward(x, *ctx); }, h,
                            parameters_need_grad);
}

}  // namespace

DecoderImpl::DecoderImpl(const ModelConfig& config, bool token_embeddings) : config_(&config) {
  const int64_t h = config.hidden_size, e = config.output_hidden_size();
  if (token_embeddings) embed_tokens = register_module("embed_tokens", Embedding(config.vocab_size, e));
  if (config.positions == PositionKind::Learned)
    embed_positions = register_module("embed_positions", Embedding(config.max_position_embeddings + config.position_offset, h));
  if (e != h) {
    project_in = register_module("project_in", Linear(e, h, false));
    project_out = register_module("project_out", Linear(h, e, false));
  }
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::size_t i = 0; i < config.layers.size(); ++i)
    layers->push_back(DecoderLayer(config.layers[i], config, static_cast<int64_t>(i)));
  if (config.final_norm) norm = register_module("norm", Norm(config.norm, h, config.norm_eps));
}

at::Tensor DecoderImpl::embed(const at::Tensor& input_ids, const at::Tensor& position_ids) {
  if (!embed_tokens) throw Error("this decoder shares its token embeddings; feed it inputs_embeds");
  return prepare_inputs_embeds(embed_tokens->forward(input_ids), position_ids);
}

at::Tensor DecoderImpl::prepare_inputs_embeds(at::Tensor h, const at::Tensor& position_ids) {
  if (config_->scale_embeddings) {
    // transformers multiplies by sqrt(H) rounded to the activation dtype (Gemma).
    h = h * at::scalar_tensor(std::sqrt(static_cast<double>(config_->hidden_size)), h.options());
  }
  if (project_in) h = project_in->forward(h);
  if (embed_positions) h = h + embed_positions->forward(config_->position_offset ? position_ids + config_->position_offset : position_ids);
  return h;
}

at::Tensor DecoderImpl::forward(at::Tensor h, const at::Tensor& position_ids, const ForwardOptions& options) {
  const auto ctx = std::make_shared<AttentionContext>(*config_, position_ids, options.attention_mask, options.cache);
  const bool checkpointing = gradient_checkpointing && is_training() && at::GradMode::is_enabled() && !options.cache;
  for (std::size_t i = 0; i < layers->size(); ++i) {
    const auto layer_index = static_cast<int64_t>(i);
    if (options.hooks && options.hooks->before_layer) h = options.hooks->before_layer(layer_index, h);
    const auto layer = layers->ptr<DecoderLayerImpl>(i);
    h = checkpointing ? checkpointed_layer(layer, h, ctx) : layer->forward(h, *ctx);
    if (options.hooks && options.hooks->after_layer) options.hooks->after_layer(layer_index, h);
  }
  if (options.cache) options.cache->advance(h.size(1));
  if (norm) h = norm->forward(h);
  return project_out ? project_out->forward(h) : h;
}

int64_t set_gradient_checkpointing(torch::nn::Module& root, bool enabled) {
  std::set<DecoderImpl*> decoders;
  auto visit = [&](torch::nn::Module& module) {
    if (auto* decoder = dynamic_cast<DecoderImpl*>(&module)) decoders.insert(decoder);
  };
  visit(root);
  for (const auto& module : root.modules(/*include_self=*/false)) visit(*module);
  for (DecoderImpl* decoder : decoders) decoder->gradient_checkpointing = enabled;
  return static_cast<int64_t>(decoders.size());
}

CausalLMImpl::CausalLMImpl(ModelConfig config) : config_(std::move(config)) {
  model = register_module("model", Decoder(config_));
  head_ = config_.descriptor ? config_.descriptor->make_head(config_, *this, model->embed_tokens)
                             : make_output_head(config_, *this, model->embed_tokens);
}

at::Tensor default_position_ids(const ModelConfig& config, const at::Tensor& input_ids, int64_t past,
                                const at::Tensor& attention_mask) {
  if (config.default_positions == DefaultPositions::CountRealTokens && attention_mask.defined()) {
    // transformers (OPT): padding gets -1, which the position offset keeps inside the table.
    const at::Tensor mask = attention_mask.to(at::kLong);
    return (mask.cumsum(1) * mask - 1).narrow(1, past, input_ids.size(1));
  }
  return at::arange(past, past + input_ids.size(1), input_ids.options().dtype(at::kLong))
      .unsqueeze(0)
      .expand({input_ids.size(0), -1});
}

at::Tensor CausalLMImpl::hidden_states(const at::Tensor& input_ids, const ForwardOptions& options) {
  if (input_ids.dim() != 2)
    throw ShapeError(fmt::format("input_ids must be [batch, sequence], got {} dimensions", input_ids.dim()));
  const int64_t past = options.cache ? options.cache->length() : 0;
  if (options.attention_mask.defined() &&
      (options.attention_mask.size(0) != input_ids.size(0) || options.attention_mask.size(1) != past + input_ids.size(1)))
    throw ShapeError(fmt::format("attention_mask must be [{}, {}] (cached + new tokens), got [{}]", input_ids.size(0),
                                 past + input_ids.size(1), fmt::join(options.attention_mask.sizes(), ", ")));
  const at::Tensor positions =
      options.position_ids.defined() ? options.position_ids : default_position_ids(config_, input_ids, past, options.attention_mask);
  if (positions.sizes() != input_ids.sizes()) throw ShapeError("position_ids must have the shape of input_ids");
  return model->forward(model->embed(input_ids, positions), positions, options);
}

at::Tensor CausalLMImpl::logits_from_hidden(const at::Tensor& hidden) const { return head_->scores(hidden); }

at::Tensor CausalLMImpl::last_token_logits(const at::Tensor& input_ids, const ForwardOptions& options) {
  return logits_from_hidden(last_position(hidden_states(input_ids, options)));
}

at::Tensor CausalLMImpl::forward(const at::Tensor& input_ids, const ForwardOptions& options) {
  return logits_from_hidden(hidden_states(input_ids, options));
}

}  // namespace shadowpeft::models
