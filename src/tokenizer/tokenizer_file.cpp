#include "tokenizer_file.h"

#include <fstream>
#include <sstream>

#include "shadowpeft/core/error.h"

namespace shadowpeft::tokenizer {

namespace {

// Builds the tree like nlohmann's own DOM parser, except under $.model.vocab (object) and
// $.model.merges, which it streams into `out.model`.
class Handler final : public nlohmann::json_sax<JsonValue> {
 public:
  Handler(TokenizerFile& out, const std::filesystem::path& path) : out_(out), path_(path) {}

  bool null() override { return value(JsonValue()); }
  bool boolean(bool v) override { return value(JsonValue(v)); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::Vocab) bad_vocab_id(std::to_string(v));
    return value(JsonValue(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::Vocab) {
      if (v > UINT32_MAX) bad_vocab_id(std::to_string(v));
      out_.model.vocab->emplace_back(std::move(key_), static_cast<uint32_t>(v));
      return true;
    }
    return value(JsonValue(v));
  }
  bool number_float(number_float_t v, const string_t& s) override {
    if (mode_ == Mode::Vocab) bad_vocab_id(s);
    return value(JsonValue(v));
  }
  bool binary(binary_t&) override { return true; }
  bool string(string_t& v) override {
    if (mode_ == Mode::Vocab) bad_vocab_id("\"" + v + "\"");
    if (mode_ == Mode::Merges) {
      const std::size_t space = v.find(' ');
      if (space == std::string::npos || v.find(' ', space + 1) != std::string::npos) bad_merge("\"" + v + "\"");
      out_.model.merges->emplace_back(v.substr(0, space), v.substr(space + 1));
      return true;
    }
    if (mode_ == Mode::MergePair) {
      pair_.push_back(std::move(v));
      return true;
    }
    return value(JsonValue(std::move(v)));
  }
  bool start_object(std::size_t) override {
    if (mode_ != Mode::Tree) {
      if (mode_ == Mode::Merges || mode_ == Mode::MergePair) bad_merge("an object");
      bad_vocab_id("an object");
    }
    if (at_model_field("vocab")) {
      mode_ = Mode::Vocab;
      out_.model.vocab.emplace();
      return value(JsonValue::object());
    }
    return open(JsonValue::object());
  }
  bool key(string_t& k) override {
    if (mode_ == Mode::Vocab) key_ = std::move(k);
    else key_ = k;
    return true;
  }
  bool end_object() override {
    if (mode_ == Mode::Vocab) {
      mode_ = Mode::Tree;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::Vocab) bad_vocab_id("an array");
    if (mode_ == Mode::MergePair) bad_merge("a nested array");
    if (mode_ == Mode::Merges) {
      mode_ = Mode::MergePair;
      pair_.clear();
      return true;
    }
    if (at_model_field("merges")) {
      mode_ = Mode::Merges;
      out_.model.merges.emplace();
      return value(JsonValue::array());
    }
    return open(JsonValue::array());
  }
  bool end_array() override {
    if (mode_ == Mode::MergePair) {
      if (pair_.size() != 2) bad_merge("an array of " + std::to_string(pair_.size()) + " strings");
      out_.model.merges->emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      mode_ = Mode::Merges;
      return true;
    }
    if (mode_ == Mode::Merges) {
      mode_ = Mode::Tree;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    throw LoadError(path_.string() + ": malformed JSON at byte " + std::to_string(position) + ": " + e.what());
  }

 private:
  enum class Mode { Tree, Vocab, Merges, MergePair };

  // True when the next value is $.model.<field>.
  bool at_model_field(const char* field) const { return stack_.size() == 2 && stack_[1] == model_ && key_ == field; }

  // Inserts a value at the current position; returns a pointer to it.
  JsonValue* insert(JsonValue v) {
    if (stack_.empty()) {
      out_.json = std::move(v);
      return &out_.json;
    }
    JsonValue& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    JsonValue& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }
  bool value(JsonValue v) {
    insert(std::move(v));
    return true;
  }
  bool open(JsonValue v) {
    const bool is_model = stack_.size() == 1 && stack_[0]->is_object() && key_ == "model" && v.is_object();
    stack_.push_back(insert(std::move(v)));
    if (is_model) model_ = stack_.back();
    return true;
  }

  [[noreturn]] void bad_vocab_id(const std::string& found) const {
    throw ConfigError(path_.string() + ": $.model.vocab." + key_ + ": expected a non-negative integer id, found " + found);
  }
  [[noreturn]] void bad_merge(const std::string& found) const {
    throw ConfigError(path_.string() + ": $.model.merges[" + std::to_string(out_.model.merges->size()) +
                      "]: expected \"a b\" or [a, b], found " + found);
  }

  TokenizerFile& out_;
  const std::filesystem::path& path_;
  std::vector<JsonValue*> stack_;
  const JsonValue* model_ = nullptr;  // $.model once opened
  std::string key_;
  Mode mode_ = Mode::Tree;
  std::vector<std::string> pair_;
};

}  // namespace

TokenizerFile read_tokenizer_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw LoadError(path.string() + ": cannot open file (" + (std::filesystem::exists(path) ? "unreadable" : "no such file") + ")");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  TokenizerFile out;
  Handler handler(out, path);
  nlohmann::json::sax_parse(text, &handler);
  return out;
}

}  // namespace shadowpeft::tokenizer
