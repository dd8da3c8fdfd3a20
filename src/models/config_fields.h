#pragma once
// Typed reads of config.json fields with errors that name the file, the field, and expected vs.
// actual. Internal to src/models.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/models/model_config.h"

namespace shadowpeft::models::detail {

class ConfigReader {
 public:
  ConfigReader(const io::Json& json, std::filesystem::path file, std::string prefix = "")
      : json_(json), file_(std::move(file)), prefix_(std::move(prefix)) {}

  bool has(const std::string& key) const { return json_.contains(key) && !json_.at(key).is_null(); }
  const io::Json& json() const { return json_; }
  const std::filesystem::path& file() const { return file_; }
  std::string where(const std::string& key) const { return fmt::format("{}: field '{}{}'", file_.string(), prefix_, key); }

  int64_t integer(const std::string& key) const {
    if (!has(key)) throw ConfigError(where(key) + " is required but missing");
    return as_integer(key, json_.at(key));
  }
  int64_t integer(const std::string& key, int64_t fallback) const { return has(key) ? integer(key) : fallback; }
  // A layer count, in [0, 100000]: far beyond any model; past that a value is a typo or a corrupt
  // file, and would cost gigabytes of layer specs before anything else could object.
  std::size_t layer_count(const std::string& key, std::optional<int64_t> fallback = std::nullopt) const {
    const int64_t n = fallback && !has(key) ? *fallback : integer(key);
    if (n < 0 || n > 100000) throw ConfigError(fmt::format("{} must be a layer count in [0, 100000], got {}", where(key), n));
    return static_cast<std::size_t>(n);
  }
  std::optional<int64_t> optional_integer(const std::string& key) const {
    return has(key) ? std::optional<int64_t>(integer(key)) : std::nullopt;
  }
  double number(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    const io::Json& v = json_.at(key);
    if (!v.is_number()) throw ConfigError(fmt::format("{} must be a number, got {}", where(key), v.dump()));
    return v.get<double>();
  }
  bool boolean(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const io::Json& v = json_.at(key);
    if (!v.is_boolean()) throw ConfigError(fmt::format("{} must be true or false, got {}", where(key), v.dump()));
    return v.get<bool>();
  }
  std::string string(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    const io::Json& v = json_.at(key);
    if (!v.is_string()) throw ConfigError(fmt::format("{} must be a string, got {}", where(key), v.dump()));
    return v.get<std::string>();
  }
  // A list of layer indices (mlp_only_layers, moe_layers); empty when absent.
  std::set<int64_t> layer_indices(const std::string& key) const {
    std::set<int64_t> out;
    if (!has(key)) return out;
    const io::Json& v = json_.at(key);
    if (!v.is_array()) throw ConfigError(fmt::format("{} must be a list of layer indices, got {}", where(key), v.dump()));
    for (const io::Json& i : v) out.insert(as_integer(key, i));
    return out;
  }
  ConfigReader child(const std::string& key) const {
    const io::Json& v = json_.at(key);
    if (!v.is_object()) throw ConfigError(fmt::format("{} must be an object, got {}", where(key), v.dump()));
    return ConfigReader(v, file_, prefix_ + key + ".");
  }

  int64_t as_integer(const std::string& key, const io::Json& v) const {
    if (v.is_number_integer()) return v.get<int64_t>();
    // A whole float in int64's range (2^63 itself is not: the cast of anything outside is undefined).
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (d == std::trunc(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) return static_cast<int64_t>(d);
    }
    throw ConfigError(fmt::format("{} must be an integer, got {}", where(key), v.dump()));
  }

