// Broken or unsupported tokenizer files fail with an error that names the file, the JSON path, what
// was expected and what was found.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "shadowpeft/core/error.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace shadowpeft::tokenizer {
namespace {

namespace fs = std::filesystem;

// A minimal valid tokenizer.json: characters a, b and the merge "a b".
const std::string kModel = R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";

std::string tokenizer_json(const std::string& normalizer, const std::string& pre_tokenizer, const std::string& model = kModel) {
  return R"({"version": "1.0", "added_tokens": [], "normalizer": )" + normalizer + R"(, "pre_tokenizer": )" + pre_tokenizer +
         R"(, "post_processor": null, "decoder": null, "model": )" + model + "}";
}

class TokenizerErrors : public ::testing::Test {
 protected:
  fs::path write(const std::string& content) {
    const fs::path dir = fs::temp_directory_path() / ("shadowpeft_tok_errors_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path file = dir / (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".json");
    std::ofstream(file) << content;
    return file;
  }

  template <typename E>
  std::string message_of(const fs::path& file) {
    try {
      Tokenizer::from_file(file);
    } catch (const E& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected an exception loading " << file;
    return {};
  }
};

TEST_F(TokenizerErrors, ValidMinimalFileLoadsAndMerges) {
  const Tokenizer tok = Tokenizer::from_file(write(tokenizer_json("null", "null")));
  EXPECT_EQ(tok.encode("abba").ids, (std::vector<int64_t>{2, 1, 0}));
}

TEST_F(TokenizerErrors, MissingFileIsLoadError) {
  const std::string msg = message_of<LoadError>("/nonexistent/dir/tokenizer.json");
  EXPECT_NE(msg.find("/nonexistent/dir/tokenizer.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, MissingDirectoryIsLoadError) {
  EXPECT_THROW(Tokenizer::from_pretrained("/nonexistent/tokenizer_dir"), LoadError);
}

TEST_F(TokenizerErrors, MalformedJsonNamesFileAndPosition) {
  const fs::path file = write(R"({"model": {"type": "BPE",)");
  const std::string msg = message_of<LoadError>(file);
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("malformed JSON"), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, UnknownNormalizerTypeNamesPathAndType) {
  const fs::path file = write(tokenizer_json(R"({"type": "Precompiled", "precompiled_charsmap": ""})", "null"));
  const std::string msg = message_of<UnsupportedError>(file);
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("$.normalizer.type"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"Precompiled\""), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, UnknownNestedPreTokenizerNamesItsIndex) {
  const fs::path file = write(tokenizer_json(
      "null", R"({"type": "Sequence", "pretokenizers": [{"type": "Digits"}, {"type": "UnicodeScripts"}]})"));
  const std::string msg = message_of<UnsupportedError>(file);
  EXPECT_NE(msg.find("$.pre_tokenizer.pretokenizers[1].type"), std::string::npos) << msg;
  EXPECT_NE(msg.find("UnicodeScripts"), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, UnknownModelTypeIsUnsupported) {
  const std::string msg = message_of<UnsupportedError>(write(tokenizer_json("null", "null", R"({"type": "CharLevel", "vocab": {}})")));
  EXPECT_NE(msg.find("$.model.type"), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, MissingModelIsConfigError) {
  const std::string msg = message_of<ConfigError>(write(R"({"normalizer": null})"));
  EXPECT_NE(msg.find("$.model"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, MergeOutsideVocabularyNamesMergeAndToken) {
  const std::string msg = message_of<ConfigError>(
      write(tokenizer_json("null", "null", R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]})")));
  EXPECT_NE(msg.find("$.model.merges[0]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"ab\""), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, VocabularyIdOfWrongTypeNamesToken) {
  const std::string msg = message_of<ConfigError>(
      write(tokenizer_json("null", "null", R"({"type": "BPE", "vocab": {"a": 0, "b": "one"}, "merges": []})")));
  EXPECT_NE(msg.find("$.model.vocab.b"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"one\""), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, MalformedMergeNamesIndex) {
  const std::string msg = message_of<ConfigError>(
      write(tokenizer_json("null", "null", R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"], ["a"]]})")));
  EXPECT_NE(msg.find("$.model.merges[1]"), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, WrongFieldTypeSaysExpectedAndFound) {
  const std::string msg = message_of<ConfigError>(write(tokenizer_json(R"({"type": "Strip", "strip_left": "yes"})", "null")));
  EXPECT_NE(msg.find("$.normalizer.strip_left"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected a boolean"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"yes\""), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, InvalidRegexNamesPattern) {
  const std::string msg = message_of<ConfigError>(
      write(tokenizer_json("null", R"({"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"})")));
  EXPECT_NE(msg.find("$.pre_tokenizer.pattern.Regex"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(unclosed"), std::string::npos) << msg;
}

TEST_F(TokenizerErrors, InvalidUtf8InputNamesOffset) {
  const Tokenizer tok = Tokenizer::from_file(write(tokenizer_json("null", "null")));
  try {
    tok.encode("ab\xC3(");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("offset 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace shadowpeft::tokenizer
