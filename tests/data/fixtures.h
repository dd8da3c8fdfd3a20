#pragma once
// The cases tests/reference/make_data_fixtures.py writes (SHADOWPEFT_FIXTURES/data/cases.json) and
// the tokenizers they name, loaded once per process.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "shadowpeft/data/dataset.h"
#include "shadowpeft/data/packing.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace shadowpeft::data::testing {

inline std::filesystem::path fixtures_dir() {
  const char* env = std::getenv("SHADOWPEFT_FIXTURES");
  return std::filesystem::path(env ? env : "fixtures") / "data";
}

inline const nlohmann::json& fixture_cases() {
  static const nlohmann::json cases = [] {
    const auto path = fixtures_dir() / "cases.json";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("missing fixture " + path.string() + " (run tests/reference/make_data_fixtures.py)");
    return nlohmann::json::parse(in);
  }();
  return cases;
}

inline const tokenizer::Tokenizer& fixture_tokenizer(const std::string& family) {
  static std::map<std::string, std::unique_ptr<tokenizer::Tokenizer>> cache;
  auto& slot = cache[family];
  if (!slot) {
    const std::filesystem::path dir = fixture_cases()["tokenizers_dir"].get<std::string>();
    slot = std::make_unique<tokenizer::Tokenizer>(tokenizer::Tokenizer::from_pretrained(dir / family));
  }
  return *slot;
}

inline std::filesystem::path data_file(const std::string& name) { return fixtures_dir() / name; }

// The options of a case, as the fixture script names them.
inline DatasetOptions options_from_json(const nlohmann::json& j) {
  DatasetOptions o;
  if (j.contains("kind")) o.kind = parse_record_kind(j["kind"]);
  if (j.contains("max_length")) o.max_length = j["max_length"];
  if (j.contains("append_eos")) o.append_eos = j["append_eos"];
  if (j.contains("text_field")) o.text_field = j["text_field"];
  if (j.contains("prompt_field")) o.prompt_field = j["prompt_field"];
  if (j.contains("completion_field")) o.completion_field = j["completion_field"];
  if (j.contains("messages_field")) o.messages_field = j["messages_field"];
  if (j.contains("label_field")) o.label_field = j["label_field"];
  if (j.contains("label_names")) o.label_names = j["label_names"].get<std::vector<std::string>>();
  if (j.contains("skip_bad_records")) o.skip_bad_records = j["skip_bad_records"];
  if (j.contains("packing")) o.packing = j["packing"];
  if (j.contains("packing_strategy")) o.packing_strategy = parse_packing_strategy(j["packing_strategy"]);
  if (j.contains("chat_template_kwargs")) o.chat_template_kwargs = j["chat_template_kwargs"].dump();
  return o;
}

inline const nlohmann::json& fixture_case(const std::string& name) {
  for (const auto& c : fixture_cases()["cases"])
    if (c["name"] == name) return c;
  throw std::runtime_error("no data fixture case named " + name);
}

}  // namespace shadowpeft::data::testing
