#pragma once
// Each subcommand registers its options on the CLI app and runs when selected.
namespace CLI {
class App;
}

#include <stdexcept>
#include <string>

namespace shadowpeft::cli {

// Ends the command with this exit status after printing `what()` (when not empty) as a status line,
// e.g. 130 after training stopped on SIGINT.
class ExitStatus : public std::runtime_error {
 public:
  ExitStatus(int status, const std::string& message) : std::runtime_error(message), status(status) {}
  int status;
};

void add_inspect_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_export_shadow_command(CLI::App& app);
void add_merge_command(CLI::App& app);
void add_wrap_projection_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);

}  // namespace shadowpeft::cli
