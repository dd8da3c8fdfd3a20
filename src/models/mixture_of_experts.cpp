// Routing and the grouped expert computation. Tokens are sorted by the expert they go to, so each
// active expert runs one matmul pair over all of its tokens; the outputs are added back per token
// in ascending expert order, the order transformers' reference loop adds them in.
#include "mixture_of_experts.h"

#include <ATen/ATen.h>

#include <vector>

namespace shadowpeft::models {

ExpertsImpl::ExpertsImpl(const MoeSpec& spec_, int64_t hidden_size, Activation activation_)
    : spec(spec_), activation(activation_) {
  const int64_t e = spec.num_experts, i = spec.expert_intermediate_size, h = hidden_size;
  gate_up_proj = register_parameter("gate_up_proj", new_parameter({e, 2 * i, h}));
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
    const auto gate_up = at::linear(tokens_of_e, gate_up_proj[e], bias_of(gate_up_proj_bias, e)).chunk(2, -1);
    at::Tensor hidden;
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
    }
    outputs.push_back(at::linear(hidden, down_proj[e], bias_of(down_proj_bias, e)));
  }
  at::Tensor out = at::cat(outputs);
  if (!spec.weights_on_input) out = out * slot_weights;
  return at::zeros_like(x).index_add(0, tokens, out.to(x.scalar_type()));
}

namespace detail {

at::Tensor mixture_of_experts(const at::Tensor& x, const LinearImpl& gate, const ExpertsImpl& experts) {
  const MoeSpec& spec = experts.spec;
  const at::Tensor tokens = x.reshape({-1, x.size(-1)});
  const at::Tensor logits = gate.forward(tokens);  // [N, E]
  at::Tensor weights, chosen;
  switch (spec.scoring) {
    case RouterScoring::SoftmaxTopK: {
      std::tie(weights, chosen) = at::softmax(logits, -1, at::kFloat).topk(spec.top_k, -1);
      if (spec.normalize_top_k) weights = weights / weights.sum(-1, true);
      weights = weights.to(logits.scalar_type());
      break;
    }
    case RouterScoring::TopKSoftmax: {
      at::Tensor top;
      std::tie(top, chosen) = logits.topk(spec.top_k, -1);
      weights = at::softmax(top, -1);
      break;
    }
    case RouterScoring::TopKSigmoid: {
      at::Tensor top;
      std::tie(top, chosen) = logits.topk(spec.top_k, -1);
      weights = at::sigmoid(top.to(at::kFloat)).to(logits.scalar_type());
      break;
    }
  }
  return experts.forward(tokens, chosen, weights).view(x.sizes());
}

}  // namespace detail
}  // namespace shadowpeft::models
