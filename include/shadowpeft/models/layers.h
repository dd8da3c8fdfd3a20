#pragma once
// The building blocks of the generic decoder, configured by a LayerSpec. Submodule and parameter
// names follow Hugging Face's Llama layout so that named_parameters() equals checkpoint keys.
// Parameters are created uninitialised: the loader fills them (or callers initialise explicitly).
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <map>
#include <memory>
#include <optional>

#include "shadowpeft/models/model_config.h"

namespace shadowpeft::models {

class KVCache;

// While one is alive, the modules built on this thread create their parameters on the meta device
// (shapes, no memory), so that a model of any size can be built just to count its parameters.
class MetaParameters {
 public:
  MetaParameters();
  ~MetaParameters();
  MetaParameters(const MetaParameters&) = delete;
  MetaParameters& operator=(const MetaParameters&) = delete;

 private:
  bool previous_;
};

// An uninitialised parameter tensor: on the CPU, or on the meta device inside MetaParameters.
at::Tensor new_parameter(at::IntArrayRef sizes);

// A trainable addition to a frozen Linear's output, delta(x) (an adapter's low-rank update: peft's
// LoRA). The adapter owns its parameters; the layer only calls it.
class LinearAdapter {
 public:
  virtual ~LinearAdapter() = default;
  virtual at::Tensor delta(const at::Tensor& x) = 0;
};

// y = x Wᵀ (+ b) (+ adapter->delta(x)), like torch.nn.Linear but without its random initialisation.
// A frozen layer can hold its weight as weight-only int8 (quantize_int8): it then still computes
// in the dtype its weight had, converting the int8 rows with their scales where it needs them.
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias);
  at::Tensor forward(const at::Tensor& x) const;
  // torch's per-channel symmetric qint8 (PerChannelMinMaxObserver): a float32 scale per output
  // row, absmax / 127.5, and weight := round(weight / scale) in [-128, 127]. Freezes the weight;
  // a later module->to(dtype) would cast the integers, which forward then reports.
  void quantize_int8();
  bool quantized() const { return weight_scale.defined(); }
  // The dtype the layer computes in: the weight's, or the one it had before quantize_int8.
  at::ScalarType compute_dtype() const { return quantized() ? compute_dtype_ : weight.scalar_type(); }
  // The weight as a matrix in compute_dtype() (the int8 rows times their scales when quantized).
  at::Tensor dense_weight() const;
  at::Tensor weight;        // [out, in]
  at::Tensor bias;          // [out] or undefined
  at::Tensor weight_scale;  // [out] float32 once quantized, else undefined
  std::shared_ptr<LinearAdapter> adapter;  // set while an adapter extends this layer

 private:
  at::ScalarType compute_dtype_ = at::kFloat;
  at::Tensor kernel_scales_;  // weight_scale in compute_dtype_, as ATen's fused int8 kernel takes them
};
TORCH_MODULE(Linear);

// A lookup table: ids → rows of `weight`, without torch.nn.Embedding's random initialisation.
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t dim);
  at::Tensor forward(const at::Tensor& ids) const;
  at::Tensor weight;  // [num_embeddings, dim]
};
TORCH_MODULE(Embedding);

// RMSNorm (Llama: w * normed cast back; Gemma: (1 + w) in float32) or LayerNorm with bias.
class NormImpl : public torch::nn::Module {
 public:
  NormImpl(NormKind kind, int64_t size, double eps);
  at::Tensor forward(const at::Tensor& x) const;
  NormKind kind;
  double eps;
  at::Tensor weight;
  at::Tensor bias;  // LayerNorm only
};
TORCH_MODULE(Norm);

// Everything attention needs that is shared by all layers of one forward pass: rotary tables
// (per RoPE variant and head_dim) and boolean masks (per sliding window), built once and reused.
class AttentionContext {
 public:
  // position_ids: [B, T] int64 absolute positions of the queries. key_padding_mask: [B, S] with
  // 1 where a key is real (S = cached + T), or undefined when nothing is padded. With a cache,
  // the queries are the S - T .. S-1th keys.
  //
  // Packed sequences (transformers' rule): without a key_padding_mask or cache, position_ids that
  // do not go up by one mark where a new sequence starts in a row; each token then attends only to
  // its own sequence (and windows and chunks count within it).
  AttentionContext(const ModelConfig& config, at::Tensor position_ids, at::Tensor key_padding_mask,
                   KVCache* cache = nullptr);
  KVCache* cache() const { return cache_; }
  // Whether the rows hold several sequences (see the constructor).
  bool packed() const { return sequence_ids_.defined(); }

  // cos, sin: [B, 1, T, head_dim], in `dtype`.
  std::pair<at::Tensor, at::Tensor> rotary(const RopeConfig& rope, int64_t head_dim, at::ScalarType dtype);
  // [B, 1, T, S] true where query t may attend key s, within the layer's sliding window or chunk.
  // key_positions: the sequence index of each key [S] (-1: empty slot) when a ring buffer holds
  // them out of order; undefined for 0..S-1.
  const at::Tensor& mask(const LayerSpec& spec, const at::Tensor& key_positions = {});
  // [T] the queries' indices in the sequence (cached tokens first), float32.
  at::Tensor query_indices() const;
  // [B, T] 1 where a query token is real, in the dtype of the mask given; undefined when nothing is padded.
  at::Tensor query_padding_mask() const;

