// Every change to a config's JSON: derived (smaller) models, classifier heads, the dtype on save.
// The rest of the library reads ModelConfig fields only.
#include <fmt/format.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/descriptor.h"
#include "shadowpeft/models/model_config.h"

namespace shadowpeft::models {
namespace {

// transformers' config setters take the first attribute a family has; config.json lists them all.
const char* first_present(const io::Json& json, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (json.contains(k)) return k;
  return nullptr;
}

// The language model's part of `raw` (a nested text_config, or raw itself), writable.
io::Json& language_model_json(io::Json& raw, const ModelDescriptor& descriptor) {
  // The descriptor answers with a reference into `raw`, which is ours to change here.
  return const_cast<io::Json&>(descriptor.language_model_config(raw));
}

}  // namespace

ModelConfig derive_config(const ModelConfig& base, const DerivedSizes& sizes, const std::string& what) {
  if (!base.descriptor) throw Error(fmt::format("{}: the base config was not parsed (no descriptor)", what));
  // A multimodal base's smaller model is a causal LM of its language model's family.
  const std::optional<io::Json> standalone = base.descriptor->standalone_language_model(base.raw);
  io::Json raw = standalone.value_or(base.raw);
  const ModelDescriptor& family = standalone ? descriptor_for(raw, what) : *base.descriptor;
  io::Json& lm = language_model_json(raw, family);
  const int64_t n = sizes.num_layers;
  auto set = [&](std::initializer_list<const char*> keys, int64_t value, const char* field, bool required) {
    if (const char* key = first_present(lm, keys)) lm[key] = value;
    else if (required)
      throw ConfigError(fmt::format("{}: the {} config has no {} field to set to {}", what, family.name(), field, value));
  };
  // Hybrid configs (Nemotron-H) count their layers by their list of block kinds.
  const bool counted_by_blocks = lm.contains("layers_block_type") || lm.contains("hybrid_override_pattern");
  set({"num_hidden_layers", "n_layer", "num_layers"}, n, "layer count", !counted_by_blocks);
  if (sizes.hidden_size) set({"hidden_size", "n_embd", "d_model"}, *sizes.hidden_size, "hidden size", true);
  if (sizes.intermediate_size) set({"intermediate_size", "ffn_dim", "n_inner"}, *sizes.intermediate_size, "intermediate size", false);
  if (sizes.num_attention_heads)
    set({"num_attention_heads", "n_head", "num_heads", "attention_heads"}, *sizes.num_attention_heads, "attention-head", true);
  if (sizes.num_key_value_heads)
    set({"num_key_value_heads", "num_kv_heads", "n_kv_head"}, *sizes.num_key_value_heads, "key/value-head", true);
  if (sizes.head_dim) set({"head_dim", "attention_head_dim"}, *sizes.head_dim, "head_dim", true);
  // Per-layer sources keep their first n entries, as a transformers config with fewer layers does.
  for (const char* list : {"layer_types", "block_configs", "layers_block_type"})
    if (lm.contains(list) && lm[list].is_array() && static_cast<int64_t>(lm[list].size()) > n)
      lm[list].erase(lm[list].begin() + n, lm[list].end());
  if (lm.contains("hybrid_override_pattern") && lm["hybrid_override_pattern"].is_string())
    lm["hybrid_override_pattern"] = lm["hybrid_override_pattern"].get<std::string>().substr(0, static_cast<std::size_t>(n));
  if (lm.contains("per_layer_config") && lm["per_layer_config"].is_object()) {
    io::Json kept = io::Json::object();
    for (const auto& [key, v] : lm["per_layer_config"].items())
      if (std::stoll(key) < n) kept[key] = v;
    lm["per_layer_config"] = kept;
  }
  if (lm.contains("max_window_layers") && lm["max_window_layers"].is_number_integer() && lm["max_window_layers"].get<int64_t>() > n)
    lm["max_window_layers"] = n;
  return parse_model_config(raw, what);
}

void make_sequence_classifier(ModelConfig& config, const std::string& architecture, int64_t num_labels,
                              const std::vector<std::string>& labels) {
  config.architecture = architecture;
  config.num_labels = num_labels;
  config.tie_word_embeddings = false;
  io::Json id2label = io::Json::object(), label2id = io::Json::object();
  for (int64_t i = 0; i < num_labels; ++i) {
    const std::string name = labels.empty() ? fmt::format("LABEL_{}", i) : labels[static_cast<std::size_t>(i)];
    id2label[std::to_string(i)] = name;
    label2id[name] = i;
  }
  config.raw["architectures"] = io::Json::array({architecture});
  config.raw["id2label"] = id2label;
  config.raw["label2id"] = label2id;
  if (config.raw.contains("num_labels")) config.raw["num_labels"] = num_labels;
}

io::Json config_json_with_dtype(const ModelConfig& config, const std::string& dtype) {
  io::Json json = config.raw;
  // The key the config already uses (remote-code configs such as DeciLM's keep `torch_dtype`).
  const char* key = json.contains("torch_dtype") && !json.contains("dtype") ? "torch_dtype" : "dtype";
  json[key] = dtype;
  if (json.contains("text_config") && json["text_config"].is_object() && json["text_config"].contains("dtype"))
    json["text_config"]["dtype"] = dtype;
  return json;
}

io::Json config_json_to_save(const ModelConfig& config, const std::string& dtype) {
  io::Json json = config_json_with_dtype(config, dtype);
  // Quantized weights are dequantized on load and saved as `dtype`.
  json.erase("quantization_config");
  if (json.contains("text_config") && json["text_config"].is_object()) json["text_config"].erase("quantization_config");
  return json;
}

}  // namespace shadowpeft::models
