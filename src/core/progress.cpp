#include "shadowpeft/core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "shadowpeft/core/logging.h"

namespace shadowpeft {
namespace {

using Clock = std::chrono::steady_clock;

std::string amount(int64_t value, ProgressBar::Unit unit) {
  if (unit == ProgressBar::Unit::Count) return std::to_string(value);
  const double v = static_cast<double>(value);
  if (v >= 1e9) return fmt::format("{:.2f} GB", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.1f} MB", v / 1e6);
  return fmt::format("{:.0f} kB", v / 1e3);
}

}  // namespace

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

ProgressBar::ProgressBar(std::string label, int64_t total, Unit unit)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 0)), unit_(unit), enabled_(!is_quiet() && isatty(fileno(stderr))),
      start_(Clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  if (drawn_) std::fputs("\r\x1b[2K", stderr);
}

void ProgressBar::update(int64_t done) {
  if (!enabled_) return;
  const auto now = Clock::now();
  if (drawn_ && done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  constexpr int kWidth = 24;
  const double fraction = total_ > 0 ? std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0) : 0.0;
  const auto filled = static_cast<std::size_t>(fraction * kWidth);
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::string eta;
  if (fraction > 0 && fraction < 1) eta = ", ETA " + format_duration(elapsed / fraction - elapsed);
  const std::string line = fmt::format("{} [{}{}] {:3.0f}% {}/{} ({}{})", label_, std::string(filled, '#'),
                                       std::string(kWidth - filled, ' '), 100 * fraction, amount(done, unit_),
                                       amount(total_, unit_), format_duration(elapsed), eta);
  std::fprintf(stderr, "\r\x1b[2K%s", line.c_str());
  std::fflush(stderr);
}

}  // namespace shadowpeft
