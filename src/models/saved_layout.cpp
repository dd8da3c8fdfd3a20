// Saved checkpoints ↔ transformers' state dict: the renames and expert stacking that transformers'
// conversion mapping applies when it loads a saved model, and undoes when it saves one; and the
// expert stacks' layout in transformers' modules ↔ ours.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <map>
#include <mutex>
#include <regex>

#include "shadowpeft/core/error.h"
#include "layout_tables.h"
#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models {
namespace {

// A name pattern with "{i}" (layer) and "{e}" (expert) slots as a regex capturing both.
struct SlotPattern {
  std::regex regex;
  int layer_group = 0, expert_group = 0;  // capture group numbers; 0: no such slot
};

SlotPattern compile_slot_pattern(std::string_view pattern) {
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

// Descriptor tables are static, so each pattern compiles once (names are matched per tensor).
const SlotPattern& slot_pattern(std::string_view pattern) {
  static std::mutex mutex;
  static std::map<std::string, SlotPattern, std::less<>> compiled;
  const std::lock_guard lock(mutex);
  auto it = compiled.find(pattern);
  if (it == compiled.end()) it = compiled.emplace(std::string(pattern), compile_slot_pattern(pattern)).first;
  return it->second;
}

std::string fill(std::string_view pattern, const std::string& layer, const std::string& expert) {
  std::string out(pattern);
  for (auto [slot, value] : {std::pair{"{i}", &layer}, std::pair{"{e}", &expert}})
    if (const std::size_t s = out.find(slot); s != std::string::npos) out.replace(s, 3, *value);
  return out;
}

// A state-dict name as the saved file names it, for errors.
std::string saved_name(const std::string& name, std::span<const ModuleRename> renames) {
  return detail::rename_first(name, renames, /*to_ours=*/false).first;
}

}  // namespace

void ModelDescriptor::file_to_state_dict(io::TensorMap& tensors, const ModelConfig&) const {
  // file_renames map state-dict paths (ours) to the saved ones (theirs).
  detail::rename_tensors(tensors, file_renames(), /*to_ours=*/true);
  for (const StackedExperts& s : stacked_experts()) {
    // layer → expert → the expert's tensors, in per_expert order
    std::map<std::string, std::map<int64_t, std::vector<at::Tensor>>> found;
    std::vector<std::string> used;
    for (std::size_t part = 0; part < s.per_expert.size(); ++part) {
      const SlotPattern& pattern = slot_pattern(s.per_expert[part]);
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
    const SlotPattern& pattern = slot_pattern(s.stacked);
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
  detail::rename_tensors(tensors, file_renames(), /*to_ours=*/false);
}

namespace detail {

namespace {

// Columns g0 u0 g1 u1 ... along `dim` ↔ g0 g1 ... u0 u1 ...
at::Tensor deinterleave(const at::Tensor& t, int64_t dim) {
  return at::cat({t.slice(dim, 0, std::nullopt, 2), t.slice(dim, 1, std::nullopt, 2)}, dim);
}
at::Tensor interleave(const at::Tensor& t, int64_t dim) {
  const auto halves = t.chunk(2, dim);
  return at::stack({halves[0], halves[1]}, dim + 1).reshape(t.sizes());
}

}  // namespace

void convert_expert_stacks(io::TensorMap& t, const ModelConfig& config, ExpertLayout layout, bool to_ours) {
  if (!layout.transposed && !layout.interleaved) return;
  for (int64_t i = 0; i < config.num_layers(); ++i) {
    const std::string experts = "model.layers." + std::to_string(i) + ".mlp.experts.";
    if (auto it = t.find(experts + "gate_up_proj"); it != t.end()) {
      at::Tensor w = it->second;
      if (to_ours) {
        if (layout.transposed) w = w.transpose(1, 2);
        if (layout.interleaved) w = deinterleave(w, 1);
      } else {
        if (layout.interleaved) w = interleave(w, 1);
        if (layout.transposed) w = w.transpose(1, 2);
      }
      it->second = w.contiguous();
    }
    if (auto it = t.find(experts + "gate_up_proj_bias"); it != t.end() && layout.interleaved)
      it->second = (to_ours ? deinterleave(it->second, 1) : interleave(it->second, 1)).contiguous();
    if (auto it = t.find(experts + "down_proj"); it != t.end() && layout.transposed)
      it->second = it->second.transpose(1, 2).contiguous();
  }
}

}  // namespace detail

std::string ModelDescriptor::state_dict_name(const std::string& saved) const {
  const std::string name = detail::rename_first(saved, file_renames(), /*to_ours=*/true).first;
  for (const StackedExperts& s : stacked_experts())
    for (std::string_view per_expert : s.per_expert) {
      const SlotPattern& pattern = slot_pattern(per_expert);
      std::smatch m;
      if (std::regex_match(name, m, pattern.regex))
        return fill(s.stacked, pattern.layer_group ? m[pattern.layer_group].str() : "", "");
    }
  return name;
}

}  // namespace shadowpeft::models
