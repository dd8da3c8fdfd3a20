// `shadowpeft convert`: a checkpoint directory into another layout (Hugging Face shards or sub-block
// files), another dtype, or other shard sizes.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <optional>

#include "commands.h"
#include "model_setup.h"
#include "shadowpeft/core/logging.h"
#include "shadowpeft/core/progress.h"
#include "shadowpeft/io/model_dir.h"
#include "shadowpeft/models/convert.h"

namespace shadowpeft::cli {
namespace {

struct ConvertFlags {
  std::string model, out, format = "hf", dtype, max_shard_size = "5GB";
};

void run_convert(const ConvertFlags& f) {
  models::ConvertOptions options;
  options.format = models::parse_checkpoint_format(f.format);
  if (!f.dtype.empty()) options.dtype = parse_dtype(f.dtype);
  options.max_shard_bytes = models::parse_byte_size(f.max_shard_size, "--max-shard-size");
  std::optional<ProgressBar> bar;
  std::size_t files_told = 0;
  // A bar on a terminal; elsewhere (logs) a line per file written.
  options.progress = [&](const models::ConvertOptions::Progress& p) {
    if (!bar) bar.emplace("converting", static_cast<int64_t>(p.total_bytes), ProgressBar::Unit::Bytes);
    bar->update(static_cast<int64_t>(p.bytes));
    if (!bar->enabled() && p.files > files_told) log_info(fmt::format("wrote file {}/{}", files_told = p.files, p.total_files));
  };
  const auto in = io::resolve_model_dir(f.model);
  const models::ConvertResult r = models::convert_checkpoint(in, f.out, options);
  bar.reset();
  fmt::print("converted {} -> {} ({}{}): {} tensors, {:.1f} MB in {} files\n", in.string(), f.out, f.format,
             f.dtype.empty() ? "" : ", " + f.dtype, r.tensors, static_cast<double>(r.bytes) / 1e6, r.files);
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto f = std::make_shared<ConvertFlags>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Rewrite a checkpoint as Hugging Face shards or sub-block files, in another dtype or shard size");
  cmd->add_option("--model", f->model, "Model directory or org/name[@revision] in the local HF cache")->required();
  cmd->add_option("--out", f->out, "Output directory (new or empty)")->required();
  cmd->add_option("--format", f->format, "hf (model.safetensors or shards + index; default) or subblocks (one file per weight group)")
      ->check(CLI::IsMember({"hf", "subblocks"}));
  cmd->add_option("--dtype", f->dtype, "Cast floating-point weights: float32, bfloat16 or float16 (default: keep)")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
  cmd->add_option("--max-shard-size", f->max_shard_size, "Largest hf shard, e.g. 5GB (default), 500MB, 2GiB");
  cmd->callback([f] { run_convert(*f); });
}

}  // namespace shadowpeft::cli
