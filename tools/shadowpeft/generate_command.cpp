// `shadowpeft generate`: text (or token ids) in, generated text out — with KV caches for the base
// and the shadow, streamed token by token, or as JSON with timings.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "commands.h"
#include "model_setup.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/generate/generator.h"
#include "shadowpeft/io/json_file.h"

namespace shadowpeft::cli {
namespace {

struct GenerateFlags {
  ModelFlags model;
  SamplingFlags sampling;
  std::vector<std::string> prompts;
  std::string input_ids;
  bool chat = false;
  std::string system;
  bool json = false;
};

void run_generate(const GenerateFlags& flags) {
  LoadedModel loaded = load_model(flags.model, flags.sampling, flags.input_ids.empty());
  std::vector<std::vector<int64_t>> prompts;
  if (!flags.input_ids.empty()) {
    prompts.push_back(parse_token_ids(flags.input_ids, "--input-ids"));
  } else {
    for (const std::string& prompt : flags.prompts) {
      if (!flags.chat) {
        prompts.push_back(loaded.tokenizer->encode(prompt, true).ids);
        continue;
      }
      io::Json messages = io::Json::array();
      if (!flags.system.empty()) messages.push_back({{"role", "system"}, {"content", flags.system}});
      messages.push_back({{"role", "user"}, {"content", prompt}});
      prompts.push_back(loaded.tokenizer->encode(render_chat(*loaded.tokenizer, messages.dump(), true), false).ids);
    }
  }
  generate::GenerationHooks hooks;
  std::optional<TextStreamer> streamer;
  if (loaded.tokenizer) hooks.decode = [&](const std::vector<int64_t>& ids) { return loaded.tokenizer->decode(ids, true); };
  const bool stream = !flags.json && prompts.size() == 1;
  if (stream && loaded.tokenizer) {
    streamer.emplace(*loaded.tokenizer);
    hooks.on_token = [&](int64_t, int64_t token) { streamer->add(token); };
  } else if (stream) {
    hooks.on_token = [](int64_t, int64_t token) { fmt::print("{} ", token), std::fflush(stdout); };
  }
  torch::InferenceMode guard;
  const generate::GenerationResult result = generate::generate(*loaded.decoding, prompts, loaded.generation, hooks);
  if (streamer) streamer->finish();
  else if (stream) fmt::print("\n");
  int64_t generated = 0;
  for (const auto& row : result.tokens) generated += static_cast<int64_t>(row.size());
  const double decode_rate = result.decode_seconds > 0 ? static_cast<double>(result.decode_steps) / result.decode_seconds : 0;
  if (!flags.json) {
    if (!stream)
      for (std::size_t r = 0; r < result.tokens.size(); ++r)
        fmt::print("[{}] {}\n", r, loaded.tokenizer ? loaded.tokenizer->decode(result.tokens[r], true) : fmt::format("{}", fmt::join(result.tokens[r], ",")));
    fmt::print(stderr, "{} tokens; time to first token {:.3f} s; {:.1f} tokens/s after it ({}, {})\n", generated,
               result.prefill_seconds, decode_rate * static_cast<double>(prompts.size()),
               loaded.generation.use_cache ? "KV cache" : "no cache", generate::to_string(result.finish_reasons.front()));
    return;
  }
  io::Json out = io::Json::object();
  out["results"] = io::Json::array();
  for (std::size_t r = 0; r < result.tokens.size(); ++r) {
    io::Json row = {{"prompt_tokens", prompts[r].size()}, {"tokens", result.tokens[r]},
                    {"finish_reason", generate::to_string(result.finish_reasons[r])}};
    if (loaded.tokenizer) row["text"] = loaded.tokenizer->decode(result.tokens[r], true);
    out["results"].push_back(row);
  }
  out["time_to_first_token_seconds"] = result.prefill_seconds;
  out["decode_seconds"] = result.decode_seconds;
  out["decode_tokens_per_second"] = decode_rate * static_cast<double>(prompts.size());
  out["use_cache"] = loaded.generation.use_cache;
  fmt::print("{}\n", out.dump());
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto flags = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text with a model, optionally with a ShadowPEFT adapter (KV-cached)");
  add_model_flags(cmd, flags->model);
  add_sampling_flags(cmd, flags->sampling);
  auto* prompt = cmd->add_option("--prompt", flags->prompts, "Prompt text (repeat for a left-padded batch)");
  auto* ids = cmd->add_option("--input-ids", flags->input_ids, "Comma-separated prompt token ids instead of text");
  prompt->excludes(ids);
  ids->excludes(prompt);
  auto* chat = cmd->add_flag("--chat", flags->chat, "Wrap each prompt as a user message in the tokenizer's chat template");
  cmd->add_option("--system", flags->system, "With --chat: a system message")->needs(chat);
  cmd->add_flag("--json", flags->json, "Print one JSON object (tokens, text, finish reasons, timings) instead of streaming");
  cmd->callback([flags, prompt, ids] {
    if (prompt->count() == 0 && ids->count() == 0) throw ConfigError("generate: give --prompt or --input-ids");
    run_generate(*flags);
  });
}

}  // namespace shadowpeft::cli
