#pragma once
// token ↔ id for a model, with lookups by string_view (no temporary strings on the hot path).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shadowpeft::tokenizer {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class Vocab {
 public:
  // Ids index a table, so they must stay small: 16M is 60x the largest vocabulary in use, and a
  // larger id (a corrupt or hostile tokenizer.json) would cost gigabytes before anything objects.
  static constexpr uint64_t kMaxId = (uint64_t{1} << 24) - 1;
  // ConfigError for an id past kMaxId.
  void add(std::string token, uint64_t id);
  std::optional<uint32_t> id(std::string_view token) const {
    const auto it = ids_.find(token);
    return it == ids_.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  }
  const std::string* token(uint32_t id) const {
    return id < tokens_.size() && has_token_[id] ? &tokens_[id] : nullptr;
  }
  std::size_t size() const { return ids_.size(); }
  void reserve(std::size_t n) { ids_.reserve(n); }

 private:
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> ids_;
  std::vector<std::string> tokens_;
  std::vector<bool> has_token_;
};

}  // namespace shadowpeft::tokenizer
