#include "decoders.h"

#include <cctype>

#include "byte_level.h"
#include "pattern.h"
#include "shadowpeft/core/error.h"
#include "unicode.h"

namespace shadowpeft::tokenizer {

namespace {

// Bytes back from their characters; a token with any other character contributes its raw UTF-8.
// The whole list becomes one string, invalid UTF-8 replaced like Rust's from_utf8_lossy.
class ByteLevel final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      const std::size_t mark = bytes.size();
      bool mapped = true;
      for (std::size_t pos = 0; pos < t.size() && mapped;) {
        const int b = byte_level::char_to_byte(unicode::next(t, pos));
        if (b < 0) mapped = false;
        else bytes.push_back(static_cast<char>(b));
      }
      if (!mapped) {
        bytes.resize(mark);
        bytes += t;
      }
    }
    tokens = {unicode::from_utf8_lossy(bytes)};
  }
};

class Metaspace final : public Decoder {
 public:
  Metaspace(std::string replacement, bool prepend) : replacement_(std::move(replacement)), prepend_(prepend) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (std::size_t pos = 0; pos < t.size();) {
        if (t.compare(pos, replacement_.size(), replacement_) == 0) {
          if (!(i == 0 && prepend_)) out += ' ';
          pos += replacement_.size();
        } else {
          out += t[pos++];
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool prepend_;
};

class ByteFallback final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    const auto flush = [&] {
      if (pending.empty()) return;
      if (unicode::first_invalid(pending) == std::string::npos) out.push_back(pending);
      else
        for (std::size_t i = 0; i < pending.size(); ++i) out.emplace_back("\xEF\xBF\xBD");
      pending.clear();
    };
    for (std::string& t : tokens) {
      if (t.size() == 6 && t.starts_with("<0x") && t.ends_with('>') && std::isxdigit(static_cast<unsigned char>(t[3])) &&
          std::isxdigit(static_cast<unsigned char>(t[4]))) {
        pending.push_back(static_cast<char>(std::stoi(t.substr(3, 2), nullptr, 16)));
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens = std::move(out);
  }
};

class Fuse final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens = {all};
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from each token.
class Strip final : public Decoder {
 public:
  Strip(std::string content, std::size_t start, std::size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::size_t begin = 0, end = t.size();
      for (std::size_t i = 0; i < start_ && t.compare(begin, content_.size(), content_) == 0 && begin < end; ++i) begin += content_.size();
      for (std::size_t i = 0; i < stop_ && end >= begin + content_.size() &&
                              t.compare(end - content_.size(), content_.size(), content_) == 0;
           ++i)
        end -= content_.size();
      t = t.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  std::size_t start_, stop_;
};

class Replace final : public Decoder {
 public:
  Replace(Regex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::string out;
      std::size_t prev = 0;
      for (const auto& [b, e] : pattern_.find_all(t)) {
        out.append(t, prev, b - prev);
        out += content_;
        prev = e;
      }
      out.append(t, prev);
      t = std::move(out);
    }
  }

 private:
  Regex pattern_;
  std::string content_;
};

// WordPiece: "##" continues the previous word, anything else starts a new one after a space.
class WordPiece final : public Decoder {
 public:
  WordPiece(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.starts_with(prefix_)) t.erase(0, prefix_.size());
        else t.insert(0, " ");
      }
      if (cleanup_) t = cleanup(t);
    }
  }

  // transformers' clean_up_tokenization.
  static std::string cleanup(std::string s) {
    static const std::pair<const char*, const char*> kRules[] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules) {
      std::string out;
      const std::string f(from);
      std::size_t prev = 0, at;
      while ((at = s.find(f, prev)) != std::string::npos) {
        out.append(s, prev, at - prev);
        out += to;
        prev = at + f.size();
      }
      out.append(s, prev);
      s = std::move(out);
    }
    return s;
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

// BPEDecoder: the end-of-word suffix becomes a space, except after the last token.
class BpeSuffix final : public Decoder {
 public:
  explicit BpeSuffix(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      const std::string with = i + 1 == tokens.size() ? "" : " ";
      std::string out;
      std::size_t prev = 0, at;
      while (!suffix_.empty() && (at = t.find(suffix_, prev)) != std::string::npos) {
        out.append(t, prev, at - prev);
        out += with;
        prev = at + suffix_.size();
      }
      out.append(t, prev);
      t = std::move(out);
    }
  }

 private:
  std::string suffix_;
};

class Sequence final : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

std::size_t count(const Node& node, const std::string& key) {
  const int64_t n = node.integer(key, 0);
  if (n < 0) node.fail(key, "a non-negative integer");
  return static_cast<std::size_t>(n);
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Node& node) {
  if (node.value().is_null()) return nullptr;
  const std::string type = node.type();
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Metaspace") {
    bool prepend = true;
    if (node.has("prepend_scheme")) prepend = node.str("prepend_scheme") != "never";
    else if (node.has("add_prefix_space")) prepend = node.flag("add_prefix_space", true);
    return std::make_unique<Metaspace>(node.str("replacement", "\xE2\x96\x81"), prepend);
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") return std::make_unique<Strip>(node.str("content"), count(node, "start"), count(node, "stop"));
  if (type == "Replace") return std::make_unique<Replace>(read_pattern(node.at("pattern")), node.str("content"));
  if (type == "WordPiece") return std::make_unique<WordPiece>(node.str("prefix", "##"), node.flag("cleanup", true));
  if (type == "BPEDecoder") return std::make_unique<BpeSuffix>(node.str("suffix", "</w>"));
  if (type == "Sequence") {
    const Node list = node.at("decoders");
    if (!list.value().is_array()) node.fail("decoders", "an array");
    std::vector<std::unique_ptr<Decoder>> parts;
    for (std::size_t i = 0; i < list.value().size(); ++i)
      if (auto d = make_decoder(list.at(i))) parts.push_back(std::move(d));
    return std::make_unique<Sequence>(std::move(parts));
  }
  node.unsupported();
}

}  // namespace shadowpeft::tokenizer
