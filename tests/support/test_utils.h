#pragma once
// Shared helpers for the C++ tests: where the reference fixtures live, and tensor comparisons that
// report the largest difference and the tensor's name.
#include <ATen/core/Tensor.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <string>

namespace shadowpeft::test {

// Directory written by tests/reference/make_fixtures.py ($SHADOWPEFT_FIXTURES, set by ctest).
std::filesystem::path fixtures_dir();

// A fresh empty directory for the running test case under the fixtures tree (emptied on reuse).
std::filesystem::path scratch_dir(const std::string& name);

std::string read_file_bytes(const std::filesystem::path& path);

// Runs the shadowpeft CLI (SHADOWPEFT_CLI_PATH) with `args`; stdout and stderr together.
struct CommandResult {
  int status;
  std::string out;
};
CommandResult run_cli(const std::string& args);
// Runs a shell command line; stdout and stderr together.
CommandResult run_cli_command(const std::string& command);
// The path of the shadowpeft CLI binary.
std::string cli_path();

// |got - ref| <= atol + rtol * |ref| elementwise, compared in float64; same shape required.
::testing::AssertionResult tensors_close(const at::Tensor& got, const at::Tensor& ref, double atol, double rtol,
                                         const std::string& name);
// Same dtype, shape and bytes (NaN payloads included).
::testing::AssertionResult tensors_bitwise_equal(const at::Tensor& got, const at::Tensor& ref, const std::string& name);

}  // namespace shadowpeft::test

// Prints the max difference on success too: the numbers parity claims are made of.
#define EXPECT_TENSOR_CLOSE(got, ref, atol, rtol, name)                                             \
  do {                                                                                              \
    const auto close_result_ = ::shadowpeft::test::tensors_close((got), (ref), (atol), (rtol), (name)); \
    EXPECT_TRUE(close_result_);                                                                     \
    if (close_result_) std::cout << "  " << close_result_.message() << "\n";                        \
  } while (0)
#define EXPECT_TENSOR_BITWISE_EQ(got, ref, name) \
  EXPECT_TRUE(::shadowpeft::test::tensors_bitwise_equal((got), (ref), (name)))
