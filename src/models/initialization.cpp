#include "shadowpeft/models/initialization.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <cmath>

namespace shadowpeft::models {

void init_linear_like_torch(LinearImpl& linear) {
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(linear.weight.size(1)));
  linear.weight.uniform_(-bound, bound);
  if (linear.bias.defined()) linear.bias.uniform_(-bound, bound);
}

// HF _init_weights for a freshly built backbone: N(0, initializer_range) for matrices, embeddings,
// expert stacks, routers, convolutions and attention sinks; zero biases; norms at identity ((1 + w)
// norms at w = 0); a Mamba mixer's A_log = log(1..heads), D = 1 and dt_bias = softplus⁻¹(dt) for dt
// log-uniform in its init range. (transformers also rescales a Mamba out_proj by the layer count;
// here it is drawn like every matrix.)
void init_like_transformers(DecoderImpl& decoder, double std) {
  torch::NoGradGuard no_grad;
  const auto normal = [&](at::Tensor& t) { if (t.defined()) t.normal_(0.0, std); };
  const auto zero = [](at::Tensor& t) { if (t.defined()) t.zero_(); };
  for (auto& item : decoder.named_modules("", false)) {
    torch::nn::Module* m = item.value().get();
    if (auto* lin = m->as<LinearImpl>()) {
      normal(lin->weight);
      zero(lin->bias);
    } else if (auto* emb = m->as<EmbeddingImpl>()) {
      normal(emb->weight);
    } else if (auto* norm = m->as<NormImpl>()) {
      norm->weight.fill_(norm->kind == NormKind::RMSNormPlusOne ? 0.0 : 1.0);
      zero(norm->bias);
    } else if (auto* experts = m->as<ExpertsImpl>()) {
      for (at::Tensor* t : {&experts->gate_up_proj, &experts->up_proj, &experts->down_proj}) normal(*t);
      for (at::Tensor* t : {&experts->gate_up_proj_bias, &experts->down_proj_bias}) zero(*t);
    } else if (auto* mlp = m->as<MlpImpl>()) {
      zero(mlp->score_correction_bias);
    } else if (auto* attention = m->as<AttentionImpl>()) {
      normal(attention->sinks);
    } else if (auto* mamba = m->as<Mamba2MixerImpl>()) {
      const MambaSpec& spec = mamba->spec;
      normal(mamba->conv1d_weight);
      zero(mamba->conv1d_bias);
      mamba->A_log.copy_(at::arange(1, spec.num_heads + 1, at::kFloat).log());
      mamba->D.fill_(1.0);
      mamba->norm_weight.fill_(1.0);
      const double lo = std::log(spec.dt_init_min), hi = std::log(spec.dt_init_max);
      const at::Tensor dt = (at::rand({spec.num_heads}, at::kDouble) * (hi - lo) + lo).exp().clamp_min(spec.dt_init_floor);
      mamba->dt_bias.copy_(dt + at::log(-at::expm1(-dt)));
    }
  }
}

}  // namespace shadowpeft::models
