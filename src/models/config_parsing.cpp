// config.json → ModelConfig for the Llama-mould families, and the normalisation of every
// per-layer source into LayerSpecs.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <map>
#include <set>

#include "config_fields.h"

namespace shadowpeft::models::detail {
namespace fs = std::filesystem;

Activation parse_activation(const ConfigReader& cfg, const std::string& key, const std::string& fallback) {
  const std::string name = cfg.string(key, fallback);
  if (name == "silu" || name == "swish") return Activation::SiLU;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_tanh") return Activation::GeluTanh;
  if (name == "gelu") return Activation::GeluExact;
  if (name == "relu") return Activation::ReLU;
  if (name == "relu2") return Activation::ReLUSquared;
  throw UnsupportedError(fmt::format("{} = '{}' is not supported (supported: silu, swish, gelu, gelu_new, "
                                     "gelu_pytorch_tanh, relu, relu2)", cfg.where(key), name));
}

namespace {

// One RoPE variant's parameters (a rope_parameters / rope_scaling object) on top of `rope`.
RopeConfig parse_rope_parameters(const ConfigReader& p, RopeConfig rope) {
  rope.type = p.string("rope_type", p.string("type", "default"));
  if (rope.type == "su") rope.type = "longrope";  // transformers' old name
  rope.theta = p.number("rope_theta", rope.theta);
  rope.partial_rotary_factor = p.number("partial_rotary_factor", rope.partial_rotary_factor);
  if (rope.partial_rotary_factor <= 0 || rope.partial_rotary_factor > 1)
    throw ConfigError(fmt::format("{} must be in (0, 1], got {}", p.where("partial_rotary_factor"), rope.partial_rotary_factor));
  if (rope.type == "default") return rope;
  if (rope.type != "linear" && rope.type != "dynamic" && rope.type != "llama3" && rope.type != "yarn" && rope.type != "longrope")
    throw UnsupportedError(fmt::format("{} = '{}' is not supported (supported: default, linear, dynamic, llama3, yarn, longrope)",
                                       p.where("rope_type"), rope.type));
  if (rope.type == "longrope") {
    for (auto [key, factors] : {std::pair{"short_factor", &rope.short_factor}, std::pair{"long_factor", &rope.long_factor}}) {
      if (!p.has(key) || !p.json().at(key).is_array()) throw ConfigError(p.where(key) + " (a list of numbers) is required for rope_type longrope");
      for (const io::Json& v : p.json().at(key)) {
        if (!v.is_number()) throw ConfigError(fmt::format("{} must hold numbers, got {}", p.where(key), v.dump()));
        factors->push_back(v.get<double>());
      }
    }
    if (p.has("original_max_position_embeddings")) rope.original_max_position_embeddings = p.integer("original_max_position_embeddings");
    if (!rope.original_max_position_embeddings)
      throw ConfigError(p.where("original_max_position_embeddings") + " is required for rope_type longrope");
    rope.factor = p.number("factor", 0);  // 0: max_position_embeddings / original_max_position_embeddings
    if (p.has("attention_factor")) rope.attention_factor = p.number("attention_factor", 1.0);
    return rope;
  }
  if (rope.type == "yarn" && !p.has("factor")) {
    rope.factor = 0;  // derived from max_position_embeddings / original_max_position_embeddings
  } else {
    if (!p.has("factor")) throw ConfigError(p.where("factor") + " is required for rope_type " + rope.type);
    rope.factor = p.number("factor", 1.0);
  }
  rope.low_freq_factor = p.number("low_freq_factor", rope.low_freq_factor);
  rope.high_freq_factor = p.number("high_freq_factor", rope.high_freq_factor);
  rope.original_max_position_embeddings = p.optional_integer("original_max_position_embeddings");
  if (p.has("attention_factor")) rope.attention_factor = p.number("attention_factor", 1.0);
  if (p.has("mscale")) rope.mscale = p.number("mscale", 0.0);
  if (p.has("mscale_all_dim")) rope.mscale_all_dim = p.number("mscale_all_dim", 0.0);
  rope.beta_fast = p.has("beta_fast") && p.number("beta_fast", 0) != 0 ? p.number("beta_fast", 32) : 32.0;
  rope.beta_slow = p.has("beta_slow") && p.number("beta_slow", 0) != 0 ? p.number("beta_slow", 1) : 1.0;
  rope.truncate = p.boolean("truncate", true);
  if (rope.type == "llama3" && !rope.original_max_position_embeddings)
    throw ConfigError(p.where("original_max_position_embeddings") + " is required for rope_type llama3");
  return rope;
}

// Gemma 3's RoPE per layer type; see LlamaLikeDefaults::local_rope_theta.
std::map<std::string, RopeConfig> parse_layer_type_ropes(const ConfigReader& cfg, const LlamaLikeDefaults& d) {
  RopeConfig full, sliding;
  full.theta = cfg.number("rope_theta", d.rope_theta);
  sliding.theta = cfg.number("rope_local_base_freq", *d.local_rope_theta);
  if (cfg.has("rope_parameters")) {
    const ConfigReader p = cfg.child("rope_parameters");
    for (const char* key : {"full_attention", "sliding_attention"})
      if (!p.has(key)) throw ConfigError(p.where(key) + " is required: this family has one RoPE per layer type");
    full = parse_rope_parameters(p.child("full_attention"), full);
    sliding = parse_rope_parameters(p.child("sliding_attention"), sliding);
  } else if (cfg.has("rope_scaling")) {
    full = parse_rope_parameters(cfg.child("rope_scaling"), full);
  }
  return {{"full_attention", full}, {"sliding_attention", sliding}};
}

}  // namespace

// NoPE layers: see LlamaLikeDefaults::no_rope_layer_interval.
void apply_no_rope_layers(ModelConfig& config, const ConfigReader& cfg, const LlamaLikeDefaults& d) {
  const std::size_t n = config.layers.size();
  if (cfg.has("no_rope_layers")) {
    const io::Json& flags = cfg.json().at("no_rope_layers");
    if (!flags.is_array() || flags.size() < n)
      throw ConfigError(fmt::format("{} must hold a 1 (RoPE) or 0 (no RoPE) for each of the {} layers, got {}",
                                    cfg.where("no_rope_layers"), n, flags.dump()));
    for (std::size_t i = 0; i < n; ++i) {
      const int64_t flag = cfg.as_integer("no_rope_layers", flags[i]);
      if (flag != 0 && flag != 1)
        throw ConfigError(fmt::format("{}[{}] = {}: expected 1 (RoPE) or 0 (no RoPE)", cfg.where("no_rope_layers"), i, flag));
      if (flag == 0) config.layers[i].rope.reset();
    }
  } else if (d.no_rope_layer_interval > 0) {
    const int64_t interval = cfg.integer("no_rope_layer_interval", d.no_rope_layer_interval);
    for (std::size_t i = 0; i < n; ++i)
      if ((static_cast<int64_t>(i) + 1) % interval == 0) config.layers[i].rope.reset();
  }
}

RopeConfig parse_rope(const ConfigReader& cfg, double default_theta) {
  RopeConfig rope;
  rope.theta = cfg.number("rope_theta", default_theta);
  rope.partial_rotary_factor = cfg.number("partial_rotary_factor", 1.0);
  // Phi-3 keeps the pretraining context at the top level; LongRoPE reads it from there too.
  rope.original_max_position_embeddings = cfg.optional_integer("original_max_position_embeddings");
  // transformers 5 writes `rope_parameters`; older configs have `rope_theta` + `rope_scaling`.
  const char* key = cfg.has("rope_parameters") ? "rope_parameters" : cfg.has("rope_scaling") ? "rope_scaling" : nullptr;
  return key ? parse_rope_parameters(cfg.child(key), rope) : rope;
}

ModelConfig parse_llama_like(const io::Json& json, const fs::path& file, const LlamaLikeDefaults& d) {
  const ConfigReader cfg(json, file);
  ModelConfig config;
  config.raw = json;
  config.model_type = cfg.string("model_type", "");
  if (json.contains("architectures") && json["architectures"].is_array() && !json["architectures"].empty())
    config.architecture = json["architectures"][0].get<std::string>();
  config.vocab_size = cfg.integer("vocab_size");
  config.hidden_size = cfg.integer("hidden_size");
  config.max_position_embeddings = cfg.integer("max_position_embeddings", 2048);
  config.norm = d.norm;
  config.norm_eps = cfg.number("rms_norm_eps", d.norm_eps);
  config.activation = parse_activation(cfg, cfg.has("hidden_activation") ? "hidden_activation" : "hidden_act", d.hidden_act);
  config.tie_word_embeddings = cfg.boolean("tie_word_embeddings", d.tie_word_embeddings);
  config.scale_embeddings = d.scale_embeddings;

  LayerSpec spec;
  spec.num_heads = cfg.integer("num_attention_heads");
  spec.num_kv_heads = cfg.integer("num_key_value_heads", spec.num_heads);
  if (spec.num_heads <= 0 || config.hidden_size % spec.num_heads != 0) {
    if (!cfg.has("head_dim"))
      throw ConfigError(fmt::format("{}: hidden_size {} is not divisible by num_attention_heads {} and head_dim is not given",
                                    file.string(), config.hidden_size, spec.num_heads));
  }
  spec.head_dim = cfg.integer("head_dim", spec.num_heads > 0 ? config.hidden_size / spec.num_heads : 0);
  spec.intermediate_size = cfg.integer("intermediate_size");
  const bool attention_bias = d.read_attention_bias && cfg.boolean("attention_bias", false);
  spec.qkv_bias = d.qkv_bias || attention_bias;
  spec.o_bias = attention_bias;
  spec.mlp_bias = cfg.boolean("mlp_bias", false);
  spec.qk_norm = d.qk_norm;
  spec.norm_placement = d.norm_placement;
  spec.rope = d.local_rope_theta ? parse_layer_type_ropes(cfg, d).at("full_attention") : parse_rope(cfg, d.rope_theta);
  // Gemma 2/3: q is scaled by query_pre_attn_scalar^-0.5; scores and logits may be soft-capped.
  if (cfg.has("query_pre_attn_scalar")) spec.attention_scale = 1.0 / std::sqrt(cfg.number("query_pre_attn_scalar", 0));
  if (cfg.has("attn_logit_softcapping")) spec.attn_logit_softcap = cfg.number("attn_logit_softcapping", 0);
  if (cfg.has("final_logit_softcapping")) config.final_logit_softcap = cfg.number("final_logit_softcapping", 0);
  if (json.contains("sliding_window")) {
    spec.sliding_window = cfg.optional_integer("sliding_window");
  } else {
    spec.sliding_window = d.sliding_window;
  }
  if (d.window_needs_use_sliding_window && !cfg.boolean("use_sliding_window", false)) spec.sliding_window.reset();
  if (cfg.has("attention_chunk_size")) throw UnsupportedError(cfg.where("attention_chunk_size") + ": chunked attention is not supported");
  if (cfg.boolean("use_bidirectional_attention", false))
    throw UnsupportedError(cfg.where("use_bidirectional_attention") + " = true (an embedding model) is not supported: causal LMs only");
  config.layers.assign(cfg.layer_count("num_hidden_layers"), spec);
  apply_no_rope_layers(config, cfg, d);
  return config;
}

void apply_layer_types(ModelConfig& config, const ConfigReader& cfg, const LlamaLikeDefaults& defaults) {
  // The window applies only to layers typed "sliding_attention"; with use_sliding_window false,
  // transformers stores sliding_window = null and no layer slides.
  const std::optional<int64_t> window =
      cfg.boolean("use_sliding_window", true) ? cfg.optional_integer("sliding_window") : std::nullopt;
  std::vector<std::string> types;
  if (cfg.has("layer_types")) {
    const io::Json& lt = cfg.json().at("layer_types");
    if (!lt.is_array() || lt.size() != config.layers.size())
      throw ConfigError(fmt::format("{} must list one type per layer ({}), got {}", cfg.where("layer_types"),
                                    config.layers.size(), lt.dump()));
    for (const auto& t : lt) types.push_back(t.is_string() ? t.get<std::string>() : "");
  } else if (defaults.sliding_window_pattern > 0) {
    const int64_t n = cfg.integer("sliding_window_pattern", defaults.sliding_window_pattern);
    for (int64_t i = 0; i < config.num_layers(); ++i) types.push_back((i + 1) % n ? "sliding_attention" : "full_attention");
  } else {
    const int64_t max_window_layers = cfg.integer("max_window_layers", config.num_layers());
    for (int64_t i = 0; i < config.num_layers(); ++i)
      types.push_back(window && i >= max_window_layers ? "sliding_attention" : "full_attention");
  }
  std::map<std::string, RopeConfig> ropes;
  if (defaults.local_rope_theta) ropes = parse_layer_type_ropes(cfg, defaults);
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (types[i] == "sliding_attention") config.layers[i].sliding_window = window;
    else if (types[i] == "full_attention") config.layers[i].sliding_window.reset();
    else
      throw UnsupportedError(fmt::format("{}[{}] = {} is not supported (full_attention, sliding_attention)",
                                         cfg.where("layer_types"), i, cfg.json()["layer_types"][i].dump()));
    if (!ropes.empty()) config.layers[i].rope = ropes.at(types[i]);
  }
}

