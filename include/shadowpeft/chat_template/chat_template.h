#pragma once
// Chat templates: the Jinja2 dialect Hugging Face `apply_chat_template` uses, rendered byte-identical
// to `transformers` (jinja2 ImmutableSandboxedEnvironment, trim_blocks + lstrip_blocks, loopcontrols,
// transformers' own `tojson`, `raise_exception`, `strftime_now`, `namespace`, `dict` and the
// `{% generation %}` block).
//
// Errors: a syntax error is a ConfigError naming line and column; a construct this renderer does
// not implement (filter, test, tag, method) is an UnsupportedError naming it and its line;
// `raise_exception(msg)` in the template throws TemplateRaisedError carrying `msg`; any other
// failure while rendering (undefined attribute of an undefined value, type errors, sandbox
// violations) is a TemplateRenderError.
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "shadowpeft/core/error.h"

namespace shadowpeft {

// The template called `raise_exception(message)`; what() is exactly `message`.
class TemplateRaisedError : public Error {
 public:
  using Error::Error;
};

// Rendering failed where jinja2 would raise (UndefinedError, TypeError, SecurityError, ...).
class TemplateRenderError : public Error {
 public:
  using Error::Error;
};

class ChatTemplate {
 public:
  // Parses `source` once; `name` appears in error messages (e.g. "qwen3 chat_template").
  static ChatTemplate compile(std::string source, std::string name = "chat_template");

  // Renders with `context` (a JSON object) as the template's variables. JSON null is Python None;
  // a key that is absent is undefined.
  std::string render(const nlohmann::ordered_json& context) const;

  const std::string& name() const;

  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;
  ~ChatTemplate();

  struct Impl;

 private:
  explicit ChatTemplate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What `tokenizer.apply_chat_template(messages, tokenize=False, ...)` passes besides the messages.
struct ChatTemplateOptions {
  bool add_generation_prompt = false;
  std::optional<nlohmann::ordered_json> tools;      // list of JSON schemas; absent: `tools` is None
  std::optional<nlohmann::ordered_json> documents;  // list of dicts; absent: `documents` is None
  // The tokenizer's named special tokens (transformers' `special_tokens_map`); an absent one is not
  // passed at all, so the template sees it as undefined.
  std::optional<std::string> bos_token, eos_token, unk_token, sep_token, pad_token, cls_token,
      mask_token;
  // Extra template variables (e.g. {"enable_thinking": false}); they override special tokens.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

// Renders one conversation exactly like transformers 5.x `apply_chat_template(tokenize=False)`:
// message keys whose value is null are dropped, `reasoning_content` / `thinking` / `reasoning` are
// aliased into both `thinking` (first key) and `reasoning_content`, then the template renders with
// messages, tools, documents, add_generation_prompt, the special tokens and `extra`.
// An empty conversation is a ConfigError, as in transformers.
std::string apply_chat_template(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                                const ChatTemplateOptions& options = {});

}  // namespace shadowpeft
