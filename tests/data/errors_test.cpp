// Invalid options and bad records fail with errors that name the file, the line and what is wrong;
// with skip_bad_records the same records are counted instead.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "fixtures.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/data/dataset.h"

namespace shadowpeft::data {
namespace {

namespace fs = std::filesystem;

class DataErrors : public ::testing::Test {
 protected:
  fs::path write(const std::string& extension, const std::string& content) {
    const fs::path dir = fs::temp_directory_path() / ("shadowpeft_data_errors_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path file = dir / (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + extension);
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

  const tokenizer::Tokenizer& qwen3() { return testing::fixture_tokenizer("qwen3"); }

  template <typename E>
  std::string message_of(const fs::path& file, const DatasetOptions& options = {}, const std::string& family = "qwen3") {
    try {
      load_dataset(file, testing::fixture_tokenizer(family), options);
    } catch (const E& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected an exception loading " << file;
    return {};
  }
};

TEST_F(DataErrors, MissingFileNamesIt) {
  const std::string msg = message_of<LoadError>("/nonexistent/train.jsonl");
  EXPECT_NE(msg.find("/nonexistent/train.jsonl"), std::string::npos) << msg;
}

TEST_F(DataErrors, UnknownExtensionListsTheKnownOnes) {
  const std::string msg = message_of<LoadError>(write(".txt", "hello\n"));
  EXPECT_NE(msg.find("\".txt\""), std::string::npos) << msg;
  EXPECT_NE(msg.find(".jsonl, .json or .csv"), std::string::npos) << msg;
}

TEST_F(DataErrors, InvalidOptionsAreConfigErrors) {
  const fs::path file = write(".jsonl", R"({"text": "a", "label": 1})" "\n");
  EXPECT_THROW(load_dataset(file, qwen3(), {.max_length = 0}), ConfigError);
  EXPECT_THROW(load_dataset(file, qwen3(), {.packing = true}), ConfigError);  // detected classification
  EXPECT_THROW(load_dataset(file, qwen3(), {.kind = RecordKind::Classification, .packing = true}), ConfigError);
  EXPECT_THROW(parse_record_kind("chat"), ConfigError);
  EXPECT_EQ(parse_record_kind("prompt_completion"), RecordKind::PromptCompletion);
}

TEST_F(DataErrors, MessagesNeedAChatTemplate) {
  const fs::path file = write(".jsonl", R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})" "\n");
  const std::string msg = message_of<ConfigError>(file, {}, "mistral7b");
  EXPECT_NE(msg.find("no chat template \"default\""), std::string::npos) << msg;
  EXPECT_THROW(load_dataset(file, qwen3(), {.chat_template = "tool_use"}), ConfigError);
  EXPECT_THROW(load_dataset(file, qwen3(), {.chat_template_kwargs = "[1]"}), ConfigError);
  EXPECT_THROW(load_dataset(file, qwen3(), {.chat_template_kwargs = "{oops"}), ConfigError);
}

TEST_F(DataErrors, InvalidUtf8NamesTheLineOrIsSkipped) {
  const fs::path file = write(".csv", "text\nfine\n\"bad \xff byte\"\nfine again\n");
  const std::string msg = message_of<LoadError>(file);
  EXPECT_EQ(msg.rfind(file.string() + ":3: ", 0), 0u) << msg;
  const Dataset skipped = load_dataset(file, qwen3(), {.skip_bad_records = true});
  EXPECT_EQ(skipped.examples.size(), 2u);
  EXPECT_EQ(skipped.stats.bad_records, 1u);
  EXPECT_EQ(skipped.examples[1].line, 4u);
  EXPECT_EQ(msg.find('\xff'), std::string::npos) << "the raw byte reached the message";
}

TEST_F(DataErrors, InvalidUtf8InJsonIsShownEscaped) {
  const fs::path file = write(".jsonl", "{\"text\": \"fine\"}\n{\"text\": \"bad \xff\xfe byte\"}\n");
  const std::string msg = message_of<LoadError>(file);
  EXPECT_EQ(msg.rfind(file.string() + ":2: invalid JSON: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("\\xFF"), std::string::npos) << msg;
  for (const char c : msg) EXPECT_FALSE(static_cast<unsigned char>(c) >= 0x80) << "a raw non-ASCII byte in: " << msg;
}

TEST_F(DataErrors, KindIsDetectedFromTheFirstGoodRecordWhenSkipping) {
  const fs::path file = write(".jsonl", "not json\n" R"({"prompt": "p", "completion": "c"})" "\n");
  const Dataset d = load_dataset(file, qwen3(), {.skip_bad_records = true});
  EXPECT_EQ(d.kind, RecordKind::PromptCompletion);
  EXPECT_EQ(d.stats.bad_records, 1u);
  EXPECT_EQ(d.stats.records, 2u);
  ASSERT_EQ(d.examples.size(), 1u);
  EXPECT_EQ(d.examples[0].line, 2u);
}

TEST_F(DataErrors, WrongTypeNamesFieldAndType) {
  const fs::path file = write(".jsonl", "\n" R"({"text": ["a", "list"]})" "\n");
  const std::string msg = message_of<LoadError>(file, {.kind = RecordKind::Text});
  EXPECT_EQ(msg.rfind(file.string() + ":2: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("field \"text\" must be a string, got array"), std::string::npos) << msg;
}

TEST_F(DataErrors, LabelsOutsideTheLabelNamesAreBadRecords) {
  const fs::path file = write(".jsonl", R"({"text": "a", "label": "pos"})" "\n" R"({"text": "b", "label": "maybe"})" "\n"
                                        R"({"text": "c", "label": 5})" "\n");
  DatasetOptions options{.label_names = {"neg", "pos"}};
  const std::string msg = message_of<LoadError>(file, options);
  EXPECT_EQ(msg.rfind(file.string() + ":2: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("\"maybe\" is not one of the label names"), std::string::npos) << msg;
  options.skip_bad_records = true;
  const Dataset d = load_dataset(file, qwen3(), options);
  ASSERT_EQ(d.examples.size(), 1u);
  EXPECT_EQ(d.examples[0].class_label, 1);
  EXPECT_EQ(d.stats.bad_records, 2u);  // "maybe", and 5 >= 2 names
  EXPECT_EQ(d.label_names, (std::vector<std::string>{"neg", "pos"}));
}

TEST_F(DataErrors, MixedIntAndStringLabelsNeedLabelNames) {
  const fs::path file = write(".jsonl", R"({"text": "a", "label": "pos"})" "\n" R"({"text": "b", "label": 0})" "\n");
  const std::string msg = message_of<LoadError>(file);
  EXPECT_EQ(msg.rfind(file.string() + ":2: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("earlier labels are strings"), std::string::npos) << msg;
}

TEST_F(DataErrors, JsonFileMustHoldAList) {
  const std::string msg = message_of<LoadError>(write(".json", R"({"text": "a"})"));
  EXPECT_NE(msg.find("expected a JSON list of records, got object"), std::string::npos) << msg;
}

TEST_F(DataErrors, EmptyCsvHasNoHeader) {
  const std::string msg = message_of<LoadError>(write(".csv", ""));
  EXPECT_NE(msg.find("no header row"), std::string::npos) << msg;
}

TEST_F(DataErrors, CharacterAfterClosingQuoteIsABadRecord) {
  const fs::path file = write(".csv", "text\n\"ok\"\n\"broken\"x\nlast\n");
  const std::string msg = message_of<LoadError>(file);
  EXPECT_EQ(msg.rfind(file.string() + ":3: ", 0), 0u) << msg;
  const Dataset d = load_dataset(file, qwen3(), {.skip_bad_records = true});
  EXPECT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[1].line, 4u);
}

}  // namespace
}  // namespace shadowpeft::data
