#pragma once
#include <string_view>

namespace shadowpeft {

// One line on stderr, prefixed "warning: ". For conditions that are tolerated but worth knowing
// (an unknown key in a config file), never for errors.
void log_warning(std::string_view message);
// One line on stderr for progress and status; silenced by set_quiet(true).
void log_info(std::string_view message);
void set_quiet(bool quiet);
bool is_quiet();

}  // namespace shadowpeft
