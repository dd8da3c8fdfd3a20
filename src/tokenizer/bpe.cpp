// BPE as `tokenizers` runs it: characters (with continuing_subword_prefix / end_of_word_suffix) →
// ids, unknown characters as byte-fallback tokens or (fused) unk, then merges applied lowest rank
// first, leftmost first among equal ranks.
#include <cstdio>
#include <mutex>
#include <queue>
#include <unordered_map>

#include "models.h"
#include "shadowpeft/core/error.h"
#include "unicode.h"

namespace shadowpeft::tokenizer {

namespace {

struct MergeInfo {
  uint32_t rank;
  uint32_t new_id;
};

uint64_t pair_key(uint32_t a, uint32_t b) { return (static_cast<uint64_t>(a) << 32) | b; }

class Bpe final : public Model {
 public:
  Bpe(const Node& node, StreamedModel& streamed);
  void tokenize(std::string_view word, std::vector<uint32_t>& ids, std::vector<uint32_t>& lengths) const override;

 private:
  struct Tokens {
    std::vector<uint32_t> ids, lengths;
  };
  Tokens merge_word(std::string_view word) const;
  void apply_merges(Tokens& tokens) const;
  void add_merge(std::size_t rank, std::string_view a, std::string_view b, const Node& merges, std::string& scratch);

  std::unordered_map<uint64_t, MergeInfo> merges_;
  std::optional<std::string> unk_token_;
  std::optional<std::string> prefix_, suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  std::array<std::optional<uint32_t>, 256> byte_ids_;  // "<0xAB>" tokens for byte_fallback

  // Words seen before (tokenizers keeps 10k of them as well); bounded, never evicted.
  static constexpr std::size_t kCacheCapacity = 10000;
  static constexpr std::size_t kCacheMaxWordBytes = 256;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, Tokens, StringHash, std::equal_to<>> cache_;
};

std::optional<std::string> optional_string(const Node& node, const std::string& key) {
  if (!node.has(key)) return std::nullopt;
  return node.str(key);
}

Bpe::Bpe(const Node& node, StreamedModel& streamed) {
  read_vocab_object(node.at("vocab"), streamed, vocab_);
  unk_token_ = optional_string(node, "unk_token");
  prefix_ = optional_string(node, "continuing_subword_prefix");
  suffix_ = optional_string(node, "end_of_word_suffix");
  fuse_unk_ = node.flag("fuse_unk", false);
  byte_fallback_ = node.flag("byte_fallback", false);
  ignore_merges_ = node.flag("ignore_merges", false);
  if (node.has("dropout") && node.value()["dropout"].is_number() && node.value()["dropout"].get<double>() > 0.0)
    throw UnsupportedError(node.where("dropout") + ": BPE dropout is random; only null or 0 is supported");
  if (unk_token_ && !vocab_.id(*unk_token_))
    throw ConfigError(node.where("unk_token") + ": \"" + *unk_token_ + "\" is not in the vocabulary");
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_ids_[b] = vocab_.id(name);
  }

  const Node merges = node.at("merges");
  if (!merges.value().is_array()) throw ConfigError(merges.where() + ": expected an array, found " + json_kind(merges.value()));
  std::string scratch;
  if (streamed.merges) {
    merges_.reserve(streamed.merges->size());
    for (std::size_t i = 0; i < streamed.merges->size(); ++i)
      add_merge(i, (*streamed.merges)[i].first, (*streamed.merges)[i].second, merges, scratch);
    streamed.merges.reset();
    return;
  }
  merges_.reserve(merges.value().size());
  for (std::size_t i = 0; i < merges.value().size(); ++i) {
    const auto& m = merges.value()[i];
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      const std::size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        throw ConfigError(merges.where() + "[" + std::to_string(i) + "]: expected \"a b\", found \"" + s + "\"");
      add_merge(i, std::string_view(s).substr(0, space), std::string_view(s).substr(space + 1), merges, scratch);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      add_merge(i, m[0].get_ref<const std::string&>(), m[1].get_ref<const std::string&>(), merges, scratch);
    } else {
      throw ConfigError(merges.where() + "[" + std::to_string(i) + "]: expected \"a b\" or [a, b], found " + m.dump());
    }
  }
}

// The merged token drops b's continuing_subword_prefix; a pair listed twice keeps its last rank, as
// in tokenizers (a HashMap collected from the list).
void Bpe::add_merge(std::size_t rank, std::string_view a, std::string_view b, const Node& merges, std::string& merged) {
  const std::size_t prefix_len = prefix_ ? prefix_->size() : 0;
  const auto a_id = vocab_.id(a), b_id = vocab_.id(b);
  merged.assign(a);
  merged.append(b.substr(std::min(prefix_len, b.size())));
  const auto new_id = vocab_.id(merged);
  if (!a_id || !b_id || !new_id) {
    const std::string missing(!a_id ? a : !b_id ? b : std::string_view(merged));
    throw ConfigError(merges.where() + "[" + std::to_string(rank) + "]: merge token \"" + missing + "\" is not in the vocabulary");
  }
  merges_.insert_or_assign(pair_key(*a_id, *b_id), MergeInfo{static_cast<uint32_t>(rank), *new_id});
}

