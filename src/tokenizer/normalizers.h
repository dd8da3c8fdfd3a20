#pragma once
// Normalizers: text → text, applied to every piece of input that is not an added token.
#include <memory>
#include <string>

#include "json_access.h"

namespace shadowpeft::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// nullptr for a JSON null.
std::unique_ptr<Normalizer> make_normalizer(const Node& node);

}  // namespace shadowpeft::tokenizer
