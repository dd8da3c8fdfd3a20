// Every corpus line, every tokenizer: ids and offsets (with and without special tokens), tokens and
// decoded text (with and without skip_special_tokens, whole and id by id) equal Python `tokenizers`.
#include <set>

#include "fixtures.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace shadowpeft::tokenizer {
namespace {

using testing::read_fixture;

// The tokenizers make_tokenizer_fixtures.py writes (checked against its index.json below).
const std::vector<std::string> kNames = {
    "qwen3", "gpt4o", "deepseek_v3", "mistral7b", "bytelevel_gpt2", "bytelevel_prefix_template", "bpe_ignore_merges",
    "split_removed", "split_removed_invert", "split_isolated", "split_isolated_invert", "split_merged_with_previous",
    "split_merged_with_previous_invert", "split_merged_with_next", "split_merged_with_next_invert", "split_contiguous",
    "split_contiguous_invert", "split_string", "digits_individual", "digits_grouped", "punctuation", "punctuation_next",
    "whitespace", "whitespace_split", "bert_pre", "metaspace_bytes", "norm_nfd_lower_strip", "norm_nfkc_replace",
    "norm_nfkd_strip_accents", "norm_nfc_bert", "added_tokens", "wordpiece_bert", "bpe_affixes_unk", "bpe_affixes_fuse_unk",
    "unigram_metaspace", "unigram_metaspace_nosplit", "wordlevel"};

std::string show(const std::vector<int64_t>& ids) {
  std::string out = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  return out + "]";
}

std::string escaped(const std::string& s) { return nlohmann::json(s).dump(); }

Tokenizer load(const nlohmann::json& expected) {
  if (!expected["dir"].is_null()) return Tokenizer::from_pretrained(expected["dir"].get<std::string>());
  return Tokenizer::from_file(expected["tokenizer"].get<std::string>());
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, IdsTokensAndDecodeEqualPython) {
  const nlohmann::json expected = read_fixture(GetParam() + "/expected.json");
  const Tokenizer tok = load(expected);
  EXPECT_EQ(tok.vocab_size(), expected["vocab_size"].get<std::size_t>());
  std::size_t mismatches = 0;
  for (const auto& c : expected["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const auto want = c["ids"].get<std::vector<int64_t>>();
    const Encoding got = tok.encode(text, true);
    if (got.ids != want) {
      ++mismatches;
      ADD_FAILURE() << "ids differ for " << escaped(text) << "\n  expected " << show(want) << "\n  actual   " << show(got.ids);
      continue;
    }
    EXPECT_EQ(got.tokens, c["tokens"].get<std::vector<std::string>>()) << escaped(text);
    using Offsets = std::vector<std::pair<std::size_t, std::size_t>>;
    EXPECT_EQ(got.offsets, c["offsets"].get<Offsets>()) << "offsets of " << escaped(text);
    const Encoding plain = tok.encode(text, false);
    EXPECT_EQ(plain.offsets, c["offsets_no_special"].get<Offsets>()) << "offsets without special tokens of " << escaped(text);
    const auto want_plain = c["ids_no_special"].get<std::vector<int64_t>>();
    const auto& got_plain = plain.ids;
    EXPECT_EQ(got_plain, want_plain) << "without special tokens: " << escaped(text) << "\n  expected " << show(want_plain)
                                     << "\n  actual   " << show(got_plain);
    EXPECT_EQ(tok.decode(want, false), c["decoded"].get<std::string>()) << "decode of " << escaped(text);
    EXPECT_EQ(tok.decode(want, true), c["decoded_skip"].get<std::string>()) << "decode (skip special) of " << escaped(text);
    if (c.contains("decoded_each")) {
      const auto each = c["decoded_each"].get<std::vector<std::string>>();
      for (std::size_t i = 0; i < want.size(); ++i)
        EXPECT_EQ(tok.decode({want[i]}), each[i]) << "decode of id " << want[i] << " alone, from " << escaped(text);
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << expected["cases"].size() << " lines";
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Parity, ::testing::ValuesIn(kNames),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(TokenizerFixtures, TestListMatchesTheFixtureScript) {
  const auto names = read_fixture("index.json")["tokenizers"].get<std::vector<std::string>>();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), std::set<std::string>(kNames.begin(), kNames.end()));
}

}  // namespace
}  // namespace shadowpeft::tokenizer
