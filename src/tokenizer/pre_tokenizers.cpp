#include "pre_tokenizers.h"

#include "byte_level.h"
#include "pattern.h"
#include "shadowpeft/core/error.h"
#include "unicode.h"

namespace shadowpeft::tokenizer {

namespace {

// GPT-2's word pattern, which ByteLevel applies when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Rust regex's Unicode \w (Alphabetic, so Nl too; marks; Nd; Pc; joiners), which the Whitespace
// pre-tokenizer uses; PCRE2's \w differs (all of N, not all of M).
constexpr const char* kWhitespacePattern =
    R"([\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200C}\x{200D}]+|[^\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200C}\x{200D}\s]+)";

// Applies `fn(piece, out)` to every piece.
template <typename Fn>
void for_each_piece(std::vector<Piece>& pieces, Fn&& fn) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  for (const Piece& p : pieces) fn(p, out);
  pieces = std::move(out);
}

void invert(std::vector<Match>& matches) {
  for (auto& m : matches) m.is_match = !m.is_match;
}

SplitBehavior read_behavior(const Node& node, const std::string& key, SplitBehavior fallback) {
  if (!node.has(key)) return fallback;
  const std::string b = node.str(key);
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  node.fail(key, "one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex, const std::string& where)
      : add_prefix_space_(add_prefix_space), regex_(use_regex ? std::optional<Regex>(Regex(kGpt2Pattern, where)) : std::nullopt) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>& out) {
      Piece piece = p;
      if (add_prefix_space_ && !piece.text.starts_with(' ')) {  // aligned to the first character, like prepend()
        piece.text.insert(0, " ");
        piece.align.insert(piece.align.begin(), piece.align.empty() ? Span{0, 0} : piece.align.front());
      }
      const std::size_t first = out.size();
      if (regex_) split_piece(piece, regex_matches(*regex_, piece.text), SplitBehavior::Isolated, out);
      else if (!piece.text.empty()) out.push_back(std::move(piece));
      const auto& map = byte_level::byte_to_char();
      for (std::size_t i = first; i < out.size(); ++i) {
        Piece mapped;
        mapped.text.reserve(out[i].text.size() * 2);
        mapped.align.reserve(out[i].text.size() * 2);
        for (std::size_t b = 0; b < out[i].text.size(); ++b) mapped.append(map[static_cast<unsigned char>(out[i].text[b])], out[i].align[b]);
        out[i] = std::move(mapped);
      }
    });
  }

 private:
  bool add_prefix_space_;
  std::optional<Regex> regex_;
};

class RegexSplit final : public PreTokenizer {
 public:
  RegexSplit(Regex regex, SplitBehavior behavior, bool invert) : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>& out) {
      auto matches = regex_matches(regex_, p.text);
      if (invert_) invert(matches);
      split_piece(p, std::move(matches), behavior_, out);
    });
  }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class CharSplit final : public PreTokenizer {
 public:
  CharSplit(std::function<bool(char32_t)> pred, SplitBehavior behavior) : pred_(std::move(pred)), behavior_(behavior) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>& out) {
      split_piece(p, char_matches(pred_, p.text), behavior_, out);
    });
  }

 private:
  std::function<bool(char32_t)> pred_;
  SplitBehavior behavior_;
};

enum class PrependScheme { Always, First, Never };

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, PrependScheme scheme, bool split) : replacement_(replacement), scheme_(scheme), split_(split) {
    unicode::append(replacement_text_, replacement);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for_each_piece(pieces, [&](const Piece& p, std::vector<Piece>& out) {
      Piece piece;
      for (std::size_t i = 0; i < p.text.size(); ++i) {
        if (p.text[i] == ' ') piece.append(replacement_text_, p.align[i]);
        else piece.append(std::string_view(&p.text[i], 1), p.align[i]);
      }
      // "first": only for the piece that starts the input (tokenizers: offsets_original().0 == 0).
      const bool at_origin = !p.align.empty() && p.align.front().first == 0;
      const bool prepend = scheme_ == PrependScheme::Always || (scheme_ == PrependScheme::First && at_origin);
      if (prepend && !piece.text.starts_with(replacement_text_) && !piece.text.empty()) {
        piece.text.insert(0, replacement_text_);
        piece.align.insert(piece.align.begin(), replacement_text_.size(), piece.align.front());
      }
      if (split_) {
        const char32_t r = replacement_;
        split_piece(piece, char_matches([r](char32_t c) { return c == r; }, piece.text), SplitBehavior::MergedWithNext, out);
      } else if (!piece.text.empty()) {
        out.push_back(std::move(piece));
      }
    });
  }

 private:
  char32_t replacement_;
  std::string replacement_text_;
  PrependScheme scheme_;
  bool split_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

