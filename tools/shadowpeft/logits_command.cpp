// `shadowpeft logits`: runs a model on given token ids and writes the logits to a safetensors file,
// for parity checks against transformers.
#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "commands.h"
#include "model_setup.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/task_models.h"

namespace shadowpeft::cli {
namespace {

struct LogitsOptions {
  ModelFlags model;
  std::string input_ids;
  std::string ids_file;
  std::string out;
};

void run_logits(const LogitsOptions& opts) {
  models::ForwardOptions forward;
  at::Tensor ids;
  io::TensorMap inputs;
  if (!opts.input_ids.empty()) {
    ids = at::tensor(parse_token_ids(opts.input_ids, "--input-ids"), at::kLong).unsqueeze(0);
  } else {
    // A safetensors file with input_ids [B, T] and optionally attention_mask and position_ids.
    const auto file = io::SafetensorsFile::open(opts.ids_file);
    if (!file.contains("input_ids")) throw LoadError(opts.ids_file + ": no tensor named 'input_ids'");
    ids = file.tensor("input_ids").to(at::kLong);
    if (file.contains("attention_mask")) forward.attention_mask = file.tensor("attention_mask").to(at::kLong);
    if (file.contains("position_ids")) forward.position_ids = file.tensor("position_ids").to(at::kLong);
  }
  models::CausalLM model = load_base_model(opts.model);
  const c10::Device device(opts.model.device);
  ids = ids.to(device);
  if (forward.attention_mask.defined()) forward.attention_mask = forward.attention_mask.to(device);
  if (forward.position_ids.defined()) forward.position_ids = forward.position_ids.to(device);
  if (ids.max().item<int64_t>() >= model->config().vocab_size || ids.min().item<int64_t>() < 0)
    throw ConfigError(fmt::format("token ids must lie in [0, {}) for this model", model->config().vocab_size));
  io::TensorMap out{{"input_ids", ids.cpu()}};
  at::Tensor logits;
  if (opts.model.adapter.empty()) {
    torch::InferenceMode guard;
    logits = model->forward(ids, forward);
  } else {
    AdapterModel adapter = load_adapter_model(opts.model, model);
    torch::InferenceMode guard;
    const auto result = adapter.forward(ids, forward);
    logits = result.logits;
    if (result.shadow_logits.defined()) out["shadow_logits"] = result.shadow_logits.to(at::kFloat).cpu().contiguous();
  }
  out["logits"] = logits.to(at::kFloat).cpu().contiguous();
  io::save_safetensors(opts.out, out);
  fmt::print("wrote logits {} to {}\n", fmt::format("[{}]", fmt::join(logits.sizes(), ", ")), opts.out);
}

}  // namespace

void add_logits_command(CLI::App& app) {
  auto opts = std::make_shared<LogitsOptions>();
  CLI::App* cmd = app.add_subcommand("logits", "Run a model (optionally with a ShadowPEFT adapter) on token ids and write its logits (float32) to safetensors");
  add_model_flags(cmd, opts->model, {.tokenizer = false});
  auto* ids = cmd->add_option("--input-ids", opts->input_ids, "Comma-separated token ids, e.g. 1,2,3 (batch of one)");
  auto* file = cmd->add_option("--ids-file", opts->ids_file,
                               "safetensors file with input_ids [B, T] (and optional attention_mask, position_ids)");
  ids->excludes(file);
  file->excludes(ids);
  cmd->add_option("--out", opts->out, "Output safetensors file (tensors: logits, input_ids; shadow_logits with --adapter)")
      ->required();
  cmd->callback([opts, ids, file] {
    if (ids->count() == 0 && file->count() == 0) throw ConfigError("logits: give --input-ids or --ids-file");
    run_logits(*opts);
  });
}

}  // namespace shadowpeft::cli
