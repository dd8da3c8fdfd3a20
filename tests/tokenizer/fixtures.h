#pragma once
// Where the reference fixtures live (SHADOWPEFT_FIXTURES, set by ctest) and how to read them.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace shadowpeft::tokenizer::testing {

inline std::filesystem::path fixtures_dir() {
  const char* env = std::getenv("SHADOWPEFT_FIXTURES");
  return env ? std::filesystem::path(env) : std::filesystem::path("fixtures/tokenizer");
}

inline nlohmann::json read_fixture(const std::filesystem::path& relative) {
  const auto path = fixtures_dir() / relative;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing fixture " + path.string() + " (run tests/reference/make_tokenizer_fixtures.py)");
  return nlohmann::json::parse(in);
}

}  // namespace shadowpeft::tokenizer::testing
