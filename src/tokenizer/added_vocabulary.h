#pragma once
// Added tokens (special or not) are cut out of the input before anything else: first those matched
// on the raw text (normalized: false), then, after normalizing the rest, those matched on normalized
// text. Matching is leftmost-longest, with tokenizers' single_word / lstrip / rstrip rules.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "normalizers.h"
#include "split.h"

namespace shadowpeft::tokenizer {

struct AddedToken {
  std::string content;
  uint32_t id = 0;
  bool special = false, lstrip = false, rstrip = false, normalized = true, single_word = false;
};

struct Segment {
  Piece piece;
  std::optional<uint32_t> id;  // set when the segment is an added token
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Splits `text`, normalizing the parts that are not added tokens.
  std::vector<Segment> split(const std::string& text, const Normalizer* normalizer) const;

  const AddedToken* by_id(uint32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  std::size_t size() const { return tokens_.size(); }
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // A byte trie over token contents; `token` is the index into tokens_ or -1.
  struct Trie {
    std::unordered_map<uint64_t, int32_t> edges;  // (node << 8 | byte) → node
    std::vector<int32_t> token{-1};
    bool first_byte[256] = {};
    void insert(const std::string& key, int32_t index);
    // Longest match starting at text[pos]: (end, token index) or token -1.
    std::pair<std::size_t, int32_t> longest(std::string_view text, std::size_t pos) const;
  };
  void split_with(const Trie& trie, const Piece& piece, std::vector<Segment>& out) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<uint32_t, std::size_t> by_id_;
  std::unordered_map<std::string, std::size_t> by_content_;
  Trie raw_, normalized_;
};

}  // namespace shadowpeft::tokenizer
