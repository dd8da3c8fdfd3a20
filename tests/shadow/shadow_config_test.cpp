// ShadowConfig: shadow_config.json as shadow-peft reads and writes it, and clear errors for bad values.
#include <gtest/gtest.h>

#include <fstream>

#include "shadowpeft/core/error.h"
#include "shadowpeft/shadow/shadow_config.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

TEST(ShadowConfigFile, DefaultsMatchShadowPeft) {
  const ShadowConfig c;
  EXPECT_EQ(c.num_shadow_layers, 1);
  EXPECT_EQ(c.injection_hidden_size, 16);
  EXPECT_EQ(c.gate_hidden_size, 10);
  EXPECT_DOUBLE_EQ(c.alpha, 0.1);
  EXPECT_DOUBLE_EQ(c.dropout, 0.2);
  EXPECT_TRUE(c.modules_to_save.empty());
}

TEST(ShadowConfigFile, RoundTripsEveryPythonWrittenConfigByteForByte) {
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(test::fixtures_dir() / "shadow")) {
    const fs::path file = entry.path() / "adapter" / "shadow_config.json";
    if (!fs::exists(file)) continue;
    const ShadowConfig c = ShadowConfig::from_pretrained(file.parent_path());
    const fs::path out = test::scratch_dir("config_" + entry.path().filename().string());
    c.save_pretrained(out);
    EXPECT_EQ(test::read_file_bytes(out / "shadow_config.json"), test::read_file_bytes(file)) << file;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(ShadowConfigFile, UnknownKeysAreIgnored) {
  const fs::path dir = test::scratch_dir("unknown");
  std::ofstream(dir / "shadow_config.json") << R"({"alpha": 0.5, "future_knob": true})";
  const ShadowConfig c = ShadowConfig::from_pretrained(dir);
  EXPECT_DOUBLE_EQ(c.alpha, 0.5);
  EXPECT_EQ(c.num_shadow_layers, 1);
}

TEST(ShadowConfigFile, InvalidValuesNameFileFieldAndValue) {
  const fs::path dir = test::scratch_dir("invalid");
  auto error_for = [&](const std::string& json) -> std::string {
    std::ofstream(dir / "shadow_config.json") << json;
    try {
      ShadowConfig::from_pretrained(dir);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_NE(error_for(R"({"gate_hidden_size": 1})").find("gate_hidden_size must be >= 2, got 1"), std::string::npos);
  EXPECT_NE(error_for(R"({"num_shadow_layers": 0})").find("num_shadow_layers must be >= 1, got 0"), std::string::npos);
  EXPECT_NE(error_for(R"({"dropout": 1.5})").find("dropout must be in [0, 1), got 1.5"), std::string::npos);
  const std::string type_error = error_for(R"({"injection_hidden_size": "wide"})");
  EXPECT_NE(type_error.find("shadow_config.json: field 'injection_hidden_size' must be an integer, got \"wide\""),
            std::string::npos)
      << type_error;
}

TEST(ShadowConfigFile, MissingFileIsNamed) {
  const fs::path dir = test::scratch_dir("missing");
  try {
    ShadowConfig::from_pretrained(dir);
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("Missing shadow config at: " + (dir / "shadow_config.json").string()),
              std::string::npos);
  }
}

}  // namespace
}  // namespace shadowpeft
