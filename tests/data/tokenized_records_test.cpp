// Tokenized records (the rows of a tokenized Hugging Face dataset) are used as given: padding
// (attention_mask 0) dropped, labels = input_ids when absent, no eos appended; every malformed
// record fails naming the file, its line, the field and the index. The Python reference cases
// (qwen3/tokenized*, mistral7b/tokenized*) are checked by reference_parity_test.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "fixtures.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/data/collate.h"
#include "shadowpeft/data/dataset.h"

namespace shadowpeft::data {
namespace {

namespace fs = std::filesystem;
using V = std::vector<int64_t>;

// Qwen3: 151669 tokens (151643 = <|endoftext|>, its pad and eos; 151644 = <|im_start|>).
constexpr int64_t kQwenVocab = 151669;
constexpr int64_t kQwenPad = 151643;

class TokenizedRecords : public ::testing::Test {
 protected:
  fs::path write(const std::string& extension, const std::string& content, const std::string& suffix = "") {
    const fs::path dir = fs::temp_directory_path() / ("shadowpeft_tokenized_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path file =
        dir / (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + suffix + extension);
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

  const tokenizer::Tokenizer& qwen3() { return testing::fixture_tokenizer("qwen3"); }

  // The message of the LoadError that loading `file` throws.
  std::string load_error(const fs::path& file, const DatasetOptions& options = {}, const std::string& family = "qwen3") {
    try {
      load_dataset(file, testing::fixture_tokenizer(family), options);
    } catch (const LoadError& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected a LoadError loading " << file;
    return {};
  }
};

TEST_F(TokenizedRecords, JsonlRecordsAreUsedAsGiven) {
  const fs::path file = write(".jsonl",
                              R"({"input_ids": [9707, 1879]})" "\n"                                   // no labels
                              "\n"
                              R"({"input_ids": [48, 25, 220, 19], "labels": [-100, -100, 220, 19]})" "\n"
                              R"({"input_ids": [151644, 9707], "attention_mask": [1, 1], "text": "ignored"})" "\n");
  const Dataset d = load_dataset(file, qwen3());  // append_eos is on: it does not apply
  EXPECT_EQ(d.kind, RecordKind::Tokenized);
  EXPECT_EQ(to_string(d.kind), "tokenized");
  EXPECT_EQ(d.stats.records, 3u);
  ASSERT_EQ(d.examples.size(), 3u);
  EXPECT_EQ(d.examples[0].input_ids, (V{9707, 1879}));
  EXPECT_EQ(d.examples[0].labels, (V{9707, 1879}));
  EXPECT_EQ(d.examples[0].line, 1u);
  EXPECT_EQ(d.examples[1].input_ids, (V{48, 25, 220, 19}));
  EXPECT_EQ(d.examples[1].labels, (V{-100, -100, 220, 19}));
  EXPECT_EQ(d.examples[1].line, 3u);
  EXPECT_EQ(d.examples[2].input_ids, (V{151644, 9707}));
  EXPECT_EQ(d.examples[2].labels, (V{151644, 9707}));
  EXPECT_FALSE(d.examples[2].class_label.has_value());
}

TEST_F(TokenizedRecords, JsonListRecordsNameTheirLine) {
  const fs::path file = write(".json", "[\n  {\"input_ids\": [1, 2, 3]},\n  {\n    \"input_ids\": [4, 5],\n"
                                       "    \"labels\": [-100, 5]\n  }\n]\n");
  const Dataset d = load_dataset(file, qwen3());
  EXPECT_EQ(d.kind, RecordKind::Tokenized);
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].input_ids, (V{1, 2, 3}));
  EXPECT_EQ(d.examples[0].labels, (V{1, 2, 3}));
  EXPECT_EQ(d.examples[0].line, 2u);
  EXPECT_EQ(d.examples[1].input_ids, (V{4, 5}));
  EXPECT_EQ(d.examples[1].labels, (V{-100, 5}));
  EXPECT_EQ(d.examples[1].line, 3u);
}

// What tokenizer(texts, padding="max_length") writes, on either side: the padding goes, also when
// the labels give it a loss, and null lists count as absent.
TEST_F(TokenizedRecords, PaddingIsDropped) {
  const fs::path file = write(".jsonl",
                              R"({"input_ids": [9707, 1879, 151643, 151643], "attention_mask": [1, 1, 0, 0]})" "\n"
                              R"({"input_ids": [0, 0, 64, 293], "attention_mask": [0, 0, 1, 1],)"
                              R"( "labels": [1, 1, 64, -100]})" "\n"
                              R"({"input_ids": [7, 8], "labels": null, "attention_mask": null})" "\n");
  const Dataset d = load_dataset(file, qwen3());
  ASSERT_EQ(d.examples.size(), 3u);
  EXPECT_EQ(d.examples[0].input_ids, (V{9707, 1879}));
  EXPECT_EQ(d.examples[0].labels, (V{9707, 1879}));
  EXPECT_EQ(d.examples[1].input_ids, (V{64, 293}));
  EXPECT_EQ(d.examples[1].labels, (V{64, -100}));
  EXPECT_EQ(d.examples[2].input_ids, (V{7, 8}));
  EXPECT_EQ(d.examples[2].labels, (V{7, 8}));
}

// A right-padded row comes back from the collator as it was written, with the labels
// DataCollatorForLanguageModeling(mlm=False) gives it (-100 on the padding).
TEST_F(TokenizedRecords, PrePaddedRowsCollateBackToTheHuggingFaceBatch) {
  const fs::path file = write(".jsonl",
                              R"({"input_ids": [9707, 1879, 151643, 151643], "attention_mask": [1, 1, 0, 0]})" "\n"
                              R"({"input_ids": [64, 293, 11, 12], "attention_mask": [1, 1, 1, 1]})" "\n");
  const Dataset d = load_dataset(file, qwen3());
  ASSERT_EQ(default_pad_id(qwen3()), kQwenPad);
  const Batch b = collate(d.examples, {.pad_id = default_pad_id(qwen3())});
  EXPECT_EQ(b.input_ids, (V{9707, 1879, kQwenPad, kQwenPad, 64, 293, 11, 12}));
  EXPECT_EQ(b.attention_mask, (V{1, 1, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(b.labels, (V{9707, 1879, -100, -100, 64, 293, 11, 12}));
}

TEST_F(TokenizedRecords, TruncationKeepsTheStartAndDropsRecordsWithoutLoss) {
  const fs::path file = write(".jsonl",
                              R"({"input_ids": [1, 2, 3, 4, 5]})" "\n"
                              R"({"input_ids": [1, 2, 3, 4, 5], "labels": [-100, -100, -100, 4, 5]})" "\n"
                              R"({"input_ids": [9, 9, 0], "attention_mask": [1, 1, 0]})" "\n"
                              R"({"input_ids": [6], "labels": [-100]})" "\n");
  const Dataset d = load_dataset(file, qwen3(), {.max_length = 3});
  EXPECT_EQ(d.stats.truncated, 2u);        // record 3 fits once its padding is gone
  EXPECT_EQ(d.stats.dropped_no_loss, 2u);  // record 2 after the cut, record 4 as given
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].input_ids, (V{1, 2, 3}));
  EXPECT_EQ(d.examples[0].labels, (V{1, 2, 3}));
  EXPECT_EQ(d.examples[1].input_ids, (V{9, 9}));
  EXPECT_EQ(d.examples[1].line, 3u);
}

TEST_F(TokenizedRecords, PackingConcatenatesWithoutEos) {
  const fs::path file = write(".jsonl",
                              R"({"input_ids": [1, 2, 3]})" "\n"
                              R"({"input_ids": [4, 5, 0], "labels": [-100, 5, -100], "attention_mask": [1, 1, 0]})" "\n"
                              R"({"input_ids": [6, 7, 8, 9, 10, 11, 12],)"
                              R"( "labels": [-100, -100, -100, -100, -100, -100, -100]})" "\n"
                              R"({"input_ids": [13]})" "\n");
  const Dataset d = load_dataset(file, qwen3(), {.max_length = 4, .packing = true, .packing_strategy = PackingStrategy::Wrapped});
  EXPECT_EQ(d.stats.truncated, 0u);
  EXPECT_EQ(d.stats.dropped_no_loss, 1u);  // the block [9, 10, 11, 12]
  ASSERT_EQ(d.examples.size(), 3u);
  EXPECT_EQ(d.examples[0].input_ids, (V{1, 2, 3, 4}));
  EXPECT_EQ(d.examples[0].labels, (V{1, 2, 3, -100}));
  EXPECT_EQ(d.examples[0].line, 1u);
  EXPECT_EQ(d.examples[1].input_ids, (V{5, 6, 7, 8}));
  EXPECT_EQ(d.examples[1].labels, (V{5, -100, -100, -100}));
  EXPECT_EQ(d.examples[1].line, 2u);
  EXPECT_EQ(d.examples[2].input_ids, (V{13}));
  EXPECT_EQ(d.examples[2].labels, (V{13}));
  EXPECT_EQ(d.examples[2].line, 4u);
}

TEST_F(TokenizedRecords, KindCanBeForcedAndIsNamedTokenized) {
  EXPECT_EQ(parse_record_kind("tokenized"), RecordKind::Tokenized);
  const fs::path file = write(".jsonl", R"({"input_ids": [3], "messages": "not read"})" "\n");
  const Dataset d = load_dataset(file, qwen3(), {.kind = RecordKind::Tokenized});
  ASSERT_EQ(d.examples.size(), 1u);
  EXPECT_EQ(d.examples[0].input_ids, (V{3}));
  // input_ids decide the kind before any text field does.
  EXPECT_EQ(load_dataset(file, qwen3()).kind, RecordKind::Tokenized);
  try {
    parse_record_kind("tokens");
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("classification or tokenized"), std::string::npos) << e.what();
  }
}

TEST_F(TokenizedRecords, UndetectableKindMentionsInputIds) {
  const fs::path file = write(".jsonl", R"({"ids": [1, 2]})" "\n");
  const std::string msg = load_error(file);
  EXPECT_EQ(msg.rfind(file.string() + ":1: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("expected \"input_ids\", \"messages\""), std::string::npos) << msg;
}

// Each bad record on line 2 after a good one: the error names the file, the line, the field, the
// index, and what was expected.
TEST_F(TokenizedRecords, EveryBadRecordIsALoadErrorNamingWhatIsWrong) {
  struct Bad {
    std::string record;
    std::vector<std::string> fragments;
  };
  const std::string vocab = std::to_string(kQwenVocab);
  const std::vector<Bad> cases = {
      {R"({"input_ids": []})", {"field \"input_ids\" is an empty list"}},
      {R"({"input_ids": "9707 1879"})", {"field \"input_ids\" must be a list of ints, got string"}},
      {R"({"text": "no ids"})", {"missing field \"input_ids\" (record has keys: text)"}},
      {R"({"input_ids": [9707, 2.5]})", {"input_ids[1] must be an int, got number 2.5"}},
      {R"({"input_ids": [9707, "12"]})", {"input_ids[1] must be an int, got string \"12\""}},
      {R"({"input_ids": [true]})", {"input_ids[0] must be an int, got boolean true"}},
      {R"({"input_ids": [9707, [1]]})", {"input_ids[1] must be an int, got array [1]"}},
      {R"({"input_ids": [18446744073709551615]})", {"input_ids[0] = 18446744073709551615 is out of range"}},
      {R"({"input_ids": [9707, -3]})", {"input_ids[1] = -3 is not a token id", "expected 0 <= id < " + vocab}},
      {R"({"input_ids": [-100]})", {"input_ids[0] = -100 is not a token id", "-100 belongs in labels"}},
      {R"({"input_ids": [9707, 151669]})",
       {"input_ids[1] = 151669 is not a token id", "expected 0 <= id < " + vocab + ", the tokenizer's vocabulary size"}},
      {R"({"input_ids": [1, 2, 3], "labels": [1, 2]})",
       {"field \"labels\" has 2 items, but \"input_ids\" has 3 (expected one per token)"}},
      {R"({"input_ids": [1, 2], "labels": "1 2"})", {"field \"labels\" must be a list of ints, got string"}},
      {R"({"input_ids": [1, 2], "labels": [-100, 1.0]})", {"labels[1] must be an int, got number 1.0"}},
      {R"({"input_ids": [1, 2], "labels": [-100, -5]})",
       {"labels[1] = -5 is neither -100 (no loss) nor a token id", "expected 0 <= id < " + vocab}},
      {R"({"input_ids": [1, 2], "labels": [200000, 2]})", {"labels[0] = 200000 is neither -100"}},
      {R"({"input_ids": [1, 2], "attention_mask": [1]})",
       {"field \"attention_mask\" has 1 items, but \"input_ids\" has 2"}},
      {R"({"input_ids": [1, 2], "attention_mask": [1, 2]})",
       {"attention_mask[1] = 2, expected 0 (padding) or 1 (token)"}},
      {R"({"input_ids": [1, 2], "attention_mask": [0, 0]})",
       {"field \"attention_mask\" is 0 at every position: the record has no tokens"}},
      {R"(["input_ids"])", {"expected a JSON object, got array"}},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].record);
    const fs::path file = write(".jsonl", R"({"input_ids": [9707]})" "\n" + cases[i].record + "\n", std::to_string(i));
    const std::string msg = load_error(file);
    EXPECT_EQ(msg.rfind(file.string() + ":2: ", 0), 0u) << msg;
    for (const auto& fragment : cases[i].fragments)
      EXPECT_NE(msg.find(fragment), std::string::npos) << "missing \"" << fragment << "\" in: " << msg;
    const Dataset skipped = load_dataset(file, qwen3(), {.skip_bad_records = true});
    EXPECT_EQ(skipped.stats.bad_records, 1u);
    EXPECT_EQ(skipped.examples.size(), 1u);
  }
}

// Only the positions that are kept are checked: a padding id never reaches the model.
TEST_F(TokenizedRecords, PaddingIdsAreNotChecked) {
  const fs::path file =
      write(".jsonl", R"({"input_ids": [-1, 9707, 999999], "attention_mask": [0, 1, 0], "labels": [-7, 9707, 5]})" "\n");
  const Dataset d = load_dataset(file, qwen3());
  ASSERT_EQ(d.examples.size(), 1u);
  EXPECT_EQ(d.examples[0].input_ids, (V{9707}));
}

// The bound is the tokenizer's: Mistral's 32000 rejects ids that Qwen3 accepts.
TEST_F(TokenizedRecords, IdsAreCheckedAgainstTheGivenTokenizer) {
  const fs::path file = write(".jsonl", R"({"input_ids": [1, 31999]})" "\n" R"({"input_ids": [1, 32000]})" "\n");
  EXPECT_EQ(load_dataset(file, qwen3()).examples.size(), 2u);
  const std::string msg = load_error(file, {}, "mistral7b");
  EXPECT_EQ(msg.rfind(file.string() + ":2: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("input_ids[1] = 32000 is not a token id (expected 0 <= id < 32000"), std::string::npos) << msg;
}

TEST_F(TokenizedRecords, CsvCannotHoldTokenLists) {
  const fs::path detected = write(".csv", "input_ids,text\n\"[1, 2]\",a\n");
  std::string msg = load_error(detected);
  EXPECT_EQ(msg.rfind(detected.string() + ": tokenized records (\"input_ids\") cannot be read from CSV", 0), 0u) << msg;
  EXPECT_NE(msg.find("write .jsonl or .json"), std::string::npos) << msg;
  // Forced, the file is refused before any record is read (even with skip_bad_records).
  const fs::path forced = write(".csv", "text\nhello\n", "_forced");
  msg = load_error(forced, {.kind = RecordKind::Tokenized, .skip_bad_records = true});
  EXPECT_NE(msg.find("cannot be read from CSV"), std::string::npos) << msg;
}

}  // namespace
}  // namespace shadowpeft::data
