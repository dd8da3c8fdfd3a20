// JSON written like Python's json.dumps (what transformers and shadow-peft write), byte for byte,
// with key order and unknown keys preserved through a read-modify-write.
#include <gtest/gtest.h>

#include <fstream>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

fs::path json_dir() { return test::fixtures_dir() / "json"; }

TEST(JsonFile, IndentedDumpMatchesPythonByteForByte) {
  const io::Json sample = io::read_json_file(json_dir() / "input.json");
  EXPECT_EQ(io::dump_json_like_python(sample, {.indent = 2}), test::read_file_bytes(json_dir() / "indent2.json"));
}

TEST(JsonFile, SortedDumpMatchesPythonByteForByte) {
  const io::Json sample = io::read_json_file(json_dir() / "input.json");
  EXPECT_EQ(io::dump_json_like_python(sample, {.indent = 2, .sort_keys = true}),
            test::read_file_bytes(json_dir() / "indent2_sorted.json"));
}

TEST(JsonFile, CompactDumpMatchesPythonByteForByte) {
  const io::Json sample = io::read_json_file(json_dir() / "input.json");
  EXPECT_EQ(io::dump_json_like_python(sample, {.indent = -1}), test::read_file_bytes(json_dir() / "compact.json"));
}

TEST(JsonFile, ConfigRoundTripKeepsUnknownKeysAndOrder) {
  const fs::path config = test::fixtures_dir() / "tiny_llama" / "config.json";
  const io::Json original = io::read_json_file(config);
  const fs::path out = test::scratch_dir("json_roundtrip") / "config.json";
  io::write_json_file(out, original, {.indent = 2, .sort_keys = true});
  // transformers writes config.json with sort_keys=True, indent=2 and a trailing newline.
  EXPECT_EQ(test::read_file_bytes(out), test::read_file_bytes(config));
}

TEST(JsonFile, SyntaxErrorNamesTheFile) {
  const fs::path bad = test::scratch_dir("json_bad") / "config.json";
  std::ofstream(bad) << "{\"a\": 1,,}";
  try {
    io::read_json_file(bad);
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("invalid JSON"), std::string::npos) << e.what();
  }
}

TEST(JsonFile, MissingFileAndMissingFieldAreNamed) {
  EXPECT_THROW(io::read_json_file(json_dir() / "absent.json"), LoadError);
  const io::Json obj = {{"a", 1}};
  try {
    io::require_field(obj, "hidden_size", "config.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'hidden_size'"), std::string::npos);
  }
}

}  // namespace
}  // namespace shadowpeft
