#pragma once
// Reads tokenizer.json in one streaming pass. The model's vocabulary ({token: id}) and merges go
// straight into flat vectors; only the small rest becomes a JSON tree. A DOM of a 150k-entry
// vocabulary and 150k merges costs more than everything else in loading together (allocation of
// every node, then freeing it).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "json_access.h"

namespace shadowpeft::tokenizer {

struct StreamedModel {
  // $.model.vocab when it is an object (BPE, WordPiece); the tree then holds an empty object there.
  std::optional<std::vector<std::pair<std::string, uint32_t>>> vocab;
  // $.model.merges as (a, b), from "a b" strings or [a, b] pairs; the tree holds an empty array.
  std::optional<std::vector<std::pair<std::string, std::string>>> merges;
};

struct TokenizerFile {
  JsonValue json;
  StreamedModel model;
};

// LoadError for a missing/unreadable file or a syntax error (with its byte offset); ConfigError for
// a vocabulary id or a merge of the wrong shape (naming its JSON path).
TokenizerFile read_tokenizer_file(const std::filesystem::path& path);

}  // namespace shadowpeft::tokenizer
