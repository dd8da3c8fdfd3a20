// Routing and the grouped expert computation. Tokens are sorted by the expert they go to, so each
// active expert runs one matmul pair over all of its tokens; the outputs are added back per token
// in ascending expert order, the order transformers' reference loop adds them in.
#include "mixture_of_experts.h"

#include <ATen/ATen.h>

#include <limits>
#include <vector>

namespace shadowpeft::models {

ExpertsImpl::ExpertsImpl(const MoeSpec& spec_, int64_t hidden_size, Activation activation_)
    : spec(spec_), activation(activation_) {
  const int64_t e = spec.num_experts, i = spec.expert_intermediate_size, h = hidden_size;
  if (spec.activation == ExpertActivation::Plain) up_proj = register_parameter("up_proj", new_parameter({e, i, h}));
  else gate_up_proj = register_parameter("gate_up_proj", new_parameter({e, 2 * i, h}));
  down_proj = register_parameter("down_proj", new_parameter({e, h, i}));
  if (spec.expert_bias) {
    gate_up_proj_bias = register_parameter("gate_up_proj_bias", new_parameter({e, 2 * i}));
    down_proj_bias = register_parameter("down_proj_bias", new_parameter({e, h}));
  }
}

namespace {

at::Tensor bias_of(const at::Tensor& bias, int64_t expert) { return bias.defined() ? bias[expert] : at::Tensor(); }

}  // namespace

at::Tensor ExpertsImpl::forward(const at::Tensor& x, const at::Tensor& chosen, const at::Tensor& weights) const {
  const int64_t k = chosen.size(1);
  const at::Tensor flat = chosen.reshape(-1);
  // Slots (token, j) grouped by expert; stable, so tokens stay ascending within an expert.
  const at::Tensor order = at::argsort(flat, /*stable=*/true);
  const at::Tensor tokens = at::div(order, k, "floor");
  const at::Tensor counts = at::bincount(flat, {}, spec.num_experts).to(at::kCPU);
  const auto count = counts.accessor<int64_t, 1>();
  const at::Tensor slot_weights = weights.reshape(-1).index_select(0, order).unsqueeze(1);
  at::Tensor routed = x.index_select(0, tokens);
  if (spec.weights_on_input) routed = routed * slot_weights;
  std::vector<at::Tensor> outputs;
  int64_t start = 0;
  for (int64_t e = 0; e < spec.num_experts; ++e) {
    if (count[e] == 0) continue;
    const at::Tensor tokens_of_e = routed.narrow(0, start, count[e]);
    start += count[e];
    at::Tensor hidden;
    if (spec.activation == ExpertActivation::Plain) {
      outputs.push_back(at::linear(activate(at::linear(tokens_of_e, up_proj[e]), activation), down_proj[e]));
      continue;
    }
    const auto gate_up = at::linear(tokens_of_e, gate_up_proj[e], bias_of(gate_up_proj_bias, e)).chunk(2, -1);
    switch (spec.activation) {
      case ExpertActivation::Gated:
        hidden = activate(gate_up[0], activation) * gate_up[1];
        break;
      case ExpertActivation::ClampedSwiGLU: {
        const at::Tensor gate = gate_up[0].clamp_max(spec.swiglu_limit);
        const at::Tensor up = gate_up[1].clamp(-spec.swiglu_limit, spec.swiglu_limit);
        hidden = (up + 1) * (gate * at::sigmoid(gate * spec.swiglu_alpha));
        break;
      }
      case ExpertActivation::Plain: break;
    }
    outputs.push_back(at::linear(hidden, down_proj[e], bias_of(down_proj_bias, e)));
  }
  at::Tensor out = at::cat(outputs);
  if (!spec.weights_on_input) out = out * slot_weights;
  return at::zeros_like(x).index_add(0, tokens, out.to(x.scalar_type()));
}

namespace detail {

namespace {

// DeepSeek-V3's routing (RouterScoring::SigmoidGroupLimited), as transformers computes it.
std::pair<at::Tensor, at::Tensor> sigmoid_group_limited(const at::Tensor& logits, const at::Tensor& correction,
                                                        const MoeSpec& spec) {
  const at::Tensor scores = at::sigmoid(logits);
  at::Tensor choice = scores + correction;
  const int64_t n = choice.size(0), groups = spec.num_groups, per_group = spec.num_experts / groups;
  const at::Tensor group_scores = std::get<0>(choice.view({n, groups, per_group}).topk(2, -1)).sum(-1);
  const at::Tensor best_groups = std::get<1>(group_scores.topk(spec.top_k_groups, -1, true, false));
  const at::Tensor eligible = at::zeros_like(group_scores).scatter_(1, best_groups, 1.0).unsqueeze(-1)
                                  .expand({n, groups, per_group}).reshape({n, spec.num_experts}).to(at::kBool);
  choice = choice.masked_fill(eligible.logical_not(), -std::numeric_limits<double>::infinity());
  const at::Tensor chosen = std::get<1>(choice.topk(spec.top_k, -1, true, false));
  at::Tensor weights = scores.gather(1, chosen);
  if (spec.normalize_top_k) weights = weights / (weights.sum(-1, true) + 1e-20);
  return {weights * spec.routed_scaling_factor, chosen};
}

}  // namespace

at::Tensor mixture_of_experts(const at::Tensor& x, const MlpImpl& mlp) {
  const ExpertsImpl& experts = *mlp.experts;
  const MoeSpec& spec = experts.spec;
  const at::Tensor tokens = x.reshape({-1, x.size(-1)});
  // [N, E]; DeepSeek-V3's router runs in float32 whatever the model's dtype.
  const at::Tensor logits = spec.scoring == RouterScoring::SigmoidGroupLimited
                                ? at::linear(tokens.to(at::kFloat), mlp.gate->dense_weight().to(at::kFloat))
                                : mlp.gate->forward(tokens);
  at::Tensor weights, chosen, top;
  switch (spec.scoring) {
    case RouterScoring::SoftmaxTopK:
      std::tie(weights, chosen) = at::softmax(logits, -1, at::kFloat).topk(spec.top_k, -1);
      if (spec.normalize_top_k) weights = weights / weights.sum(-1, true);
      weights = weights.to(logits.scalar_type());
      break;
    case RouterScoring::TopKSoftmax:
      std::tie(top, chosen) = logits.topk(spec.top_k, -1);
      weights = at::softmax(top, -1);
      break;
    case RouterScoring::TopKSigmoid:
      std::tie(top, chosen) = logits.topk(spec.top_k, -1);
      weights = at::sigmoid(top.to(at::kFloat)).to(logits.scalar_type());
      break;
    case RouterScoring::SigmoidGroupLimited:
      std::tie(weights, chosen) = sigmoid_group_limited(logits, mlp.score_correction_bias.to(at::kFloat), spec);
      break;
  }
  if (mlp.fc1_latent_proj) {
    const at::Tensor routed = experts.forward(mlp.fc1_latent_proj->forward(tokens), chosen, weights);
    return mlp.fc2_latent_proj->forward(routed).view(x.sizes());
  }
  return experts.forward(tokens, chosen, weights).view(x.sizes());
}

}  // namespace detail
}  // namespace shadowpeft::models
