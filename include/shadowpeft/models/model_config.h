#pragma once
// What a model is, independent of where its config came from: global fields plus one LayerSpec per
// layer. Every source of heterogeneity (per_layer_config, DeciLM block_configs, ...) is normalised
// into `layers` once, in layer_specs.cpp; everything downstream reads specs and never HF JSON.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/io/json_file.h"

namespace shadowpeft::models {

class ModelDescriptor;

// A layer's sequence mixer: the sub-block that lets tokens see each other.
enum class AttentionKind {
  Full,    // self-attention (sliding-window if LayerSpec::sliding_window is set)
  Linear,  // DeciLM replace_with_linear: one H×H matrix on the normed hidden state
  Mamba2,  // a Mamba-2 selective state-space mixer (LayerSpec::mamba), recurrent state instead of a KV cache
  None,    // skipped: no weights, no KV cache, residual unchanged
};

enum class MlpKind {
  Gated,   // down(act(gate(x)) * up(x)) — SwiGLU / GeGLU
  Plain,   // down(act(up(x))) — GPT-2
  Linear,  // DeciLM replace_with_linear
  MixtureOfExperts,  // a router picks LayerSpec::moe.top_k of moe.num_experts gated MLPs per token
  None,    // skipped
};

// How a router turns its logits over the experts into the chosen experts and their weights.
enum class RouterScoring {
  SoftmaxTopK,  // softmax over all experts in float32, the k largest (Mixtral, Qwen-MoE)
  TopKSoftmax,  // the k largest logits, softmax over those k (GPT-OSS)
  TopKSigmoid,  // the k largest logits, each through a sigmoid in float32 (Llama 4)
  // DeepSeek-V3 (Nemotron-H): sigmoid scores in float32; the choice adds the router's
  // e_score_correction_bias and keeps the top_k_groups groups whose two best scores sum highest;
  // the weights are the chosen experts' plain scores (normalised if normalize_top_k) times
  // routed_scaling_factor.
  SigmoidGroupLimited,
};

// What each expert computes between its gate/up and down projections.
enum class ExpertActivation {
  Gated,          // act(gate) * up with the model's activation
  ClampedSwiGLU,  // gate' = min(gate, limit), up' = clamp(up, ±limit): (up' + 1) * gate' * σ(alpha * gate') (GPT-OSS)
  Plain,          // act(up), no gate: experts hold up_proj [E, I, H] instead of gate_up_proj (Nemotron-H)
};

// A mixture-of-experts MLP. Experts are stored stacked, as transformers' modules hold them:
// gate_up_proj [E, 2I, H] (gate rows, then up rows) and down_proj [E, H, I]; with a latent size L,
// H is L inside the experts.
struct MoeSpec {
  int64_t num_experts = 0;
  int64_t top_k = 0;
  int64_t expert_intermediate_size = 0;  // I
  RouterScoring scoring = RouterScoring::SoftmaxTopK;
  bool normalize_top_k = false;  // the chosen weights are divided by their sum (SoftmaxTopK)
  bool router_bias = false;
  bool expert_bias = false;       // gate_up_proj_bias [E, 2I], down_proj_bias [E, H]
  ExpertActivation activation = ExpertActivation::Gated;
  double swiglu_alpha = 1.702, swiglu_limit = 7.0;  // ClampedSwiGLU
  bool weights_on_input = false;  // the routing weight scales an expert's input, not its output (Llama 4)
  // A dense MLP every token also goes through, added to the experts' sum (mlp.shared_expert), gated
  // unless the experts are Plain; 0: none.
  int64_t shared_expert_intermediate_size = 0;
  // SigmoidGroupLimited: experts in num_groups equal groups, the best top_k_groups of them eligible.
  int64_t num_groups = 1, top_k_groups = 1;
  double routed_scaling_factor = 1.0;
  // The experts work at this width: mlp.fc1_latent_proj [L, H] before them, fc2_latent_proj [H, L]
  // after (Nemotron-H's moe_latent_size); 0: the hidden size.
  int64_t latent_size = 0;

