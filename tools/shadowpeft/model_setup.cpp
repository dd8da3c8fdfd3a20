#include "model_setup.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <torch/cuda.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <sstream>

#include <unistd.h>

#include "shadowpeft/chat_template/chat_template.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/core/format.h"
#include "shadowpeft/core/logging.h"
#include "shadowpeft/core/progress.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/model_dir.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"

namespace shadowpeft::cli {
namespace fs = std::filesystem;

std::string check_device(const std::string& name) {
  std::optional<c10::Device> device;
  try {
    device = c10::Device(name);
  } catch (const std::exception&) {
    return fmt::format("'{}' is not a device (cpu, cuda or cuda:N)", name);
  }
  if (device->is_cpu()) return "";
  if (!device->is_cuda()) return fmt::format("'{}': only cpu and cuda devices are supported", name);
  if (!torch::cuda::is_available()) return fmt::format("'{}': this machine (or this LibTorch build) has no CUDA device", name);
  if (device->has_index() && device->index() >= static_cast<int>(torch::cuda::device_count()))
    return fmt::format("'{}': there are only {} CUDA devices", name, torch::cuda::device_count());
  return "";
}

void add_model_flags(CLI::App* cmd, ModelFlags& flags, ModelFlagSet set) {
  cmd->add_option("--model", flags.model, "Model directory or org/name[@revision] in the local HF cache")->required();
  if (set.adapter) {
    auto* adapter =
        cmd->add_option("--adapter", flags.adapter,
                        "Adapter directory: shadow-peft's (shadow_config.json), or peft's SHADOW or LORA (adapter_config.json)");
    if (set.adapter_required) adapter->required();
    cmd->add_option("--shadow-model", flags.shadow_model,
                    "The explicit (or projected) shadow model the adapter was trained with: directory or org/name")
        ->needs(adapter);
    if (set.mode)
      cmd->add_option("--mode", flags.mode, "With --adapter: base_shadow (default) or shadow_only")
          ->check(CLI::IsMember({"base_shadow", "shadow_only"}))
          ->needs(adapter);
  }
  if (set.tokenizer) cmd->add_option("--tokenizer", flags.tokenizer, "Tokenizer directory (default: the model directory)");
  cmd->add_option("--dtype", flags.dtype, "Compute dtype: float32, bfloat16 or float16 (default: the checkpoint's)")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
  cmd->add_option("--quantize", flags.quantize,
                  "Weight-only quantization of the base's Linear layers: none (default) or int8 (per-channel scales; "
                  "they compute in --dtype, fastest with bfloat16)")
      ->check(CLI::IsMember({"none", "int8"}));
  cmd->add_option("--device", flags.device, "cpu (default) or cuda[:N]")->check(check_device, "DEVICE");
}

namespace {

models::LoadOptions load_options(const ModelFlags& flags) {
  models::LoadOptions load;
  if (!flags.dtype.empty()) load.dtype = parse_dtype(flags.dtype);
  load.quantization = models::parse_weight_quantization(flags.quantize);
  load.device = c10::Device(flags.device);
  return load;
}

}  // namespace

// Loads a model directory, with a progress bar and a status line on a terminal: large checkpoints
// take a while to read. (Piped or redirected, the output stays the command's own.)
models::CausalLM load_logged(const std::string& model, models::LoadOptions load) {
  const fs::path dir = io::resolve_model_dir(model);
  if (!isatty(fileno(stderr))) return models::load_causal_lm(dir.string(), load);
  const auto start = std::chrono::steady_clock::now();
  std::optional<ProgressBar> bar;
  load.progress = [&](int64_t done, int64_t total) {
    if (!bar) bar.emplace("loading " + dir.filename().string(), total, ProgressBar::Unit::Bytes);
    bar->update(done);
  };
  models::CausalLM loaded = models::load_causal_lm(dir.string(), load);
  bar.reset();
  int64_t parameters = 0;
  for (const auto& p : loaded->parameters()) parameters += p.numel();
  log_info(fmt::format("loaded {} ({} parameters, {}) in {:.1f} s", dir.filename().string(), with_thousands(parameters),
                       loaded->config().architecture,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  return loaded;
}

models::CausalLM load_base_model(const ModelFlags& flags) {
  const models::LoadOptions load = load_options(flags);
  models::CausalLM model = load_logged(flags.model, load);
  // Inference reads the whole head for every token: it gets an int8 copy too (training does not).
  if (load.quantization == models::WeightQuantization::Int8) model->quantize_head_int8_for_inference();
  return model;
}

AdapterFormat adapter_format(const std::string& dir) {
  const fs::path path(dir);
  if (!fs::is_directory(path)) throw LoadError(fmt::format("{}: adapter directory not found", dir));
  const std::optional<std::string> peft_type = peft::adapter_peft_type(path);
  const bool shadow_peft = fs::exists(path / "shadow_config.json");
  if (peft_type && shadow_peft)
    throw ConfigError(fmt::format("{}: holds both shadow_config.json (shadow-peft) and adapter_config.json (peft {}); "
                                  "keep one adapter per directory",
                                  dir, *peft_type));
  if (shadow_peft) return AdapterFormat::ShadowPeft;
  if (peft_type == "SHADOW") return AdapterFormat::PeftShadow;
  if (peft_type == "LORA") return AdapterFormat::PeftLora;
  if (peft_type)
    throw UnsupportedError(fmt::format("{}: a peft {} adapter; supported: peft SHADOW and LORA, and shadow-peft adapters", dir,
                                       *peft_type));
  throw LoadError(fmt::format("{}: not an adapter directory (no shadow_config.json or adapter_config.json)", dir));
}

std::string describe(AdapterFormat format) {
  switch (format) {
    case AdapterFormat::ShadowPeft: return "shadow-peft adapter (shadow_config.json)";
    case AdapterFormat::PeftShadow: return "peft SHADOW adapter (adapter_config.json)";
    case AdapterFormat::PeftLora: return "peft LORA adapter (adapter_config.json)";
  }
  return "";
}

std::unique_ptr<generate::DecodingModel> AdapterModel::decoding(InferenceMode mode) const {
  if (format == AdapterFormat::ShadowPeft) return generate::make_decoding_model(shadow, mode);
  if (format == AdapterFormat::PeftLora) return generate::make_decoding_model(lora, mode);
  return generate::make_decoding_model(peft_shadow, mode);
}

AdapterModel::Logits AdapterModel::forward(const at::Tensor& input_ids, const models::ForwardOptions& options) {
  if (format == AdapterFormat::ShadowPeft) {
    const ShadowCausalLMOutput out = shadow->forward(input_ids, options);
    return {out.logits, out.shadow_logits};
  }
  if (format == AdapterFormat::PeftLora) return {lora->forward(input_ids, options).logits, {}};
  const peft::ShadowOutput out = peft_shadow->forward(input_ids, options);
  return {out.logits, out.shadow_logits.defined() ? out.shadow_logits : out.logits};
}

AdapterModel load_adapter_model(const ModelFlags& flags, models::CausalLM base) {
  AdapterModel model{adapter_format(flags.adapter)};
  models::CausalLM explicit_shadow{nullptr};
  if (!flags.shadow_model.empty()) explicit_shadow = load_logged(flags.shadow_model, load_options(flags));
  const InferenceMode mode = parse_inference_mode(flags.mode);
  if (model.format == AdapterFormat::ShadowPeft) {
    model.shadow = ShadowForCausalLM(ShadowForCausalLMImpl::from_pretrained(std::move(base), flags.adapter, false, 0.05, mode,
                                                                            std::move(explicit_shadow)));
    model.shadow->eval();
  } else if (model.format == AdapterFormat::PeftLora) {
    if (explicit_shadow) throw ConfigError(fmt::format("--shadow-model: {} is a LoRA adapter, which has no shadow", flags.adapter));
    if (mode != InferenceMode::BaseShadow)
      throw ConfigError(fmt::format("--mode {}: {} is a LoRA adapter, which has no shadow to run alone", flags.mode, flags.adapter));
    model.lora = peft::LoraModel(peft::LoraModelImpl::from_pretrained(std::move(base), flags.adapter, false));
    model.lora->eval();
  } else {
    model.peft_shadow = peft::ShadowModel(
        peft::ShadowModelImpl::from_pretrained(std::move(base), flags.adapter, false, std::move(explicit_shadow)));
    model.peft_shadow->set_inference_mode(mode);
    model.peft_shadow->eval();
  }
  log_info(fmt::format("{}: {}", flags.adapter, describe(model.format)));  // once loaded: an error stays one line
  return model;
}

void add_sampling_flags(CLI::App* cmd, SamplingFlags& flags) {
  cmd->add_option("--max-new-tokens", flags.max_new_tokens, "Tokens to generate at most (default: generation_config.json, else 20)");
  cmd->add_flag("--do-sample", flags.do_sample, "Sample instead of greedy decoding");
  cmd->add_option("--temperature", flags.temperature, "Sampling temperature (> 0)");
  cmd->add_option("--top-k", flags.top_k, "Keep the k most likely tokens (0: off; default 50)");
  cmd->add_option("--top-p", flags.top_p, "Nucleus sampling: keep the smallest set with this probability mass");
  cmd->add_option("--min-p", flags.min_p, "Drop tokens below min_p times the top probability");
  cmd->add_option("--repetition-penalty", flags.repetition_penalty, "Penalty (> 1) on tokens already present");
  cmd->add_option("--seed", flags.seed, "Seed for sampling (as torch.manual_seed)");
  cmd->add_option("--stop", flags.stop, "Stop once the output contains this string (repeatable)");
  cmd->add_flag("--no-cache", flags.no_cache, "Recompute the whole sequence for every token (the Python package's way)");
}

namespace {

generate::GenerationConfig generation_config(const fs::path& model_dir, const models::ModelConfig& config,
                                             const std::optional<tokenizer::Tokenizer>& tokenizer) {
  generate::GenerationConfig generation;
  if (fs::exists(model_dir / "generation_config.json"))
    generation = generate::GenerationConfig::from_file(model_dir / "generation_config.json");
  if (generation.eos_token_ids.empty()) {
    if (!config.eos_token_ids.empty())
      generation.eos_token_ids = config.eos_token_ids;
    else if (tokenizer && tokenizer->eos_token() && tokenizer->eos_token()->id)
      generation.eos_token_ids = {*tokenizer->eos_token()->id};
  }
  if (!generation.pad_token_id && tokenizer && tokenizer->pad_token() && tokenizer->pad_token()->id)
    generation.pad_token_id = *tokenizer->pad_token()->id;
  return generation;
}

}  // namespace

std::optional<tokenizer::Tokenizer> load_tokenizer(const ModelFlags& flags, bool need_tokenizer) {
  const fs::path tokenizer_dir = io::resolve_model_dir(flags.tokenizer.empty() ? flags.model : flags.tokenizer);
  if (fs::exists(tokenizer_dir / "tokenizer.json")) return tokenizer::Tokenizer::from_pretrained(tokenizer_dir);
  if (need_tokenizer || !flags.tokenizer.empty())
    throw LoadError(fmt::format("{}: no tokenizer.json (give --tokenizer DIR, or token ids with --input-ids)", tokenizer_dir.string()));
  return std::nullopt;
}

generate::GenerationConfig default_generation_config(const ModelFlags& flags, const models::ModelConfig& config,
                                                     const std::optional<tokenizer::Tokenizer>& tokenizer) {
  return generation_config(io::resolve_model_dir(flags.model), config, tokenizer);
}

LoadedModel load_model(const ModelFlags& flags, const SamplingFlags& sampling, bool need_tokenizer) {
  LoadedModel loaded;
  loaded.tokenizer = load_tokenizer(flags, need_tokenizer);
  models::CausalLM base = load_base_model(flags);
  base->eval();
  loaded.generation = default_generation_config(flags, base->config(), loaded.tokenizer);
  if (flags.adapter.empty()) loaded.decoding = generate::make_decoding_model(base);
  else loaded.decoding = load_adapter_model(flags, base).decoding(parse_inference_mode(flags.mode));

  generate::GenerationConfig& g = loaded.generation;
  if (sampling.max_new_tokens) g.max_new_tokens = *sampling.max_new_tokens;
  if (sampling.do_sample) g.do_sample = true;
  if (sampling.temperature) g.temperature = *sampling.temperature;
  if (sampling.top_k) g.top_k = *sampling.top_k;
  if (sampling.top_p) g.top_p = *sampling.top_p;
  if (sampling.min_p) g.min_p = *sampling.min_p;
  if (sampling.repetition_penalty) g.repetition_penalty = *sampling.repetition_penalty;
  if (sampling.seed) g.seed = *sampling.seed;
  for (const std::string& stop : sampling.stop) g.stop_strings.push_back(stop);
  if (sampling.no_cache) g.use_cache = false;
  g.validate();
  return loaded;
}

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") return at::kHalf;
  throw ConfigError(fmt::format("--dtype: '{}' is not one of float32, bfloat16, float16", name));
}

std::vector<int64_t> parse_token_ids(const std::string& text, const std::string& flag) {
  std::vector<int64_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      ids.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw ConfigError(fmt::format("{}: '{}' is not an integer token id", flag, item));
    }
  }
  if (ids.empty()) throw ConfigError(fmt::format("{}: no token ids given", flag));
  return ids;
}

