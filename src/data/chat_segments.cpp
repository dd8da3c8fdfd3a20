#include "chat_segments.h"

#include <fmt/format.h>

#include "records.h"

namespace shadowpeft::data {

namespace {

std::string render(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages, std::size_t count,
                   bool add_generation_prompt, ChatTemplateOptions options) {
  // transformers refuses an empty conversation; the text before a leading assistant reply is "".
  if (count == 0) return {};
  options.add_generation_prompt = add_generation_prompt;
  const nlohmann::ordered_json head(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(count));
  return apply_chat_template(tmpl, head, options);
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
}

// The longest suffix of `reply` that `rest` starts with: how the reply appears in the full render,
// which may drop a head the template only emits for the last turn (Qwen3's empty think block).
// Quadratic at worst, but the first or second candidate matches for the templates we know.
std::size_t reply_length_in(const std::string& reply, const std::string& full, std::size_t at) {
  for (std::size_t skip = 0; skip < reply.size(); ++skip) {
    const std::size_t n = reply.size() - skip;
    if (full.size() - at >= n && full.compare(at, n, reply, skip, n) == 0) return n;
  }
  return 0;
}

}  // namespace

std::vector<ChatSegment> split_conversation(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                                            const ChatTemplateOptions& options) {
  const std::string full = render(tmpl, messages, messages.size(), false, options);
  std::vector<ChatSegment> segments;
  std::size_t done = 0;  // characters of `full` already in segments
  for (std::size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].value("role", "") != "assistant") continue;
    const std::string before = render(tmpl, messages, i, true, options);
    const std::string with = render(tmpl, messages, i + 1, false, options);
    if (!starts_with(with, before))
      throw RecordError(fmt::format(
          "{}: rendering messages[:{}] does not start with the rendering of messages[:{}] with "
          "add_generation_prompt=true, so the reply of assistant message {} cannot be located",
          tmpl.name(), i + 1, i, i));
    // Where R stops agreeing with P: all of P, unless the template renders this turn differently
    // once it is history (then the generation prompt's extra text is not in R).
    std::size_t start = 0;
    while (start < before.size() && start < full.size() && before[start] == full[start]) ++start;
    if (start < done)
      throw RecordError(fmt::format(
          "{}: the rendered conversation differs from the rendering of messages[:{}] with "
          "add_generation_prompt=true before the end of the previous reply, so the reply of assistant "
          "message {} cannot be located",
          tmpl.name(), i, i));
    const std::string reply = with.substr(before.size());
    const std::size_t length = reply_length_in(reply, full, start);
    if (length == 0 && !reply.empty())
      throw RecordError(fmt::format("{}: the reply of assistant message {} does not appear in the rendered conversation",
                                    tmpl.name(), i));
    if (start > done) segments.push_back({full.substr(done, start - done), false});
    if (length > 0) segments.push_back({full.substr(start, length), true});
    done = start + length;
  }
  if (done < full.size()) segments.push_back({full.substr(done), false});
  return segments;
}

}  // namespace shadowpeft::data
