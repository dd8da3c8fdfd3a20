// A real tokenizer (Qwen3's byte-level BPE) encoding any bytes as text, and decoding them as ids.
#include <cstring>
#include <vector>

#include "fuzz_support.h"
#include "shadowpeft/tokenizer/tokenizer.h"

// Loading the real tokenizer takes seconds under ASan: done here, before inputs are timed.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)shadowpeft::fuzz::real_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& tokenizer = shadowpeft::fuzz::real_tokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  shadowpeft::fuzz::expect_only_library_errors([&] {
    const auto encoding = tokenizer.encode(text, true);
    (void)tokenizer.decode(encoding.ids, false);
  });
  std::vector<int64_t> ids;
  for (size_t i = 0; i + 4 <= size; i += 4) {
    int32_t id = 0;
    std::memcpy(&id, data + i, 4);
    ids.push_back(id);
  }
  shadowpeft::fuzz::expect_only_library_errors([&] {
    (void)tokenizer.decode(ids, false);
    (void)tokenizer.decode(ids, true);
  });
  return 0;
}
