#include "unicode_forms.h"

#include <utf8proc.h>

#include <algorithm>
#include <optional>
#include <vector>

namespace shadowpeft::tokenizer {

namespace {

struct Out {
  char32_t c;
  int change;  // 0: replaces the next original character; 1: inserted; -n: replaces one and drops n more
};

int ccc(char32_t c) { return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class; }

// Stable sort of each run of non-starters by combining class (canonical ordering).
void reorder(std::vector<Out>& seq, std::size_t from) {
  for (std::size_t i = from; i < seq.size();) {
    if (ccc(seq[i].c) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < seq.size() && ccc(seq[j].c) != 0) ++j;
    std::stable_sort(seq.begin() + static_cast<std::ptrdiff_t>(i), seq.begin() + static_cast<std::ptrdiff_t>(j),
                     [](const Out& a, const Out& b) { return ccc(a.c) < ccc(b.c); });
    i = j;
  }
}

std::optional<char32_t> compose_pair(char32_t a, char32_t b) {
  utf8proc_int32_t buffer[2] = {static_cast<utf8proc_int32_t>(a), static_cast<utf8proc_int32_t>(b)};
  const auto n = utf8proc_normalize_utf32(buffer, 2, static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE | UTF8PROC_STABLE));
  if (n == 1) return static_cast<char32_t>(buffer[0]);
  return std::nullopt;
}

std::vector<Out> decompose(std::string_view text, bool compat) {
  std::vector<Out> seq;
  const int options = UTF8PROC_DECOMPOSE | UTF8PROC_STABLE | (compat ? UTF8PROC_COMPAT : 0);
  utf8proc_int32_t buffer[32];
  for (std::size_t pos = 0; pos < text.size();) {
    const char32_t c = unicode::next(text, pos);
    int bound = 0;
    auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buffer, 32, static_cast<utf8proc_option_t>(options), &bound);
    if (n < 1 || n > 32) {
      buffer[0] = static_cast<utf8proc_int32_t>(c);
      n = 1;
    }
    const std::size_t first = seq.size();
    for (utf8proc_ssize_t i = 0; i < n; ++i) seq.push_back({static_cast<char32_t>(buffer[i]), 0});
    reorder(seq, first);  // the character's own decomposition in canonical order first
    for (std::size_t i = first + 1; i < seq.size(); ++i) seq[i].change = 1;
  }
  reorder(seq, 0);
  return seq;
}

std::vector<Out> compose(const std::vector<Out>& seq) {
  std::vector<Out> out;
  out.reserve(seq.size());
  std::optional<std::size_t> starter;
  int last_ccc = -1;
  for (const Out& o : seq) {
    const int k = ccc(o.c);
    if (starter) {
      const bool adjacent = out.size() - 1 == *starter;
      const bool blocked = !adjacent && (last_ccc == 0 || last_ccc >= k);
      if (!blocked) {
        if (const auto composite = compose_pair(out[*starter].c, o.c)) {
          out[*starter].c = *composite;
          out[*starter].change += o.change - 1;
          continue;
        }
      }
    }
    if (k == 0) starter = out.size();
    last_ccc = k;
    out.push_back(o);
  }
  return out;
}

}  // namespace

void normalize_piece(Piece& piece, unicode::Form form) {
  const bool ascii = std::all_of(piece.text.begin(), piece.text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) return;  // no ASCII character decomposes or composes
  // Text already in this form comes back character for character with every change 0, so its
  // alignment is unchanged; only text that changes needs the walk below.
  if (unicode::normalize(piece.text, form) == piece.text) return;
  const bool compat = form == unicode::Form::NFKC || form == unicode::Form::NFKD;
  std::vector<Out> seq = decompose(piece.text, compat);
  if (form == unicode::Form::NFC || form == unicode::Form::NFKC) seq = compose(seq);

  // Original character starts, to walk the original characters as transform() does.
  std::vector<std::size_t> starts;
  for (std::size_t pos = 0; pos < piece.text.size(); pos += unicode::sequence_length(static_cast<unsigned char>(piece.text[pos])))
    starts.push_back(pos);
  Piece out;
  out.text.reserve(piece.text.size());
  out.align.reserve(piece.text.size());
  std::size_t consumed = 0;  // original characters consumed
  std::string utf8;
  for (const Out& o : seq) {
    Span span{0, 0};
    if (o.change > 0) {
      if (consumed > 0) span = piece.align[starts[consumed - 1]];
    } else {
      if (consumed < starts.size()) span = piece.align[starts[consumed]];
      else if (!piece.align.empty()) span = piece.align.back();
      consumed += static_cast<std::size_t>(1 - o.change);
    }
    utf8.clear();
    unicode::append(utf8, o.c);
    out.append(utf8, span);
  }
  piece = std::move(out);
}

}  // namespace shadowpeft::tokenizer
