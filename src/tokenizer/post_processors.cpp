#include "post_processors.h"

#include <algorithm>
#include <vector>

#include "shadowpeft/core/error.h"
#include "unicode.h"

namespace shadowpeft::tokenizer {

namespace {

struct Special {
  std::vector<int64_t> ids;
  std::vector<std::string> tokens;
};

// A single-sequence template: special tokens around the sequence ("A"), in order.
class Template final : public PostProcessor {
 public:
  Template(std::vector<Special> before, std::vector<Special> after) : before_(std::move(before)), after_(std::move(after)) {}
  std::size_t added_tokens() const override {
    std::size_t n = 0;
    for (const auto* part : {&before_, &after_})
      for (const Special& s : *part) n += s.ids.size();
    return n;
  }
  void process(Encoding& e, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    Encoding out;
    const auto add = [&](const Special& s) {
      out.ids.insert(out.ids.end(), s.ids.begin(), s.ids.end());
      out.tokens.insert(out.tokens.end(), s.tokens.begin(), s.tokens.end());
      out.special_tokens_mask.insert(out.special_tokens_mask.end(), s.ids.size(), 1);
      out.offsets.insert(out.offsets.end(), s.ids.size(), {0, 0});
    };
    for (const Special& s : before_) add(s);
    out.ids.insert(out.ids.end(), e.ids.begin(), e.ids.end());
    out.tokens.insert(out.tokens.end(), e.tokens.begin(), e.tokens.end());
    out.special_tokens_mask.insert(out.special_tokens_mask.end(), e.special_tokens_mask.begin(), e.special_tokens_mask.end());
    out.offsets.insert(out.offsets.end(), e.offsets.begin(), e.offsets.end());
    for (const Special& s : after_) add(s);
    out.attention_mask.assign(out.ids.size(), 1);
    e = std::move(out);
  }

 private:
  std::vector<Special> before_, after_;
};

// ByteLevel: with trim_offsets, offsets leave out the spaces a token starts or ends with (the
// first token keeps the space add_prefix_space put there).
class ByteLevel final : public PostProcessor {
 public:
  ByteLevel(bool trim_offsets, bool add_prefix_space) : trim_offsets_(trim_offsets), add_prefix_space_(add_prefix_space) {}
  std::size_t added_tokens() const override { return 0; }
  void process(Encoding& e, bool) const override {
    if (!trim_offsets_) return;
    for (std::size_t i = 0; i < e.tokens.size(); ++i) {
      const std::string& t = e.tokens[i];
      std::vector<char32_t> chars;
      for (std::size_t pos = 0; pos < t.size();) chars.push_back(unicode::next(t, pos));
      const auto is_space = [](char32_t c) { return c == 0x120 || unicode::is_whitespace(c); };
      std::size_t leading = 0, trailing = 0;
      while (leading < chars.size() && is_space(chars[leading])) ++leading;
      while (trailing < chars.size() && is_space(chars[chars.size() - 1 - trailing])) ++trailing;
      auto& [begin, end] = e.offsets[i];
      if (leading > 0) {
        const bool is_first = i == 0 || begin == 0;
        if (is_first && add_prefix_space_ && leading == 1) leading = 0;
        begin = std::min(begin + leading, end);
      }
      if (trailing > 0 && end >= trailing) end = std::max(end - trailing, begin);
    }
  }

 private:
  bool trim_offsets_, add_prefix_space_;
};

class Sequence final : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  std::size_t added_tokens() const override {
    std::size_t n = 0;
    for (const auto& p : parts_) n += p->added_tokens();
    return n;
  }
  void process(Encoding& e, bool add_special_tokens) const override {
    for (const auto& p : parts_) p->process(e, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

std::unique_ptr<PostProcessor> make_template(const Node& node) {
  const Node single = node.at("single");
  const Node specials = node.at("special_tokens");
  if (!single.value().is_array()) node.fail("single", "an array");
  std::vector<Special> before, after;
  bool seen_sequence = false;
  for (std::size_t i = 0; i < single.value().size(); ++i) {
    const Node item = single.at(i);
    if (item.has("Sequence")) {
      const std::string id = item.at("Sequence").str("id");
      if (id != "A") throw ConfigError(item.where("Sequence.id") + ": expected \"A\" in a single template, found \"" + id + "\"");
      seen_sequence = true;
      continue;
    }
    if (!item.has("SpecialToken")) throw ConfigError(item.where() + ": expected {\"SpecialToken\": ...} or {\"Sequence\": ...}, found " + item.value().dump());
    const std::string name = item.at("SpecialToken").str("id");
    const Node special = specials.at(name);
    Special s;
    const Node ids = special.at("ids"), tokens = special.at("tokens");
    if (!ids.value().is_array() || !tokens.value().is_array() || ids.value().size() != tokens.value().size())
      throw ConfigError(special.where() + ": expected arrays \"ids\" and \"tokens\" of equal length");
    for (std::size_t k = 0; k < ids.value().size(); ++k) {
      s.ids.push_back(ids.value()[k].get<int64_t>());
      s.tokens.push_back(tokens.value()[k].get<std::string>());
    }
    (seen_sequence ? after : before).push_back(std::move(s));
  }
  return std::make_unique<Template>(std::move(before), std::move(after));
}

// BertProcessing / RobertaProcessing: cls A sep, with "cls": [token, id], "sep": [token, id].
std::unique_ptr<PostProcessor> make_cls_sep(const Node& node) {
  const auto read = [&](const std::string& key) {
    const Node n = node.at(key);
    if (!n.value().is_array() || n.value().size() != 2 || !n.value()[0].is_string() || !n.value()[1].is_number_integer())
      node.fail(key, "[token, id]");
    return Special{{n.value()[1].get<int64_t>()}, {n.value()[0].get<std::string>()}};
  };
  return std::make_unique<Template>(std::vector<Special>{read("cls")}, std::vector<Special>{read("sep")});
}

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const Node& node) {
  if (node.value().is_null()) return nullptr;
  const std::string type = node.type();
  if (type == "TemplateProcessing") return make_template(node);
  if (type == "BertProcessing" || type == "RobertaProcessing") return make_cls_sep(node);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>(node.flag("trim_offsets", true), node.flag("add_prefix_space", true));
  if (type == "Sequence") {
    const Node list = node.at("processors");
    if (!list.value().is_array()) node.fail("processors", "an array");
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (std::size_t i = 0; i < list.value().size(); ++i)
      if (auto p = make_post_processor(list.at(i))) parts.push_back(std::move(p));
    return std::make_unique<Sequence>(std::move(parts));
  }
  node.unsupported();
}

}  // namespace shadowpeft::tokenizer