  bool operator==(const MoeSpec&) const = default;
};

enum class NormKind {
  RMSNorm,         // w * x / rms(x)
  RMSNormPlusOne,  // (1 + w) * x / rms(x), computed in float32 (Gemma)
  RMSNormWeightInFloat32,  // w * x / rms(x), the product in float32, then cast (OLMo-2)
  LayerNorm,       // with bias (GPT-2)
};

// A norm (the model's NormKind) on the projected queries and keys, before RoPE.
enum class QkNorm {
  None,
  PerHead,   // over head_dim, weights [head_dim] (Qwen3, Gemma 3)
  AllHeads,  // over all heads at once, weights [heads * head_dim] (OLMo-2)
  L2AfterRope,  // each head scaled to unit RMS (no weights, in float32) after RoPE (Llama 4)
};

enum class Activation { SiLU, GeluTanh, GeluExact, ReLU, ReLUSquared };

// Where a layer's norms sit around its two sub-blocks (attention, MLP); each norm is a module of
// its own, named as the family's checkpoints name it.
enum class NormPlacement {
  Pre,       // h += attn(input_layernorm(h)); h += mlp(post_attention_layernorm(h))  (Llama)
  Sandwich,  // h += post_attention_layernorm(attn(input_layernorm(h)));
             // h += post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)))  (Gemma 2/3)
  Post,      // h += post_attention_layernorm(attn(h)); h += post_feedforward_layernorm(mlp(h))  (OLMo-2)
  PostResidual,  // h = input_layernorm(h + attn(h)); h = post_attention_layernorm(h + mlp(h))  (OPT-350m)
};

enum class PositionKind {
  Rope,     // no absolute positions: each layer's LayerSpec::rope says how it rotates q and k
  Learned,  // absolute position embeddings added to the token embeddings (GPT-2, OPT)
};

// The positions a forward pass uses when the caller gives none.
enum class DefaultPositions {
  Arange,         // 0..T-1 after the cached tokens, padding or not (transformers' default)
  CountRealTokens,  // the number of real tokens before each one, from the attention mask (OPT)
};

struct RopeConfig {
  std::string type = "default";  // default, linear, dynamic, llama3, yarn, longrope
  double theta = 10000.0;
  double factor = 1.0;
  double low_freq_factor = 1.0;                     // llama3
  double high_freq_factor = 4.0;                    // llama3
  std::optional<int64_t> original_max_position_embeddings;  // llama3, yarn
  std::optional<double> attention_factor;           // yarn
  std::optional<double> mscale, mscale_all_dim;     // yarn
  double beta_fast = 32.0, beta_slow = 1.0;         // yarn
  bool truncate = true;                             // yarn
  std::vector<double> short_factor, long_factor;    // longrope: per-frequency divisors (short / long context)
  double partial_rotary_factor = 1.0;               // the leading fraction of head_dim that rotates (Phi-3)
  // Rotates the pairs (x[2j], x[2j+1]) as complex numbers, in float32 (Llama 4), instead of the
  // halves (x[j], x[j + D/2]).
  bool interleaved = false;

  bool operator==(const RopeConfig&) const = default;
};

// A Mamba-2 mixer (Nemotron-H): in_proj → [gate z | x B C | dt]; a causal depthwise conv1d over
// x B C, then its activation; the chunked selective scan with A = -exp(A_log), dt = softplus(dt +
// dt_bias) clamped to the time-step limits, and the D skip; RMSNorm of y * silu(z) per group;
// out_proj. Sizes: intermediate I = num_heads * head_dim, conv channels I + 2 * num_groups * state_size.
struct MambaSpec {
  int64_t num_heads = 0, head_dim = 0;
  int64_t num_groups = 1;  // heads sharing one B and C; also the groups of the gated norm
  int64_t state_size = 0;
  int64_t conv_kernel = 4;
  int64_t chunk_size = 128;  // tokens per block of the chunked scan (its result does not depend on it beyond rounding)
  bool conv_bias = true, proj_bias = false;
  Activation activation = Activation::SiLU;  // after the conv1d
  // dt's clamp in the chunked scan; transformers' single-token step does not clamp, and nor do we.
  double time_step_min = 0.0, time_step_max = std::numeric_limits<double>::infinity();
  // A new mixer's dt_bias is softplus⁻¹ of dt drawn log-uniformly in [min, max], at least floor.
  double dt_init_min = 0.001, dt_init_max = 0.1, dt_init_floor = 1e-4;

  int64_t intermediate_size() const { return num_heads * head_dim; }
  int64_t conv_channels() const { return intermediate_size() + 2 * num_groups * state_size; }
  bool operator==(const MambaSpec&) const = default;
};

struct LayerSpec {
  AttentionKind attention = AttentionKind::Full;
  MlpKind mlp = MlpKind::Gated;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  std::optional<int64_t> sliding_window;  // a query at i sees keys j with i - w < j <= i
  // A query sees only keys j <= i of its own chunk of this many tokens, counted from the row's first
  // real token (Llama 4's chunked attention).
  std::optional<int64_t> attention_chunk_size;
  // Llama 4's attention temperature on NoPE layers: q *= log1p(floor((i + 1) / floor_scale)) * scale + 1,
  // i the query's index in the sequence.
  struct Temperature {
    double floor_scale = 8192, scale = 0.1;
    bool operator==(const Temperature&) const = default;
  };
  std::optional<Temperature> attention_temperature;
  QkNorm qk_norm = QkNorm::None;
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  NormPlacement norm_placement = NormPlacement::Pre;
  std::optional<RopeConfig> rope;          // rotary embedding of q and k; none: no positions here (NoPE)
  std::optional<double> attention_scale;   // multiplies q·k; unset: 1/sqrt(head_dim)
  std::optional<double> attn_logit_softcap;  // scores → c * tanh(scores / c) before the mask (Gemma 2)
  // A learned logit per head (self_attn.sinks) joins every query's softmax and takes its share of
  // the attention mass, attending to nothing (GPT-OSS).
  bool attention_sinks = false;
  MoeSpec moe;  // mlp == MixtureOfExperts
  MambaSpec mamba;  // attention == Mamba2

