#pragma once
// The OpenAI completions / chat-completions request and response formats, as `serve` speaks them:
// a request body → what to generate (or an HttpError with the status and message to send back),
// and the generated tokens → response bodies and server-sent-event chunks.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "shadowpeft/generate/generation_config.h"
#include "shadowpeft/generate/generator.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/tokenizer/tokenizer.h"

namespace shadowpeft::cli {

// An error answered as {"error": {"message", "type", "param", "code"}} with an HTTP status.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, const std::string& message, std::string code = {})
      : std::runtime_error(message), status(status), code(std::move(code)) {}
  int status;
  std::string code;
};
std::string error_body(int status, const std::string& message, const std::string& code = {});

enum class Endpoint { Completions, ChatCompletions };

struct ApiRequest {
  Endpoint endpoint = Endpoint::Completions;
  std::string model;
  std::vector<std::vector<int64_t>> prompts;  // one per choice (completions may send several)
  generate::GenerationConfig generation;
  std::vector<std::string> stop;  // cut from the text, as OpenAI returns it
  bool stream = false;
  bool stream_usage = false;  // stream_options.include_usage: a last chunk with the token counts
};

struct RequestLimits {
  int64_t context_length = 0;          // prompt + max_tokens must fit
  int64_t default_max_tokens = 16;     // completions without max_tokens (OpenAI's default)
  int64_t default_chat_max_tokens = 256;
};

// Parses `body` for `endpoint`: the prompt (string, strings, token ids) or the chat messages
// (rendered with the tokenizer's chat template), max_tokens, temperature (0: greedy), top_p, seed,
// stop (string or up to 4 strings), n (1 only) and stream. `defaults`: the model's generation
// config (EOS ids, padding). Throws HttpError 400 naming the field.
ApiRequest parse_request(const std::string& body, Endpoint endpoint, const tokenizer::Tokenizer& tokenizer,
                         const generate::GenerationConfig& defaults, const RequestLimits& limits);

// The text of new tokens with everything from the first stop string on removed.
std::string cut_at_stop(std::string text, const std::vector<std::string>& stop);
// "stop" (EOS or a stop string) or "length".
const char* finish_reason_name(generate::FinishReason reason);

struct ResponseIds {
  std::string id;  // cmpl-… / chatcmpl-…
  int64_t created = 0;
  std::string model;
};
ResponseIds new_response_ids(Endpoint endpoint, const std::string& model);

// The full response body of a finished request.
std::string response_body(const ApiRequest& request, const ResponseIds& ids, const std::vector<std::string>& texts,
                          const generate::GenerationResult& result);
// One server-sent event: "data: {chunk}\n\n" with `text` as choice `index`'s delta (chat: the first
// chunk also carries the role), or the finish reason when `finish` is set.
std::string stream_chunk(const ApiRequest& request, const ResponseIds& ids, int64_t index, const std::string& text,
                         std::optional<std::string> finish = std::nullopt);
// The chunk that ends a stream with stream_options.include_usage: no choices, the usage.
std::string stream_usage_chunk(const ApiRequest& request, const ResponseIds& ids, const generate::GenerationResult& result);

}  // namespace shadowpeft::cli
