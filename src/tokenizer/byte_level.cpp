#include "byte_level.h"


#include "unicode.h"

namespace shadowpeft::tokenizer::byte_level {

namespace {

struct Tables {
  std::array<std::string, 256> to_char;
  std::array<int, 512> to_byte{};  // every mapped character is below U+0200
  Tables() {
    to_byte.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
      unicode::append(to_char[b], c);
      to_byte[c] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_to_char() { return tables().to_char; }

int char_to_byte(char32_t c) { return c < 512 ? tables().to_byte[c] : -1; }

}  // namespace shadowpeft::tokenizer::byte_level