// BERT: split on whitespace (removed), then isolate punctuation.
class Bert final : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    whitespace_.pre_tokenize(pieces);
    punctuation_.pre_tokenize(pieces);
  }

 private:
  CharSplit whitespace_{unicode::is_whitespace, SplitBehavior::Removed};
  CharSplit punctuation_{unicode::is_punctuation, SplitBehavior::Isolated};
};

char32_t read_char(const Node& node, const std::string& key, const std::string& fallback) {
  const std::string s = node.str(key, fallback);
  std::size_t pos = 0;
  if (s.empty() || unicode::first_invalid(s) != std::string::npos) node.fail(key, "one character");
  const char32_t c = unicode::next(s, pos);
  if (pos != s.size()) node.fail(key, "one character");
  return c;
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Node& node) {
  if (node.value().is_null()) return nullptr;
  const std::string type = node.type();
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(node.flag("add_prefix_space", true), node.flag("use_regex", true), node.where());
  if (type == "Split") {
    return std::make_unique<RegexSplit>(read_pattern(node.at("pattern")), read_behavior(node, "behavior", SplitBehavior::Isolated),
                                        node.flag("invert", false));
  }
  if (type == "Whitespace")
    return std::make_unique<RegexSplit>(Regex(kWhitespacePattern, node.where()), SplitBehavior::Removed, true);
  if (type == "WhitespaceSplit") return std::make_unique<CharSplit>(unicode::is_whitespace, SplitBehavior::Removed);
  if (type == "Punctuation")
    return std::make_unique<CharSplit>(unicode::is_punctuation, read_behavior(node, "behavior", SplitBehavior::Isolated));
  if (type == "Digits") {
    return std::make_unique<CharSplit>(unicode::is_numeric, node.flag("individual_digits", false) ? SplitBehavior::Isolated
                                                                                                 : SplitBehavior::Contiguous);
  }
  if (type == "BertPreTokenizer") return std::make_unique<Bert>();
  if (type == "CharDelimiterSplit") {
    const char32_t d = read_char(node, "delimiter", "");
    return std::make_unique<CharSplit>([d](char32_t c) { return c == d; }, SplitBehavior::Removed);
  }
  if (type == "Metaspace") {
    PrependScheme scheme = PrependScheme::Always;
    if (node.has("prepend_scheme")) {
      const std::string s = node.str("prepend_scheme");
      if (s == "always") scheme = PrependScheme::Always;
      else if (s == "first") scheme = PrependScheme::First;
      else if (s == "never") scheme = PrependScheme::Never;
      else node.fail("prepend_scheme", "one of always, first, never");
    } else if (node.has("add_prefix_space")) {
      scheme = node.flag("add_prefix_space", true) ? PrependScheme::Always : PrependScheme::Never;
    }
    return std::make_unique<Metaspace>(read_char(node, "replacement", "\xE2\x96\x81"), scheme, node.flag("split", true));
  }
  if (type == "Sequence") {
    const Node list = node.at("pretokenizers");
    if (!list.value().is_array()) node.fail("pretokenizers", "an array");
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (std::size_t i = 0; i < list.value().size(); ++i)
      if (auto p = make_pre_tokenizer(list.at(i))) parts.push_back(std::move(p));
    return std::make_unique<Sequence>(std::move(parts));
  }
  node.unsupported();
}

}  // namespace shadowpeft::tokenizer