 private:
  const io::Json& json_;
  std::filesystem::path file_;
  std::string prefix_;
};

// Family defaults for configs in the Llama mould (Llama, Mistral, Qwen2, Qwen3, Gemma, DeciLM).
struct LlamaLikeDefaults {
  std::string hidden_act = "silu";
  NormKind norm = NormKind::RMSNorm;
  double norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;       // Qwen2: true, not configurable
  QkNorm qk_norm = QkNorm::None;
  bool scale_embeddings = false;
  bool read_attention_bias = true;  // `attention_bias` key applies to q/k/v and o
  std::optional<int64_t> sliding_window;  // Mistral's window when the key is absent
  bool window_needs_use_sliding_window = false;  // the window applies only with use_sliding_window true (Qwen-MoE)
  NormPlacement norm_placement = NormPlacement::Pre;
  // Without `layer_types`: every layer slides except each n-th (Gemma 2: 2; Gemma 3: the config's
  // sliding_window_pattern, default 6); 0: Qwen's max_window_layers rule.
  int64_t sliding_window_pattern = 0;
  // RoPE per layer type (Gemma 3): `rope_parameters` keyed by sliding_attention / full_attention, or
  // the legacy rope_theta (full layers, default rope_theta above) + rope_local_base_freq (sliding
  // layers, default this) + rope_scaling (full layers only).
  std::optional<double> local_rope_theta;
  // NoPE layers (SmolLM3): `no_rope_layers` (1: RoPE, 0: none) or, without it, every n-th layer
  // (the config's no_rope_layer_interval, default this); 0: every layer rotates unless listed.
  int64_t no_rope_layer_interval = 0;
};

ModelConfig parse_llama_like(const io::Json& config, const std::filesystem::path& file, const LlamaLikeDefaults& d);
RopeConfig parse_rope(const ConfigReader& cfg, double default_theta);
Activation parse_activation(const ConfigReader& cfg, const std::string& key, const std::string& fallback);

// Where a family's config.json keeps its mixture-of-experts fields, and what the family fixes.
struct MoeFields {
  MoeSpec spec;                        // scoring, biases, activation: the family's
  const char* expert_size_key;         // "moe_intermediate_size" (Qwen-MoE), "intermediate_size" (Mixtral, GPT-OSS)
  bool normalize_from_config = false;  // `norm_topk_prob` decides (Qwen-MoE); else spec.normalize_top_k
  bool sparse_step = false;            // `decoder_sparse_step` + `mlp_only_layers` pick the MoE layers (Qwen-MoE)
};

// The sub-blocks a family's layer holds, which `skip` names.
enum class LayerParts {
  AttentionAndMlp,  // "attention", "mlp"
  OneMixer,         // "mixer": a block of one sub-block of any kind (Nemotron-H)
};

// Per-layer overrides from transformers' `per_layer_config` (both `skip` list and `skip_*` flag forms);
// `moe`: the family's mixture-of-experts fields, which layers may override too.
void apply_per_layer_config(ModelConfig& config, const ConfigReader& cfg, const MoeFields* moe = nullptr,
                            LayerParts parts = LayerParts::AttentionAndMlp);
// Qwen3/Qwen2-style `layer_types` + `use_sliding_window` / `max_window_layers`.
void apply_layer_types(ModelConfig& config, const ConfigReader& cfg, const LlamaLikeDefaults& defaults);

}  // namespace shadowpeft::models::detail

namespace shadowpeft::models::detail {
// `block_configs` in either form: DeciLM/Nemotron-NAS (`n_heads_in_group`, `ffn_mult`) or
// puzzletron AnyModel (`num_key_value_heads`, `intermediate_size`); `no_op` and `replace_with_linear`.
void apply_block_configs(ModelConfig& config, const ConfigReader& cfg);
}  // namespace shadowpeft::models::detail

namespace shadowpeft::models::detail {

// Makes the MoE layers of `config` mixtures of experts: `num_local_experts` (or `num_experts`),
// `num_experts_per_tok`, the expert width; the other layers keep their dense MLP.
void apply_mixture_of_experts(ModelConfig& config, const ConfigReader& cfg, const MoeFields& fields);

}  // namespace shadowpeft::models::detail