 private:
  const ModelConfig& config_;
  at::Tensor position_ids_;
  at::Tensor key_padding_mask_;
  KVCache* cache_;
  int64_t past_;  // tokens already in the cache
  at::Tensor sequence_ids_;  // [B, T] which packed sequence each token belongs to; undefined: one per row
  struct RotaryTables {
    RopeConfig rope;
    int64_t head_dim;
    at::ScalarType dtype;
    at::Tensor cos, sin;
  };
  std::vector<RotaryTables> rotary_;  // a model has one or two RoPE variants
  std::map<std::pair<int64_t, int64_t>, at::Tensor> masks_;  // (window, chunk) (-1: none) → mask
};

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const LayerSpec& spec, const ModelConfig& config, int64_t layer_index);
  at::Tensor forward(const at::Tensor& x, AttentionContext& ctx);  // x: [B, T, H]
  LayerSpec spec;
  int64_t layer_index;
  double norm_eps;  // the model's, for weightless q/k norms
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr}, linear_attn{nullptr};
  Norm q_norm{nullptr}, k_norm{nullptr};
  at::Tensor sinks;  // [num_heads] with LayerSpec::attention_sinks
};
TORCH_MODULE(Attention);

// A Mamba-2 mixer (MambaSpec), transformers' pure-PyTorch path: the chunked scan over a sequence,
// the recurrent step for one token after cached ones (mamba2_mixer.cpp).
class Mamba2MixerImpl : public torch::nn::Module {
 public:
  Mamba2MixerImpl(const MambaSpec& spec, const ModelConfig& config, int64_t layer_index);
  at::Tensor forward(const at::Tensor& x, AttentionContext& ctx);  // x: [B, T, H]
  MambaSpec spec;
  int64_t layer_index;
  double norm_eps;  // the gated norm's: the model's
  Linear in_proj{nullptr}, out_proj{nullptr};
  at::Tensor conv1d_weight, conv1d_bias;  // conv1d.weight [C, 1, K], conv1d.bias [C]
  at::Tensor dt_bias, A_log, D;           // [heads]
  at::Tensor norm_weight;                 // norm.weight [I]
};
TORCH_MODULE(Mamba2Mixer);

// The experts of a mixture-of-experts MLP, stacked as MoeSpec describes (mixture_of_experts.cpp).
class ExpertsImpl : public torch::nn::Module {
 public:
  ExpertsImpl(const MoeSpec& spec, int64_t hidden_size, Activation activation);
  // x: [N, H]; experts, weights: [N, k], the experts routed to and their weights. Returns [N, H],
  // Σ_j weights[n, j] · expert_{experts[n, j]}(x[n]), computing each expert once on its tokens.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& experts, const at::Tensor& weights) const;
  MoeSpec spec;
  Activation activation;
  at::Tensor gate_up_proj, down_proj;            // [E, 2I, H], [E, H, I]
  at::Tensor up_proj;                            // [E, I, H] instead of gate_up_proj (ExpertActivation::Plain)
  at::Tensor gate_up_proj_bias, down_proj_bias;  // [E, 2I], [E, H] or undefined
};
TORCH_MODULE(Experts);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const LayerSpec& spec, const ModelConfig& config);
  at::Tensor forward(const at::Tensor& x);
  MlpKind kind;
  Activation activation;
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr}, linear_mlp{nullptr};
  Linear gate{nullptr};  // the router (MixtureOfExperts): logits over the experts
  at::Tensor score_correction_bias;  // gate.e_score_correction_bias [E] (SigmoidGroupLimited), never trained
  Linear fc1_latent_proj{nullptr}, fc2_latent_proj{nullptr};  // MoeSpec::latent_size
  Experts experts{nullptr};
  std::shared_ptr<MlpImpl> shared_expert;  // an MLP beside the experts (MoeSpec::shared_expert_intermediate_size)
};
TORCH_MODULE(Mlp);

// Residual block: h = residual_norm(h + post(attn(pre(h)))), the same for the MLP, with the norms
// the spec's NormPlacement puts there (absent ones are the identity). A skipped sub-block has no modules at
// all, norms included, and leaves h unchanged. The sequence mixer is attention or a Mamba mixer;
// modules are named as the family names a layer's parts (LayerPartNames).
class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const LayerSpec& spec, const ModelConfig& config, int64_t layer_index);
  at::Tensor forward(at::Tensor h, AttentionContext& ctx);
  Norm attention_pre_norm{nullptr}, attention_post_norm{nullptr}, mlp_pre_norm{nullptr}, mlp_post_norm{nullptr};
  Norm attention_residual_norm{nullptr}, mlp_residual_norm{nullptr};  // after the residual sum (PostResidual)
  Attention self_attn{nullptr};
  Mamba2Mixer mamba{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

at::Tensor activate(const at::Tensor& x, Activation activation);

}  // namespace shadowpeft::models
