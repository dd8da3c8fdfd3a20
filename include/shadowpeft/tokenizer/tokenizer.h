#pragma once
// Hugging Face tokenizers in C++: reads `tokenizer.json` (and `tokenizer_config.json` when present)
// and produces exactly the ids Python `tokenizers` produces. The pipeline mirrors the Rust crate:
// added tokens are split off first, then normalizer → pre-tokenizer → model → post-processor;
// decoding runs the decoder chain. Loading throws LoadError (missing/malformed file), ConfigError
// (invalid field) or UnsupportedError (a component `type` we do not implement), each naming the file
// and the JSON path.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shadowpeft::tokenizer {

struct Encoding {
  std::vector<int64_t> ids;
  std::vector<std::string> tokens;           // vocabulary strings (byte-level tokens stay mapped, e.g. "Ġthe")
  std::vector<int64_t> attention_mask;       // 1 for real tokens, 0 for padding
  std::vector<int64_t> special_tokens_mask;  // 1 for tokens added by the post-processor or padding
  // [begin, end) byte offsets into the input text of what each token came from, as Python's
  // `Encoding.offsets` (which counts characters instead of bytes); (0, 0) for added special tokens
  // and padding.
  std::vector<std::pair<std::size_t, std::size_t>> offsets;
};

enum class PaddingSide { Right, Left };

// Options of encode_batch. Defaults: no truncation, pad to the longest sequence on the right.
struct BatchOptions {
  bool add_special_tokens = true;
  // Keep at most this many tokens per sequence, special tokens included (cut on the right, like
  // `tokenizers`' enable_truncation(max_length)).
  std::optional<std::size_t> max_length;
  bool pad = true;                      // pad every sequence to the longest one in the batch
  PaddingSide padding_side = PaddingSide::Right;
  std::optional<int64_t> pad_id;        // default: the tokenizer's pad token; ConfigError if it has none
  std::optional<std::size_t> pad_to_multiple_of;
};

// A chat template from tokenizer_config.json: `chat_template` is either one string (name "default")
// or a list of {name, template}; a `chat_template.jinja` next to it is read as "default" too.
struct ChatTemplate {
  std::string name;
  std::string source;
};

// A special token named in tokenizer_config.json (bos/eos/pad/unk), with its id when it has one.
struct SpecialToken {
  std::string content;
  std::optional<int64_t> id;
};

class Tokenizer {
 public:
  // `tokenizer.json`, alone.
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json);
  // A directory holding tokenizer.json and optionally tokenizer_config.json / chat_template.jinja.
  static Tokenizer from_pretrained(const std::filesystem::path& dir);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // `text` must be valid UTF-8 (ConfigError naming the byte offset otherwise).
  Encoding encode(std::string_view text, bool add_special_tokens = true) const;
  std::vector<Encoding> encode_batch(const std::vector<std::string>& texts, const BatchOptions& options = {}) const;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;

  std::optional<int64_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int64_t id) const;
  // Model vocabulary plus added tokens (Python's get_vocab_size(with_added_tokens=True)).
  std::size_t vocab_size() const;

  // From tokenizer_config.json (empty when absent).
  const std::optional<SpecialToken>& bos_token() const;
  const std::optional<SpecialToken>& eos_token() const;
  const std::optional<SpecialToken>& pad_token() const;
  const std::optional<SpecialToken>& unk_token() const;
  // transformers' flags; tokenizer.json's post-processor is what encode() applies.
  std::optional<bool> add_bos_token() const;
  std::optional<bool> add_eos_token() const;
  const std::vector<ChatTemplate>& chat_templates() const;
  // The template called `name` ("default" when there is only one), or nullptr.
  const ChatTemplate* chat_template(std::string_view name = "default") const;

  bool is_special_id(int64_t id) const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shadowpeft::tokenizer
