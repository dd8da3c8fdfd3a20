#pragma once
// What a model is, independent of where its config came from: global fields plus one LayerSpec per
// layer. Every source of heterogeneity (per_layer_config, DeciLM block_configs, ...) is normalised
// into `layers` once, in layer_specs.cpp; everything downstream reads specs and never HF JSON.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/io/json_file.h"

namespace shadowpeft::models {

enum class AttentionKind {
  Full,    // self-attention (sliding-window if LayerSpec::sliding_window is set)
  Linear,  // DeciLM replace_with_linear: one H×H matrix on the normed hidden state
  None,    // skipped: no weights, no KV cache, residual unchanged
};

enum class MlpKind {
  Gated,   // down(act(gate(x)) * up(x)) — SwiGLU / GeGLU
  Plain,   // down(act(up(x))) — GPT-2
  Linear,  // DeciLM replace_with_linear
  None,    // skipped
};

enum class NormKind {
  RMSNorm,         // w * x / rms(x)
  RMSNormPlusOne,  // (1 + w) * x / rms(x), computed in float32 (Gemma)
  LayerNorm,       // with bias (GPT-2)
};

enum class Activation { SiLU, GeluTanh, GeluExact, ReLU };

enum class PositionKind {
  Rope,     // rotary embeddings in every attention layer
  Learned,  // absolute position embeddings added to the token embeddings (GPT-2)
};

struct LayerSpec {
  AttentionKind attention = AttentionKind::Full;
  MlpKind mlp = MlpKind::Gated;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  std::optional<int64_t> sliding_window;  // a query at i sees keys j with i - w < j <= i
  bool qk_norm = false;                   // RMSNorm over head_dim on q and k (Qwen3)
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;

  bool operator==(const LayerSpec&) const = default;
};

struct RopeConfig {
  std::string type = "default";  // default, linear, dynamic, llama3, yarn
  double theta = 10000.0;
  double factor = 1.0;
  double low_freq_factor = 1.0;                     // llama3
  double high_freq_factor = 4.0;                    // llama3
  std::optional<int64_t> original_max_position_embeddings;  // llama3, yarn
  std::optional<double> attention_factor;           // yarn
  std::optional<double> mscale, mscale_all_dim;     // yarn
  double beta_fast = 32.0, beta_slow = 1.0;         // yarn
  bool truncate = true;                             // yarn
};

struct ModelConfig {
  std::string model_type;
  std::string architecture;  // architectures[0]
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t max_position_embeddings = 0;
  double norm_eps = 1e-6;
  NormKind norm = NormKind::RMSNorm;
  Activation activation = Activation::SiLU;
  PositionKind positions = PositionKind::Rope;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  bool scale_embeddings = false;  // multiply token embeddings by sqrt(hidden_size) (Gemma)
  std::vector<LayerSpec> layers;
  // The output head: "lm_head" over the vocabulary, or "score" over num_labels for
  // *ForSequenceClassification checkpoints (pooled at the last non-padding token).
  std::string head_name = "lm_head";
  int64_t num_labels = 0;  // 0: a language-model head
  std::optional<int64_t> pad_token_id;
  // A projected causal LM (shadow-peft's AutoModelForCausalLMWithHiddenProjection): the final
  // hidden state goes through shadow_hidden_projection (hidden_size → this) before the head.
  std::optional<int64_t> projected_hidden_size;
  io::Json raw;  // config.json as read (unknown keys preserved for write-back)

  int64_t num_layers() const { return static_cast<int64_t>(layers.size()); }
  bool is_sequence_classifier() const { return num_labels > 0; }
  int64_t head_out_features() const { return is_sequence_classifier() ? num_labels : vocab_size; }
  int64_t head_in_features() const { return projected_hidden_size.value_or(hidden_size); }
};

std::string to_string(AttentionKind kind);
std::string to_string(MlpKind kind);

}  // namespace shadowpeft::models
