#include "test_utils.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>
#include <cstring>
#include <fstream>
#include <sstream>

namespace shadowpeft::test {
namespace fs = std::filesystem;

namespace {
// ctest runs the cases as parallel processes on tiny models: one intra-op thread each (and in the
// CLI processes they start), since OpenMP threads contending for the cores make ops 10-50x slower.
// SHADOWPEFT_TEST_THREADS overrides.
const bool kThreadsSet = [] {
  const char* threads = std::getenv("SHADOWPEFT_TEST_THREADS");
  const std::string n = threads && *threads ? threads : "1";
  ::setenv("OMP_NUM_THREADS", n.c_str(), 1);
  at::set_num_threads(std::stoi(n));
  return true;
}();
}  // namespace

fs::path fixtures_dir() {
  const char* dir = std::getenv("SHADOWPEFT_FIXTURES");
  if (!dir || !*dir) throw std::runtime_error("SHADOWPEFT_FIXTURES is not set; run the tests through ctest");
  return dir;
}

fs::path scratch_dir(const std::string& name) {
  // ctest runs test cases in parallel processes: each case gets its own subtree.
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "no_test";
  const fs::path dir = fixtures_dir() / "scratch" / test / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string cli_path() { return SHADOWPEFT_CLI_PATH; }

CommandResult run_cli(const std::string& args) { return run_cli_command(cli_path() + " " + args); }

CommandResult run_cli_command(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + cmd);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = ::pclose(pipe);
  return {WEXITSTATUS(status), out};
}

::testing::AssertionResult tensors_close(const at::Tensor& got, const at::Tensor& ref, double atol, double rtol,
                                         const std::string& name) {
  if (got.sizes() != ref.sizes())
    return ::testing::AssertionFailure() << name << ": shape " << got.sizes() << " vs reference " << ref.sizes();
  const at::Tensor g = got.detach().to(at::kCPU, at::kDouble);
  const at::Tensor r = ref.detach().to(at::kCPU, at::kDouble);
  const at::Tensor diff = (g - r).abs();
  const at::Tensor bad = diff > (atol + rtol * r.abs());
  const double max_diff = diff.numel() ? diff.max().item<double>() : 0.0;
  if (bad.any().item<bool>() || g.isnan().ne(r.isnan()).any().item<bool>()) {
    return ::testing::AssertionFailure()
           << fmt::format("{}: max abs diff {:.3e} exceeds atol {:.1e} + rtol {:.1e} at {} of {} elements", name,
                          max_diff, atol, rtol, bad.sum().item<int64_t>(), bad.numel());
  }
  return ::testing::AssertionSuccess() << fmt::format("{}: max abs diff {:.3e}", name, max_diff);
}

::testing::AssertionResult tensors_bitwise_equal(const at::Tensor& got, const at::Tensor& ref,
                                                 const std::string& name) {
  if (got.scalar_type() != ref.scalar_type())
    return ::testing::AssertionFailure() << name << ": dtype " << got.scalar_type() << " vs " << ref.scalar_type();
  if (got.sizes() != ref.sizes())
    return ::testing::AssertionFailure() << name << ": shape " << got.sizes() << " vs " << ref.sizes();
  const at::Tensor g = got.contiguous(), r = ref.contiguous();
  // An empty tensor may have no storage at all (a null data pointer, which memcmp must not get).
  if (g.numel() > 0 && std::memcmp(g.data_ptr(), r.data_ptr(), g.numel() * g.element_size()) != 0)
    return ::testing::AssertionFailure() << name << ": bytes differ";
  return ::testing::AssertionSuccess();
}

}  // namespace shadowpeft::test
