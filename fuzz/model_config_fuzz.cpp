// config.json of any family → a complete ModelConfig (the family is chosen by `architectures` /
// `model_type`, so the dictionary's names reach every descriptor).
#include "fuzz_support.h"
#include "shadowpeft/models/descriptor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto json = shadowpeft::fuzz::json_input(data, size);
  if (!json) return 0;
  shadowpeft::fuzz::expect_only_library_errors([&] { (void)shadowpeft::models::parse_model_config(*json, "config.json"); });
  return 0;
}
