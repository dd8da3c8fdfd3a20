#pragma once
// Serving several models (a base and its adapters) from one thread: each model's rows decode in
// a continuous batch of their own, the models taking turns step by step. Request threads submit
// rows and learn of their tokens through the rows' hooks, which run on the decoding thread.
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shadowpeft/generate/continuous_batcher.h"

namespace shadowpeft::generate {

class BatchScheduler {
 public:
  // `models`: name → decoder, not owned (they outlive the scheduler). `max_rows`: rows decoded
  // together per model. `log_error` hears about failed steps (their rows get on_error).
  BatchScheduler(const std::map<std::string, DecodingModel*>& models, int64_t max_rows,
                 std::function<void(const std::string&)> log_error = {});
  // Stops the decoding thread; rows not finished get on_error.
  ~BatchScheduler();
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  // Thread-safe: the rows join `model`'s batch, in order. ConfigError for an unknown model or an
  // invalid row (nothing is submitted then).
  void submit(const std::string& model, std::vector<BatchRow> rows);

  // What one model's batch is doing, as of its last step.
  struct Stats {
    int64_t running = 0, waiting = 0;
    int64_t steps = 0;          // decoding steps so far
    int64_t largest_batch = 0;  // the most rows in the batch after a step (decoded together next)
  };
  // Thread-safe.
  std::map<std::string, Stats> stats() const;

 private:
  void run();

  std::map<std::string, std::unique_ptr<ContinuousBatcher>> batchers_;
  std::function<void(const std::string&)> log_error_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::pair<std::string, BatchRow>> submitted_;  // under mutex_
  std::map<std::string, Stats> stats_;                       // under mutex_
  bool stopping_ = false;                                    // under mutex_
  std::thread thread_;
};

}  // namespace shadowpeft::generate
