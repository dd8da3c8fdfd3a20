#pragma once
// A conversation cut into pieces at the boundaries of its assistant replies (rule in dataset.h).
#include <string>
#include <vector>

#include "shadowpeft/chat_template/chat_template.h"

namespace shadowpeft::data {

struct ChatSegment {
  std::string text;
  bool assistant = false;  // an assistant reply: its tokens carry the loss
};

// Throws RecordError when the template renders prefixes inconsistently (naming the template and
// the message index), and the chat template's own errors when rendering fails.
std::vector<ChatSegment> split_conversation(const ChatTemplate& tmpl, const nlohmann::ordered_json& messages,
                                            const ChatTemplateOptions& options);

}  // namespace shadowpeft::data
