#pragma once
// GPT-2's reversible byte ↔ printable-character table, shared by the ByteLevel pre-tokenizer,
// normalizer and decoder.
#include <array>
#include <string>
#include <string_view>

namespace shadowpeft::tokenizer::byte_level {

// UTF-8 of the character that stands for each byte.
const std::array<std::string, 256>& byte_to_char();
// The byte a character stands for, or -1.
int char_to_byte(char32_t c);

}  // namespace shadowpeft::tokenizer::byte_level
