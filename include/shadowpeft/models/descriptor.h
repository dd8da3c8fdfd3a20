#pragma once
// A ModelDescriptor says, for one architecture family, how its config.json maps onto ModelConfig,
// where embeddings, final norm, head and blocks live, how checkpoint tensors group into
// sub-blocks, and which tensors need transforming to our module layout. Module names follow the
// Llama layout (model.embed_tokens, model.layers.{i}.self_attn.q_proj, ..., lm_head), so most
// families need no renaming; a family states only its exceptions (GPT-2: Conv1D, fused c_attn).
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/heads.h"
#include "shadowpeft/models/model_config.h"

namespace shadowpeft::models {

// A module that the family's checkpoints store under another path than our (Llama) layout does;
// "{i}" stands for a layer index. A rename covers every tensor of the module (weight, bias).
struct ModuleRename {
  std::string_view ours;    // e.g. "model.layers.{i}.self_attn.o_proj"
  std::string_view theirs;  // e.g. "model.decoder.layers.{i}.self_attn.out_proj"
  bool transposed = false;  // 2-D weights stored [in, out] (GPT-2's Conv1D)
};

// A checkpoint module holding several of ours stacked along the output dimension (Phi-3's
// self_attn.qkv_proj = [q; k; v]), named in our layout (after renames); each part's rows follow
// its module's shape, so per-layer head counts and widths need no arithmetic here.
struct FusedModules {
  std::string_view fused;                   // e.g. "model.layers.{i}.self_attn.qkv_proj"
  std::vector<std::string_view> parts;      // siblings in order, e.g. {"q_proj", "k_proj", "v_proj"}
  bool transposed = false;                  // the fused 2-D weight is stored [in, out] (GPT-2's c_attn)
};

// Expert weights that saved checkpoints hold one module per expert and transformers' modules (so
// adapters and our modules) hold stacked: `stacked` [E, ...] is, for each expert e, its `per_expert`
// tensors concatenated along their first dimension. "{i}" stands for a layer, "{e}" for an expert.
struct StackedExperts {
  std::string_view stacked;                 // e.g. "model.layers.{i}.mlp.experts.gate_up_proj"
  std::vector<std::string_view> per_expert;  // e.g. "model.layers.{i}.mlp.experts.{e}.gate_proj.weight", "...up_proj.weight"
};

// How transformers' modules (and so adapters) hold a family's expert stacks where that differs
// from ours (gate_up_proj [E, 2I, H]: the gate half, then the up half; down_proj [E, H, I]).
struct ExpertLayout {
  bool transposed = false;   // x @ W: gate_up_proj [E, H, 2I], down_proj [E, I, H] (GPT-OSS, Llama 4)
  bool interleaved = false;  // gate and up alternate along 2I, gate_up_proj_bias too (GPT-OSS)
};

// What a family's checkpoints call the parts of a layer, which our modules are named after: the
// sequence mixer, the MLP, and the norms around them by NormPlacement ("" where a placement has
// none). Families whose layer holds one sub-block (Nemotron-H's `norm` + `mixer`) give both sides
// the same names; a layer never holds two parts of one name.
struct LayerPartNames {
  std::string_view attention = "self_attn", mlp = "mlp";
  std::string_view attention_pre, attention_post, attention_residual, mlp_pre, mlp_post, mlp_residual;
};
// Llama's names for the norms of `placement` (input_layernorm, post_attention_layernorm, ...).
LayerPartNames llama_layer_part_names(NormPlacement placement);

// `name` with the module path `from` (a ModuleRename side) replaced by `to`; nullopt when `name`
// is not under `from`.
std::optional<std::string> rename_module(const std::string& name, std::string_view from, std::string_view to);

class ModelDescriptor {
 public:
  virtual ~ModelDescriptor() = default;

  virtual std::string name() const = 0;
  virtual std::vector<std::string> model_types() const = 0;
  virtual std::vector<std::string> architectures() const = 0;

  // config.json (already narrowed to the language model, see language_model_config) → ModelConfig.
  // `file` names the source in error messages.
  virtual ModelConfig parse_config(const io::Json& config, const std::filesystem::path& file) const = 0;
  // The whole config.json → ModelConfig: by default parse_config of the language model's part; a
  // multimodal family also reads the top level (where transformers keeps tie_word_embeddings).
  virtual ModelConfig parse_full_config(const io::Json& config, const std::filesystem::path& file) const {
    return parse_config(language_model_config(config), file);
  }
  // The text model's config inside a multimodal one (`text_config`); the config itself otherwise.
  virtual const io::Json& language_model_config(const io::Json& config) const;

