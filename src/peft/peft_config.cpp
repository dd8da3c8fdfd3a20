#include "shadowpeft/peft/peft_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "config_reader.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/core/format.h"

namespace shadowpeft::peft {
namespace fs = std::filesystem;

namespace {

// peft's layer index of a module key for layers_to_transform (check_target_module_exists): the
// first number between dots after `pattern` (any segment when no pattern is given). A key must
// continue past the number, so a block's own key ("model.layers.3") never has one.
std::optional<int64_t> layer_index(const std::string& key, const std::optional<std::vector<std::string>>& patterns) {
  std::vector<std::string> regexes;
  if (!patterns || patterns->empty()) regexes.push_back(R"(.*?\.[^.]*\.(\d+)\.)");
  else
    for (const std::string& p : *patterns) regexes.push_back("(?:^|.*?\\.)" + p + R"(\.(\d+)\.)");
  for (const std::string& r : regexes) {
    std::smatch m;
    if (std::regex_search(key, m, std::regex(r), std::regex_constants::match_continuous)) return std::stoll(m[1].str());
  }
  return std::nullopt;
}

}  // namespace

std::string to_string(TaskType task) { return task == TaskType::CausalLM ? "CAUSAL_LM" : "SEQ_CLS"; }

bool ModuleSelector::matches(const std::string& key) const {
  if (pattern) return std::regex_match(key, std::regex(*pattern));
  for (const std::string& name : names)
    if (key == name || key.ends_with("." + name)) return true;
  return false;
}

bool targets_module(const TargetRules& rules, const std::string& key) {
  if (rules.exclude_modules && rules.exclude_modules->matches(key)) return false;
  if (rules.modules_to_save)
    for (const std::string& m : *rules.modules_to_save)
      if (std::regex_match(key, std::regex("(^|.*\\.)" + m + "($|\\..*)"))) return false;
  if (!rules.target_modules) return true;
  const ModuleSelector& targets = *rules.target_modules;
  if (targets.pattern) return targets.matches(key);
  if (std::find(targets.names.begin(), targets.names.end(), key) != targets.names.end()) return true;
  if (!targets.matches(key)) return false;
  if (!rules.layers_to_transform || rules.layers_to_transform->empty()) return true;
  const std::optional<int64_t> index = layer_index(key, rules.layers_pattern);
  return index && std::find(rules.layers_to_transform->begin(), rules.layers_to_transform->end(), *index) !=
                      rules.layers_to_transform->end();
}

std::string trainable_parameters_string(int64_t trainable, int64_t total) {
  const double pct = total > 0 ? 100.0 * static_cast<double>(trainable) / static_cast<double>(total) : 0.0;
  return fmt::format("trainable params: {} || all params: {} || trainable%: {:.4f}", with_thousands(trainable),
                     with_thousands(total), pct);
}

std::optional<std::string> adapter_peft_type(const fs::path& dir) {
  const fs::path file = dir / detail::kAdapterConfigFile;
  if (!fs::exists(file)) return std::nullopt;
  const io::Json json = io::read_json_file(file);
  const auto it = json.is_object() ? json.find("peft_type") : json.end();
  if (it == json.end() || !it->is_string())
    throw ConfigError(fmt::format("{}: field 'peft_type' must be a string naming the adapter's method", file.string()));
  return it->get<std::string>();
}

}  // namespace shadowpeft::peft