std::string render_chat(const tokenizer::Tokenizer& tokenizer, const std::string& messages_json, bool add_generation_prompt) {
  const tokenizer::ChatTemplate* source = tokenizer.chat_template();
  if (!source) throw ConfigError("the tokenizer has no chat template (tokenizer_config.json chat_template or chat_template.jinja)");
  const ChatTemplate compiled = ChatTemplate::compile(source->source, source->name);
  ChatTemplateOptions options;
  options.add_generation_prompt = add_generation_prompt;
  auto content = [](const std::optional<tokenizer::SpecialToken>& token) -> std::optional<std::string> {
    if (token) return token->content;
    return std::nullopt;
  };
  options.bos_token = content(tokenizer.bos_token());
  options.eos_token = content(tokenizer.eos_token());
  options.unk_token = content(tokenizer.unk_token());
  options.pad_token = content(tokenizer.pad_token());
  return apply_chat_template(compiled, nlohmann::ordered_json::parse(messages_json), options);
}

void TextStreamer::emit_new(const std::string& text) {
  if (text.size() > printed_.size() && text.compare(0, printed_.size(), printed_) == 0) {
    const std::string_view piece(text.data() + printed_.size(), text.size() - printed_.size());
    if (emit_) {
      emit_(piece);
    } else {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
  }
  printed_ = text;
}

void TextStreamer::add(int64_t token) {
  tokens_.push_back(token);
  const std::string text = tokenizer_.decode(tokens_, /*skip_special_tokens=*/true);
  // U+FFFD at the end: the last token ends inside a multi-byte character; wait for the rest.
  if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return;
  emit_new(text);
}

void TextStreamer::finish() {
  emit_new(tokenizer_.decode(tokens_, true));
  if (!emit_) std::fputc('\n', stdout);
}

}  // namespace shadowpeft::cli
