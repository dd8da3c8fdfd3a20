#pragma once
// Learning-rate multipliers of transformers' schedulers (get_scheduler), as a function of the
// optimizer step about to be taken: lr(step) = learning_rate * multiplier(step).
#include <cstdint>
#include <string>

namespace shadowpeft::train {

class LRSchedule {
 public:
  LRSchedule(std::string type, int64_t warmup_steps, int64_t total_steps);
  double multiplier(int64_t step) const;

 private:
  std::string type_;
  int64_t warmup_, total_;
};

}  // namespace shadowpeft::train
