#pragma once
// Decoding options under transformers' GenerationConfig names and defaults. Read from a model's
// generation_config.json; command-line flags override single fields.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace shadowpeft::generate {

struct GenerationConfig {
  int64_t max_new_tokens = 20;
  bool do_sample = false;           // false: greedy (argmax after the repetition penalty)
  double temperature = 1.0;         // sampling only
  int64_t top_k = 50;               // sampling only; 0 disables
  double top_p = 1.0;               // sampling only; 1 disables
  double min_p = 0.0;               // sampling only; 0 disables
  double repetition_penalty = 1.0;  // 1 disables; applied to every token of prompt and output
  std::optional<uint64_t> seed;     // sampling: seeds the CPU generator as torch.manual_seed does
  std::vector<int64_t> eos_token_ids;     // a row stops after producing one of these
  std::vector<std::string> stop_strings;  // a row stops once its decoded output contains one
  std::optional<int64_t> pad_token_id;    // fills left padding and finished rows; default eos or 0
  bool use_cache = true;                  // false recomputes the whole sequence every token (upstream)

  // generation_config.json (missing fields keep their defaults; eos_token_id int or list).
  static GenerationConfig from_file(const std::filesystem::path& path);
  // ConfigError naming the field when a value is out of range.
  void validate() const;
  int64_t padding_id() const;
};

}  // namespace shadowpeft::generate
