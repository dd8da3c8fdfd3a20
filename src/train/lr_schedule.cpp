#include "shadowpeft/train/lr_schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "shadowpeft/core/error.h"

namespace shadowpeft::train {

LRSchedule::LRSchedule(std::string type, int64_t warmup_steps, int64_t total_steps)
    : type_(std::move(type)), warmup_(warmup_steps), total_(total_steps) {
  if (type_ != "linear" && type_ != "cosine" && type_ != "constant" && type_ != "constant_with_warmup")
    throw ConfigError(fmt::format("unknown lr_scheduler_type '{}'", type_));
}

double LRSchedule::multiplier(int64_t step) const {
  if (type_ == "constant") return 1.0;
  const auto s = static_cast<double>(step), warmup = static_cast<double>(warmup_), total = static_cast<double>(total_);
  if (step < warmup_) return s / std::max(1.0, warmup);
  if (type_ == "constant_with_warmup") return 1.0;
  if (type_ == "linear") return std::max(0.0, (total - s) / std::max(1.0, total - warmup));
  // cosine, half a cycle
  const double progress = (s - warmup) / std::max(1.0, total - warmup);
  return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
}

}  // namespace shadowpeft::train
