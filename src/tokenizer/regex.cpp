#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex.h"

#include <pcre2.h>

#include <optional>

#include "shadowpeft/core/error.h"
#include "unicode.h"

namespace shadowpeft::tokenizer {

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

namespace {

// Per-thread scratch: one ovector pair is enough (we only read the whole match) and a JIT stack
// large enough for `\s+(?!\S)` over long whitespace runs.
struct Scratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  Scratch() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~Scratch() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(data);
  }
};

std::string quote_meta(const std::string& text) {
  std::string out = "\\Q";
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, "\\E") == 0) {
      out += "\\E\\\\E\\Q";
      ++i;
    } else {
      out += text[i];
    }
  }
  return out + "\\E";
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  auto code = std::make_shared<Code>();
  code->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &error,
                             &offset, nullptr);
  if (!code->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    throw ConfigError(where + ": invalid regex /" + pattern + "/ at offset " + std::to_string(offset) + ": " +
                      reinterpret_cast<const char*>(message));
  }
  code->jit = pcre2_jit_compile(code->code, PCRE2_JIT_COMPLETE) == 0;
  code_ = std::move(code);
}

Regex Regex::literal(const std::string& text, const std::string& where) { return Regex(quote_meta(text), where); }

std::vector<Span> Regex::find_all(std::string_view text) const {
  thread_local Scratch scratch;
  std::vector<Span> out;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;
  std::optional<std::size_t> last_match_end;
  while (start <= text.size()) {
    const int rc = code_->jit ? pcre2_jit_match(code_->code, subject, text.size(), start, 0, scratch.data, scratch.context)
                              : pcre2_match(code_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, scratch.data,
                                            scratch.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      throw Error(std::string("regex match failed: ") + reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.data);
    const std::size_t b = ov[0], e = ov[1];
    if (b == e && last_match_end == e) {
      if (start >= text.size()) break;
      start += unicode::sequence_length(static_cast<unsigned char>(text[start]));
      continue;
    }
    out.emplace_back(b, e);
    last_match_end = e;
    start = e;
  }
  return out;
}

}  // namespace shadowpeft::tokenizer
