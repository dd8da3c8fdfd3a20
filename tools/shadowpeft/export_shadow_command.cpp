// `shadowpeft export-shadow`: the trained shadow as a standalone Hugging Face model directory.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/shadow_model.h"

namespace shadowpeft::cli {
namespace {

struct ExportOptions {
  std::string model, adapter, out;
};

void run_export(const ExportOptions& opts) {
  auto peft = ShadowPeftModelImpl::from_pretrained(models::load_causal_lm(opts.model), opts.adapter);
  models::CausalLM exported = peft->export_shadow();
  models::save_pretrained(*exported, opts.out);
  fmt::print("exported a {}-layer {} model ({} -> {})\n", exported->config().num_layers(),
             exported->config().architecture, opts.adapter, opts.out);
}

}  // namespace

void add_export_shadow_command(CLI::App& app) {
  auto opts = std::make_shared<ExportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "export-shadow", "Write the shadow (backbone + base embeddings + base lm_head) as a standalone HF model directory");
  cmd->add_option("--model", opts->model, "Base model directory or org/name[@revision] in the local HF cache")->required();
  cmd->add_option("--adapter", opts->adapter, "ShadowPEFT adapter directory (shadow_config.json, shadow_adapter.safetensors)")
      ->required();
  cmd->add_option("--out", opts->out, "Output directory")->required();
  cmd->callback([opts] { run_export(*opts); });
}

}  // namespace shadowpeft::cli
