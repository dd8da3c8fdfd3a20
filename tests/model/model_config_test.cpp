// ModelConfig as the one truth about a model: parsed once with its family (descriptor, dtype,
// initializer range, EOS ids), derived for smaller models — nested text_config included — and
// written back with the parameters' dtype. No Python fixtures: the configs are written here.
#include <gtest/gtest.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/models/model_config.h"

namespace shadowpeft {
namespace {

io::Json llama_json() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"vocab_size", 128},
          {"hidden_size", 32},
          {"intermediate_size", 64},
          {"num_hidden_layers", 4},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"initializer_range", 0.03},
          {"eos_token_id", {2, 7}},
          {"dtype", "bfloat16"},
          {"per_layer_config", {{"1", {{"intermediate_size", 48}}}, {"3", {{"skip", {"mlp"}}}}}}};
}

TEST(ModelConfig, ParsesEverythingOnceWithItsFamily) {
  const models::ModelConfig config = models::parse_model_config(llama_json(), "config.json");
  ASSERT_NE(config.descriptor, nullptr);
  EXPECT_EQ(config.descriptor->name(), "llama");
  EXPECT_EQ(config.dtype, "bfloat16");
  EXPECT_DOUBLE_EQ(config.initializer_range, 0.03);
  EXPECT_EQ(config.eos_token_ids, (std::vector<int64_t>{2, 7}));
  EXPECT_EQ(config.layers[1].intermediate_size, 48);

  io::Json single = llama_json();
  single["eos_token_id"] = 5;
  single.erase("dtype");
  single["torch_dtype"] = "float16";
  const models::ModelConfig other = models::parse_model_config(single, "config.json");
  EXPECT_EQ(other.eos_token_ids, (std::vector<int64_t>{5}));
  EXPECT_EQ(other.dtype, "float16");
}

TEST(ModelConfig, RejectsAnUnknownDtypeNamingFieldAndValues) {
  io::Json json = llama_json();
  json["dtype"] = "float8";
  try {
    models::parse_model_config(json, "model/config.json");
    ADD_FAILURE() << "an unknown dtype was accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "model/config.json: field 'dtype' is \"float8\"; expected one of float32, bfloat16, float16, float64");
  }
}

