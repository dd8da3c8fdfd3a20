#pragma once
// Options shared by the commands that run a model: which model, adapter, mode, tokenizer, dtype
// and device, and the decoding flags; and loading all of it.
#include <functional>
#include <memory>
#include <string_view>
#include <optional>
#include <string>
#include <vector>

#include "shadowpeft/generate/decoding_model.h"
#include "shadowpeft/generate/generation_config.h"
#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/peft/lora_model.h"
#include "shadowpeft/peft/shadow_model.h"
#include "shadowpeft/shadow/task_models.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace CLI {
class App;
}

namespace shadowpeft::cli {

struct ModelFlags {
  std::string model;
  std::string adapter;
  std::string shadow_model;  // the explicit shadow the adapter was trained with
  std::string mode = "base_shadow";
  std::string tokenizer;  // default: the model directory
  std::string dtype;
  std::string quantize = "none";  // weight-only quantization of the base's Linear layers
  std::string device = "cpu";
};
// Which of the shared model flags a command offers beyond --model, --adapter, --shadow-model,
// --dtype and --device.
struct ModelFlagSet {
  bool adapter = true;    // --adapter and --shadow-model (a command with several adapters names its own)
  bool mode = true;       // --mode (needs --adapter)
  bool tokenizer = true;  // --tokenizer
  bool adapter_required = false;
};
void add_model_flags(CLI::App* cmd, ModelFlags& flags, ModelFlagSet set = {});

// A model directory (or org/name in the HF cache) with a progress bar and a status line when stderr
// is a terminal.
models::CausalLM load_logged(const std::string& model, models::LoadOptions load);
// The base model the flags name, in --dtype on --device.
models::CausalLM load_base_model(const ModelFlags& flags);
// What an adapter directory holds, told by its files: shadow-peft's (shadow_config.json) or
// Hugging Face peft's (adapter_config.json, peft_type "SHADOW" or "LORA"). Anything else is an
// error naming the directory and what it found.
enum class AdapterFormat { ShadowPeft, PeftShadow, PeftLora };
AdapterFormat adapter_format(const std::string& dir);
std::string describe(AdapterFormat format);  // "shadow-peft adapter (shadow_config.json)", ...

// An adapter of either format on its base model, for inference in --mode.
struct AdapterModel {
  AdapterFormat format;
  ShadowForCausalLM shadow{nullptr};       // shadow-peft's format
  peft::ShadowModel peft_shadow{nullptr};  // peft's SHADOW
  peft::LoraModel lora{nullptr};           // peft's LORA
  std::unique_ptr<generate::DecodingModel> decoding(InferenceMode mode) const;
  struct Logits {
    at::Tensor logits;         // [B, T, V] in the mode
    at::Tensor shadow_logits;  // the shadow's own prediction (base_shadow), or the logits (shadow_only); none for LoRA
  };
  Logits forward(const at::Tensor& input_ids, const models::ForwardOptions& options);
};
// The adapter the flags name on `base` (with --shadow-model's explicit shadow), for inference; says
// which format it found.
AdapterModel load_adapter_model(const ModelFlags& flags, models::CausalLM base);

struct SamplingFlags {
  std::optional<int64_t> max_new_tokens;
  bool do_sample = false;
  std::optional<double> temperature, top_p, min_p, repetition_penalty;
  std::optional<int64_t> top_k;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool no_cache = false;
};
void add_sampling_flags(CLI::App* cmd, SamplingFlags& flags);

struct LoadedModel {
  std::unique_ptr<generate::DecodingModel> decoding;
  std::optional<tokenizer::Tokenizer> tokenizer;
  generate::GenerationConfig generation;  // generation_config.json, then the flags
};
// `need_tokenizer` false: a missing tokenizer is not an error (token ids in, ids out).
LoadedModel load_model(const ModelFlags& flags, const SamplingFlags& sampling, bool need_tokenizer);
// The tokenizer of --tokenizer, else of the model directory; nullopt when there is none and none is needed.
std::optional<tokenizer::Tokenizer> load_tokenizer(const ModelFlags& flags, bool need_tokenizer);
// The model directory's generation_config.json, its EOS ids and padding completed from `config`
// and the tokenizer.
generate::GenerationConfig default_generation_config(const ModelFlags& flags, const models::ModelConfig& config,
                                                     const std::optional<tokenizer::Tokenizer>& tokenizer);

// "float32" | "bfloat16" | "float16"; ConfigError otherwise.
c10::ScalarType parse_dtype(const std::string& name);
// A CLI11 check for --device: "" when `name` is a device this machine has (cpu, cuda, cuda:N),
// else the one-line reason.
std::string check_device(const std::string& name);
// "1,2,3" → token ids; ConfigError naming `flag` on anything else.
std::vector<int64_t> parse_token_ids(const std::string& text, const std::string& flag);

// The chat template of the tokenizer applied to `messages`, ready to be encoded without special
// tokens (the template writes them).
std::string render_chat(const tokenizer::Tokenizer& tokenizer, const std::string& messages_json, bool add_generation_prompt);

// Text as tokens arrive, holding back an incomplete UTF-8 character: each new piece goes to `emit`
// (default: printed to stdout, and finish() ends the line).
class TextStreamer {
 public:
  explicit TextStreamer(const tokenizer::Tokenizer& tokenizer, std::function<void(std::string_view)> emit = {})
      : tokenizer_(tokenizer), emit_(std::move(emit)) {}
  void add(int64_t token);
  void finish();
  const std::string& text() const { return printed_; }

 private:
  void emit_new(const std::string& text);
  const tokenizer::Tokenizer& tokenizer_;
  std::function<void(std::string_view)> emit_;
  std::vector<int64_t> tokens_;
  std::string printed_;
};

}  // namespace shadowpeft::cli
