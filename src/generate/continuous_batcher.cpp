#include "shadowpeft/generate/continuous_batcher.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "shadowpeft/core/error.h"
#include "shadowpeft/generate/logits_processing.h"

namespace shadowpeft::generate {

struct ContinuousBatcher::Row {
  BatchRow request;
  at::Generator generator;
  std::vector<int64_t> sequence;  // prompt and new tokens (the repetition penalty reads them)
  std::vector<int64_t> tokens;    // new tokens
  int64_t next_position = 0;      // the position id of the last chosen token, fed next

  int64_t remaining() const { return request.config.max_new_tokens - static_cast<int64_t>(tokens.size()); }
  void finish(FinishReason reason) const {
    if (request.on_finish) request.on_finish(reason, tokens);
  }
};

ContinuousBatcher::Batch::Batch() = default;
ContinuousBatcher::Batch::Batch(Batch&&) noexcept = default;
ContinuousBatcher::Batch& ContinuousBatcher::Batch::operator=(Batch&&) noexcept = default;
ContinuousBatcher::Batch::~Batch() = default;

namespace {

at::Tensor pad_left(const at::Tensor& mask, int64_t columns) {
  if (columns == 0) return mask;
  return at::cat({at::zeros({mask.size(0), columns}, mask.options()), mask}, 1);
}

// The most new tokens any row of `rows` may still feed.
template <typename Rows>
int64_t most_remaining(const Rows& rows) {
  int64_t most = 0;
  for (const auto& row : rows) most = std::max(most, row->remaining());
  return most;
}

}  // namespace

ContinuousBatcher::ContinuousBatcher(const DecodingModel& model, int64_t max_rows) : model_(model.fork()), max_rows_(max_rows) {
  if (max_rows < 1) throw ConfigError(fmt::format("continuous batching needs at least 1 row per batch, got {}", max_rows));
}

ContinuousBatcher::~ContinuousBatcher() = default;

int64_t ContinuousBatcher::columns() const { return running_.mask.defined() ? running_.mask.size(1) : 0; }

void ContinuousBatcher::add(BatchRow request) {
  if (request.prompt.empty()) throw ConfigError("a prompt is empty: generation needs at least one token");
  request.config.validate();
  if (!request.config.stop_strings.empty() && !request.decode)
    throw ConfigError("stop strings need a tokenizer to decode the output");
  auto row = std::make_unique<Row>();
  row->generator = at::detail::createCPUGenerator(request.config.seed ? *request.config.seed : std::random_device{}());
  row->sequence = request.prompt;
  row->next_position = static_cast<int64_t>(request.prompt.size());
  row->request = std::move(request);
  waiting_.push_back(std::move(row));
}

bool ContinuousBatcher::step() {
  finish_cancelled();
  if (waiting_.empty() && running_.rows.empty()) return false;
  Batch joining;
  try {
    admit(joining);
    if (!running_.rows.empty()) decode_step();
    merge(joining);
  } catch (const std::exception& e) {
    fail(e.what(), joining);
    throw;
  }
  return true;
}

void ContinuousBatcher::finish_cancelled() {
  const auto is_cancelled = [](const std::unique_ptr<Row>& row) { return row->request.cancelled && row->request.cancelled(); };
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (is_cancelled(*it)) {
      (*it)->finish(FinishReason::Cancelled);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<bool> leaving;
  for (const auto& row : running_.rows) {
    leaving.push_back(is_cancelled(row));
    if (leaving.back()) row->finish(FinishReason::Cancelled);
  }
  drop_rows(running_, leaving);
}

void ContinuousBatcher::admit(Batch& batch) {
  while (!waiting_.empty() && running() + static_cast<int64_t>(batch.rows.size()) < max_rows_) {
    std::unique_ptr<Row> row = std::move(waiting_.front());
    waiting_.pop_front();
    if (row->request.config.max_new_tokens == 0) row->finish(FinishReason::Length);
    else batch.rows.push_back(std::move(row));
  }
  if (batch.rows.empty()) return;
  // The prompts left-padded into one batch, positions counting real tokens, as generate() does.
  std::size_t longest = 0;
  for (const auto& row : batch.rows) longest = std::max(longest, row->request.prompt.size());
  const auto b = static_cast<int64_t>(batch.rows.size()), length = static_cast<int64_t>(longest);
  at::Tensor ids = at::empty({b, length}, at::kLong), mask = at::zeros({b, length}, at::kLong);
  for (int64_t r = 0; r < b; ++r) {
    const BatchRow& request = batch.rows[static_cast<std::size_t>(r)]->request;
    const auto n = static_cast<int64_t>(request.prompt.size());
    ids[r].fill_(request.config.padding_id());
    ids[r].slice(0, length - n).copy_(at::tensor(request.prompt, at::kLong));
    mask[r].slice(0, length - n).fill_(1);
  }
  const at::Tensor positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1);
  const c10::Device device = model_->device();
  batch.decoder = model_->fork();
  batch.decoder->start(b, length + most_remaining(batch.rows), /*use_cache=*/true);
  batch.mask = mask.to(device);
  const at::Tensor logits = batch.decoder->next_token_logits(ids.to(device), positions.to(device), batch.mask);
  choose(batch, logits);
}

void ContinuousBatcher::decode_step() {
  std::vector<int64_t> ids, positions;
  for (const auto& row : running_.rows) {
    ids.push_back(row->tokens.back());
    positions.push_back(row->next_position++);
  }
  const c10::Device device = running_.decoder->device();
  const auto b = static_cast<int64_t>(ids.size());
  running_.mask = at::cat({running_.mask, at::ones({b, 1}, running_.mask.options())}, 1);
  const at::Tensor logits = running_.decoder->next_token_logits(at::tensor(ids, at::kLong).view({b, 1}).to(device),
                                                                at::tensor(positions, at::kLong).view({b, 1}).to(device), running_.mask);
  choose(running_, logits);
}

void ContinuousBatcher::choose(Batch& batch, const at::Tensor& logits) {
  // Selection runs on the CPU, so a seed gives the same draws on every device.
  const at::Tensor scores = logits.to(at::kFloat).cpu();
  std::vector<bool> leaving;
  for (std::size_t r = 0; r < batch.rows.size(); ++r) {
    Row& row = *batch.rows[r];
    const GenerationConfig& config = row.request.config;
    const at::Tensor row_scores = scores.narrow(0, static_cast<int64_t>(r), 1);
    if (row.request.on_logits) row.request.on_logits(row_scores.squeeze(0));
    // Only the repetition penalty reads the row's tokens: a tensor of them every step otherwise is waste.
    const at::Tensor sequence =
        config.repetition_penalty != 1.0 ? at::tensor(row.sequence, at::kLong).unsqueeze(0) : at::Tensor();
    const int64_t token = select_tokens(process_scores(row_scores, sequence, {}, config), config, row.generator).item<int64_t>();
    row.tokens.push_back(token);
    row.sequence.push_back(token);
    if (row.request.on_token) row.request.on_token(token);
    std::optional<FinishReason> reason;
    if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), token) != config.eos_token_ids.end())
      reason = FinishReason::Eos;
    else if (!config.stop_strings.empty() && std::any_of(config.stop_strings.begin(), config.stop_strings.end(), [&](const std::string& stop) {
               return row.request.decode(row.tokens).find(stop) != std::string::npos;
             }))
      reason = FinishReason::StopString;
    else if (row.remaining() == 0)
      reason = FinishReason::Length;
    if (reason) row.finish(*reason);
    leaving.push_back(reason.has_value());
  }
  drop_rows(batch, leaving);
}

