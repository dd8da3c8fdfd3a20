#include "normalizers.h"

#include <algorithm>
#include <vector>

#include "byte_level.h"
#include "pattern.h"
#include "unicode.h"

namespace shadowpeft::tokenizer {

namespace {

class UnicodeForm final : public Normalizer {
 public:
  explicit UnicodeForm(unicode::Form form) : form_(form) {}
  void normalize(std::string& text) const override { text = unicode::normalize(text, form_); }

 private:
  unicode::Form form_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = unicode::lowercase(text); }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    // [begin, end): from the first non-whitespace character (strip left) to the end of the last one
    // (strip right).
    std::size_t begin = text.size(), end = 0;
    for (std::size_t pos = 0; pos < text.size();) {
      const std::size_t here = pos;
      if (unicode::is_whitespace(unicode::next(text, pos))) continue;
      begin = std::min(begin, here);
      end = pos;
    }
    if (begin > end) {  // all whitespace
      if (left_ || right_) text.clear();
      return;
    }
    if (!left_) begin = 0;
    if (!right_) end = text.size();
    text = begin < end ? text.substr(begin, end - begin) : std::string();
  }

 private:
  bool left_, right_;
};

class Replace final : public Normalizer {
 public:
  Replace(Regex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    std::string out;
    std::size_t prev = 0;
    for (const auto& [b, e] : pattern_.find_all(text)) {
      out.append(text, prev, b - prev);
      out += content_;
      prev = e;
    }
    out.append(text, prev);
    text = std::move(out);
  }

 private:
  Regex pattern_;
  std::string content_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

// Drops combining marks: every mark (Mn, Mc, Me) for StripAccents, only nonspacing ones (Mn) for
// BERT's strip_accents — the two differ in tokenizers too.
class StripAccents final : public Normalizer {
 public:
  explicit StripAccents(bool nonspacing_only) : nonspacing_only_(nonspacing_only) {}
  void normalize(std::string& text) const override {
    std::string out;
    for (std::size_t pos = 0; pos < text.size();) {
      const char32_t c = unicode::next(text, pos);
      if (!(nonspacing_only_ ? unicode::is_mark_nonspacing(c) : unicode::is_mark(c))) unicode::append(out, c);
    }
    text = std::move(out);
  }

 private:
  bool nonspacing_only_;
};

class ByteLevelNormalizer final : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = byte_level::encode(text); }
};

// BERT's cleanup: drop controls, map whitespace to ' ', pad CJK ideographs, strip accents, lowercase.
class Bert final : public Normalizer {
 public:
  Bert(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text), chinese_(chinese), strip_accents_(strip_accents), lowercase_(lowercase) {}
  void normalize(std::string& text) const override {
    std::string out;
    for (std::size_t pos = 0; pos < text.size();) {
      const char32_t c = unicode::next(text, pos);
      if (clean_text_) {
        if (c == 0 || c == 0xFFFD || unicode::is_control(c)) continue;
        if (unicode::is_whitespace(c)) {
          out += ' ';
          continue;
        }
      }
      if (chinese_ && unicode::is_cjk(c)) {
        out += ' ';
        unicode::append(out, c);
        out += ' ';
        continue;
      }
      unicode::append(out, c);
    }
    if (strip_accents_) {
      out = unicode::normalize(out, unicode::Form::NFD);
      StripAccents(true).normalize(out);
    }
    if (lowercase_) out = unicode::lowercase(out);
    text = std::move(out);
  }

 private:
  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& p : parts_) p->normalize(text);
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
