// An adapter directory's shadow_config.json → ShadowConfig (the weights are the safetensors target's).
#include "fuzz_support.h"
#include "shadowpeft/shadow/shadow_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto json = shadowpeft::fuzz::json_input(data, size);
  if (!json) return 0;
  shadowpeft::fuzz::expect_only_library_errors([&] { (void)shadowpeft::ShadowConfig::from_json(*json, "shadow_config.json"); });
  return 0;
}
