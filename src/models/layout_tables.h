#pragma once
// Applying a descriptor's layout tables (module renames, expert layout) to names and tensor maps;
// internal to src/models.
#include <span>
#include <string>

#include "shadowpeft/models/descriptor.h"

namespace shadowpeft::models::detail {

// `name` renamed by the first entry that matches it (checkpoint → ours when `to_ours`), and that
// entry; the name unchanged and nullptr when none does.
std::pair<std::string, const ModuleRename*> rename_first(const std::string& name, std::span<const ModuleRename> renames,
                                                         bool to_ours);

// Every tensor renamed by rename_first, the 2-D weights of entries marked transposed transposed
// (the transpose is its own inverse).
void rename_tensors(io::TensorMap& tensors, std::span<const ModuleRename> renames, bool to_ours);

// Every layer's expert stacks between `layout` (transformers' modules) and ours (to_ours), or back.
void convert_expert_stacks(io::TensorMap& tensors, const ModelConfig& config, ExpertLayout layout, bool to_ours);

}  // namespace shadowpeft::models::detail
