// The pipeline of tokenizers::TokenizerImpl: added tokens → normalizer → pre-tokenizer → model →
// post-processor, and decode through the decoder chain.
#include "shadowpeft/tokenizer/tokenizer.h"

#include <fstream>

#include "added_vocabulary.h"
#include "decoders.h"
#include "models.h"
#include "normalizers.h"
#include "post_processors.h"
#include "pre_tokenizers.h"
#include "shadowpeft/core/error.h"
#include "tokenizer_config.h"
#include "tokenizer_file.h"
#include "unicode.h"

namespace shadowpeft::tokenizer {

namespace fs = std::filesystem;

struct Tokenizer::Impl {
  fs::path file;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Model> model;
  std::unique_ptr<PostProcessor> post_processor;
  std::unique_ptr<Decoder> decoder;
  AddedVocabulary added;
  TokenizerConfig config;

  Encoding encode(std::string_view text, bool add_special_tokens, std::optional<std::size_t> max_length) const;
  std::string token_of(uint32_t id) const {
    if (const AddedToken* t = added.by_id(id)) return t->content;
    if (const std::string* t = model->vocab().token(id)) return *t;
    return {};
  }
};

namespace {

std::vector<AddedToken> read_added_tokens(const Node& root) {
  std::vector<AddedToken> out;
  const auto list = root.find("added_tokens");
  if (!list) return out;
  if (!list->value().is_array()) root.fail("added_tokens", "an array");
  for (std::size_t i = 0; i < list->value().size(); ++i) {
    const Node t = list->at(i);
    const int64_t id = t.integer("id");
    if (id < 0 || id > UINT32_MAX) t.fail("id", "a non-negative 32-bit id");
    out.push_back({t.str("content"), static_cast<uint32_t>(id), t.flag("special", false), t.flag("lstrip", false),
                   t.flag("rstrip", false), t.flag("normalized", true), t.flag("single_word", false)});
  }
  return out;
}

Node component(const Node& root, const std::string& key) {
  static const JsonValue null_value;
  if (!root.value().contains(key)) return Node(null_value, root.file(), root.path() + "." + key);
  return Node(root.value()[key], root.file(), root.path() + "." + key);
}

}  // namespace

Tokenizer Tokenizer::from_file(const fs::path& tokenizer_json) {
  TokenizerFile parsed = read_tokenizer_file(tokenizer_json);
  const JsonValue& json = parsed.json;
  auto impl = std::make_unique<Impl>();
  impl->file = tokenizer_json;
  const Node root(json, impl->file, "$");
  if (!json.is_object()) throw ConfigError(root.where() + ": expected an object, found " + json_kind(json));
  impl->normalizer = make_normalizer(component(root, "normalizer"));
  impl->pre_tokenizer = make_pre_tokenizer(component(root, "pre_tokenizer"));
  impl->model = make_model(root.at("model"), parsed.model);
  impl->post_processor = make_post_processor(component(root, "post_processor"));
  impl->decoder = make_decoder(component(root, "decoder"));
  impl->added = AddedVocabulary(read_added_tokens(root), impl->normalizer.get());
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_pretrained(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw LoadError(dir.string() + ": not a directory (expected a tokenizer directory)");
  Tokenizer tok = from_file(dir / "tokenizer.json");
  const fs::path config_file = dir / "tokenizer_config.json";
  if (fs::exists(config_file)) tok.impl_->config = read_tokenizer_config(load_json(config_file), config_file);
  const fs::path jinja = dir / "chat_template.jinja";
  if (fs::exists(jinja)) {
    std::ifstream in(jinja, std::ios::binary);
    std::string source((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto& templates = tok.impl_->config.chat_templates;
    std::erase_if(templates, [](const ChatTemplate& t) { return t.name == "default"; });
    templates.insert(templates.begin(), {"default", std::move(source)});
  }
  for (auto* s : {&tok.impl_->config.bos, &tok.impl_->config.eos, &tok.impl_->config.pad, &tok.impl_->config.unk})
    if (*s) (*s)->id = tok.token_to_id((*s)->content);
  return tok;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Encoding Tokenizer::Impl::encode(std::string_view text, bool add_special_tokens, std::optional<std::size_t> max_length) const {
  if (const std::size_t bad = unicode::first_invalid(text); bad != std::string_view::npos)
    throw ConfigError("Tokenizer::encode: text is not valid UTF-8 (invalid byte at offset " + std::to_string(bad) + ")");
  std::vector<uint32_t> ids, lengths;
  std::vector<std::string> tokens;  // an added token keeps the text it matched (with stripped spaces)
  std::vector<std::pair<std::size_t, std::size_t>> offsets;
  std::vector<Piece> pieces;
  for (Segment& segment : added.split(std::string(text), normalizer.get())) {
    if (segment.id) {
      ids.push_back(*segment.id);
      offsets.push_back(segment.piece.original_span(0, segment.piece.text.size()));
      tokens.push_back(std::move(segment.piece.text));
      continue;
    }
    pieces.clear();
    pieces.push_back(std::move(segment.piece));
    if (pre_tokenizer) pre_tokenizer->pre_tokenize(pieces);
    for (const Piece& p : pieces) {
      const std::size_t first = ids.size();
      lengths.clear();
      model->tokenize(p.text, ids, lengths);
      std::size_t at = 0;
      for (std::size_t i = first; i < ids.size(); ++i) {
        const std::string* t = model->vocab().token(ids[i]);
        tokens.push_back(t ? *t : token_of(ids[i]));
        offsets.push_back(p.original_span(at, at + lengths[i - first]));
        at += lengths[i - first];
      }
    }
  }
  const bool post = add_special_tokens && post_processor;
  if (max_length) {
    const std::size_t room = post ? (*max_length > post_processor->added_tokens() ? *max_length - post_processor->added_tokens() : 0)
                                  : *max_length;
    if (ids.size() > room) {
      ids.resize(room);
      tokens.resize(room);
      offsets.resize(room);
    }
  }
  Encoding e;
  e.ids.assign(ids.begin(), ids.end());
  e.tokens = std::move(tokens);
  e.offsets = std::move(offsets);
  e.attention_mask.assign(ids.size(), 1);
  e.special_tokens_mask.assign(ids.size(), 0);
  if (post_processor) post_processor->process(e, add_special_tokens);
  return e;
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens, std::nullopt);
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts, const BatchOptions& options) const {
  std::vector<Encoding> out;
  out.reserve(texts.size());
  std::size_t longest = 0;
  for (const std::string& t : texts) {
    out.push_back(impl_->encode(t, options.add_special_tokens, options.max_length));
    longest = std::max(longest, out.back().ids.size());
  }
  if (!options.pad) return out;
  if (options.pad_to_multiple_of && *options.pad_to_multiple_of > 0)
    longest = (longest + *options.pad_to_multiple_of - 1) / *options.pad_to_multiple_of * *options.pad_to_multiple_of;
  std::optional<int64_t> pad_id = options.pad_id;
  if (!pad_id && impl_->config.pad) pad_id = impl_->config.pad->id;
  if (!pad_id)
    throw ConfigError("Tokenizer::encode_batch: padding needs a pad id: set BatchOptions::pad_id or pad_token in tokenizer_config.json");
  const std::string pad_token = impl_->token_of(static_cast<uint32_t>(*pad_id));
  for (Encoding& e : out) {
    const std::size_t n = longest - e.ids.size();
    if (n == 0) continue;
    const auto pad = [&](auto& v, auto value) {
      if (options.padding_side == PaddingSide::Right) v.insert(v.end(), n, value);
      else v.insert(v.begin(), n, value);
    };
    pad(e.ids, *pad_id);
    pad(e.tokens, pad_token);
    pad(e.attention_mask, int64_t{0});
    pad(e.special_tokens_mask, int64_t{1});
    pad(e.offsets, std::pair<std::size_t, std::size_t>{0, 0});
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int64_t id : ids) {
    if (id < 0 || id > UINT32_MAX) continue;
    const AddedToken* added = impl_->added.by_id(static_cast<uint32_t>(id));
    const std::string* model_token = added ? nullptr : impl_->model->vocab().token(static_cast<uint32_t>(id));
    if (!added && !model_token) continue;  // unknown ids are dropped, as in tokenizers
    const std::string& token = added ? added->content : *model_token;
    if (skip_special_tokens) {
      const AddedToken* as_added = added ? added : impl_->added.by_content(token);
      if (as_added && as_added->special) continue;
    }
    tokens.push_back(token);
  }
  if (!impl_->decoder) {
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  impl_->decoder->decode_chain(tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

std::optional<int64_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* t = impl_->added.by_content(token)) return t->id;
  if (const auto id = impl_->model->vocab().id(token)) return *id;
  return std::nullopt;
}

std::optional<std::string> Tokenizer::id_to_token(int64_t id) const {
  if (id < 0 || id > UINT32_MAX) return std::nullopt;
  if (const AddedToken* t = impl_->added.by_id(static_cast<uint32_t>(id))) return t->content;
  if (const std::string* t = impl_->model->vocab().token(static_cast<uint32_t>(id))) return *t;
  return std::nullopt;
}

std::size_t Tokenizer::vocab_size() const {
  std::size_t n = impl_->model->vocab_size();
  for (const AddedToken& t : impl_->added.tokens())
    if (!impl_->model->vocab().token(t.id)) ++n;
  return n;
}

bool Tokenizer::is_special_id(int64_t id) const {
  const AddedToken* t = id < 0 || id > UINT32_MAX ? nullptr : impl_->added.by_id(static_cast<uint32_t>(id));
  return t && t->special;
}

const std::optional<SpecialToken>& Tokenizer::bos_token() const { return impl_->config.bos; }
const std::optional<SpecialToken>& Tokenizer::eos_token() const { return impl_->config.eos; }
const std::optional<SpecialToken>& Tokenizer::pad_token() const { return impl_->config.pad; }
const std::optional<SpecialToken>& Tokenizer::unk_token() const { return impl_->config.unk; }
std::optional<bool> Tokenizer::add_bos_token() const { return impl_->config.add_bos_token; }
std::optional<bool> Tokenizer::add_eos_token() const { return impl_->config.add_eos_token; }
const std::vector<ChatTemplate>& Tokenizer::chat_templates() const { return impl_->config.chat_templates; }

const ChatTemplate* Tokenizer::chat_template(std::string_view name) const {
  for (const ChatTemplate& t : impl_->config.chat_templates)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace shadowpeft::tokenizer
