#include "split.h"

#include <algorithm>

#include "unicode.h"

namespace shadowpeft::tokenizer {

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
    out.push_back({piece.text.substr(s.span.first, s.span.second - s.span.first), piece.at_origin && s.span.first == 0});
  }
}

}  // namespace shadowpeft::tokenizer
