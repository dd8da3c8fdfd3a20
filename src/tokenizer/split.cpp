#include "split.h"

#include <algorithm>

#include "unicode.h"

namespace shadowpeft::tokenizer {

Piece Piece::original(std::string_view text, std::size_t begin) {
  Piece p;
  p.text.assign(text);
  p.align.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t n = unicode::sequence_length(static_cast<unsigned char>(text[pos]));
    p.align.insert(p.align.end(), n, Span{begin + pos, begin + pos + n});
    pos += n;
  }
  return p;
}

Piece Piece::slice(std::size_t begin, std::size_t end) const {
  Piece p;
  p.text = text.substr(begin, end - begin);
  p.align.assign(align.begin() + static_cast<std::ptrdiff_t>(begin), align.begin() + static_cast<std::ptrdiff_t>(end));
  return p;
}

Span Piece::original_span(std::size_t begin, std::size_t end) const {
  if (align.empty()) return {0, 0};
  end = std::min(end, align.size());
  if (begin >= end) {
    const std::size_t at = begin < align.size() ? align[begin].first : align.back().second;
    return {at, at};
  }
  return {align[begin].first, align[end - 1].second};
}

std::vector<Match> regex_matches(const Regex& regex, std::string_view text) {
  if (text.empty()) return {{{0, 0}, false}};
  std::vector<Match> out;
  std::size_t prev = 0;
  for (const auto& [b, e] : regex.find_all(text)) {
    if (prev != b) out.push_back({{prev, b}, false});
    out.push_back({{b, e}, true});
    prev = e;
  }
  if (prev != text.size()) out.push_back({{prev, text.size()}, false});
  return out;
}

std::vector<Match> char_matches(const std::function<bool(char32_t)>& pred, std::string_view text) {
  std::vector<Match> out;
  std::size_t last = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t b = pos;
    if (pred(unicode::next(text, pos))) {
      if (last < b) out.push_back({{last, b}, false});
      out.push_back({{b, pos}, true});
      last = pos;
    }
  }
  if (text.size() > last) out.push_back({{last, text.size()}, false});
  return out;
}

void split_piece(const Piece& piece, std::vector<Match> matches, SplitBehavior behavior, std::vector<Piece>& out) {
  // After this switch, `is_match` means "drop this span".
  std::vector<Match> spans;
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (auto& m : matches) spans.push_back({m.span, false});
      break;
    case SplitBehavior::Removed:
      spans = std::move(matches);
      break;
    case SplitBehavior::Contiguous: {
      bool previous = false;
      for (const auto& m : matches) {
        if (m.is_match == previous && !spans.empty()) spans.back().span.second = m.span.second;
        else spans.push_back({m.span, false});
        previous = m.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool previous = false;
      for (const auto& m : matches) {
        if (m.is_match && !previous && !spans.empty()) spans.back().span.second = m.span.second;
        else spans.push_back({m.span, false});
        previous = m.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        if (it->is_match && !previous && !spans.empty()) spans.back().span.first = it->span.first;
        else spans.push_back({it->span, false});
        previous = it->is_match;
      }
      std::reverse(spans.begin(), spans.end());
      break;
    }
  }
  for (const auto& s : spans) {
    if (s.is_match || s.span.first == s.span.second) continue;
    out.push_back(piece.slice(s.span.first, s.span.second));
  }
}

}  // namespace shadowpeft::tokenizer
