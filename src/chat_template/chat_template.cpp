#include "shadowpeft/chat_template/chat_template.h"

#include "interpreter.h"
#include "lexer.h"
#include "parser.h"

namespace shadowpeft {

struct ChatTemplate::Impl {
  std::string name;
  std::string source;
  jinja::Template tmpl;
};

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

const std::string& ChatTemplate::name() const { return impl_->name; }

ChatTemplate ChatTemplate::compile(std::string source, std::string name) {
  auto impl = std::make_unique<Impl>();
  impl->name = std::move(name);
  impl->source = std::move(source);
  try {
    impl->tmpl = jinja::parse(jinja::tokenize(impl->source, impl->name), impl->name);
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(impl->name + ": " + e.what());
  }
  return ChatTemplate(std::move(impl));
}

std::string ChatTemplate::render(const nlohmann::ordered_json& context) const {
  if (!context.is_object()) throw ConfigError(impl_->name + ": the render context must be a JSON object, got " + context.type_name());
  jinja::Value ctx = jinja::Value::from_json(context);
  jinja::Interpreter interp(impl_->tmpl, ctx);
  // The template's name goes in front of every message except raise_exception's, which the
  // template author wrote for the end user.
  try {
    return interp.render();
  } catch (const UnsupportedError& e) {
    throw UnsupportedError(impl_->name + ": " + e.what());
  } catch (const TemplateRenderError& e) {
    throw TemplateRenderError(impl_->name + ": " + e.what());
  }
}

namespace {

// transformers' _alias_reasoning_fields: {"thinking": r, **message, "reasoning_content": r}.
nlohmann::ordered_json alias_reasoning(const nlohmann::ordered_json& message) {
  const nlohmann::ordered_json* reasoning = nullptr;
  for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
    auto it = message.find(key);
    if (it != message.end() && !it->is_null()) {
      reasoning = &*it;
      break;
    }
  }
  if (!reasoning) return message;
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["thinking"] = *reasoning;
  for (const auto& [k, v] : message.items()) out[k] = v;
  out["thinking"] = *reasoning;
  out["reasoning_content"] = *reasoning;
  return out;
}

}  // namespace

std::string apply_chat_template(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                                const ChatTemplateOptions& options) {
  if (!messages.is_array()) throw ConfigError(tmpl.name() + ": messages must be a JSON list, got " + messages.type_name());
  if (messages.empty()) throw ConfigError(tmpl.name() + ": cannot apply a chat template to an empty conversation");
  nlohmann::ordered_json chat = nlohmann::ordered_json::array();
  for (size_t k = 0; k < messages.size(); ++k) {
    const auto& m = messages[k];
    if (!m.is_object()) throw ConfigError(tmpl.name() + ": message " + std::to_string(k) + " must be a JSON object, got " + m.type_name());
    // transformers drops keys whose value is None before rendering (OpenAI-style `content: null`).
    nlohmann::ordered_json kept = nlohmann::ordered_json::object();
    for (const auto& [key, v] : m.items())
      if (!v.is_null()) kept[key] = v;
    chat.push_back(alias_reasoning(kept));
  }
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = std::move(chat);
  ctx["tools"] = options.tools ? *options.tools : nlohmann::ordered_json(nullptr);
  ctx["documents"] = options.documents ? *options.documents : nlohmann::ordered_json(nullptr);
  ctx["add_generation_prompt"] = options.add_generation_prompt;
  const std::pair<const char*, const std::optional<std::string>*> specials[] = {
      {"bos_token", &options.bos_token}, {"eos_token", &options.eos_token}, {"unk_token", &options.unk_token},
      {"sep_token", &options.sep_token}, {"pad_token", &options.pad_token}, {"cls_token", &options.cls_token},
      {"mask_token", &options.mask_token}};
  for (const auto& [key, value] : specials)
    if (*value) ctx[key] = **value;
  if (!options.extra.is_null()) {
    if (!options.extra.is_object()) throw ConfigError(tmpl.name() + ": ChatTemplateOptions::extra must be a JSON object");
    for (const auto& [k, v] : options.extra.items()) ctx[k] = v;
  }
  return tmpl.render(ctx);
}

}  // namespace shadowpeft
