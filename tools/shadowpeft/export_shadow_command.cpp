// `shadowpeft export-shadow`: the trained shadow as a standalone Hugging Face model directory.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands.h"
#include "model_setup.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/shadow_model.h"

namespace shadowpeft::cli {
namespace {

struct ExportOptions {
  ModelFlags model;
  std::string out;
};

void run_export(const ExportOptions& opts) {
  if (adapter_format(opts.model.adapter) == AdapterFormat::PeftLora)
    throw ConfigError(fmt::format("export-shadow: {} is a LoRA adapter, which has no shadow; `shadowpeft merge` writes the "
                                  "adapted model",
                                  opts.model.adapter));
  AdapterModel adapter = load_adapter_model(opts.model, load_base_model(opts.model));
  models::CausalLM exported = adapter.format == AdapterFormat::ShadowPeft ? adapter.shadow->peft_model->export_shadow()
                                                                          : adapter.peft_shadow->export_shadow();
  models::save_pretrained(*exported, opts.out);
  fmt::print("exported a {}-layer {} model ({} -> {})\n", exported->config().num_layers(),
             exported->config().architecture, opts.model.adapter, opts.out);
}

}  // namespace

void add_export_shadow_command(CLI::App& app) {
  auto opts = std::make_shared<ExportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "export-shadow", "Write the shadow (backbone + base embeddings + base lm_head) as a standalone HF model directory");
  add_model_flags(cmd, opts->model, {.mode = false, .tokenizer = false, .adapter_required = true});
  cmd->add_option("--out", opts->out, "Output directory")->required();
  cmd->callback([opts] { run_export(*opts); });
}

}  // namespace shadowpeft::cli
