#pragma once
// A progress bar for long operations (loading, evaluation, conversion): redrawn in place on stderr
// when it is a terminal, and silent when it is not (piped or redirected output stays the command's
// own) or when logging is quiet. The line is cleared when the bar goes away.
#include <chrono>
#include <cstdint>
#include <string>

namespace shadowpeft {

class ProgressBar {
 public:
  enum class Unit { Count, Bytes };
  ProgressBar(std::string label, int64_t total, Unit unit = Unit::Count);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // `done` of the total; redraws at most ten times a second, and at the end.
  void update(int64_t done);
  bool enabled() const { return enabled_; }

 private:
  std::string label_;
  int64_t total_;
  Unit unit_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// Seconds as "42s", "3m05s" or "1h02m".
std::string format_duration(double seconds);

}  // namespace shadowpeft
