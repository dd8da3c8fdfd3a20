// Every case make_chat_template_fixtures.py rendered with transformers must render byte-identical
// here, or fail the same way.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "shadowpeft/chat_template/chat_template.h"

namespace shadowpeft {
namespace {

using Json = nlohmann::ordered_json;

const Json& all_cases() {
  static const Json cases = [] {
    const char* root = std::getenv("SHADOWPEFT_FIXTURES");
    std::string path = std::string(root ? root : "fixtures") + "/chat_template/cases.json";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("missing " + path + " (run the reference_chat_template_fixtures ctest first)");
    return Json::parse(in)["cases"];
  }();
  return cases;
}

std::string escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += "\\n\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out;
}

// Where two renderings part, with context, so a mismatch reads at a glance.
std::string describe_mismatch(const std::string& want, const std::string& got) {
  size_t at = 0;
  while (at < want.size() && at < got.size() && want[at] == got[at]) ++at;
  size_t from = at > 40 ? at - 40 : 0;
  std::ostringstream os;
  os << "first difference at byte " << at << " (expected " << want.size() << " bytes, got " << got.size() << ")\n"
     << "  expected: ..." << escaped(want.substr(from, 80)) << "\n"
     << "  got:      ..." << escaped(got.substr(from, 80)) << "\n"
     << "--- expected ---\n" << escaped(want) << "\n--- got ---\n" << escaped(got) << "\n";
  return os.str();
}

ChatTemplateOptions options_of(const Json& o) {
  ChatTemplateOptions opts;
  for (const auto& [key, value] : o.items()) {
    if (key == "add_generation_prompt") {
      opts.add_generation_prompt = value.get<bool>();
    } else if (key == "tools") {
      opts.tools = value;
    } else if (key == "special_tokens") {
      for (const auto& [name, tok] : value.items()) {
        std::string t = tok.get<std::string>();
        if (name == "bos_token") opts.bos_token = t;
        else if (name == "eos_token") opts.eos_token = t;
        else if (name == "unk_token") opts.unk_token = t;
        else if (name == "sep_token") opts.sep_token = t;
        else if (name == "pad_token") opts.pad_token = t;
        else if (name == "cls_token") opts.cls_token = t;
        else if (name == "mask_token") opts.mask_token = t;
        else opts.extra[name] = t;
      }
    } else {
      opts.extra[key] = value;
    }
  }
  return opts;
}

std::string run_case(const Json& c) {
  auto tmpl = ChatTemplate::compile(c["template"].get<std::string>(), c["name"].get<std::string>());
  if (c["kind"] == "render") return tmpl.render(c["context"]);
  return apply_chat_template(tmpl, c["messages"], options_of(c["options"]));
}

void check_case(const Json& c) {
  const std::string name = c["name"].get<std::string>();
  SCOPED_TRACE(name);
  if (c.contains("expected")) {
    std::string got;
    try {
      got = run_case(c);
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": threw " << e.what();
      return;
    }
    const std::string want = c["expected"].get<std::string>();
    if (got != want) ADD_FAILURE() << name << ": " << describe_mismatch(want, got);
    return;
  }
  const std::string type = c["error"]["type"].get<std::string>();
  const std::string message = c["error"]["message"].get<std::string>();
  try {
    std::string got = run_case(c);
    ADD_FAILURE() << name << ": expected " << type << " (" << message << "), rendered:\n" << escaped(got);
  } catch (const TemplateRaisedError& e) {
    EXPECT_EQ(type, "TemplateError") << name;
    EXPECT_EQ(std::string(e.what()), message) << name;
  } catch (const TemplateRenderError& e) {
    EXPECT_NE(type, "TemplateError") << name << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos)
        << name << ": message should contain \"" << message << "\", got \"" << e.what() << "\"";
  } catch (const std::exception& e) {
    ADD_FAILURE() << name << ": expected " << type << " (" << message << "), threw other error: " << e.what();
  }
}

// Runs the cases whose name starts with `prefix`; there must be some.
void check_cases(const std::string& prefix) {
  int n = 0;
  for (const auto& c : all_cases()) {
    if (c["name"].get<std::string>().rfind(prefix, 0) != 0) continue;
    check_case(c);
    ++n;
  }
  EXPECT_GT(n, 0) << "no fixture cases named " << prefix << "*";
}

TEST(ChatTemplateParity, Qwen3RealTemplate) { check_cases("qwen3/"); }
TEST(ChatTemplateParity, DeepSeekV3RealTemplate) { check_cases("deepseek_v3/"); }
TEST(ChatTemplateParity, PublicTemplateStyles) { check_cases("style/"); }
TEST(ChatTemplateParity, WhitespaceControl) { check_cases("synthetic/ws_"); }
TEST(ChatTemplateParity, SyntheticConstructs) {
  for (const auto& c : all_cases()) {
    std::string name = c["name"].get<std::string>();
    if (name.rfind("synthetic/", 0) == 0 && name.rfind("synthetic/ws_", 0) != 0 && name.rfind("synthetic/error_", 0) != 0)
      check_case(c);
  }
}
TEST(ChatTemplateParity, ErrorsTransformersRaises) { check_cases("synthetic/error_"); }

}  // namespace
}  // namespace shadowpeft
