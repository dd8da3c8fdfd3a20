#include "local_launcher.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "shadowpeft/core/error.h"

extern char** environ;

namespace shadowpeft::cli {
namespace {

std::vector<std::string> g_arguments;

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
    if (const int rc = posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data()); rc != 0) {
      for (const pid_t w : workers) ::kill(w, SIGTERM);
      throw Error(fmt::format("cannot start training process {}: {}", rank, std::strerror(rc)));
    }
    workers.push_back(pid);
  }
  int first_failure = 0;
  for (std::size_t left = workers.size(); left > 0; --left) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) break;
    if (exit_code(status) != 0 && first_failure == 0) {
      first_failure = exit_code(status);
      for (const pid_t w : workers)
        if (w != pid) ::kill(w, SIGTERM);  // they would wait for the failed one until the timeout
    }
  }
  return first_failure;
}

}  // namespace shadowpeft::cli
