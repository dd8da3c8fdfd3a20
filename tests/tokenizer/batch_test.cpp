// encode_batch pads and truncates like `tokenizers` with enable_padding / enable_truncation, and the
// tokenizer_config.json accessors expose what transformers reads.
#include <gtest/gtest.h>

#include "fixtures.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace shadowpeft::tokenizer {
namespace {

using testing::read_fixture;

void expect_batches_match(const std::string& name) {
  const nlohmann::json expected = read_fixture(name + "/expected.json");
  const Tokenizer tok = Tokenizer::from_pretrained(expected["dir"].get<std::string>());
  ASSERT_FALSE(expected["batch"].empty());
  for (const auto& b : expected["batch"]) {
    BatchOptions options;
    options.padding_side = b["options"]["padding_side"] == "left" ? PaddingSide::Left : PaddingSide::Right;
    options.pad_id = b["options"]["pad_id"].get<int64_t>();
    if (!b["options"]["max_length"].is_null()) options.max_length = b["options"]["max_length"].get<std::size_t>();
    const auto got = tok.encode_batch(b["texts"].get<std::vector<std::string>>(), options);
    ASSERT_EQ(got.size(), b["ids"].size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].ids, b["ids"][i].get<std::vector<int64_t>>()) << name << " " << b["options"].dump() << " row " << i;
      EXPECT_EQ(got[i].attention_mask, b["attention_mask"][i].get<std::vector<int64_t>>()) << name << " row " << i;
      EXPECT_EQ(got[i].tokens, b["tokens"][i].get<std::vector<std::string>>()) << name << " row " << i;
    }
  }
}

TEST(TokenizerBatch, Qwen3LeftPaddingAndTruncationEqualPython) { expect_batches_match("qwen3"); }
TEST(TokenizerBatch, Mistral7bPaddingAndTruncationKeepSpecialTokensEqualPython) { expect_batches_match("mistral7b"); }

TEST(TokenizerBatch, PaddingWithoutPadTokenIsConfigError) {
  const Tokenizer tok = Tokenizer::from_pretrained(read_fixture("mistral7b/expected.json")["dir"].get<std::string>());
  EXPECT_THROW(tok.encode_batch({"a", "bb"}), ConfigError);
  BatchOptions no_pad;
  no_pad.pad = false;
  const auto got = tok.encode_batch({"a", "hello world"}, no_pad);
  EXPECT_NE(got[0].ids.size(), got[1].ids.size());
}

TEST(TokenizerBatch, PadToMultipleOf) {
  const Tokenizer tok = Tokenizer::from_pretrained(read_fixture("qwen3/expected.json")["dir"].get<std::string>());
  BatchOptions options;
  options.pad_to_multiple_of = 8;
  const auto got = tok.encode_batch({"a", "hello world"}, options);
  EXPECT_EQ(got[0].ids.size(), 8u);
  EXPECT_EQ(got[1].ids.back(), 151643);  // qwen3's pad_token <|endoftext|>
  EXPECT_EQ(got[1].attention_mask, (std::vector<int64_t>{1, 1, 0, 0, 0, 0, 0, 0}));
}

TEST(TokenizerConfigFile, Qwen3SpecialTokensAndChatTemplate) {
  const Tokenizer tok = Tokenizer::from_pretrained(read_fixture("qwen3/expected.json")["dir"].get<std::string>());
  EXPECT_FALSE(tok.bos_token().has_value());
  ASSERT_TRUE(tok.eos_token() && tok.pad_token());
  EXPECT_EQ(tok.eos_token()->content, "<|im_end|>");
  EXPECT_EQ(tok.eos_token()->id, 151645);
  EXPECT_EQ(tok.pad_token()->id, 151643);
  EXPECT_EQ(tok.add_bos_token(), false);
  ASSERT_NE(tok.chat_template(), nullptr);
  EXPECT_NE(tok.chat_template()->source.find("<|im_start|>"), std::string::npos);
  EXPECT_EQ(tok.token_to_id("<|im_start|>"), 151644);
  EXPECT_EQ(tok.id_to_token(151644), "<|im_start|>");
  EXPECT_EQ(tok.token_to_id("Ġworld"), 1879);
  EXPECT_TRUE(tok.is_special_id(151644));
  EXPECT_FALSE(tok.is_special_id(1879));
}

TEST(TokenizerConfigFile, DeepseekAddedTokenObjectsAndMistralFlags) {
  const Tokenizer ds = Tokenizer::from_pretrained(read_fixture("deepseek_v3/expected.json")["dir"].get<std::string>());
  ASSERT_TRUE(ds.bos_token());
  EXPECT_EQ(ds.bos_token()->content, "<｜begin▁of▁sentence｜>");
  EXPECT_EQ(ds.bos_token()->id, 0);
  EXPECT_EQ(ds.add_bos_token(), true);
  const Tokenizer mistral = Tokenizer::from_pretrained(read_fixture("mistral7b/expected.json")["dir"].get<std::string>());
  EXPECT_EQ(mistral.bos_token()->id, 1);
  EXPECT_EQ(mistral.unk_token()->id, 0);
  EXPECT_EQ(mistral.add_eos_token(), false);
  EXPECT_FALSE(mistral.pad_token().has_value());
  EXPECT_EQ(mistral.chat_template(), nullptr);
}

}  // namespace
}  // namespace shadowpeft::tokenizer
