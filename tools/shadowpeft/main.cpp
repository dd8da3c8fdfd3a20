// `shadowpeft`: the command-line tool. Errors print one line and exit non-zero.
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "local_launcher.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/core/format.h"
#include "shadowpeft/core/logging.h"

#ifdef SHADOWPEFT_TCMALLOC
#include <gperftools/malloc_extension.h>
#endif

namespace {
constexpr int kBadInput = 1;
constexpr int kBadUsage = 2;
}  // namespace

int main(int argc, char** argv) {
  // Past a file size limit (ulimit -f), a write fails with EFBIG, reported like a full disk,
  // instead of killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
#ifdef SHADOWPEFT_TCMALLOC
  // tcmalloc's default release rate (1) gives free pages back so slowly that a large base's
  // training step peaks above glibc's (Qwen3-8B-shaped, 4 layers: 8.23 GB vs 8.12); at 100 it
  // matches it and keeps training as fast. A user's TCMALLOC_RELEASE_RATE stands.
  if (!std::getenv("TCMALLOC_RELEASE_RATE")) MallocExtension::instance()->SetMemoryReleaseRate(100);
#endif
  shadowpeft::cli::remember_command_line(argc, argv);
  CLI::App app{"shadowpeft: parameter-efficient fine-tuning of Hugging Face LLMs with a shadow network"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "shadowpeft 0.1.0");
  // Every command computes with LibTorch's intra-op thread pool; --threads sizes it, before or
  // after the command name.
  std::optional<int> threads;
  app.add_option("--threads", threads, "CPU threads for LibTorch (default: one per physical core)")
      ->check(CLI::Range(1, 4096));
  bool quiet = false;
  app.add_flag("--quiet,-q", quiet, "Print results and errors only: no progress or status lines (before or after the command)");
  app.fallthrough();
  app.parse_complete_callback([&threads, &quiet] {
    if (threads) at::set_num_threads(*threads);
    if (quiet) shadowpeft::set_quiet(true);
  });
  shadowpeft::cli::add_inspect_command(app);
  shadowpeft::cli::add_logits_command(app);
  shadowpeft::cli::add_export_shadow_command(app);
  shadowpeft::cli::add_merge_command(app);
  shadowpeft::cli::add_wrap_projection_command(app);
  shadowpeft::cli::add_convert_command(app);
  shadowpeft::cli::add_serve_command(app);
  shadowpeft::cli::add_tokenize_command(app);
  shadowpeft::cli::add_generate_command(app);
  shadowpeft::cli::add_chat_command(app);
  shadowpeft::cli::add_train_command(app);
  shadowpeft::cli::add_eval_command(app);
  // "--text=" is an empty value; CLI11 would take the next argument as the value instead, so
  // it is passed on as "--text" "".
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i > 0 && arg.starts_with("--") && arg.size() > 3 && arg.back() == '=' && arg.find('=') == arg.size() - 1) {
      args.push_back(arg.substr(0, arg.size() - 1));
      args.emplace_back();
    } else {
      args.push_back(arg);
    }
  }
  std::vector<char*> pointers;
  for (std::string& arg : args) pointers.push_back(arg.data());
  try {
    app.parse(static_cast<int>(pointers.size()), pointers.data());
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fmt::print(stderr, "error: {} (see --help)\n", shadowpeft::printable(e.what()));
    // A flag's value that fails its check is bad input; anything else (an unknown or missing
    // flag, flags that need or exclude each other) is bad usage.
    return dynamic_cast<const CLI::ValidationError*>(&e) ? kBadInput : kBadUsage;
  } catch (const shadowpeft::cli::ExitStatus& e) {
    if (*e.what()) shadowpeft::log_info(e.what());
    return e.status;
  } catch (const c10::Error& e) {
    // A LibTorch check that our own checks did not catch first: its message, without the C++
    // backtrace LibTorch appends (one line, as every other error).
    fmt::print(stderr, "error: {}\n", shadowpeft::printable(e.what_without_backtrace()));
    return kBadInput;
  } catch (const std::exception& e) {
    // Messages quote files and data: printable() keeps raw bytes and terminal control sequences out.
    fmt::print(stderr, "error: {}\n", shadowpeft::printable(e.what()));
    return kBadInput;
  }
  return 0;
}
