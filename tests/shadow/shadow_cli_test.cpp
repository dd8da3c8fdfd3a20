// The CLI with ShadowPEFT adapters: `logits --adapter` and `export-shadow` on Python-made adapters.
#include <gtest/gtest.h>

#include <algorithm>

#include "shadowpeft/io/safetensors.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

TEST(ShadowCli, LogitsWithAdapterMatchShadowPeftInBothModes) {
  const fs::path dir = test::fixtures_dir() / "shadow" / "qwen3";
  const auto ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  const at::Tensor valid = ref.tensor("attention_mask").to(at::kBool);
  const fs::path out = test::scratch_dir("cli") / "logits.safetensors";
  for (const std::string mode : {"base_shadow", "shadow_only"}) {
    const auto r = test::run_cli(fmt::format("logits --model {} --adapter {} --mode {} --ids-file {} --out {}",
                                             (dir / "base").string(), (dir / "adapter").string(), mode,
                                             (dir / "reference.safetensors").string(), out.string()));
    ASSERT_EQ(r.status, 0) << r.out;
    const auto got = io::SafetensorsFile::open(out);
    const std::string expected = mode == "base_shadow" ? "logits" : "shadow_only.logits";
    EXPECT_TENSOR_CLOSE(got.tensor("logits").index({valid}), ref.tensor(expected).index({valid}), 1e-5, 1e-5, mode);
    EXPECT_TENSOR_CLOSE(got.tensor("shadow_logits").index({valid}), ref.tensor("shadow_logits").index({valid}), 1e-5, 1e-5,
                        mode + " shadow_logits");
  }
}

TEST(ShadowCli, ExportShadowWritesALoadableModel) {
  const fs::path dir = test::fixtures_dir() / "shadow" / "llama";
  const fs::path out = test::scratch_dir("cli_export") / "shadow";
  auto r = test::run_cli(fmt::format("export-shadow --model {} --adapter {} --out {}", (dir / "base").string(),
                                     (dir / "adapter").string(), out.string()));
  ASSERT_EQ(r.status, 0) << r.out;
  r = test::run_cli("inspect --json " + out.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"family\": \"llama\""), std::string::npos) << r.out;
}

TEST(ShadowCli, WrapProjectionWritesWhatShadowPeftWraps) {
  const fs::path dir = test::fixtures_dir() / "shadow" / "projected_model";
  const fs::path out = test::scratch_dir("cli_wrap") / "wrapped";
  auto r = test::run_cli(fmt::format("wrap-projection --small {} --large {} --out {}", (dir / "small").string(),
                                     (dir / "large").string(), out.string()));
  ASSERT_EQ(r.status, 0) << r.out;
  const auto ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  const auto got = io::SafetensorsFile::open(out / "model.safetensors");
  EXPECT_TENSOR_CLOSE(got.tensor("shadow_hidden_projection.weight"), ref.tensor("pinv_projection"), 1e-5, 1e-4, "pinv");
  r = test::run_cli("inspect --json " + out.string());
  EXPECT_NE(r.out.find("\"family\": \"causal_lm_with_hidden_projection\""), std::string::npos) << r.out;
}

// An adapter trained (by shadow-peft) with an explicit, projected shadow: every command that loads
// it takes the shadow's model with --shadow-model.
TEST(ShadowCli, ExplicitShadowAdapterNeedsItsShadowModel) {
  const fs::path dir = test::fixtures_dir() / "shadow" / "explicit_projected";
  const auto ref = io::SafetensorsFile::open(dir / "reference.safetensors");
  const at::Tensor valid = ref.tensor("attention_mask").to(at::kBool);
  const fs::path out = test::scratch_dir("cli_explicit") / "logits.safetensors";
  const std::string model = fmt::format("--model {} --adapter {}", (dir / "base").string(), (dir / "adapter").string());
  const std::string shadow = " --shadow-model " + (dir / "explicit_shadow").string();
  for (const std::string mode : {"base_shadow", "shadow_only"}) {
    const auto r = test::run_cli(fmt::format("logits {}{} --mode {} --ids-file {} --out {}", model, shadow, mode,
                                             (dir / "reference.safetensors").string(), out.string()));
    ASSERT_EQ(r.status, 0) << r.out;
    const auto got = io::SafetensorsFile::open(out);
    const std::string expected = mode == "base_shadow" ? "logits" : "shadow_only.logits";
    EXPECT_TENSOR_CLOSE(got.tensor("logits").index({valid}), ref.tensor(expected).index({valid}), 1e-5, 1e-5, mode);
  }
  // Without it: one line that says what is missing.
  auto r = test::run_cli(fmt::format("logits {} --input-ids 1,2,3 --out {}", model, out.string()));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("trained with an explicit shadow model"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--shadow-model"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  // export-shadow writes the projected shadow, which runs alone with the shadow-only logits.
  const fs::path exported = test::scratch_dir("cli_explicit_export") / "shadow";
  r = test::run_cli(fmt::format("export-shadow {}{} --out {}", model, shadow, exported.string()));
  ASSERT_EQ(r.status, 0) << r.out;
  r = test::run_cli(fmt::format("logits --model {} --ids-file {} --out {}", exported.string(),
                                (dir / "reference.safetensors").string(), out.string()));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TENSOR_CLOSE(io::SafetensorsFile::open(out).tensor("logits").index({valid}),
                      ref.tensor("shadow_only.logits").index({valid}), 1e-5, 1e-5, "exported explicit shadow");
  // --shadow-model belongs to an adapter (bad usage: status 2).
  r = test::run_cli(fmt::format("logits --model {}{} --input-ids 1,2,3 --out {}", (dir / "base").string(), shadow, out.string()));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("--shadow-model requires --adapter"), std::string::npos) << r.out;
}

TEST(ShadowCli, MissingAdapterIsOneClearError) {
  const fs::path dir = test::fixtures_dir() / "shadow" / "llama";
  const auto r = test::run_cli(fmt::format("logits --model {} --adapter /nonexistent/adapter --input-ids 1,2,3 --out /tmp/x.st",
                                           (dir / "base").string()));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("error: /nonexistent/adapter: adapter directory not found"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace shadowpeft
