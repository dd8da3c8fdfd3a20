#pragma once
// Continuous batching: requests join a running batch as they arrive and leave it as they finish,
// so concurrent requests share every decoding step's forward pass. Waiting rows are prefilled
// together as a batch of their own, then merged into the running one: the shorter side's cached
// tokens move right behind padding so that both end at the same column. Rows that finish leave at
// once, and columns that are padding in every remaining row are dropped. Each row keeps its own
// decoding options and random generator, so a request alone gets what generate() gives it.
//
// Not thread-safe: one thread adds rows and steps; the hooks are called on that thread.
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shadowpeft/generate/decoding_model.h"
#include "shadowpeft/generate/generation_config.h"
#include "shadowpeft/generate/generator.h"

namespace shadowpeft::generate {

struct BatchRow {
  std::vector<int64_t> prompt;
  GenerationConfig config;  // max_new_tokens, sampling, seed, EOS ids and stop strings of this row
  std::function<void(int64_t token)> on_token;
  // Called once, when the row leaves the batch, with every new token it produced.
  std::function<void(FinishReason reason, const std::vector<int64_t>& tokens)> on_finish;
  // Called instead of on_finish when a step fails (the error's message): the row is dropped.
  std::function<void(const std::string& message)> on_error;
  // Token ids → text; required with stop strings.
  std::function<std::string(const std::vector<int64_t>&)> decode;
  // Asked before every step: true finishes the row (FinishReason::Cancelled), e.g. when its client
  // has gone away.
  std::function<bool()> cancelled;
  // The raw next-token logits [V] of every step of this row (inspection and tests).
  std::function<void(const at::Tensor& logits)> on_logits;
};

class ContinuousBatcher {
 public:
  // `model`'s weights decode the rows (through forks with their own caches); at most `max_rows`
  // rows run together, the others wait in arrival order.
  ContinuousBatcher(const DecodingModel& model, int64_t max_rows);
  ~ContinuousBatcher();

  // Queues a row: it joins the batch at the next step with room for it. ConfigError for an empty
  // prompt, an invalid config, or stop strings without `decode`.
  void add(BatchRow row);
  // One step: cancelled rows leave; waiting rows that fit are prefilled and join, choosing their
  // first token; then every running row that joined before this step gets its next token. When a
  // forward pass throws, every running and joining row gets on_error and leaves, and the error
  // propagates. Returns false when there was nothing to do.
  bool step();

  // Every running and waiting row gets on_error(message) and leaves.
  void abort(const std::string& message);

  int64_t running() const { return static_cast<int64_t>(running_.rows.size()); }
  int64_t waiting() const { return static_cast<int64_t>(waiting_.size()); }
  // Columns the running batch's caches hold (padding included).
  int64_t columns() const;

 private:
  struct Row;
  // Rows decoded together: their caches and which columns hold their tokens. Every row's last
  // chosen token is not fed yet: the next step feeds it at column `mask.size(1)`.
  struct Batch {
    Batch();
    Batch(Batch&&) noexcept;
    Batch& operator=(Batch&&) noexcept;
    ~Batch();
    std::vector<std::unique_ptr<Row>> rows;
    std::unique_ptr<DecodingModel> decoder;
    at::Tensor mask;  // [rows, columns] int64: 1 where a row has a token
  };
  void finish_cancelled();
  // Moves the waiting rows that fit into `joining`, prefills them and chooses their first tokens.
  void admit(Batch& joining);
  void decode_step();
  // Chooses every row's next token from logits [rows, V] and lets the finished ones leave.
  void choose(Batch& batch, const at::Tensor& logits);
  void drop_rows(Batch& batch, const std::vector<bool>& leaving);
  void merge(Batch& joining);
  void fail(const std::string& message, Batch& joining);

  std::unique_ptr<DecodingModel> model_;  // never holds caches: each batch is a fork of it
  int64_t max_rows_;
  std::deque<std::unique_ptr<Row>> waiting_;
  Batch running_;
};

}  // namespace shadowpeft::generate
