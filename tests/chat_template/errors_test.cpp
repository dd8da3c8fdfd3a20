// Error messages: a syntax error names line and column, an unsupported construct names itself and
// its line, raise_exception carries the template's message verbatim.
#include <gtest/gtest.h>

#include "shadowpeft/chat_template/chat_template.h"

namespace shadowpeft {
namespace {

using Json = nlohmann::ordered_json;

template <typename E>
std::string message_of(const std::string& source, const Json& context = Json::object()) {
  try {
    ChatTemplate::compile(source, "tmpl").render(context);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type for: " << source << "\n  " << e.what();
    return {};
  }
  ADD_FAILURE() << "no exception for: " << source;
  return {};
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "\"" << text << "\" should contain \"" << part << "\"";
}

TEST(ChatTemplateSyntaxError, NamesLineAndColumn) {
  std::string m = message_of<ConfigError>("line one\n{{ 1 + }}");
  expect_contains(m, "tmpl: syntax error at line 2, column 8");
  expect_contains(m, "end of print statement");
}

TEST(ChatTemplateSyntaxError, UnclosedBlockNamesTheMissingEndTag) {
  expect_contains(message_of<ConfigError>("{% if x %}\nyes"), "'endif'");
  expect_contains(message_of<ConfigError>("{% for x in y %}"), "'endfor' or 'else'");
}

TEST(ChatTemplateSyntaxError, UnclosedTagsAndComments) {
  expect_contains(message_of<ConfigError>("a\n{{ x "), "line 2, column 1");
  expect_contains(message_of<ConfigError>("{# open"), "Missing end of comment tag");
  expect_contains(message_of<ConfigError>("{% raw %}x"), "Missing end of raw directive");
  expect_contains(message_of<ConfigError>("{{ (1 }}"), "unexpected '}'");
  expect_contains(message_of<ConfigError>("{% endif %}"), "unknown tag 'endif'");
  expect_contains(message_of<ConfigError>("{{ 'abc }}"), "unexpected end of string");
  expect_contains(message_of<ConfigError>("{{ a ? b }}"), "unexpected char '?'");
}

TEST(ChatTemplateUnsupported, UnknownFilterNamesFilterAndLine) {
  std::string m = message_of<UnsupportedError>("\n\n{{ x|frobnicate }}");
  expect_contains(m, "tmpl: line 3: the filter 'frobnicate'");
}

TEST(ChatTemplateUnsupported, UnknownTestNamesTestAndLine) {
  expect_contains(message_of<UnsupportedError>("{% if x is prime %}{% endif %}"), "line 1: the test 'prime'");
}

TEST(ChatTemplateUnsupported, TagsOutsideTheChatTemplateSubset) {
  expect_contains(message_of<UnsupportedError>("{% include 'other.jinja' %}"), "'{% include %}' tag");
  expect_contains(message_of<UnsupportedError>("x\n{% do y %}"), "line 2: the '{% do %}' tag");
  expect_contains(message_of<UnsupportedError>("{% frob %}"), "unknown tag '{% frob %}'");
  expect_contains(message_of<UnsupportedError>("{% for x in y recursive %}{% endfor %}"), "recursive for loops");
}

TEST(ChatTemplateUnsupported, PythonMethodsWeLackNameTheMethodAtRenderTime) {
  expect_contains(message_of<UnsupportedError>("\n{{ 'a\tb'.expandtabs() }}"), "line 2: the str method 'expandtabs()'");
  expect_contains(message_of<UnsupportedError>("{{ '{:>5}'.format(1) }}"), "format specs");
}

TEST(ChatTemplateRaise, RaiseExceptionCarriesTheMessageVerbatim) {
  EXPECT_EQ(message_of<TemplateRaisedError>("{{ raise_exception('Roles must alternate: ' ~ r) }}", Json{{"r", "tool"}}),
            "Roles must alternate: tool");
}

TEST(ChatTemplateRenderError, UndefinedAndTypeErrorsNameTheLine) {
  std::string m = message_of<TemplateRenderError>("ok\n{{ messages[0].role }}", Json{{"messages", Json::array()}});
  expect_contains(m, "tmpl: line 2: UndefinedError");
  expect_contains(message_of<TemplateRenderError>("{{ 'a' - 1 }}"), "unsupported operand type(s) for -: 'str' and 'int'");
  expect_contains(message_of<TemplateRenderError>("{% set x = 1 %}{% set x.y = 2 %}"), "non-namespace object");
}

TEST(ChatTemplateRenderError, ContextMustBeAnObject) {
  EXPECT_THROW(ChatTemplate::compile("x").render(Json::array()), ConfigError);
}

}  // namespace
}  // namespace shadowpeft

