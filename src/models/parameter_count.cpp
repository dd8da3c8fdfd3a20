// Counts come from building the modules with their parameters on the meta device: one encoding
// of the architecture (the modules), no memory, any model size.
#include "shadowpeft/models/parameter_count.h"

#include <unordered_set>

#include "shadowpeft/models/causal_lm.h"

namespace shadowpeft::models {

int64_t count_distinct_parameters(const torch::nn::Module& module) {
  std::unordered_set<const void*> seen;
  int64_t total = 0;
  for (const auto& p : module.parameters())
    if (seen.insert(p.unsafeGetTensorImpl()).second) total += p.numel();
  return total;
}

int64_t count_causal_lm_parameters(const ModelConfig& config) {
  const MetaParameters meta;
  return count_distinct_parameters(*CausalLM(config));
}

}  // namespace shadowpeft::models
