#pragma once
// Token generation: prefill the prompts (left-padded into one batch), then decode one token per
// step with the model's KV caches, or recompute the whole sequence each step without them.
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "shadowpeft/generate/decoding_model.h"
#include "shadowpeft/generate/generation_config.h"

namespace shadowpeft::generate {

enum class FinishReason { Eos, StopString, Length, Cancelled };
const char* to_string(FinishReason reason);

struct GenerationHooks {
  // Called for every new token of every unfinished row, as soon as it is chosen (streaming).
  std::function<void(int64_t row, int64_t token)> on_token;
  // Token ids → text; required when the config has stop strings.
  std::function<std::string(const std::vector<int64_t>&)> decode;
  bool keep_step_logits = false;  // record the raw next-token logits of every step
  // Asked before every step; true stops every unfinished row (FinishReason::Cancelled), e.g. when
  // a streaming client has gone away.
  std::function<bool()> cancelled;
};

struct GenerationResult {
  std::vector<std::vector<int64_t>> tokens;  // new tokens per row, up to and including its stop
  std::vector<FinishReason> finish_reasons;
  std::vector<at::Tensor> step_logits;       // [B, V] per step, with keep_step_logits
  double prefill_seconds = 0;                // the prompt's forward pass and the first token
  double decode_seconds = 0;                 // every later token
  int64_t decode_steps = 0;                  // forward passes after the prefill
};

GenerationResult generate(DecodingModel& model, const std::vector<std::vector<int64_t>>& prompts,
                          const GenerationConfig& config, const GenerationHooks& hooks = {});

}  // namespace shadowpeft::generate
