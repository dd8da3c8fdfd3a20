#pragma once
// `{"String": "..."}` or `{"Regex": "..."}`, as Split, Replace and their decoders write patterns.
#include "json_access.h"
#include "regex.h"

namespace shadowpeft::tokenizer {

Regex read_pattern(const Node& pattern);

}  // namespace shadowpeft::tokenizer
