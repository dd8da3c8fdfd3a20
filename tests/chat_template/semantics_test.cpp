// Behaviour that needs no Python reference: public API contracts.
#include <gtest/gtest.h>

#include "shadowpeft/chat_template/chat_template.h"

namespace shadowpeft {
namespace {

using Json = nlohmann::ordered_json;

TEST(ChatTemplateApi, RendersContextVariables) {
  auto t = ChatTemplate::compile("{{ greeting }}, {{ name|upper }}!");
  EXPECT_EQ(t.render(Json{{"greeting", "Hello"}, {"name", "ada"}}), "Hello, ADA!");
}

TEST(ChatTemplateApi, ApplyDropsNullKeysAndAliasesReasoning) {
  auto t = ChatTemplate::compile("{% for m in messages %}{{ m|tojson }}{% endfor %}");
  Json msgs = Json::array({Json{{"role", "assistant"}, {"content", nullptr}, {"reasoning", "r"}}});
  EXPECT_EQ(apply_chat_template(t, msgs), R"({"thinking": "r", "role": "assistant", "reasoning": "r", "reasoning_content": "r"})");
}

TEST(ChatTemplateApi, EmptyConversationIsConfigError) {
  auto t = ChatTemplate::compile("x");
  EXPECT_THROW(apply_chat_template(t, Json::array()), ConfigError);
}

TEST(ChatTemplateApi, SpecialTokensAndExtraVariables) {
  auto t = ChatTemplate::compile("{{ bos_token }}|{{ eos_token is defined }}|{{ tools }}|{{ enable_thinking }}");
  ChatTemplateOptions o;
  o.bos_token = "<s>";
  o.extra = Json{{"enable_thinking", false}};
  EXPECT_EQ(apply_chat_template(t, Json::array({Json{{"role", "user"}, {"content", "hi"}}}), o), "<s>|False|None|False");
}

}  // namespace
}  // namespace shadowpeft
