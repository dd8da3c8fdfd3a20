// A chat template (Jinja2 source) compiled and rendered with a conversation, as apply_chat_template
// does; the input is the template, or "template\0messages-json" to vary the conversation too.
#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "shadowpeft/chat_template/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t split = input.find('\0');
  nlohmann::ordered_json context = {
      {"messages", {{{"role", "system"}, {"content", "Be brief."}},
                    {{"role", "user"}, {"content", "Write 12 in words."}},
                    {{"role", "assistant"}, {"content", "twelve"}}}},
      {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"add_generation_prompt", true}};
  if (split != std::string_view::npos) {
    auto messages = nlohmann::ordered_json::parse(input.substr(split + 1), nullptr, /*allow_exceptions=*/false);
    if (!messages.is_discarded()) context["messages"] = std::move(messages);
  }
  shadowpeft::fuzz::expect_only_library_errors([&] {
    const auto tmpl = shadowpeft::ChatTemplate::compile(std::string(input.substr(0, split)));
    (void)tmpl.render(context);
  });
  return 0;
}
