#include "shadowpeft/generate/generator.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "shadowpeft/core/error.h"
#include "shadowpeft/generate/logits_processing.h"

namespace shadowpeft::generate {
namespace {

using at::indexing::Slice;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The batch as transformers lays it out for generation: prompts left-padded to a common length,
// positions counting real tokens only (padding gets position 1, as in prepare_inputs_for_generation).
struct Batch {
  at::Tensor ids, mask, positions;  // [B, prompt + max_new_tokens], filled up to `length`
  int64_t length = 0;
};

Batch make_batch(const std::vector<std::vector<int64_t>>& prompts, int64_t max_new_tokens, int64_t pad, c10::Device device) {
  std::size_t longest = 0;
  for (std::size_t r = 0; r < prompts.size(); ++r) {
    if (prompts[r].empty()) throw ConfigError(fmt::format("prompt {} is empty: generation needs at least one token", r));
    longest = std::max(longest, prompts[r].size());
  }
  const auto b = static_cast<int64_t>(prompts.size()), prompt_length = static_cast<int64_t>(longest);
  const int64_t total = prompt_length + max_new_tokens;
  std::vector<int64_t> ids(static_cast<std::size_t>(b * total), pad), mask(static_cast<std::size_t>(b * total), 0);
  for (std::size_t r = 0; r < prompts.size(); ++r) {
    const std::size_t offset = r * static_cast<std::size_t>(total) + longest - prompts[r].size();
    std::copy(prompts[r].begin(), prompts[r].end(), ids.begin() + static_cast<std::ptrdiff_t>(offset));
    std::fill_n(mask.begin() + static_cast<std::ptrdiff_t>(offset), prompts[r].size(), 1);
  }
  const auto opts = at::TensorOptions().dtype(at::kLong);
  Batch batch;
  batch.ids = at::tensor(ids, opts).view({b, total}).to(device);
  batch.mask = at::tensor(mask, opts).view({b, total});
  batch.mask.slice(1, prompt_length).fill_(1);  // every generated column is real
  batch.positions = (batch.mask.cumsum(-1) - 1).masked_fill(batch.mask == 0, 1).to(device);
  batch.mask = batch.mask.to(device);
  batch.length = prompt_length;
  return batch;
}

bool contains_stop_string(const std::string& text, const std::vector<std::string>& stops) {
  return std::any_of(stops.begin(), stops.end(), [&](const std::string& s) { return text.find(s) != std::string::npos; });
}

}  // namespace

const char* to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::Eos: return "eos";
    case FinishReason::StopString: return "stop_string";
    case FinishReason::Length: return "length";
    case FinishReason::Cancelled: return "cancelled";
  }
  return "?";
}

GenerationResult generate(DecodingModel& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationConfig& config, const GenerationHooks& hooks) {
  config.validate();
  if (prompts.empty()) throw ConfigError("generate: no prompts");
  if (!config.stop_strings.empty() && !hooks.decode)
    throw ConfigError("generate: stop strings need a tokenizer to decode the output");
  const int64_t pad = config.padding_id();
  Batch batch = make_batch(prompts, config.max_new_tokens, pad, model.device());
  const auto b = static_cast<int64_t>(prompts.size());
  model.start(b, batch.ids.size(1), config.use_cache);
  at::Generator generator = at::detail::createCPUGenerator(config.seed ? *config.seed : std::random_device{}());

  GenerationResult result;
  result.tokens.resize(prompts.size());
  result.finish_reasons.assign(prompts.size(), FinishReason::Length);
  std::vector<bool> finished(prompts.size(), false);
  std::size_t unfinished = prompts.size();
  int64_t seen = 0;  // tokens the model's caches hold
  const auto start = Clock::now();
  auto decode_start = start;
  for (int64_t step = 0; step < config.max_new_tokens && unfinished > 0; ++step) {
    if (hooks.cancelled && hooks.cancelled()) {
      for (std::size_t row = 0; row < finished.size(); ++row)
        if (!finished[row]) result.finish_reasons[row] = FinishReason::Cancelled;
      break;
    }
    const int64_t from = config.use_cache ? seen : 0, to = batch.length;
    const at::Tensor logits = model.next_token_logits(batch.ids.index({Slice(), Slice(from, to)}),
                                                      batch.positions.index({Slice(), Slice(from, to)}),
                                                      batch.mask.index({Slice(), Slice(0, to)}));
    seen = to;
    if (hooks.keep_step_logits) result.step_logits.push_back(logits.cpu());
    // Selection runs on the CPU, so a seed gives the same draws on every device.
    const at::Tensor scores = process_scores(logits.cpu(), batch.ids.index({Slice(), Slice(0, to)}).cpu(),
                                             batch.mask.index({Slice(), Slice(0, to)}).cpu(), config);
    at::Tensor next = select_tokens(scores, config, generator);
    auto next_ids = next.accessor<int64_t, 1>();
    for (int64_t r = 0; r < b; ++r) {
      const auto row = static_cast<std::size_t>(r);
      if (finished[row]) {
        next_ids[r] = pad;  // finished rows keep step with padding, as transformers does
        continue;
      }
      const int64_t token = next_ids[r];
      result.tokens[row].push_back(token);
      if (hooks.on_token) hooks.on_token(r, token);
      std::optional<FinishReason> reason;
      if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), token) != config.eos_token_ids.end())
        reason = FinishReason::Eos;
      else if (!config.stop_strings.empty() && contains_stop_string(hooks.decode(result.tokens[row]), config.stop_strings))
        reason = FinishReason::StopString;
      if (reason) {
        finished[row] = true;
        result.finish_reasons[row] = *reason;
        --unfinished;
      }
    }
    batch.ids.select(1, batch.length).copy_(next);
    ++batch.length;
    if (step == 0) {
      result.prefill_seconds = seconds_since(start);
      decode_start = Clock::now();
    } else {
      ++result.decode_steps;
    }
  }
  result.decode_seconds = seconds_since(decode_start);
  return result;
}

}  // namespace shadowpeft::generate
