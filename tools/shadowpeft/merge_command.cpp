// `shadowpeft merge`: a LoRA adapter merged into its base, written as a plain Hugging Face model
// directory (peft's merge_and_unload() + save_pretrained), with the base's tokenizer files.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>

#include "commands.h"
#include "model_setup.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/io/model_dir.h"
#include "shadowpeft/models/loader.h"

namespace shadowpeft::cli {
namespace {

namespace fs = std::filesystem;

struct MergeOptions {
  ModelFlags model;
  std::string out;
};

void run_merge(const MergeOptions& opts) {
  const AdapterFormat format = adapter_format(opts.model.adapter);
  if (format != AdapterFormat::PeftLora)
    throw ConfigError(fmt::format("merge: {} is a {}; a shadow adapts the base through its own network and cannot be "
                                  "merged into the weights (`export-shadow` writes the shadow alone)",
                                  opts.model.adapter, describe(format)));
  AdapterModel adapter = load_adapter_model(opts.model, load_base_model(opts.model));
  models::CausalLM merged = adapter.lora->merge_and_unload();
  models::save_pretrained(*merged, opts.out);
  const fs::path model_dir = io::resolve_model_dir(opts.model.model);
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                           "generation_config.json"})
    if (fs::exists(model_dir / name) && !fs::exists(fs::path(opts.out) / name)) fs::copy_file(model_dir / name, fs::path(opts.out) / name);
  fmt::print("merged {} LoRA layers of {} into {} ({})\n", adapter.lora->targeted_modules().size(), opts.model.adapter,
             opts.out, merged->config().architecture);
}

}  // namespace

void add_merge_command(CLI::App& app) {
  auto opts = std::make_shared<MergeOptions>();
  CLI::App* cmd = app.add_subcommand("merge", "Merge a peft LoRA adapter into its base and write a plain Hugging Face model directory");
  add_model_flags(cmd, opts->model, {.mode = false, .tokenizer = false, .adapter_required = true});
  cmd->add_option("--out", opts->out, "Output directory")->required();
  cmd->callback([opts] { run_merge(*opts); });
}

}  // namespace shadowpeft::cli
