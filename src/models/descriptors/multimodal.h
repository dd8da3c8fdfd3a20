#pragma once
// The language model of a multimodal checkpoint (a vision encoder beside a decoder, as in
// *ForConditionalGeneration): `text_config` parsed by the decoder's text family, the decoder's
// tensors under model.language_model.*, lm_head at the top, the other towers' tensors left untouched.
// transformers keeps tie_word_embeddings at the top level, with the multimodal class's default.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <tuple>

#include "../config_fields.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models::detail {

struct MultimodalLayout {
  std::string name, architecture;            // "qwen3_vl", "Qwen3VLForConditionalGeneration"
  // The decoder's family; null: the family text_config.model_type names.
  const ModelDescriptor& (*text_family)() = nullptr;
  bool tie_word_embeddings = false;          // the multimodal config class's default
  std::vector<std::string> other_towers;     // "model.visual"
  std::vector<std::string> text_only_rope_keys;  // rope_parameters keys that matter only with images (mrope_section)
  std::span<const ModuleRename> file_renames = {};  // saved names that differ from the state dict's (llava's)
  // Where the language model's modules sit in the state dict, as renames of the text family's
  // `model` and `lm_head`; empty: model.language_model.* with lm_head at the top.
  std::span<const ModuleRename> language_model_renames = {};
  // The language model as a standalone causal LM: this family (null: the text family) with these
  // config fields set (what the text family fixes and the standalone one reads from its config).
  const ModelDescriptor& (*standalone_family)() = nullptr;
  io::Json standalone_fields = io::Json::object();
  // Saved expert stacks may hold their last two dimensions swapped ([E, H, 2I], [E, I, H]); as
  // transformers does, a stack whose shape is not the module's but transposed is transposed.
  bool transposable_experts = false;
};

class MultimodalDescriptor final : public ModelDescriptor {
 public:
  explicit MultimodalDescriptor(MultimodalLayout layout) : layout_(std::move(layout)) {}

  std::string name() const override { return layout_.name; }
  std::vector<std::string> model_types() const override { return {layout_.name}; }
  std::vector<std::string> architectures() const override { return {layout_.architecture}; }
  std::vector<std::string> other_towers() const override { return layout_.other_towers; }
  std::span<const ModuleRename> module_renames() const override {
    return layout_.language_model_renames.empty() ? std::span<const ModuleRename>(kRenames) : layout_.language_model_renames;
  }
  std::span<const ModuleRename> file_renames() const override { return layout_.file_renames; }

  // The language model's tensors move to where the text family has them, then convert as the
  // family converts them (its own renames, fused and transposed tensors).
  void checkpoint_to_modules(io::TensorMap& t, const ModelConfig& config) const override {
    ModelDescriptor::checkpoint_to_modules(t, config);
    text_family(config).checkpoint_to_modules(t, config);
  }
  void modules_to_checkpoint(io::TensorMap& t, const ModelConfig& config) const override {
    text_family(config).modules_to_checkpoint(t, config);
    ModelDescriptor::modules_to_checkpoint(t, config);
  }
  std::optional<std::string> weight_group(const std::string& tensor, const ModelConfig& config) const override {
    const std::string name = state_dict_name(tensor);
    for (const std::string& tower : other_towers())
      if (name.starts_with(tower + ".")) return "other_towers";
    return text_family(config).weight_group(module_name(name), config);
  }

  ModelConfig parse_config(const io::Json& text, const std::filesystem::path& file) const override {
    return text_family(text, file).parse_config(text, file);
  }

  ModelConfig parse_full_config(const io::Json& json, const std::filesystem::path& file) const override {
    const ConfigReader top(json, file);
    if (!top.has("text_config")) throw ConfigError(top.where("text_config") + " is required for a " + layout_.architecture);
    ModelConfig config = parse_config(top.child("text_config").json(), file);
    config.model_type = layout_.name;
    config.architecture = layout_.architecture;
    config.tie_word_embeddings = top.boolean("tie_word_embeddings", layout_.tie_word_embeddings);
    return config;
  }

  std::optional<io::Json> standalone_language_model(const io::Json& json) const override {
    io::Json text = json.at("text_config");
    const ModelDescriptor& family = layout_.standalone_family ? layout_.standalone_family() : text_family(text, "config.json");
    text.update(layout_.standalone_fields);
    text["architectures"] = io::Json::array({family.architectures().front()});
    text["model_type"] = family.model_types().front();
    text["tie_word_embeddings"] = ConfigReader(json, "config.json").boolean("tie_word_embeddings", layout_.tie_word_embeddings);
    for (const char* key : {"dtype", "torch_dtype", "bos_token_id", "eos_token_id", "pad_token_id"})
      if (json.contains(key) && !text.contains(key)) text[key] = json[key];
    for (const char* rope : {"rope_parameters", "rope_scaling"})
      if (text.contains(rope) && text[rope].is_object())
        for (const std::string& key : layout_.text_only_rope_keys) text[rope].erase(key);
    return text;
  }

  void file_to_state_dict(io::TensorMap& tensors, const ModelConfig& config) const override {
    ModelDescriptor::file_to_state_dict(tensors, config);
    if (!layout_.transposable_experts) return;
    for (int64_t i = 0; i < config.num_layers(); ++i) {
      const LayerSpec& spec = config.layers[static_cast<std::size_t>(i)];
      if (spec.mlp != MlpKind::MixtureOfExperts) continue;
      const int64_t e = spec.moe.num_experts, m = spec.moe.expert_intermediate_size, h = config.hidden_size;
      for (auto [name, rows, cols] : {std::tuple{"gate_up_proj", 2 * m, h}, std::tuple{"down_proj", h, m}}) {
        const auto it = tensors.find(fmt::format("model.language_model.layers.{}.mlp.experts.{}", i, name));
        if (it != tensors.end() && it->second.dim() == 3 && it->second.sizes() != at::IntArrayRef({e, rows, cols}) &&
            it->second.sizes() == at::IntArrayRef({e, cols, rows}))
          it->second = it->second.transpose(1, 2).contiguous();
      }
    }
  }

 private:
  const ModelDescriptor& text_family(const io::Json& text, const std::filesystem::path& file) const {
    return layout_.text_family ? layout_.text_family() : descriptor_for(text, file);
  }
  const ModelDescriptor& text_family(const ModelConfig& config) const {
    return text_family(language_model_config(config.raw), config.architecture);
  }

  MultimodalLayout layout_;
  inline static const ModuleRename kRenames[] = {{"model", "model.language_model"}};
};

}  // namespace shadowpeft::models::detail