void ContinuousBatcher::drop_rows(Batch& batch, const std::vector<bool>& leaving) {
  if (std::none_of(leaving.begin(), leaving.end(), [](bool b) { return b; })) return;
  std::vector<int64_t> keep;
  std::vector<std::unique_ptr<Row>> rows;
  for (std::size_t r = 0; r < batch.rows.size(); ++r) {
    if (leaving[r]) continue;
    keep.push_back(static_cast<int64_t>(r));
    rows.push_back(std::move(batch.rows[r]));
  }
  batch.rows = std::move(rows);
  if (keep.empty()) {
    batch = Batch();
    return;
  }
  const at::Tensor index = at::tensor(keep, at::kLong).to(batch.mask.device());
  batch.decoder->keep_rows(index);
  batch.mask = batch.mask.index_select(0, index);
  // Columns before every remaining row's first token hold padding only: attention need not read them.
  const int64_t unused = (batch.mask.sum(0) > 0).to(at::kLong).argmax().item<int64_t>();
  if (unused > 0) {
    batch.mask = batch.mask.slice(1, unused);
    batch.decoder->realign(-unused, batch.mask.size(1) + most_remaining(batch.rows));
  }
}

void ContinuousBatcher::merge(Batch& joining) {
  if (joining.rows.empty()) return;
  if (running_.rows.empty()) {
    running_ = std::move(joining);
    return;
  }
  const int64_t mine = running_.mask.size(1), theirs = joining.mask.size(1), columns = std::max(mine, theirs);
  const int64_t capacity = columns + std::max(most_remaining(running_.rows), most_remaining(joining.rows));
  running_.decoder->realign(columns - mine, capacity);
  joining.decoder->realign(columns - theirs, capacity);
  running_.decoder->append_rows(*joining.decoder);
  running_.mask = at::cat({pad_left(running_.mask, columns - mine), pad_left(joining.mask, columns - theirs)});
  for (auto& row : joining.rows) running_.rows.push_back(std::move(row));
  joining = Batch();
}

void ContinuousBatcher::abort(const std::string& message) {
  for (const auto& row : waiting_)
    if (row->request.on_error) row->request.on_error(message);
  waiting_.clear();
  Batch none;
  fail(message, none);
}

void ContinuousBatcher::fail(const std::string& message, Batch& joining) {
  for (Batch* batch : {&running_, &joining})
    for (const auto& row : batch->rows)
      if (row->request.on_error) row->request.on_error(message);
  running_ = Batch();
  joining = Batch();
}

}  // namespace shadowpeft::generate
