// Saved checkpoints ↔ transformers' state dict: the renames and expert stacking that transformers'
// conversion mapping applies when it loads a saved model, and undoes when it saves one.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <map>
#include <regex>

#include "shadowpeft/core/error.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

// A name pattern with "{i}" (layer) and "{e}" (expert) slots as a regex capturing both.
struct SlotPattern {
  std::regex regex;
  int layer_group = 0, expert_group = 0;  // capture group numbers; 0: no such slot
};

SlotPattern slot_pattern(std::string_view pattern) {
  SlotPattern out;
  std::string re;
  int group = 0;
  for (std::size_t p = 0; p < pattern.size();) {
    if (pattern.substr(p, 3) == "{i}" || pattern.substr(p, 3) == "{e}") {
      (pattern[p + 1] == 'i' ? out.layer_group : out.expert_group) = ++group;
      re += "(\\d+)";
      p += 3;
    } else {
      if (std::string_view(".[]()*+?^$|\\{}").find(pattern[p]) != std::string_view::npos) re += '\\';
      re += pattern[p++];
    }
  }
  out.regex = std::regex(re);
  return out;
}

std::string fill(std::string_view pattern, const std::string& layer, const std::string& expert) {
  std::string out(pattern);
  for (auto [slot, value] : {std::pair{"{i}", &layer}, std::pair{"{e}", &expert}})
    if (const std::size_t s = out.find(slot); s != std::string::npos) out.replace(s, 3, *value);
  return out;
}

void rename_each(io::TensorMap& tensors, std::span<const ModuleRename> renames, bool to_state_dict) {
  if (renames.empty()) return;
  io::TensorMap renamed;
  for (auto& [name, t] : tensors) {
    std::string target = name;
    for (const ModuleRename& r : renames)
      if (auto n = to_state_dict ? rename_module(name, r.theirs, r.ours) : rename_module(name, r.ours, r.theirs)) {
        target = std::move(*n);
        break;
      }
    renamed.emplace(std::move(target), t);
  }
  tensors = std::move(renamed);
}

// A state-dict name as the saved file names it, for errors.
std::string saved_name(const std::string& name, std::span<const ModuleRename> renames) {
  for (const ModuleRename& r : renames)
    if (auto n = rename_module(name, r.ours, r.theirs)) return *n;
  return name;
}

}  // namespace

void ModelDescriptor::file_to_state_dict(io::TensorMap& tensors, const ModelConfig&) const {
  // file_renames map state-dict paths (ours) to the saved ones (theirs).
  rename_each(tensors, file_renames(), /*to_state_dict=*/true);
  for (const StackedExperts& s : stacked_experts()) {
    // layer → expert → the expert's tensors, in per_expert order
    std::map<std::string, std::map<int64_t, std::vector<at::Tensor>>> found;
    std::vector<std::string> used;
    for (std::size_t part = 0; part < s.per_expert.size(); ++part) {
      const SlotPattern pattern = slot_pattern(s.per_expert[part]);
      for (const auto& [name, t] : tensors) {
        std::smatch m;
        if (!std::regex_match(name, m, pattern.regex)) continue;
        auto& parts = found[pattern.layer_group ? m[pattern.layer_group].str() : ""][std::stoll(m[pattern.expert_group])];
        parts.resize(s.per_expert.size());
        parts[part] = t;
        used.push_back(name);
      }
    }
    for (const std::string& name : used) tensors.erase(name);
    for (auto& [layer, experts] : found) {
      std::vector<at::Tensor> stacked;
      for (auto& [e, parts] : experts) {
        if (e != static_cast<int64_t>(stacked.size()))  // experts are numbered 0, 1, ... without gaps
          throw LoadError(fmt::format("expert tensors: '{}' is missing (expert {} has its tensors)",
                                      saved_name(fill(s.per_expert.front(), layer, std::to_string(stacked.size())), file_renames()), e));
        for (std::size_t part = 0; part < parts.size(); ++part)
          if (!parts[part].defined())
            throw LoadError(fmt::format("expert tensors: '{}' is missing",
                                        saved_name(fill(s.per_expert[part], layer, std::to_string(e)), file_renames())));
        stacked.push_back(parts.size() == 1 ? parts[0] : at::cat(parts, 0));
      }
      tensors[fill(s.stacked, layer, "")] = at::stack(stacked);
    }
  }
}

void ModelDescriptor::state_dict_to_file(io::TensorMap& tensors, const ModelConfig&) const {
  for (const StackedExperts& s : stacked_experts()) {
    const SlotPattern pattern = slot_pattern(s.stacked);
    std::vector<std::string> stacked_names;
    for (const auto& [name, t] : tensors)
      if (std::regex_match(name, pattern.regex)) stacked_names.push_back(name);
    for (const std::string& name : stacked_names) {
      std::smatch m;
      std::regex_match(name, m, pattern.regex);
      const std::string layer = pattern.layer_group ? m[pattern.layer_group].str() : "";
      const at::Tensor stacked = tensors.at(name);
      tensors.erase(name);
      // The parts of one expert have equal rows (gate and up are both the expert's width).
      const auto parts_per_expert = static_cast<int64_t>(s.per_expert.size());
      for (int64_t e = 0; e < stacked.size(0); ++e) {
        const auto parts = stacked[e].chunk(parts_per_expert, 0);
        for (int64_t part = 0; part < parts_per_expert; ++part)
          tensors[fill(s.per_expert[static_cast<std::size_t>(part)], layer, std::to_string(e))] = parts[static_cast<std::size_t>(part)].contiguous();
      }
    }
  }
  rename_each(tensors, file_renames(), /*to_state_dict=*/false);
}

std::string ModelDescriptor::state_dict_name(const std::string& saved) const {
  std::string name = saved;
  for (const ModuleRename& r : file_renames())
    if (auto n = rename_module(saved, r.theirs, r.ours)) {
      name = std::move(*n);
      break;
    }
  for (const StackedExperts& s : stacked_experts())
    for (std::string_view per_expert : s.per_expert) {
      const SlotPattern pattern = slot_pattern(per_expert);
      std::smatch m;
      if (std::regex_match(name, m, pattern.regex))
        return fill(s.stacked, pattern.layer_group ? m[pattern.layer_group].str() : "", "");
    }
  return name;
}

}  // namespace shadowpeft::models
