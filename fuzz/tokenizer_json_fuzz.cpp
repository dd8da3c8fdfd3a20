// tokenizer.json → a tokenizer, which then encodes and decodes a fixed text.
#include "fuzz_support.h"
#include "shadowpeft/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = shadowpeft::fuzz::write_file("tokenizer.json", {reinterpret_cast<const char*>(data), size});
  shadowpeft::fuzz::expect_only_library_errors([&] {
    const auto tokenizer = shadowpeft::tokenizer::Tokenizer::from_file(path);
    const auto encoding = tokenizer.encode("Hello, world! 123 héllo\n\tend", true);
    (void)tokenizer.decode(encoding.ids, false);
    (void)tokenizer.decode({0, 1, 2, 3, 100, 1000, 1 << 20}, true);
  });
  return 0;
}
