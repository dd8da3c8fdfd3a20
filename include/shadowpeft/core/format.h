#pragma once
#include <cstdint>
#include <string>

namespace shadowpeft {

// 1234567 → "1,234,567", as Python's f"{n:,}" (used in user-facing counts).
std::string with_thousands(int64_t n);

}  // namespace shadowpeft
