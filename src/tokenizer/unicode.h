#pragma once
// UTF-8 and Unicode properties with the exact semantics of Rust's `char` methods, which is what
// `tokenizers` uses (is_whitespace = White_Space, is_numeric = N*, ...). Normalization via utf8proc.
#include <cstdint>
#include <string>
#include <string_view>

namespace shadowpeft::tokenizer::unicode {

// Decodes the code point at text[pos] (text must be valid UTF-8) and advances pos.
char32_t next(std::string_view text, std::size_t& pos);
// Byte length of the UTF-8 sequence that starts with `lead`.
inline std::size_t sequence_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}
void append(std::string& out, char32_t c);

// Offset of the first invalid byte, or npos when `text` is valid UTF-8.
std::size_t first_invalid(std::string_view text);
// Rust's String::from_utf8_lossy: each maximal invalid subpart becomes one U+FFFD.
std::string from_utf8_lossy(std::string_view bytes);

bool is_whitespace(char32_t c);
bool is_numeric(char32_t c);       // general categories Nd, Nl, No
bool is_punctuation(char32_t c);   // ASCII punctuation or general category P*
bool is_word_char(char32_t c);     // regex \w (Unicode): letters, marks, Nd, Pc, Join_Control
bool is_control(char32_t c);       // BERT's notion: Cc/Cf/Cn/Co except \t \n \r
bool is_mark_nonspacing(char32_t c);
bool is_mark(char32_t c);  // Mn, Mc, Me
bool is_cjk(char32_t c);           // BERT's CJK ideograph blocks

enum class Form { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view text, Form form);
// Rust's char::to_lowercase applied per character (no context-dependent final sigma).
std::string lowercase(std::string_view text);

}  // namespace shadowpeft::tokenizer::unicode
