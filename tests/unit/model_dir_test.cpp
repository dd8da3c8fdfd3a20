// Model resolution: local directories, and org/name[@revision] inside a local HF cache laid out as
// huggingface_hub lays it out (models--org--name/{refs,snapshots}). Never the network.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/model_dir.h"
#include "test_utils.h"

namespace shadowpeft {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

// A fake hub cache holding models--acme--tiny with refs main and v1 pointing to one snapshot.
class HubCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = test::scratch_dir("hub_cache");
    const fs::path repo = cache_ / "models--acme--tiny";
    fs::create_directories(repo / "refs");
    fs::create_directories(repo / "snapshots" / kCommit);
    std::ofstream(repo / "refs" / "main") << kCommit;
    std::ofstream(repo / "refs" / "v1") << kCommit << "\n";
    ::setenv("HF_HUB_CACHE", cache_.c_str(), 1);
  }
  void TearDown() override { ::unsetenv("HF_HUB_CACHE"); }
  fs::path snapshot() const { return cache_ / "models--acme--tiny" / "snapshots" / kCommit; }
  fs::path cache_;
};

TEST_F(HubCacheTest, LocalDirectoryWins) {
  EXPECT_EQ(io::resolve_model_dir(cache_.string()), cache_);
}

TEST_F(HubCacheTest, RepoIdResolvesThroughRefsMain) { EXPECT_EQ(io::resolve_model_dir("acme/tiny"), snapshot()); }

TEST_F(HubCacheTest, RevisionTagAndCommitHashResolve) {
  EXPECT_EQ(io::resolve_model_dir("acme/tiny@v1"), snapshot());
  EXPECT_EQ(io::resolve_model_dir(std::string("acme/tiny@") + kCommit), snapshot());
}

TEST_F(HubCacheTest, CacheDirectoryFollowsHfHome) {
  ::unsetenv("HF_HUB_CACHE");
  ::setenv("HF_HOME", "/some/hf_home", 1);
  EXPECT_EQ(io::hf_hub_cache_dir(), fs::path("/some/hf_home/hub"));
  ::unsetenv("HF_HOME");
}

TEST_F(HubCacheTest, MissingModelSaysWhereItLooked) {
  try {
    io::resolve_model_dir("acme/absent");
    FAIL();
  } catch (const LoadError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("acme/absent"), std::string::npos) << msg;
    EXPECT_NE(msg.find((cache_ / "models--acme--absent" / "refs" / "main").string()), std::string::npos) << msg;
  }
}

TEST_F(HubCacheTest, MissingRevisionAndDanglingRefAreErrors) {
  EXPECT_THROW(io::resolve_model_dir("acme/tiny@v2"), LoadError);
  std::ofstream(cache_ / "models--acme--tiny" / "refs" / "broken") << "fedcba9876543210fedcba9876543210fedcba98";
  EXPECT_THROW(io::resolve_model_dir("acme/tiny@broken"), LoadError);
}

TEST_F(HubCacheTest, PathsThatAreNotRepoIdsAreLocalOnly) {
  EXPECT_THROW(io::resolve_model_dir("./acme/tiny"), LoadError);
  EXPECT_THROW(io::resolve_model_dir("/nonexistent/model"), LoadError);
}

}  // namespace
}  // namespace shadowpeft
