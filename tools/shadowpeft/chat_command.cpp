// `shadowpeft chat`: an interactive conversation through the tokenizer's chat template. Each turn
// re-renders the conversation and generates the reply with KV caches, streaming it.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>

#include "commands.h"
#include "model_setup.h"
#include "shadowpeft/generate/generator.h"
#include "shadowpeft/io/json_file.h"

namespace shadowpeft::cli {
namespace {

struct ChatFlags {
  ModelFlags model;
  SamplingFlags sampling;
  std::string system;
};

void run_chat(const ChatFlags& flags) {
  LoadedModel loaded = load_model(flags.model, flags.sampling, true);
  if (!flags.sampling.max_new_tokens) loaded.generation.max_new_tokens = 256;
  io::Json messages = io::Json::array();
  if (!flags.system.empty()) messages.push_back({{"role", "system"}, {"content", flags.system}});
  const std::size_t fixed = messages.size();
  fmt::print(stderr, "chat: type a message; /reset starts over, /exit (or end of input) quits\n");
  std::string line;
  while (true) {
    fmt::print(stderr, "> ");
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line == "/reset") {
      messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(fixed), messages.end());
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    const std::vector<int64_t> prompt =
        loaded.tokenizer->encode(render_chat(*loaded.tokenizer, messages.dump(), true), false).ids;
    TextStreamer streamer(*loaded.tokenizer);
    generate::GenerationHooks hooks;
    hooks.decode = [&](const std::vector<int64_t>& ids) { return loaded.tokenizer->decode(ids, true); };
    hooks.on_token = [&](int64_t, int64_t token) { streamer.add(token); };
    torch::InferenceMode guard;
    generate::generate(*loaded.decoding, {prompt}, loaded.generation, hooks);
    streamer.finish();
    messages.push_back({{"role", "assistant"}, {"content", streamer.text()}});
  }
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto flags = std::make_shared<ChatFlags>();
  CLI::App* cmd = app.add_subcommand("chat", "Chat interactively with a model (optionally with a ShadowPEFT adapter)");
  add_model_flags(cmd, flags->model);
  add_sampling_flags(cmd, flags->sampling);
  // A conversation needs longer replies than generate's default.
  cmd->get_option("--max-new-tokens")->description("Tokens to generate at most per reply (default 256)");
  cmd->add_option("--system", flags->system, "A system message that starts the conversation");
  cmd->callback([flags] { run_chat(*flags); });
}

}  // namespace shadowpeft::cli