Bpe::Tokens Bpe::merge_word(std::string_view word) const {
  Tokens t;
  t.ids.reserve(word.size());
  t.lengths.reserve(word.size());
  const auto add = [&](uint32_t id, uint32_t length) {
    t.ids.push_back(id);
    t.lengths.push_back(length);
  };
  std::optional<std::pair<uint32_t, uint32_t>> pending_unk;  // (id, bytes covered)
  std::string s;
  for (std::size_t pos = 0; pos < word.size();) {
    const std::size_t begin = pos;
    pos += unicode::sequence_length(static_cast<unsigned char>(word[pos]));
    const auto char_len = static_cast<uint32_t>(pos - begin);
    std::string_view ch = word.substr(begin, pos - begin);
    const bool affixed = (prefix_ && begin > 0) || (suffix_ && pos == word.size());
    if (affixed) {
      s.clear();
      if (prefix_ && begin > 0) s += *prefix_;
      s += ch;
      if (suffix_ && pos == word.size()) s += *suffix_;
      ch = s;
    }
    if (const auto id = vocab_.id(ch)) {
      if (pending_unk) add(pending_unk->first, pending_unk->second), pending_unk.reset();
      add(*id, char_len);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (const char c : ch) all = all && byte_ids_[static_cast<unsigned char>(c)].has_value();
      if (all) {
        for (const char c : ch) add(*byte_ids_[static_cast<unsigned char>(c)], 1);
        continue;
      }
    }
    if (unk_token_) {
      const uint32_t unk = *vocab_.id(*unk_token_);
      if (pending_unk && fuse_unk_) {
        pending_unk->second += char_len;
      } else {
        if (pending_unk) add(pending_unk->first, pending_unk->second);
        pending_unk = std::make_pair(unk, char_len);
      }
    }
  }
  if (pending_unk) add(pending_unk->first, pending_unk->second);
  apply_merges(t);
  return t;
}

void Bpe::apply_merges(Tokens& tokens) const {
  std::vector<uint32_t>& ids = tokens.ids;
  const std::size_t n = ids.size();
  if (n < 2) return;
  struct Symbol {
    uint32_t id;
    uint32_t length;
    int32_t prev, next;
    bool alive;
  };
  struct Candidate {
    uint32_t rank;
    uint32_t pos;
    uint32_t new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Symbol> sym(n);
  for (std::size_t i = 0; i < n; ++i)
    sym[i] = {ids[i], tokens.lengths[i], static_cast<int32_t>(i) - 1, i + 1 < n ? static_cast<int32_t>(i + 1) : -1, true};
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  const auto push = [&](int32_t left) {
    const int32_t right = sym[left].next;
    if (right < 0) return;
    const auto it = merges_.find(pair_key(sym[left].id, sym[right].id));
    if (it != merges_.end()) queue.push({it->second.rank, static_cast<uint32_t>(left), it->second.new_id});
  };
  for (std::size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = sym[top.pos];
    if (!left.alive || left.next < 0) continue;
    // A stale entry: the pair at this position changed since it was queued.
    const auto it = merges_.find(pair_key(left.id, sym[left.next].id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    Symbol& right = sym[left.next];
    left.id = top.new_id;
    left.length += right.length;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = static_cast<int32_t>(top.pos);
    if (left.prev >= 0) push(left.prev);
    push(static_cast<int32_t>(top.pos));
  }
  ids.clear();
  tokens.lengths.clear();
  for (const Symbol& s : sym) {
    if (!s.alive) continue;
    ids.push_back(s.id);
    tokens.lengths.push_back(s.length);
  }
}

void Bpe::tokenize(std::string_view word, std::vector<uint32_t>& ids, std::vector<uint32_t>& lengths) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const auto id = vocab_.id(word)) {
      ids.push_back(*id);
      lengths.push_back(static_cast<uint32_t>(word.size()));
      return;
    }
  }
  const auto emit = [&](const Tokens& t) {
    ids.insert(ids.end(), t.ids.begin(), t.ids.end());
    lengths.insert(lengths.end(), t.lengths.begin(), t.lengths.end());
  };
  const bool cacheable = word.size() <= kCacheMaxWordBytes;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    const auto it = cache_.find(word);
    if (it != cache_.end()) {
      emit(it->second);
      return;
    }
  }
  Tokens result = merge_word(word);
  emit(result);
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(word), std::move(result));
  }
}

}  // namespace

std::unique_ptr<Model> make_bpe(const Node& node, StreamedModel& streamed) { return std::make_unique<Bpe>(node, streamed); }

}  // namespace shadowpeft::tokenizer