namespace {

// One per-layer attribute applied to a LayerSpec; false if the attribute is unknown. A
// mixture-of-experts family's routing fields apply to its expert layers (moe: where it keeps them).
bool apply_layer_attribute(LayerSpec& spec, const std::string& key, const io::Json& v, const ConfigReader& layer,
                           const MoeFields* moe) {
  if (moe && key == moe->expert_size_key) {
    spec.moe.expert_intermediate_size = layer.as_integer(key, v);
    if (key != "intermediate_size") return true;  // Mixtral, GPT-OSS: the one width is both
  }
  if (moe && (key == "num_experts" || key == "num_local_experts" || key == "n_routed_experts"))
    spec.moe.num_experts = layer.as_integer(key, v);
  else if (moe && key == "num_experts_per_tok") spec.moe.top_k = layer.as_integer(key, v);
  else if (moe && key == "moe_shared_expert_intermediate_size") spec.moe.shared_expert_intermediate_size = layer.as_integer(key, v);
  else if (key == "mamba_num_heads") spec.mamba.num_heads = layer.as_integer(key, v);
  else if (key == "mamba_head_dim") spec.mamba.head_dim = layer.as_integer(key, v);
  else if (key == "ssm_state_size") spec.mamba.state_size = layer.as_integer(key, v);
  else if (key == "n_groups") spec.mamba.num_groups = layer.as_integer(key, v);
  else if (moe && moe->normalize_from_config && key == "norm_topk_prob") spec.moe.normalize_top_k = layer.boolean(key, false);
  else if (key == "num_key_value_heads") spec.num_kv_heads = layer.as_integer(key, v);
  else if (key == "num_attention_heads") spec.num_heads = layer.as_integer(key, v);
  else if (key == "head_dim") spec.head_dim = layer.as_integer(key, v);
  else if (key == "intermediate_size") spec.intermediate_size = layer.as_integer(key, v);
  else if (key == "sliding_window") spec.sliding_window = v.is_null() ? std::nullopt : std::optional(layer.as_integer(key, v));
  else if (key == "attention_bias") spec.qkv_bias = spec.o_bias = layer.boolean(key, false);
  else if (key == "mlp_bias") spec.mlp_bias = layer.boolean(key, false);
  else if (key == "attention_chunk_size")
    spec.attention_chunk_size = v.is_null() ? std::nullopt : std::optional(layer.as_integer(key, v));
  else return false;
  return true;
}

// What a skip names: a layer's attention or MLP; in a family whose layers hold one sub-block
// (Nemotron-H), its "mixer", whichever kind it is.
void apply_skip(LayerSpec& spec, const std::string& what, const ConfigReader& layer, LayerParts parts) {
  if (parts == LayerParts::OneMixer) {
    if (what != "mixer") throw UnsupportedError(fmt::format("{} = '{}' is not supported (mixer)", layer.where("skip"), what));
    spec.attention = AttentionKind::None;
    spec.mlp = MlpKind::None;
  } else if (what == "attention") {
    spec.attention = AttentionKind::None;
  } else if (what == "mlp") {
    spec.mlp = MlpKind::None;
  } else {
    throw UnsupportedError(fmt::format("{} = '{}' is not supported (attention, mlp)", layer.where("skip"), what));
  }
}

}  // namespace

