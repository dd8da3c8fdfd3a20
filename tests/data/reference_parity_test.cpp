// Every example (ids, labels, class label, source line) and every count equal what the Python
// reference computes with `tokenizers` / `transformers` by the rules in dataset.h.
#include <gtest/gtest.h>

#include "fixtures.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/data/dataset.h"

namespace shadowpeft::data {
namespace {

using namespace testing;

void expect_matches_reference(const nlohmann::json& c) {
  SCOPED_TRACE(c["name"].get<std::string>());
  ASSERT_TRUE(c.contains("expected"));
  const auto& expected = c["expected"];
  const Dataset got = load_dataset(data_file(c["file"]), fixture_tokenizer(c["tokenizer"]), options_from_json(c["options"]));
  EXPECT_EQ(to_string(got.kind), expected["kind"].get<std::string>());
  EXPECT_EQ(got.label_names, expected["label_names"].get<std::vector<std::string>>());
  const auto& stats = expected["stats"];
  EXPECT_EQ(got.stats.records, stats["records"].get<std::size_t>());
  EXPECT_EQ(got.stats.bad_records, stats["bad_records"].get<std::size_t>());
  EXPECT_EQ(got.stats.truncated, stats["truncated"].get<std::size_t>());
  EXPECT_EQ(got.stats.dropped_no_loss, stats["dropped_no_loss"].get<std::size_t>());
  const auto& examples = expected["examples"];
  ASSERT_EQ(got.examples.size(), examples.size());
  for (std::size_t i = 0; i < examples.size(); ++i) {
    SCOPED_TRACE("example " + std::to_string(i));
    const Example& e = got.examples[i];
    EXPECT_EQ(e.input_ids, examples[i]["input_ids"].get<std::vector<int64_t>>());
    EXPECT_EQ(e.labels, examples[i]["labels"].get<std::vector<int64_t>>());
    EXPECT_EQ(e.line, examples[i]["line"].get<std::size_t>());
    if (examples[i].contains("class_label")) {
      ASSERT_TRUE(e.class_label.has_value());
      EXPECT_EQ(*e.class_label, examples[i]["class_label"].get<int64_t>());
    } else {
      EXPECT_FALSE(e.class_label.has_value());
    }
  }
}

void expect_reference(const std::vector<std::string>& names) {
  for (const auto& name : names) expect_matches_reference(fixture_case(name));
}

TEST(DataReference, TextRecordsEndWithEos) {
  expect_reference({"qwen3/text", "mistral7b/text", "qwen3/text_no_eos", "mistral7b/text_no_eos"});
}

TEST(DataReference, PromptCompletionLossOnCompletionOnly) {
  expect_reference({"qwen3/prompt_completion", "mistral7b/prompt_completion", "qwen3/custom_fields",
                    "qwen3/forced_text_kind"});
}

TEST(DataReference, TruncationKeepsTheStartAndDropsExamplesWithoutLoss) {
  expect_reference({"qwen3/text_truncated", "mistral7b/text_truncated", "qwen3/prompt_completion_truncated",
                    "mistral7b/prompt_completion_truncated", "qwen3/messages_truncated"});
}

TEST(DataReference, MessagesLossOnAssistantRepliesOnly) {
  expect_reference({"qwen3/messages", "qwen3/messages_no_thinking"});
}

TEST(DataReference, JsonListFilesNameTheLineEachRecordStartsOn) {
  expect_reference({"qwen3/messages_json", "qwen3/prompt_completion_json", "mistral7b/prompt_completion_json"});
}

TEST(DataReference, CsvQuotedFieldsWithCommasNewlinesAndQuotes) {
  expect_reference({"qwen3/text_csv", "mistral7b/text_csv", "qwen3/text_csv_crlf_bom", "mistral7b/text_csv_crlf_bom",
                    "qwen3/prompt_completion_csv", "mistral7b/prompt_completion_csv"});
}

TEST(DataReference, ClassificationLabels) {
  expect_reference({"qwen3/classification", "qwen3/classification_csv", "qwen3/classification_label_names",
                    "mistral7b/classification_int_csv"});
}

TEST(DataReference, PackingCutsTheConcatenationIntoBlocks) {
  expect_reference({"qwen3/packing", "mistral7b/packing", "qwen3/packing_prompt_completion",
                    "mistral7b/packing_prompt_completion", "qwen3/messages_packing"});
}

// Rows transformers' tokenizer writes (with and without padding on either side, with and without
// labels), expected as DataCollatorForLanguageModeling labels them at the kept positions.
TEST(DataReference, TokenizedRecordsAreUsedAsGiven) {
  expect_reference({"qwen3/tokenized", "qwen3/tokenized_json", "mistral7b/tokenized", "mistral7b/tokenized_json",
                    "qwen3/tokenized_truncated", "qwen3/tokenized_packing", "qwen3/tokenized_forced"});
}

TEST(DataReference, SkippedBadRecordsAreCounted) {
  expect_reference({"qwen3/skip_bad_records", "qwen3/skip_bad_messages", "qwen3/skip_bad_unclosed_csv",
                    "qwen3/skip_bad_field_count_csv", "qwen3/skip_bad_tokenized"});
}

// Bad records throw LoadError "FILE:LINE: ..." with the line the reference file has them on.
TEST(DataReference, ErrorsNameFileAndLine) {
  std::size_t checked = 0;
  for (const auto& c : fixture_cases()["cases"]) {
    if (!c.contains("error")) continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto path = data_file(c["file"]);
    try {
      load_dataset(path, fixture_tokenizer(c["tokenizer"]), options_from_json(c["options"]));
      ADD_FAILURE() << "expected a LoadError";
    } catch (const LoadError& e) {
      const std::string msg = e.what();
      const std::string where = path.string() + ":" + std::to_string(c["error"]["line"].get<int>()) + ": ";
      EXPECT_EQ(msg.rfind(where, 0), 0u) << msg;
      for (const auto& fragment : c["error"]["fragments"])
        EXPECT_NE(msg.find(fragment.get<std::string>()), std::string::npos) << "missing \"" << fragment << "\" in: " << msg;
    }
    ++checked;
  }
  EXPECT_GE(checked, 11u);
}

// No case of the fixture file goes unchecked, whichever test above names it.
TEST(DataReference, EveryReferenceCaseMatches) {
  std::size_t checked = 0;
  for (const auto& c : fixture_cases()["cases"])
    if (c.contains("expected")) {
      expect_matches_reference(c);
      ++checked;
    }
  EXPECT_GE(checked, 45u);
}

}  // namespace
}  // namespace shadowpeft::data
