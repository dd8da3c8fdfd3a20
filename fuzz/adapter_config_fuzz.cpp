// An adapter directory's config of any format → its config struct: shadow-peft's
// shadow_config.json (ShadowConfig) and peft's adapter_config.json (peft::ShadowConfig and
// peft::LoraConfig, with their module-name regular expressions compiled and matched, and written
// back). The weights are the safetensors target's.
#include "fuzz_support.h"
#include "shadowpeft/peft/lora_config.h"
#include "shadowpeft/peft/shadow_config.h"
#include "shadowpeft/shadow/shadow_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto json = shadowpeft::fuzz::json_input(data, size);
  if (!json) return 0;
  shadowpeft::fuzz::expect_only_library_errors([&] { (void)shadowpeft::ShadowConfig::from_json(*json, "shadow_config.json"); });
  shadowpeft::fuzz::expect_only_library_errors([&] {
    const auto config = shadowpeft::peft::ShadowConfig::from_json(*json, "adapter_config.json");
    (void)config.to_json();
    for (const auto& selector : {config.target_modules, config.exclude_modules})
      if (selector) (void)selector->matches("model.layers.0");
  });
  shadowpeft::fuzz::expect_only_library_errors([&] {
    const auto config = shadowpeft::peft::LoraConfig::from_json(*json, "adapter_config.json");
    (void)config.to_json();
    (void)shadowpeft::peft::targets_module({config.target_modules, config.exclude_modules, config.layers_to_transform,
                                            config.layers_pattern, config.modules_to_save},
                                           "model.layers.1.self_attn.q_proj");
  });
  return 0;
}
