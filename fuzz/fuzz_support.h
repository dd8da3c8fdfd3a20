#pragma once
// Shared by the libFuzzer targets: inputs that need a file get one in a private directory under
// /dev/shm (or TMPDIR), and the errors a parser promises (shadowpeft::Error and its kinds) are
// the expected outcome of bad input — anything else (a crash, a sanitizer report, another
// exception) is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace shadowpeft::fuzz {

inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path root = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    std::filesystem::path d = root / ("shadowpeft-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// Writes `bytes` to `name` in the scratch directory and returns its path.
inline std::filesystem::path write_file(const std::string& name, std::string_view bytes) {
  const std::filesystem::path path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// A real tokenizer directory for targets that need one: $SHADOWPEFT_FUZZ_TOKENIZER, else the
// Qwen3 tokenizer beside the checkout.
inline std::filesystem::path tokenizer_dir() {
  if (const char* dir = std::getenv("SHADOWPEFT_FUZZ_TOKENIZER")) return dir;
  return std::filesystem::path(SHADOWPEFT_SOURCE_DIR) / ".." / "shared" / "tokenizers" / "qwen3";
}

// The real tokenizer at tokenizer_dir(), loaded once.
inline const tokenizer::Tokenizer& real_tokenizer() {
  static const auto tokenizer = tokenizer::Tokenizer::from_pretrained(tokenizer_dir());
  return tokenizer;
}

// The input as a JSON document; nothing when it is not one (the JSON parser is not under test).
inline std::optional<io::Json> json_input(const uint8_t* data, size_t size) {
  auto json = io::Json::parse(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size, nullptr,
                              /*allow_exceptions=*/false);
  if (json.is_discarded()) return std::nullopt;
  return json;
}

// Runs `body`; the library's own errors are expected, everything else propagates (and aborts).
template <typename F>
void expect_only_library_errors(F&& body) {
  try {
    body();
  } catch (const shadowpeft::Error&) {
  }
}

}  // namespace shadowpeft::fuzz
