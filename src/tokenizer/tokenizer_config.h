#pragma once
// What transformers keeps in tokenizer_config.json that matters here: special token names, the
// add_bos/eos flags and the chat template(s).
#include <filesystem>
#include <optional>
#include <vector>

#include "json_access.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace shadowpeft::tokenizer {

struct TokenizerConfig {
  std::optional<SpecialToken> bos, eos, pad, unk;  // ids filled in by the Tokenizer
  std::optional<bool> add_bos_token, add_eos_token;
  std::vector<ChatTemplate> chat_templates;
};

// Parses a JSON file; LoadError names the file (missing, unreadable, or the syntax error position).
JsonValue load_json(const std::filesystem::path& path);

TokenizerConfig read_tokenizer_config(const JsonValue& json, const std::filesystem::path& file);

}  // namespace shadowpeft::tokenizer
