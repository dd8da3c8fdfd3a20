#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace shadowpeft {

// 1234567 → "1,234,567", as Python's f"{n:,}" (used in user-facing counts).
std::string with_thousands(int64_t n);

// `text` safe to print in an error message: well-formed UTF-8 stays, every byte of an ill-formed
// sequence and every control character but tab becomes \xNN (text read from a user's file must
// not write raw bytes to their terminal).
std::string printable(std::string_view text);

}  // namespace shadowpeft
