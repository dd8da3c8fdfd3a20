#include "task_heads.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <set>

#include "shadowpeft/core/error.h"
#include "shadowpeft/io/safetensors.h"

namespace shadowpeft::detail {
namespace fs = std::filesystem;

namespace {
constexpr const char* kModulesFile = "shadow_modules.safetensors";

bool listed(const ShadowConfig& c, const std::string& name) {
  return std::find(c.modules_to_save.begin(), c.modules_to_save.end(), name) != c.modules_to_save.end();
}
}  // namespace

void set_heads_trainable(const std::vector<Head>& heads, bool trainable) {
  for (const Head& h : heads)
    for (const auto& [_, t] : h.params) t.set_requires_grad(trainable);
}

void apply_modules_to_save(const ShadowConfig& config, const std::vector<Head>& heads, bool default_trainable) {
  for (const Head& h : heads) {
    const bool trainable = config.modules_to_save.empty() ? default_trainable : listed(config, h.name);
    for (const auto& [_, t] : h.params) t.set_requires_grad(trainable);
  }
}

void save_heads(const fs::path& dir, const ShadowConfig& config, const std::vector<Head>& heads) {
  io::TensorMap state;
  for (const Head& h : heads) {
    if (!config.modules_to_save.empty() && !listed(config, h.name)) continue;
    const bool trainable = std::any_of(h.params.begin(), h.params.end(), [](const auto& p) { return p.second.requires_grad(); });
    if (!trainable) continue;
    for (const auto& [param, t] : h.params) state.emplace(h.name + "." + param, t.detach().to(at::kCPU).contiguous());
  }
  if (!state.empty()) io::save_safetensors(dir / kModulesFile, state);
}

bool has_saved_heads(const fs::path& dir) { return fs::exists(dir / kModulesFile); }

std::optional<at::Tensor> saved_head_tensor(const fs::path& dir, const std::string& name) {
  const fs::path file = dir / kModulesFile;
  if (!fs::exists(file)) return std::nullopt;
  const auto saved = io::SafetensorsFile::open(file);
  if (!saved.contains(name)) return std::nullopt;
  return saved.tensor(name);
}

void load_heads(const fs::path& dir, const std::vector<Head>& heads) {
  const fs::path file = dir / kModulesFile;
  if (!fs::exists(file)) return;
  const auto saved = io::SafetensorsFile::open(file);
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (const Head& h : heads) {
    const bool present = std::any_of(h.params.begin(), h.params.end(),
                                     [&](const auto& p) { return saved.contains(h.name + "." + p.first); });
    if (!present) continue;
    for (const auto& [param, t] : h.params) {
      const std::string key = h.name + "." + param;
      if (!saved.contains(key)) throw LoadError(fmt::format("{}: missing tensor '{}'", file.string(), key));
      const at::Tensor value = saved.tensor(key);
      if (value.sizes() != t.sizes())
        throw LoadError(fmt::format("{}: tensor '{}' has shape [{}], expected [{}]", file.string(), key,
                                    fmt::join(value.sizes(), ", "), fmt::join(t.sizes(), ", ")));
      t.copy_(value);
      used.insert(key);
    }
  }
  for (const auto& info : saved.tensors())
    if (!used.count(info.name)) throw LoadError(fmt::format("{}: unexpected tensor '{}'", file.string(), info.name));
}

}  // namespace shadowpeft::detail