void apply_per_layer_config(ModelConfig& config, const ConfigReader& cfg, const MoeFields* moe, LayerParts parts) {
  if (!cfg.has("per_layer_config")) return;
  const ConfigReader plc = cfg.child("per_layer_config");
  const int64_t n = config.num_layers();
  std::map<int64_t, std::string> keys;  // layer → key as written ("02")
  std::vector<int64_t> out_of_range;
  for (const auto& [key, _] : plc.json().items()) {
    int64_t idx = -1;
    try {
      std::size_t used = 0;
      idx = std::stoll(key, &used);
      if (used != key.size()) idx = -1;
    } catch (const std::exception&) {
      idx = -1;
    }
    if (idx < 0 || idx >= n) out_of_range.push_back(idx < 0 ? -1 : idx);
    if (idx < 0)
      throw ConfigError(fmt::format("{}: key '{}' is not a layer index", cfg.where("per_layer_config"), key));
    keys[idx] = key;
  }
  if (!out_of_range.empty())
    throw ConfigError(fmt::format("{} keys must be layer indices in [0, {}); got {}", cfg.where("per_layer_config"), n,
                                  out_of_range));

  // An attribute overridden on some layers only must also exist globally.
  std::map<std::string, int64_t> attribute_layers;
  for (const auto& [idx, key] : keys)
    for (const auto& [attr, _] : plc.json().at(key).items())
      if (attr != "skip" && !attr.starts_with("skip_")) ++attribute_layers[attr];
  std::vector<std::string> missing;
  for (const auto& [attr, count] : attribute_layers)
    if (count < n && !cfg.json().contains(attr) && attr != "sliding_window" && attr != "attention_chunk_size" &&
        !(moe && (attr == "num_experts" || attr == "num_local_experts" || attr == "n_routed_experts") &&  // attribute_map aliases
          (cfg.json().contains("num_experts") || cfg.json().contains("num_local_experts") ||
           cfg.json().contains("n_routed_experts"))))
      missing.push_back(attr);
  if (!missing.empty())
    throw ConfigError(fmt::format("{}: per_layer_config overrides {} on some layers only, and the global config "
                                  "does not define them", cfg.file().string(), missing));

  for (const auto& [idx, key] : keys) {
    const ConfigReader layer = plc.child(key);
    LayerSpec& spec = config.layers[static_cast<std::size_t>(idx)];
    for (const auto& [attr, v] : layer.json().items()) {
      if (attr == "skip") {
        if (!v.is_array()) throw ConfigError(fmt::format("{} must be a list of strings, got {}", layer.where("skip"), v.dump()));
        for (const auto& what : v) apply_skip(spec, what.is_string() ? what.get<std::string>() : what.dump(), layer, parts);
      } else if (attr.starts_with("skip_")) {
        if (layer.boolean(attr, false)) apply_skip(spec, attr.substr(5), layer, parts);
      } else if (!apply_layer_attribute(spec, attr, v, layer, moe)) {
        throw UnsupportedError(fmt::format("{}: per-layer attribute '{}' is not supported", layer.where(attr), attr));
      }
    }
    if (spec.mlp == MlpKind::MixtureOfExperts) {
      const MoeSpec& m = spec.moe;
      if (m.num_experts < 1 || m.top_k < 1 || m.top_k > m.num_experts || m.expert_intermediate_size < 1)
        throw ConfigError(fmt::format("{}: {} experts of width {} with {} per token; expected at least one expert, "
                                      "a positive width and 1 <= experts per token <= experts",
                                      fmt::format("{}['{}']", cfg.where("per_layer_config"), key), m.num_experts,
                                      m.expert_intermediate_size, m.top_k));
    }
  }
}

}  // namespace shadowpeft::models::detail

