#include "shadowpeft/generate/batch_scheduler.h"

#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <algorithm>

#include "shadowpeft/core/error.h"

namespace shadowpeft::generate {

BatchScheduler::BatchScheduler(const std::map<std::string, DecodingModel*>& models, int64_t max_rows,
                               std::function<void(const std::string&)> log_error)
    : log_error_(std::move(log_error)) {
  for (const auto& [name, model] : models) {
    batchers_.emplace(name, std::make_unique<ContinuousBatcher>(*model, max_rows));
    stats_.emplace(name, Stats{});
  }
  thread_ = std::thread([this] { run(); });
}

BatchScheduler::~BatchScheduler() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void BatchScheduler::submit(const std::string& model, std::vector<BatchRow> rows) {
  if (!batchers_.count(model)) throw ConfigError(fmt::format("no model named '{}' is served", model));
  for (const BatchRow& row : rows) {
    if (row.prompt.empty()) throw ConfigError("a prompt is empty: generation needs at least one token");
    row.config.validate();
  }
  {
    const std::lock_guard lock(mutex_);
    for (BatchRow& row : rows) submitted_.emplace_back(model, std::move(row));
  }
  wake_.notify_all();
}

std::map<std::string, BatchScheduler::Stats> BatchScheduler::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

void BatchScheduler::run() {
  c10::InferenceMode inference;
  const auto has_work = [this] {
    for (const auto& [name, batcher] : batchers_)
      if (batcher->running() || batcher->waiting()) return true;
    return false;
  };
  for (;;) {
    std::vector<std::pair<std::string, BatchRow>> arrived;
    {
      std::unique_lock lock(mutex_);
      const bool busy = has_work();
      wake_.wait(lock, [&] { return stopping_ || busy || !submitted_.empty(); });
      if (stopping_) break;
      arrived.swap(submitted_);
    }
    for (auto& [name, row] : arrived) {
      std::function<void(const std::string&)> on_error = row.on_error;
      try {
        batchers_.at(name)->add(std::move(row));
      } catch (const std::exception& e) {
        if (on_error) on_error(e.what());
      }
    }
    // The models take turns: one step each, so a long batch of one does not starve another.
    for (auto& [name, batcher] : batchers_) {
      bool stepped = false;
      try {
        stepped = batcher->step();
      } catch (const std::exception& e) {
        if (log_error_) log_error_(fmt::format("model '{}': a decoding step failed: {}", name, e.what()));
      }
      const std::lock_guard lock(mutex_);
      Stats& stats = stats_.at(name);
      stats.running = batcher->running();
      stats.waiting = batcher->waiting();
      if (stepped) {
        ++stats.steps;
        stats.largest_batch = std::max(stats.largest_batch, stats.running);
      }
    }
  }
  const std::string message = "the server is shutting down";
  for (auto& [name, row] : submitted_)
    if (row.on_error) row.on_error(message);
  for (auto& [name, batcher] : batchers_) batcher->abort(message);
}

}  // namespace shadowpeft::generate
