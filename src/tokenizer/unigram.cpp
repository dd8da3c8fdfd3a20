// Unigram: Viterbi over every vocabulary piece that starts at each character; characters no piece
// covers cost the unk score (min score - 10). Consecutive unks fuse; byte_fallback spells unknown
// pieces as <0xXX> tokens.
#include <cstdio>
#include <unordered_map>

#include "models.h"
#include "shadowpeft/core/error.h"
#include "unicode.h"

namespace shadowpeft::tokenizer {

namespace {

constexpr double kUnkPenalty = 10.0;

class Unigram final : public Model {
 public:
  explicit Unigram(const Node& node) {
    const Node vocab = node.at("vocab");
    if (!vocab.value().is_array()) throw ConfigError(vocab.where() + ": expected an array of [piece, score], found " + json_kind(vocab.value()));
    const auto& list = vocab.value();
    scores_.reserve(list.size());
    vocab_.reserve(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto& entry = list[i];
      if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_number())
        throw ConfigError(vocab.where() + "[" + std::to_string(i) + "]: expected [piece, score], found " + entry.dump());
      const std::string& piece = entry[0].get_ref<const std::string&>();
      vocab_.add(piece, static_cast<uint32_t>(i));
      scores_.push_back(entry[1].get<double>());
      min_score_ = std::min(min_score_, scores_.back());
      max_piece_bytes_ = std::max(max_piece_bytes_, piece.size());
    }
    if (node.has("unk_id")) {
      const int64_t id = node.integer("unk_id");
      if (id < 0 || static_cast<std::size_t>(id) >= scores_.size())
        throw ConfigError(node.where("unk_id") + ": expected an index into vocab (size " + std::to_string(scores_.size()) +
                          "), found " + std::to_string(id));
      unk_id_ = static_cast<uint32_t>(id);
    }
    byte_fallback_ = node.flag("byte_fallback", false);
  }

  std::size_t vocab_size() const override { return scores_.size(); }

  void tokenize(std::string_view word, std::vector<uint32_t>& ids, std::vector<uint32_t>& lengths) const override {
    if (word.empty()) return;
    struct Best {
      double score = 0;
      std::optional<std::size_t> start;
      uint32_t id = 0;
    };
    const std::size_t n = word.size();
    std::vector<Best> best(n + 1);
    const double unk_score = min_score_ - kUnkPenalty;
    for (std::size_t start = 0; start < n;) {
      const double here = best[start].score;
      const std::size_t char_len = unicode::sequence_length(static_cast<unsigned char>(word[start]));
      bool single = false;
      for (std::size_t len = 1; len <= std::min(max_piece_bytes_, n - start); ++len) {
        const auto id = vocab_.id(word.substr(start, len));
        if (!id) continue;
        Best& target = best[start + len];
        const double candidate = scores_[*id] + here;
        if (!target.start || candidate > target.score) target = {candidate, start, *id};
        single = single || len == char_len;
      }
      if (!single) {
        if (!unk_id_) throw ConfigError("Unigram model: the text needs an unk token but the model has no unk_id");
        Best& target = best[start + char_len];
        const double candidate = unk_score + here;
        if (!target.start || candidate > target.score) target = {candidate, start, *unk_id_};
      }
      start += char_len;
    }
    // Walk back, fusing runs of unk.
    std::vector<std::string_view> pieces;
    std::size_t unk_begin = std::string::npos, unk_end = 0;
    for (std::size_t end = n; end > 0;) {
      const Best& b = best[end];
      const std::size_t start = *b.start;
      if (unk_id_ && b.id == *unk_id_) {
        if (unk_begin == std::string::npos) unk_end = end;
        unk_begin = start;
      } else {
        if (unk_begin != std::string::npos) pieces.push_back(word.substr(unk_begin, unk_end - unk_begin));
        unk_begin = std::string::npos;
        pieces.push_back(word.substr(start, end - start));
      }
      end = start;
    }
    if (unk_begin != std::string::npos) pieces.push_back(word.substr(unk_begin, unk_end - unk_begin));
    for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
      if (const auto id = vocab_.id(*it)) {
        ids.push_back(*id);
        lengths.push_back(static_cast<uint32_t>(it->size()));
        continue;
      }
      if (byte_fallback_) {
        std::vector<uint32_t> bytes;
        for (const char c : *it) {
          char name[8];
          std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<unsigned char>(c));
          if (const auto id = vocab_.id(name)) bytes.push_back(*id);
          else break;
        }
        if (bytes.size() == it->size()) {
          ids.insert(ids.end(), bytes.begin(), bytes.end());
          lengths.insert(lengths.end(), bytes.size(), 1);
          continue;
        }
      }
      ids.push_back(*unk_id_);
      lengths.push_back(static_cast<uint32_t>(it->size()));
    }
  }

 private:
  std::vector<double> scores_;
  double min_score_ = std::numeric_limits<double>::max();
  std::size_t max_piece_bytes_ = 0;
  std::optional<uint32_t> unk_id_;
  bool byte_fallback_ = false;
};

}  // namespace

std::unique_ptr<Model> make_unigram(const Node& node) { return std::make_unique<Unigram>(node); }

}  // namespace shadowpeft::tokenizer
