#include "normalizers.h"

#include <algorithm>
#include <vector>

#include "byte_level.h"
#include "pattern.h"
#include "unicode.h"
#include "unicode_forms.h"

namespace shadowpeft::tokenizer {

std::string normalize_text(const Normalizer& normalizer, const std::string& text) {
  Piece p = Piece::original(text, 0);
  normalizer.normalize(p);
  return p.text;
}

namespace {

// Rebuilds a piece character by character: `fn(c, span, out)` appends what c becomes (all aligned to
// c's span, as tokenizers aligns every character produced from one character).
template <typename Fn>
void map_chars(Piece& piece, Fn&& fn) {
  Piece out;
  out.text.reserve(piece.text.size());
  out.align.reserve(piece.text.size());
  for (std::size_t pos = 0; pos < piece.text.size();) {
    const Span span = piece.align[pos];
    fn(unicode::next(piece.text, pos), span, out);
  }
  piece = std::move(out);
}

void append_char(Piece& out, char32_t c, Span span) {
  std::string utf8;
  unicode::append(utf8, c);
  out.append(utf8, span);
}

class UnicodeForm final : public Normalizer {
 public:
  explicit UnicodeForm(unicode::Form form) : form_(form) {}
  void normalize(Piece& piece) const override { normalize_piece(piece, form_); }

 private:
  unicode::Form form_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(Piece& piece) const override {
    map_chars(piece, [](char32_t c, Span span, Piece& out) {
      if (c < 0x80) {
        const char lower = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        out.append(std::string_view(&lower, 1), span);
        return;
      }
      std::string utf8;
      unicode::append(utf8, c);
      out.append(unicode::lowercase(utf8), span);
    });
  }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(Piece& piece) const override {
    // [begin, end): from the first non-whitespace character (strip left) to the end of the last one
    // (strip right).
    const std::string& text = piece.text;
    std::size_t begin = text.size(), end = 0;
    for (std::size_t pos = 0; pos < text.size();) {
      const std::size_t here = pos;
      if (unicode::is_whitespace(unicode::next(text, pos))) continue;
      begin = std::min(begin, here);
      end = pos;
    }
    if (begin > end) {  // all whitespace
      if (left_ || right_) piece = Piece{};
      return;
    }
    if (!left_) begin = 0;
    if (!right_) end = text.size();
    piece = piece.slice(begin, end);
  }

 private:
  bool left_, right_;
};

// Each match becomes `content`, aligned to the match's last character (tokenizers inserts the new
// characters after removing the match).
class Replace final : public Normalizer {
 public:
  Replace(Regex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(Piece& piece) const override {
    Piece out;
    std::size_t prev = 0;
    for (const auto& [b, e] : pattern_.find_all(piece.text)) {
      out.text.append(piece.text, prev, b - prev);
      out.align.insert(out.align.end(), piece.align.begin() + static_cast<std::ptrdiff_t>(prev),
                       piece.align.begin() + static_cast<std::ptrdiff_t>(b));
      const Span span = e > 0 ? piece.align[e - 1] : Span{0, 0};
      out.append(content_, span);
      prev = e;
    }
    out.text.append(piece.text, prev);
    out.align.insert(out.align.end(), piece.align.begin() + static_cast<std::ptrdiff_t>(prev), piece.align.end());
    piece = std::move(out);
  }

 private:
  Regex pattern_;
  std::string content_;
};

// Prepended characters are aligned to the first character.
class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(Piece& piece) const override {
    if (piece.text.empty()) return;
    piece.text.insert(0, prefix_);
    piece.align.insert(piece.align.begin(), prefix_.size(), piece.align.front());
  }

 private:
  std::string prefix_;
};

// Drops combining marks: every mark (Mn, Mc, Me) for StripAccents, only nonspacing ones (Mn) for
// BERT's strip_accents — the two differ in tokenizers too.
class StripAccents final : public Normalizer {
 public:
  explicit StripAccents(bool nonspacing_only) : nonspacing_only_(nonspacing_only) {}
  void normalize(Piece& piece) const override {
    map_chars(piece, [&](char32_t c, Span span, Piece& out) {
      if (!(nonspacing_only_ ? unicode::is_mark_nonspacing(c) : unicode::is_mark(c))) append_char(out, c, span);
    });
  }

 private:
  bool nonspacing_only_;
};

class ByteLevelNormalizer final : public Normalizer {
 public:
  void normalize(Piece& piece) const override {
    Piece out;
    const auto& map = byte_level::byte_to_char();
    for (std::size_t i = 0; i < piece.text.size(); ++i) out.append(map[static_cast<unsigned char>(piece.text[i])], piece.align[i]);
    piece = std::move(out);
  }
};

// BERT's cleanup: drop controls, map whitespace to ' ', pad CJK ideographs, strip accents, lowercase.
class Bert final : public Normalizer {
 public:
  Bert(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip_accents), lowercase_(lowercase) {}
  void normalize(Piece& piece) const override {
    map_chars(piece, [&](char32_t c, Span span, Piece& out) {
      if (clean_text_) {
        if (c == 0 || c == 0xFFFD || unicode::is_control(c)) return;
        if (unicode::is_whitespace(c)) c = ' ';
      }
      if (chinese_ && unicode::is_cjk(c)) {
        out.append(" ", span);
        append_char(out, c, span);
        out.append(" ", span);
        return;
      }
      append_char(out, c, span);
    });
    if (strip_accents_) {
      normalize_piece(piece, unicode::Form::NFD);
      StripAccents(true).normalize(piece);
    }
    if (lowercase_) Lowercase().normalize(piece);
  }

 private:
  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(Piece& piece) const override {
    for (const auto& p : parts_) p->normalize(piece);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Node& node) {
  if (node.value().is_null()) return nullptr;
  const std::string type = node.type();
  if (type == "NFC") return std::make_unique<UnicodeForm>(unicode::Form::NFC);
  if (type == "NFD") return std::make_unique<UnicodeForm>(unicode::Form::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeForm>(unicode::Form::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeForm>(unicode::Form::NFKD);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip") return std::make_unique<Strip>(node.flag("strip_left", true), node.flag("strip_right", true));
  if (type == "StripAccents") return std::make_unique<StripAccents>(false);
  if (type == "Replace") return std::make_unique<Replace>(read_pattern(node.at("pattern")), node.str("content"));
  if (type == "Prepend") return std::make_unique<Prepend>(node.str("prepend"));
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  if (type == "BertNormalizer") {
    const bool lowercase = node.flag("lowercase", true);
    return std::make_unique<Bert>(node.flag("clean_text", true), node.flag("handle_chinese_chars", true),
                                  node.flag("strip_accents", lowercase), lowercase);
  }
  if (type == "Sequence") {
    const Node list = node.at("normalizers");
    if (!list.value().is_array()) node.fail("normalizers", "an array");
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (std::size_t i = 0; i < list.value().size(); ++i)
      if (auto n = make_normalizer(list.at(i))) parts.push_back(std::move(n));
    return std::make_unique<Sequence>(std::move(parts));
  }
  node.unsupported();
}

}  // namespace shadowpeft::tokenizer
