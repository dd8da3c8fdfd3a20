#include "shadowpeft/core/logging.h"

#include <atomic>
#include <cstdio>
#include <string>

namespace shadowpeft {
namespace {
std::atomic<bool> g_quiet{false};
}

void log_warning(std::string_view message) {
  std::fprintf(stderr, "warning: %.*s\n", static_cast<int>(message.size()), message.data());
}

void log_info(std::string_view message) {
  if (!g_quiet) std::fprintf(stderr, "%.*s\n", static_cast<int>(message.size()), message.data());
}

void set_quiet(bool quiet) { g_quiet = quiet; }

bool is_quiet() { return g_quiet; }

}  // namespace shadowpeft