  // Multimodal checkpoints: the path prefixes of the towers beside the language model (a vision
  // encoder, its projector), whose tensors are neither loaded nor saved; none for text models.
  virtual std::vector<std::string> other_towers() const { return {}; }
  // The config.json of this checkpoint's language model as a causal LM of its text family (what an
  // implicit shadow derives from and save_pretrained writes); nullopt for text models.
  virtual std::optional<io::Json> standalone_language_model(const io::Json& config) const { return std::nullopt; }

  // The family's module renames, most specific first (the first that matches applies); none for
  // families in the Llama layout. Checkpoint ↔ module conversion, weight groups and the embedding
  // name derive from this table unless a family overrides them.
  virtual std::span<const ModuleRename> module_renames() const { return {}; }
  // The family's fused checkpoint modules; none by default.
  virtual std::span<const FusedModules> fused_modules() const { return {}; }
  // How its expert stacks are held; ours by default.
  virtual ExpertLayout expert_layout() const { return {}; }
  // The names of a layer's parts: Llama's by default.
  virtual LayerPartNames layer_part_names(NormPlacement placement) const { return llama_layer_part_names(placement); }
  std::string checkpoint_name(const std::string& ours) const;  // our module path → the checkpoint's
  std::string module_name(const std::string& theirs) const;    // the checkpoint's → ours

  // Above, "checkpoint" means transformers' state dict, which adapters store. What save_pretrained
  // writes differs for some families, as transformers' conversion mapping says: module renames
  // (Mixtral's block_sparse_moe → mlp) and experts saved one by one.
  virtual std::span<const ModuleRename> file_renames() const { return {}; }  // ours: the state dict's
  virtual std::span<const StackedExperts> stacked_experts() const { return {}; }
  // A saved checkpoint's tensors ↔ the state dict (file_renames, then stacked_experts); a family
  // with stored quantized weights dequantizes them here.
  virtual void file_to_state_dict(io::TensorMap& tensors, const ModelConfig& config) const;
  virtual void state_dict_to_file(io::TensorMap& tensors, const ModelConfig& config) const;
  std::string state_dict_name(const std::string& saved) const;  // a saved tensor's name in the state dict

  virtual std::string input_embedding_name() const { return checkpoint_name("model.embed_tokens"); }
  virtual std::string output_embedding_name() const { return "lm_head"; }

  // Weight group of a saved (or state-dict) tensor: "embeddings", "lm_head" (head and final norm),
  // "block_{i}_attention", "block_{i}_mixer" (a Mamba mixer) or "block_{i}_ffn" (a layer's norms go
  // with the sub-block they sit around, per its NormPlacement), "other_towers" (not loaded); nullopt
  // if it belongs to none.
  virtual std::optional<std::string> weight_group(const std::string& tensor, const ModelConfig& config) const;

  // Checkpoint tensors ↔ our module layout, names and values, from module_renames (with their
  // transposes), fused_modules and expert_layout.
  virtual void checkpoint_to_modules(io::TensorMap& tensors, const ModelConfig& config) const;
  virtual void modules_to_checkpoint(io::TensorMap& tensors, const ModelConfig& config) const;

  // The head that scores the final hidden states (heads.h), its modules registered on `owner`:
  // by default the config's language-model or sequence-classification head.
  virtual std::unique_ptr<OutputHead> make_head(const ModelConfig& config, torch::nn::Module& owner,
                                                const Embedding& token_embeddings) const {
    return make_output_head(config, owner, token_embeddings);
  }

  virtual bool requires_trust_remote_code() const { return false; }
  // `quantization_config.quant_method`s whose stored weights file_to_state_dict dequantizes.
  virtual std::vector<std::string> quantization_methods() const { return {}; }
};

// Picks the descriptor for a config.json by architectures[0], then model_type. An unknown family is
// an UnsupportedError naming it and listing the supported ones.
const ModelDescriptor& descriptor_for(const io::Json& config, const std::filesystem::path& file);
// Every family: those of src/models/descriptors/ (a generated list) and those registered by the
// layers above (shadow-peft's projected model registers itself from shadow/).
std::vector<const ModelDescriptor*> all_descriptors();
// Adds a family defined outside models/; called once per family at start-up.
void register_descriptor(const ModelDescriptor& descriptor);

// A config.json's content → the complete ModelConfig, with its family's descriptor: the one place a
// config is interpreted. `source` names it in errors (a file, or what derived it).
ModelConfig parse_model_config(const io::Json& json, const std::filesystem::path& source);
// Reads a config.json and parses it.
ModelConfig read_model_config(const std::filesystem::path& config_file);

}  // namespace shadowpeft::models
