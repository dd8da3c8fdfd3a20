// `shadowpeft tokenize --tokenizer DIR (--text T | --file F) [--json] [--decode] [--no-special-tokens]`:
// ids (or JSON with ids, tokens and offsets) of a text, or with --decode the text of comma-separated ids.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "shadowpeft/io/model_dir.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace shadowpeft::cli {
namespace fs = std::filesystem;

namespace {

struct TokenizeOptions {
  std::string tokenizer;
  std::string text;
  std::string file;
  bool json = false;
  bool decode = false;
  bool no_special_tokens = false;
};

std::string read_text(const TokenizeOptions& opts) {
  if (opts.file.empty()) return opts.text;
  std::ifstream in(opts.file, std::ios::binary);
  if (!in) throw LoadError(opts.file + ": cannot open file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// "1, 2,3" → {1, 2, 3}
std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto begin = item.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos) continue;
    const auto end = item.find_last_not_of(" \t\r\n");
    const std::string token = item.substr(begin, end - begin + 1);
    std::size_t used = 0;
    int64_t id = 0;
    try {
      id = std::stoll(token, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != token.size()) throw ConfigError("--decode: expected comma-separated integer ids, found \"" + token + "\"");
    ids.push_back(id);
  }
  return ids;
}

void run_tokenize(const TokenizeOptions& opts) {
  // A tokenizer.json file, a directory, or org/name[@revision] in the local HF cache.
  const fs::path path = fs::is_regular_file(opts.tokenizer) ? fs::path(opts.tokenizer) : io::resolve_model_dir(opts.tokenizer);
  const auto tok = fs::is_directory(path) ? tokenizer::Tokenizer::from_pretrained(path) : tokenizer::Tokenizer::from_file(path);
  const std::string input = read_text(opts);
  if (opts.decode) {
    const auto ids = parse_ids(input);
    const std::string text = tok.decode(ids, opts.no_special_tokens);
    if (opts.json) fmt::print("{}", io::dump_json_like_python(io::Json{{"ids", ids}, {"text", text}}));
    else fmt::print("{}\n", text);
    return;
  }
  const tokenizer::Encoding e = tok.encode(input, !opts.no_special_tokens);
  if (opts.json) {
    io::Json offsets = io::Json::array();
    for (const auto& [begin, end] : e.offsets) offsets.push_back({begin, end});
    fmt::print("{}", io::dump_json_like_python(io::Json{{"ids", e.ids}, {"tokens", e.tokens}, {"offsets", offsets}}));
    return;
  }
  std::string line;
  for (std::size_t i = 0; i < e.ids.size(); ++i) line += (i ? " " : "") + std::to_string(e.ids[i]);
  fmt::print("{}\n", line);
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto opts = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Encode text to token ids (or decode ids) with a Hugging Face tokenizer");
  cmd->add_option("--tokenizer", opts->tokenizer, "Directory holding tokenizer.json (and tokenizer_config.json), a tokenizer.json file, or "
                  "org/name[@revision] in the local HF cache")
      ->required();
  auto* text = cmd->add_option("--text", opts->text, "The text (with --decode: comma-separated ids)");
  auto* file = cmd->add_option("--file", opts->file, "Read the text (or the ids) from this file");
  text->excludes(file);
  file->excludes(text);
  cmd->add_flag("--json", opts->json,
                "Print JSON: {\"ids\", \"tokens\", \"offsets\" (UTF-8 byte offsets)} (with --decode: {\"ids\", \"text\"})");
  cmd->add_flag("--decode", opts->decode, "Decode comma-separated ids to text instead of encoding");
  cmd->add_flag("--no-special-tokens", opts->no_special_tokens,
                "Encoding: do not add the post-processor's special tokens; decoding: skip special tokens");
  cmd->callback([opts, text, file] {
    if (text->count() == 0 && file->count() == 0) throw CLI::RequiredError("--text or --file");
    run_tokenize(*opts);
  });
}

}  // namespace shadowpeft::cli
