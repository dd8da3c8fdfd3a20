#include "added_vocabulary.h"

#include "unicode.h"

namespace shadowpeft::tokenizer {

void AddedVocabulary::Trie::insert(const std::string& key, int32_t index) {
  if (key.empty()) return;
  int32_t node = 0;
  first_byte[static_cast<unsigned char>(key[0])] = true;
  for (const char c : key) {
    const uint64_t edge = (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(c);
    const auto it = edges.find(edge);
    if (it != edges.end()) {
      node = it->second;
    } else {
      token.push_back(-1);
      node = static_cast<int32_t>(token.size() - 1);
      edges.emplace(edge, node);
    }
  }
  if (token[node] < 0) token[node] = index;
}

std::pair<std::size_t, int32_t> AddedVocabulary::Trie::longest(std::string_view text, std::size_t pos) const {
  std::pair<std::size_t, int32_t> best{pos, -1};
  if (!first_byte[static_cast<unsigned char>(text[pos])]) return best;
  int32_t node = 0;
  for (std::size_t i = pos; i < text.size(); ++i) {
    const auto it = edges.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[i]));
    if (it == edges.end()) break;
    node = it->second;
    if (token[node] >= 0) best = {i + 1, token[node]};
  }
  return best;
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer) : tokens_(std::move(tokens)) {
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    by_id_[t.id] = i;
    by_content_.emplace(t.content, i);
    if (t.normalized) {
      normalized_.insert(normalizer ? normalize_text(*normalizer, t.content) : t.content, static_cast<int32_t>(i));
    } else {
      raw_.insert(t.content, static_cast<int32_t>(i));
    }
  }
}

const AddedToken* AddedVocabulary::by_id(uint32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::by_content(std::string_view content) const {
  const auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

namespace {

bool ends_with_word_char(std::string_view s) {
  if (s.empty()) return false;
  std::size_t pos = s.size() - 1;
  while (pos > 0 && (static_cast<unsigned char>(s[pos]) & 0xC0) == 0x80) --pos;
  return unicode::is_word_char(unicode::next(s, pos));
}

bool starts_with_word_char(std::string_view s) {
  if (s.empty()) return false;
  std::size_t pos = 0;
  return unicode::is_word_char(unicode::next(s, pos));
}

// Start of the whitespace run that ends `s` (s.size() when it does not end with whitespace).
std::size_t trailing_space_start(std::string_view s) {
  std::size_t start = s.size();
  for (std::size_t pos = 0; pos < s.size();) {
    const std::size_t here = pos;
    if (unicode::is_whitespace(unicode::next(s, pos))) {
      if (start == s.size()) start = here;
    } else {
      start = s.size();
    }
  }
  return start;
}

std::size_t leading_space_bytes(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t next = pos;
    if (!unicode::is_whitespace(unicode::next(s, next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

void AddedVocabulary::split_with(const Trie& trie, const Piece& piece, std::vector<Segment>& out) const {
  const std::string_view text = piece.text;
  std::size_t done = 0;  // end of the last emitted segment
  const auto emit = [&](std::size_t b, std::size_t e, std::optional<uint32_t> id) {
    if (b < e) out.push_back({piece.slice(b, e), id});
  };
  for (std::size_t pos = 0; pos < text.size();) {
    const auto [end, index] = trie.longest(text, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    // Like aho-corasick's iterator, a rejected match still consumes its span.
    const AddedToken& token = tokens_[static_cast<std::size_t>(index)];
    std::size_t start = pos, stop = end;
    pos = end;
    if (token.single_word) {
      const bool space_before = start == 0 || !ends_with_word_char(text.substr(0, start));
      const bool space_after = stop == text.size() || !starts_with_word_char(text.substr(stop));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), done);
    if (token.rstrip) stop += leading_space_bytes(text.substr(stop));
    emit(done, start, std::nullopt);
    out.push_back({piece.slice(start, stop), token.id});
    done = stop;
    pos = std::max(pos, stop);
  }
  emit(done, text.size(), std::nullopt);
}

std::vector<Segment> AddedVocabulary::split(const std::string& text, const Normalizer* normalizer) const {
  std::vector<Segment> raw;
  split_with(raw_, Piece::original(text, 0), raw);
  std::vector<Segment> out;
  for (Segment& s : raw) {
    if (s.id) {
      out.push_back(std::move(s));
      continue;
    }
    if (normalizer) normalizer->normalize(s.piece);
    if (normalized_.token.size() > 1) split_with(normalized_, s.piece, out);
    else if (!s.piece.text.empty()) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace shadowpeft::tokenizer