namespace shadowpeft::models::detail {

namespace {

// DeciLM: int(2 * ffn_mult * hidden / 3) rounded up to a multiple of 256.
int64_t ffn_mult_to_intermediate_size(double ffn_mult, int64_t hidden) {
  const auto n = static_cast<int64_t>(2.0 * ffn_mult * static_cast<double>(hidden) / 3.0);
  return n % 256 == 0 ? n : n + 256 - n % 256;
}

}  // namespace

void apply_block_configs(ModelConfig& config, const ConfigReader& cfg) {
  if (!cfg.has("block_configs")) return;
  const io::Json& blocks = cfg.json().at("block_configs");
  if (!blocks.is_array() || blocks.size() != config.layers.size())
    throw ConfigError(fmt::format("{} must hold one entry per layer ({}), got {}", cfg.where("block_configs"),
                                  config.layers.size(), blocks.is_array() ? std::to_string(blocks.size()) : blocks.type_name()));
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const ConfigReader block(blocks[i], cfg.file(), fmt::format("block_configs[{}].", i));
    LayerSpec& spec = config.layers[i];
    if (block.has("parallel_blocks")) throw UnsupportedError(block.where("parallel_blocks") + " is not supported");
    if (block.has("attention")) {
      const ConfigReader attn = block.child("attention");
      const bool no_op = attn.boolean("no_op", false), linear = attn.boolean("replace_with_linear", false);
      if (no_op && linear) throw ConfigError(attn.where("no_op") + " and replace_with_linear are both true");
      for (const char* key : {"window_length", "num_sink_tokens", "llama4", "mamba", "sparsify"})
        if (attn.has(key)) throw UnsupportedError(attn.where(key) + " is not supported");
      if (no_op) spec.attention = AttentionKind::None;
      else if (linear) spec.attention = AttentionKind::Linear;
      else if (attn.has("n_heads_in_group")) {
        const int64_t group = attn.integer("n_heads_in_group");
        if (group <= 0 || spec.num_heads % group != 0)
          throw ConfigError(fmt::format("{} = {} must be positive and divide num_attention_heads {}",
                                        attn.where("n_heads_in_group"), group, spec.num_heads));
        spec.num_kv_heads = spec.num_heads / group;
      } else if (attn.has("num_key_value_heads")) {
        spec.num_kv_heads = attn.integer("num_key_value_heads");
      } else {
        throw ConfigError(attn.where("n_heads_in_group") + " (or num_key_value_heads) is required for an active attention block");
      }
    }
    if (block.has("ffn")) {
      const ConfigReader ffn = block.child("ffn");
      const bool no_op = ffn.boolean("no_op", false), linear = ffn.boolean("replace_with_linear", false);
      if (no_op && linear) throw ConfigError(ffn.where("no_op") + " and replace_with_linear are both true");
      for (const char* key : {"moe", "sparsify"})
        if (ffn.has(key)) throw UnsupportedError(ffn.where(key) + " is not supported");
      if (no_op) spec.mlp = MlpKind::None;
      else if (linear) spec.mlp = MlpKind::Linear;
      else if (ffn.has("ffn_mult")) spec.intermediate_size = ffn_mult_to_intermediate_size(ffn.number("ffn_mult", 0), config.hidden_size);
      else if (ffn.has("intermediate_size")) spec.intermediate_size = ffn.integer("intermediate_size");
      else throw ConfigError(ffn.where("ffn_mult") + " (or intermediate_size) is required for an active FFN block");
    }
  }
}

}  // namespace shadowpeft::models::detail