  bool operator==(const LayerSpec&) const = default;
};

struct ModelConfig {
  const ModelDescriptor* descriptor = nullptr;  // the family, resolved once by parse_model_config
  std::string model_type;
  std::string architecture;  // architectures[0]
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t max_position_embeddings = 0;
  double norm_eps = 1e-6;
  NormKind norm = NormKind::RMSNorm;
  Activation activation = Activation::SiLU;
  PositionKind positions = PositionKind::Rope;
  int64_t position_offset = 0;  // learned positions: position p is row p + offset of the table (OPT: 2)
  DefaultPositions default_positions = DefaultPositions::Arange;
  // Token embeddings (and the head's input) of this width, projected to hidden_size before the
  // first layer and back after the last (OPT's word_embed_proj_dim); unset: hidden_size.
  std::optional<int64_t> word_embedding_size;
  bool final_norm = true;  // a norm after the last layer (post-norm OPT has none)
  bool tie_word_embeddings = false;
  bool scale_embeddings = false;  // multiply token embeddings by sqrt(hidden_size) (Gemma)
  std::optional<double> final_logit_softcap;  // logits → c * tanh(logits / c) (Gemma 2)
  std::vector<LayerSpec> layers;
  // The output head (heads.h) follows from these: num_labels > 0 is a *ForSequenceClassification
  // `score` over num_labels (pooled at the last non-padding token); projected_hidden_size a
  // projected head; otherwise an lm_head over the vocabulary.
  int64_t num_labels = 0;  // 0: a language-model head
  std::optional<int64_t> pad_token_id;
  // The final hidden states are projected to this width before the head (shadow-peft's projected
  // causal LM, whose family and head live in shadow/).
  std::optional<int64_t> projected_hidden_size;
  std::string dtype = "float32";   // the checkpoint's parameters: float32, bfloat16, float16 or float64
  double initializer_range = 0.02;  // std of the normal init of new matrices and embeddings
  std::vector<int64_t> eos_token_ids;
  // config.json as read, for writing it back (unknown keys preserved). Only config parsing and
  // writing (config_parsing.cpp, config_writing.cpp, descriptors) read or change it.
  io::Json raw;

  int64_t num_layers() const { return static_cast<int64_t>(layers.size()); }
  bool is_sequence_classifier() const { return num_labels > 0; }
  // Width of the decoder's output (its final hidden states) and of its token embeddings.
  int64_t output_hidden_size() const { return word_embedding_size.value_or(hidden_size); }
};

std::string to_string(AttentionKind kind);
std::string to_string(MlpKind kind);
std::string to_string(QkNorm kind);            // none, per_head, all_heads
std::string to_string(NormPlacement placement);  // pre, sandwich, post

// ---- deriving and writing configs (config_writing.cpp) ----------------------------------------

// What a smaller model of the same family changes (an implicit shadow, a sub-model): the first
// `num_layers` layers and, when set, other sizes for every layer.
struct DerivedSizes {
  int64_t num_layers = 0;
  std::optional<int64_t> hidden_size, intermediate_size, num_attention_heads, num_key_value_heads, head_dim;
};

// The config of a smaller model of `base`'s family, as transformers builds it from a config.json
// with these fields changed: per-layer sources (layer_types, block_configs, per_layer_config) keep
// their first num_layers entries; a nested text_config is changed in place. `what` names the result
// in errors. ConfigError when the family has no field for a requested size.
ModelConfig derive_config(const ModelConfig& base, const DerivedSizes& sizes, const std::string& what);

// A causal LM's config as the `architecture` sequence classifier over `num_labels` classes, named by
// `labels` (empty: LABEL_0 … LABEL_{n-1}), with id2label / label2id written as transformers does.
void make_sequence_classifier(ModelConfig& config, const std::string& architecture, int64_t num_labels,
                              const std::vector<std::string>& labels);

// config.json content recording `dtype` as the parameters' dtype (in the key the config uses, and
// in a nested text_config), everything else as read.
io::Json config_json_with_dtype(const ModelConfig& config, const std::string& dtype);
// config.json content for a model whose parameters are in `dtype` (transformers records the
// parameters' dtype when saving); quantized weights are saved dequantized, so without
// quantization_config.
io::Json config_json_to_save(const ModelConfig& config, const std::string& dtype);

}  // namespace shadowpeft::models
