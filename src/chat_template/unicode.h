#pragma once
// UTF-8 <-> code points, and the character classes Python's str methods need. Python strings are
// code-point sequences, so lengths, indices and slices in templates count code points, not bytes.
#include <string>
#include <string_view>

namespace shadowpeft::jinja {

std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
void utf8_append(std::string& out, char32_t c);

// Python str.isspace() (Unicode White_Space plus the ASCII separators 0x1c-0x1f).
bool is_space(char32_t c);
// Python str.isalnum()-ish word characters for `\w` (letters, digits, underscore, any non-ASCII
// letter-like code point).
bool is_word(char32_t c);
bool is_printable(char32_t c);
// Simple case mappings (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic): what templates meet.
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);
bool is_upper(char32_t c);
bool is_lower(char32_t c);
bool is_cased(char32_t c);

}  // namespace shadowpeft::jinja
