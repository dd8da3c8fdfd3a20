// One Tokenizer shared by several threads (the word cache and the regex scratch are per tokenizer /
// per thread) gives the same ids as one thread.
#include <gtest/gtest.h>

#include <thread>

#include "fixtures.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace shadowpeft::tokenizer {
namespace {

TEST(TokenizerThreads, ConcurrentEncodeEqualsSerial) {
  const nlohmann::json expected = testing::read_fixture("qwen3/expected.json");
  const Tokenizer tok = Tokenizer::from_pretrained(expected["dir"].get<std::string>());
  std::vector<std::string> texts;
  for (const auto& c : expected["cases"]) texts.push_back(c["text"].get<std::string>());
  std::vector<std::vector<int64_t>> serial;
  for (const auto& t : texts) serial.push_back(tok.encode(t).ids);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (std::size_t i = 0; i < texts.size(); ++i) {
        const std::size_t j = (i * 7 + static_cast<std::size_t>(k) * 13) % texts.size();  // different order per thread
        if (tok.encode(texts[j]).ids != serial[j]) ++mismatches[k];
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace shadowpeft::tokenizer