// Gemma 2 checkpoints from before transformers wrote `layer_types` alternate sliding and full
// layers (transformers' default); everything else Gemma 2 adds is per-layer data too.
TEST(ModelConfig, Gemma2WithoutLayerTypesAlternatesSlidingAndFullLayers) {
  const io::Json json = {{"architectures", {"Gemma2ForCausalLM"}}, {"model_type", "gemma2"}, {"vocab_size", 128},
                         {"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 4},
                         {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 8},
                         {"sliding_window", 4}, {"query_pre_attn_scalar", 16}, {"attn_logit_softcapping", 50.0},
                         {"final_logit_softcapping", 30.0}};
  const models::ModelConfig config = models::parse_model_config(json, "config.json");
  ASSERT_EQ(config.num_layers(), 4);
  for (int64_t i = 0; i < 4; ++i) {
    const models::LayerSpec& s = config.layers[static_cast<std::size_t>(i)];
    EXPECT_EQ(s.sliding_window, i % 2 == 0 ? std::optional<int64_t>(4) : std::nullopt) << "layer " << i;
    EXPECT_EQ(s.norm_placement, models::NormPlacement::Sandwich);
    EXPECT_EQ(s.attention_scale, 0.25);
    EXPECT_EQ(s.attn_logit_softcap, 50.0);
    ASSERT_TRUE(s.rope.has_value());
    EXPECT_EQ(s.rope->theta, 10000.0);
  }
  EXPECT_EQ(config.final_logit_softcap, 30.0);
  EXPECT_TRUE(config.tie_word_embeddings);
  EXPECT_TRUE(config.scale_embeddings);
}

// Gemma 3 configs on the Hub predate rope_parameters keyed by layer type: rope_theta (full layers),
// rope_local_base_freq (sliding layers), rope_scaling (full layers only) and five sliding layers
// to each full one.
TEST(ModelConfig, Gemma3LegacyRopeFieldsGiveOneRopePerLayerType) {
  const io::Json json = {{"architectures", {"Gemma3ForCausalLM"}}, {"model_type", "gemma3_text"}, {"vocab_size", 128},
                         {"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 7},
                         {"num_attention_heads", 4}, {"num_key_value_heads", 1}, {"head_dim", 8},
                         {"sliding_window", 512}, {"query_pre_attn_scalar", 8}, {"rope_theta", 1000000.0},
                         {"rope_local_base_freq", 10000.0}, {"rope_scaling", {{"rope_type", "linear"}, {"factor", 8.0}}}};
  const models::ModelConfig config = models::parse_model_config(json, "config.json");
  ASSERT_EQ(config.num_layers(), 7);
  for (int64_t i = 0; i < 7; ++i) {
    const models::LayerSpec& s = config.layers[static_cast<std::size_t>(i)];
    const bool full = i == 5;
    EXPECT_EQ(s.sliding_window.has_value(), !full) << "layer " << i;
    ASSERT_TRUE(s.rope.has_value());
    EXPECT_EQ(s.rope->theta, full ? 1e6 : 1e4) << "layer " << i;
    EXPECT_EQ(s.rope->type, full ? "linear" : "default") << "layer " << i;
    EXPECT_EQ(s.qk_norm, models::QkNorm::PerHead);
  }
  io::Json embedding = json;
  embedding["use_bidirectional_attention"] = true;
  EXPECT_THROW(models::parse_model_config(embedding, "config.json"), UnsupportedError);
}

// SmolLM3's NoPE layers: every fourth layer by default, or as no_rope_layers lists them.
TEST(ModelConfig, SmolLM3NoRopeLayers) {
  io::Json json = llama_json();
  json["architectures"] = {"SmolLM3ForCausalLM"};
  json["model_type"] = "smollm3";
  json.erase("per_layer_config");
  auto ropes = [](const models::ModelConfig& c) {
    std::vector<bool> out;
    for (const auto& s : c.layers) out.push_back(s.rope.has_value());
    return out;
  };
  EXPECT_EQ(ropes(models::parse_model_config(json, "config.json")), (std::vector<bool>{true, true, true, false}));
  json["no_rope_layers"] = {0, 1, 0, 1};
  EXPECT_EQ(ropes(models::parse_model_config(json, "config.json")), (std::vector<bool>{false, true, false, true}));
  json["no_rope_layers"] = {0, 1, 2, 1};
  try {
    models::parse_model_config(json, "config.json");
    ADD_FAILURE() << "no_rope_layers 2 was accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "config.json: field 'no_rope_layers'[2] = 2: expected 1 (RoPE) or 0 (no RoPE)");
  }
}

TEST(DeriveConfig, KeepsTheFirstLayersAndChangesSizes) {
  const models::ModelConfig base = models::parse_model_config(llama_json(), "config.json");
  const models::ModelConfig small = models::derive_config(base, {.num_layers = 2, .intermediate_size = 40}, "small");
  EXPECT_EQ(small.descriptor, base.descriptor);
  ASSERT_EQ(small.num_layers(), 2);
  // per_layer_config overrides win over the new global size, as in transformers.
  EXPECT_EQ(small.layers[0].intermediate_size, 40);
  EXPECT_EQ(small.layers[1].intermediate_size, 48);
  EXPECT_FALSE(small.raw.at("per_layer_config").contains("3"));
  EXPECT_EQ(small.dtype, "bfloat16");
  EXPECT_EQ(base.num_layers(), 4);  // the base is untouched
}

TEST(DeriveConfig, ChangesANestedTextConfigInPlace) {
  io::Json nested = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"text_config", llama_json()}};
  nested["text_config"].erase("architectures");
  nested["text_config"]["layer_types"] = {"full_attention", "full_attention", "full_attention", "full_attention"};
  const models::ModelConfig base = models::parse_model_config(nested, "config.json");
  ASSERT_EQ(base.num_layers(), 4);
  const models::ModelConfig small = models::derive_config(base, {.num_layers = 1, .num_key_value_heads = 1}, "small");
  EXPECT_EQ(small.num_layers(), 1);
  EXPECT_EQ(small.layers[0].num_kv_heads, 1);
  EXPECT_EQ(small.raw.at("text_config").at("num_hidden_layers"), 1);
  EXPECT_EQ(small.raw.at("text_config").at("layer_types").size(), 1u);
  EXPECT_FALSE(small.raw.contains("num_hidden_layers"));
}

TEST(DeriveConfig, NamesAMissingField) {
  io::Json json = llama_json();
  const models::ModelConfig base = models::parse_model_config(json, "config.json");
  EXPECT_THROW(models::derive_config(base, {.num_layers = 1, .head_dim = 4}, "small"), ConfigError);
  try {
    models::derive_config(base, {.num_layers = 1, .head_dim = 4}, "implicit shadow");
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "implicit shadow: the llama config has no head_dim field to set to 4");
  }
}

TEST(ConfigJsonToSave, RecordsTheParametersDtypeUnderTheKeyTheConfigUses) {
  const models::ModelConfig config = models::parse_model_config(llama_json(), "config.json");
  EXPECT_EQ(models::config_json_to_save(config, "float32").at("dtype"), "float32");
  io::Json legacy = llama_json();
  legacy.erase("dtype");
  legacy["torch_dtype"] = "bfloat16";
  const io::Json saved = models::config_json_to_save(models::parse_model_config(legacy, "config.json"), "float64");
  EXPECT_EQ(saved.at("torch_dtype"), "float64");
  EXPECT_FALSE(saved.contains("dtype"));
}

}  // namespace
}  // namespace shadowpeft
