// A training data file (JSONL, JSON list or CSV, by the first byte) read and tokenized into
// examples of any record kind, chat messages through the real Qwen3 chat template.
#include "fuzz_support.h"
#include "shadowpeft/data/dataset.h"
#include "shadowpeft/tokenizer/tokenizer.h"

// Loading the real tokenizer takes seconds under ASan: done here, before inputs are timed.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)shadowpeft::fuzz::real_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& tokenizer = shadowpeft::fuzz::real_tokenizer();
  if (size == 0) return 0;
  static const char* const kNames[] = {"data.jsonl", "data.json", "data.csv"};
  const auto path = shadowpeft::fuzz::write_file(kNames[data[0] % 3], {reinterpret_cast<const char*>(data + 1), size - 1});
  shadowpeft::data::DatasetOptions options;
  options.max_length = 64;
  options.skip_bad_records = (data[0] / 3) % 2 == 1;
  shadowpeft::fuzz::expect_only_library_errors([&] { (void)shadowpeft::data::load_dataset(path, tokenizer, options); });
  return 0;
}
