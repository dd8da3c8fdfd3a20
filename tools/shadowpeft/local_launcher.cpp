#include "local_launcher.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "shadowpeft/core/error.h"

extern char** environ;

namespace shadowpeft::cli {
namespace {

std::vector<std::string> g_arguments;
std::atomic<int> g_forward{0};  // a signal for the workers, set by the launcher's handler

// A port nobody listens on now (the kernel picks it; rank 0's store binds it right after).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(fmt::format("cannot open a socket to find a free port: {}", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw Error(fmt::format("cannot find a free port on 127.0.0.1: {}", std::strerror(errno)));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool is_launcher_variable(const std::string& entry) {
  for (const char* name : {"RANK=", "LOCAL_RANK=", "WORLD_SIZE=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT=",
                           "TORCHELASTIC_USE_AGENT_STORE="})
    if (entry.starts_with(name)) return true;
  return false;
}

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

void remember_command_line(int argc, char** argv) { g_arguments.assign(argv, argv + argc); }

int run_local_workers(int nproc) {
  if (g_arguments.empty()) throw Error("internal: the command line was not recorded for --nproc-per-node");
  const int port = free_port();
  std::vector<char*> argv;
  for (std::string& a : g_arguments) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<pid_t> workers;
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  for (int rank = 0; rank < nproc; ++rank) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
      if (!is_launcher_variable(*e)) env.emplace_back(*e);
    for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
             {"RANK", std::to_string(rank)}, {"LOCAL_RANK", std::to_string(rank)}, {"WORLD_SIZE", std::to_string(nproc)},
             {"LOCAL_WORLD_SIZE", std::to_string(nproc)}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}})
      env.push_back(name + "=" + value);
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    if (const int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, &attributes, argv.data(), envp.data()); rc != 0) {
      for (const pid_t w : workers) ::kill(w, SIGKILL);
      throw Error(fmt::format("cannot start training process {}: {}", rank, std::strerror(rc)));
    }
    workers.push_back(pid);
  }
  posix_spawnattr_destroy(&attributes);
  // The workers run in a process group of their own, so a Ctrl-C on the terminal reaches the
  // launcher alone, which passes each SIGINT / SIGTERM on once: the first lets them checkpoint and
  // stop together, a second stops them at once.
  struct sigaction forward {}, previous_int {}, previous_term {};
  forward.sa_handler = [](int signal) { g_forward = signal; };
  sigemptyset(&forward.sa_mask);  // no SA_RESTART: waitpid returns to pass the signal on
  sigaction(SIGINT, &forward, &previous_int);
  sigaction(SIGTERM, &forward, &previous_term);
  int first_failure = 0;
  std::vector<pid_t> running = workers;
  while (!running.empty()) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno != EINTR) break;
      if (const int signal = g_forward.exchange(0))
        for (const pid_t w : running) ::kill(w, signal);
      continue;
    }
    std::erase(running, pid);
    const int code = exit_code(status);
    if (code != 0 && first_failure == 0) first_failure = code;
    // A stopped worker (128 + SIGINT / SIGTERM) is not a failure; any other end is: the others
    // would wait for it in their next collective until the timeout, so they are stopped now.
    if (code != 0 && code != 128 + SIGINT && code != 128 + SIGTERM && !running.empty()) {
      const auto rank = static_cast<std::size_t>(std::find(workers.begin(), workers.end(), pid) - workers.begin());
      std::fprintf(stderr, "error: training process %zu ended with status %d; stopping the other %zu\n", rank, code, running.size());
      for (const pid_t w : running) ::kill(w, SIGKILL);
    }
  }
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
  return first_failure;
}

}  // namespace shadowpeft::cli
