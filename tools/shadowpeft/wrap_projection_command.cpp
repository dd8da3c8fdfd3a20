// `shadowpeft wrap-projection`: turn a small pretrained model into a shadow for a larger one —
// its backbone, a pseudo-inverse projection to the large hidden size, the large model's lm_head.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands.h"
#include "model_setup.h"
#include "shadowpeft/io/model_dir.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/shadow/projected_causal_lm.h"

namespace shadowpeft::cli {
namespace {

struct WrapOptions {
  std::string small, large, out;
  std::string device = "cpu";
};

void run_wrap(const WrapOptions& opts) {
  models::LoadOptions load;
  load.device = c10::Device(opts.device);
  models::CausalLM small = models::load_causal_lm(io::resolve_model_dir(opts.small).string(), load);
  models::CausalLM large = models::load_causal_lm(io::resolve_model_dir(opts.large).string(), load);
  const at::Tensor head = large->output_embedding();
  const at::Tensor projection = optimal_projection(head, small->output_embedding());
  // How well the large head, through the projection, reproduces the small model's own head.
  const double error = (at::matmul(head.to(at::kFloat), projection) - small->output_embedding().to(at::kFloat)).norm().item<double>() /
                       small->output_embedding().to(at::kFloat).norm().item<double>();
  models::CausalLM wrapped = wrap_with_hidden_projection(*small, head, projection);
  models::save_pretrained(*wrapped, opts.out);
  fmt::print("wrote {} (hidden {} -> {}, relative reconstruction error of the head {:.6f})\n", opts.out,
             small->config().hidden_size, head.size(1), error);
}

}  // namespace

void add_wrap_projection_command(CLI::App& app) {
  auto opts = std::make_shared<WrapOptions>();
  CLI::App* cmd = app.add_subcommand(
      "wrap-projection", "Wrap a small model as a projected shadow of a larger one (pseudo-inverse projection init)");
  cmd->add_option("--small", opts->small, "The small model (its backbone becomes the shadow)")->required();
  cmd->add_option("--large", opts->large, "The large (base) model whose lm_head scores the projected states")->required();
  cmd->add_option("--out", opts->out, "Output directory (AutoModelForCausalLMWithHiddenProjection format)")->required();
  cmd->add_option("--device", opts->device, "cpu (default) or cuda[:N]: where the pseudo-inverse is computed")
      ->check(check_device, "DEVICE");
  cmd->callback([opts] { run_wrap(*opts); });
}

}  // namespace shadowpeft::cli