namespace shadowpeft {
namespace {

// The sandbox: templates come with downloaded tokenizers, so one that would run forever, recurse
// without end or build gigabytes fails with an error instead (jinja2's sandbox stops ranges past
// MAX_RANGE the same way; Python would raise MemoryError / RecursionError / loop until killed).
TEST(ChatTemplateSandbox, StopsRunawayTemplates) {
  expect_contains(message_of<TemplateRenderError>("{{ 'ab' * 100000000 }}"), "OverflowError");
  expect_contains(message_of<TemplateRenderError>("{{ [1, 2] * 100000000 }}"), "OverflowError");
  expect_contains(message_of<TemplateRenderError>("{% set ns = namespace(s='x' * 1000000) %}{% for i in range(30) %}"
                                                  "{% set ns.s = ns.s + ns.s %}{% endfor %}"),
                  "OverflowError");
  expect_contains(message_of<TemplateRenderError>("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
                  "steps");
  expect_contains(message_of<TemplateRenderError>("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"), "RecursionError");
  expect_contains(message_of<TemplateRenderError>("{{ 'x' | center(1000000000000) }}"), "OverflowError");
  expect_contains(message_of<TemplateRenderError>("{{ 'x'.ljust(1000000000000) }}"), "OverflowError");
  expect_contains(message_of<TemplateRenderError>("{{ ('x' * 10000).replace('', 'y' * 10000) }}"), "OverflowError");
  expect_contains(message_of<ConfigError>("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"), "nested more than");
  expect_contains(message_of<ConfigError>([] {
                    std::string deep;
                    for (int i = 0; i < 1000; ++i) deep = "{% if x %}" + deep + "{% endif %}";
                    return deep;
                  }()),
                  "nested more than");
  expect_contains(message_of<ConfigError>("{{ " + std::string(5000, '-') + "1 }}"), "nested more than");
}

TEST(ChatTemplateSandbox, IntegersPast64BitsAreOverflowErrors) {
  for (const char* source : {"{{ 9223372036854775807 + 1 }}", "{{ -9223372036854775807 - 2 }}", "{{ 4294967296 * 4294967296 }}",
                             "{{ 2 ** 64 }}", "{{ 3 ** 1000000000000000000 }}", "{{ (-9223372036854775807 - 1) // -1 }}",
                             "{{ -(-9223372036854775807 - 1) }}", "{{ (-9223372036854775807 - 1) | abs }}",
                             "{{ [9223372036854775807, 1] | sum }}"})
    expect_contains(message_of<TemplateRenderError>(source), "OverflowError");
  expect_contains(message_of<ConfigError>("{{ 100000000000000000000 }}"), "does not fit in 64 bits");
  expect_contains(message_of<TemplateRenderError>("{{ x.99999999999999999999 }}", Json{{"x", Json::array()}}), "OverflowError");
  EXPECT_EQ(ChatTemplate::compile("{{ 1e999 }}").render(Json::object()), "inf");
  // Within int64, the arithmetic is Python's.
  EXPECT_EQ(ChatTemplate::compile("{{ 2 ** 62 }} {{ -7 // 2 }} {{ -7 % -1 }} {{ 1 ** 1000000000000 }}").render(Json::object()),
            "4611686018427387904 -4 0 1");
}

}  // namespace
}  // namespace shadowpeft
