#pragma once
// The label convention shared by datasets and losses.
#include <cstdint>

namespace shadowpeft {

// A label that carries no loss (prompt tokens, padding): Hugging Face's convention and PyTorch
// cross_entropy's default ignore_index.
inline constexpr int64_t kIgnoreIndex = -100;

}  // namespace shadowpeft
