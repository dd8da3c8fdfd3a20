// An adapter directory's shadow_config.json → ShadowConfig (the weights are the safetensors target's).
#include "fuzz_support.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/shadow/shadow_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto json = shadowpeft::io::Json::parse(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size,
                                                nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return 0;
  shadowpeft::fuzz::expect_only_library_errors([&] { (void)shadowpeft::ShadowConfig::from_json(json, "shadow_config.json"); });
  return 0;
}
