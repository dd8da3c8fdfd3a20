#include "openai_api.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>

#include "model_setup.h"

namespace shadowpeft::cli {
namespace {

using io::Json;

const char* error_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

HttpError bad(const std::string& message, const std::string& code = {}) { return HttpError(400, message, code); }

// A field's value as the given JSON kind, or a 400 naming it.
const Json& field(const Json& body, const char* key, bool (Json::*is)() const, const char* kind) {
  const Json& v = body.at(key);
  if (!(v.*is)()) throw bad(fmt::format("'{}' must be {}, got {}", key, kind, v.dump()));
  return v;
}

std::vector<int64_t> token_ids(const Json& v, const char* key) {
  std::vector<int64_t> ids;
  for (const Json& id : v) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) throw bad(fmt::format("'{}' token ids must be non-negative integers", key));
    ids.push_back(id.get<int64_t>());
  }
  return ids;
}

std::vector<std::vector<int64_t>> completion_prompts(const Json& body, const tokenizer::Tokenizer& tokenizer) {
  if (!body.contains("prompt")) throw bad("'prompt' is required");
  const Json& prompt = body.at("prompt");
  std::vector<std::vector<int64_t>> prompts;
  if (prompt.is_string()) {
    prompts.push_back(tokenizer.encode(prompt.get<std::string>(), true).ids);
  } else if (prompt.is_array() && !prompt.empty() && prompt[0].is_number_integer()) {
    prompts.push_back(token_ids(prompt, "prompt"));
  } else if (prompt.is_array() && !prompt.empty()) {
    for (const Json& p : prompt) {
      if (p.is_string()) prompts.push_back(tokenizer.encode(p.get<std::string>(), true).ids);
      else if (p.is_array() && !p.empty()) prompts.push_back(token_ids(p, "prompt"));
      else throw bad("'prompt' must be a string, a list of strings, or token ids");
    }
  } else {
    throw bad("'prompt' must be a string, a list of strings, or token ids");
  }
  for (const auto& p : prompts)
    if (p.empty()) throw bad("'prompt' encodes to no tokens");
  return prompts;
}

std::vector<int64_t> chat_prompt(const Json& body, const tokenizer::Tokenizer& tokenizer) {
  if (!body.contains("messages")) throw bad("'messages' is required");
  const Json& messages = field(body, "messages", &Json::is_array, "a list of messages");
  if (messages.empty()) throw bad("'messages' must not be empty");
  Json plain = Json::array();
  for (const Json& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      throw bad("every message needs a 'role' string and a 'content'");
    Json content = m.value("content", Json());
    if (content.is_array()) {  // [{"type": "text", "text": ...}, ...]
      std::string text;
      for (const Json& part : content)
        if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string())
          text += part["text"].get<std::string>();
        else
          throw bad("message content parts other than text are not supported");
      content = text;
    }
    if (!content.is_string()) throw bad("every message needs a 'role' string and a 'content'");
    plain.push_back({{"role", m["role"]}, {"content", content}});
  }
  try {
    return tokenizer.encode(render_chat(tokenizer, plain.dump(), true), false).ids;
  } catch (const std::exception& e) {
    throw bad(fmt::format("the chat template could not render these messages: {}", e.what()));
  }
}

}  // namespace

std::string error_body(int status, const std::string& message, const std::string& code) {
  return Json{{"error", {{"message", message}, {"type", error_type(status)}, {"param", nullptr},
                         {"code", code.empty() ? Json() : Json(code)}}}}
      .dump();
}

ApiRequest parse_request(const std::string& text, Endpoint endpoint, const tokenizer::Tokenizer& tokenizer,
                         const generate::GenerationConfig& defaults, const RequestLimits& limits) {
  Json body;
  try {
    body = Json::parse(text);
  } catch (const std::exception& e) {
    throw bad(fmt::format("the request body is not valid JSON: {}", e.what()));
  }
  if (!body.is_object()) throw bad("the request body must be a JSON object");
  ApiRequest r;
  r.endpoint = endpoint;
  if (!body.contains("model")) throw bad("'model' is required");
  r.model = field(body, "model", &Json::is_string, "a string").get<std::string>();
  if (body.contains("n") && !(body["n"].is_number_integer() && body["n"].get<int64_t>() == 1))
    throw bad("only n = 1 is supported");
  r.stream = body.contains("stream") && !body["stream"].is_null() && field(body, "stream", &Json::is_boolean, "true or false").get<bool>();
  if (body.contains("stream_options") && !body["stream_options"].is_null()) {
    const Json& options = field(body, "stream_options", &Json::is_object, "an object");
    if (!r.stream) throw bad("'stream_options' applies only with stream: true");
    r.stream_usage = options.value("include_usage", false) == true;
  }
  r.prompts = endpoint == Endpoint::Completions ? completion_prompts(body, tokenizer)
                                                : std::vector<std::vector<int64_t>>{chat_prompt(body, tokenizer)};

  generate::GenerationConfig& g = r.generation;
  g = defaults;
  const char* max_key = body.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  g.max_new_tokens = endpoint == Endpoint::Completions ? limits.default_max_tokens : limits.default_chat_max_tokens;
  const bool explicit_max = body.contains(max_key) && !body[max_key].is_null();
  if (explicit_max) {
    const Json& v = field(body, max_key, &Json::is_number_integer, "a positive integer");
    if (v.get<int64_t>() < 1) throw bad(fmt::format("'{}' must be a positive integer, got {}", max_key, v.dump()));
    g.max_new_tokens = v.get<int64_t>();
  }
  std::size_t longest = 0;
  for (const auto& p : r.prompts) longest = std::max(longest, p.size());
  if (static_cast<int64_t>(longest) >= limits.context_length)
    throw bad(fmt::format("the prompt has {} tokens; this model's context is {}", longest, limits.context_length),
              "context_length_exceeded");
  if (static_cast<int64_t>(longest) + g.max_new_tokens > limits.context_length) {
    if (explicit_max)
      throw bad(fmt::format("{} prompt tokens + {} = {} exceed this model's context of {} tokens", longest, g.max_new_tokens,
                            static_cast<int64_t>(longest) + g.max_new_tokens, limits.context_length),
                "context_length_exceeded");
    g.max_new_tokens = limits.context_length - static_cast<int64_t>(longest);
  }
  // OpenAI's defaults: temperature 1 and top_p 1 sample; temperature 0 is greedy. No top-k.
  g.temperature = 1.0;
  if (body.contains("temperature") && !body["temperature"].is_null()) {
    const double t = field(body, "temperature", &Json::is_number, "a number").get<double>();
    if (t < 0 || t > 2) throw bad(fmt::format("'temperature' must be in [0, 2], got {}", t));
    g.temperature = t;
  }
  g.do_sample = g.temperature > 0;
  if (!g.do_sample) g.temperature = 1.0;
  g.top_k = 0;
  g.top_p = 1.0;
  g.min_p = 0.0;
  g.repetition_penalty = 1.0;
  if (body.contains("top_p") && !body["top_p"].is_null()) {
    const double p = field(body, "top_p", &Json::is_number, "a number").get<double>();
    if (p <= 0 || p > 1) throw bad(fmt::format("'top_p' must be in (0, 1], got {}", p));
    g.top_p = p;
  }
  g.seed.reset();
  if (body.contains("seed") && !body["seed"].is_null())
    g.seed = static_cast<uint64_t>(field(body, "seed", &Json::is_number_integer, "an integer").get<int64_t>());
  if (body.contains("stop") && !body["stop"].is_null()) {
    const Json& stop = body["stop"];
    if (stop.is_string()) r.stop.push_back(stop.get<std::string>());
    else if (stop.is_array() && stop.size() <= 4)
      for (const Json& s : stop)
        if (s.is_string() && !s.get<std::string>().empty()) r.stop.push_back(s.get<std::string>());
        else throw bad("'stop' must be a string or a list of up to 4 non-empty strings");
    else
      throw bad("'stop' must be a string or a list of up to 4 non-empty strings");
  }
  g.stop_strings = r.stop;
  return r;
}

std::string cut_at_stop(std::string text, const std::vector<std::string>& stop) {
  std::size_t cut = std::string::npos;
  for (const std::string& s : stop) cut = std::min(cut, text.find(s));
  if (cut != std::string::npos) text.resize(cut);
  return text;
}

const char* finish_reason_name(generate::FinishReason reason) {
  return reason == generate::FinishReason::Length ? "length" : "stop";
}

ResponseIds new_response_ids(Endpoint endpoint, const std::string& model) {
  static std::atomic<uint64_t> counter{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return {fmt::format("{}-{:x}{:04x}", endpoint == Endpoint::Completions ? "cmpl" : "chatcmpl",
                      std::chrono::duration_cast<std::chrono::microseconds>(now).count(), counter++ & 0xffff),
          std::chrono::duration_cast<std::chrono::seconds>(now).count(), model};
}

namespace {

Json usage_of(const ApiRequest& request, const generate::GenerationResult& result) {
  int64_t prompt_tokens = 0, completion_tokens = 0;
  for (std::size_t i = 0; i < request.prompts.size(); ++i) {
    prompt_tokens += static_cast<int64_t>(request.prompts[i].size());
    completion_tokens += static_cast<int64_t>(result.tokens[i].size());
  }
  return {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}, {"total_tokens", prompt_tokens + completion_tokens}};
}

const char* object_name(const ApiRequest& request, bool chunk) {
  if (request.endpoint == Endpoint::Completions) return "text_completion";
  return chunk ? "chat.completion.chunk" : "chat.completion";
}

}  // namespace

std::string response_body(const ApiRequest& request, const ResponseIds& ids, const std::vector<std::string>& texts,
                          const generate::GenerationResult& result) {
  Json choices = Json::array();
  for (std::size_t i = 0; i < texts.size(); ++i) {
    Json choice = {{"index", i}, {"finish_reason", finish_reason_name(result.finish_reasons[i])}};
    if (request.endpoint == Endpoint::ChatCompletions) {
      choice["message"] = {{"role", "assistant"}, {"content", texts[i]}};
    } else {
      choice["text"] = texts[i];
      choice["logprobs"] = nullptr;
    }
    choices.push_back(choice);
  }
  return Json{{"id", ids.id}, {"object", object_name(request, false)}, {"created", ids.created}, {"model", ids.model},
              {"choices", choices}, {"usage", usage_of(request, result)}}
      .dump();
}

std::string stream_usage_chunk(const ApiRequest& request, const ResponseIds& ids, const generate::GenerationResult& result) {
  const Json chunk = {{"id", ids.id}, {"object", object_name(request, true)}, {"created", ids.created},
                      {"model", ids.model}, {"choices", Json::array()}, {"usage", usage_of(request, result)}};
  return "data: " + chunk.dump() + "\n\n";
}

std::string stream_chunk(const ApiRequest& request, const ResponseIds& ids, int64_t index, const std::string& text,
                         std::optional<std::string> finish) {
  const bool chat = request.endpoint == Endpoint::ChatCompletions;
  Json choice = {{"index", index}, {"finish_reason", finish ? Json(*finish) : Json()}};
  if (chat) {
    choice["delta"] = Json::object();
    if (!finish) choice["delta"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  const Json chunk = {{"id", ids.id},
                      {"object", object_name(request, true)},
                      {"created", ids.created},
                      {"model", ids.model},
                      {"choices", Json::array({choice})}};
  return "data: " + chunk.dump() + "\n\n";
}

}  // namespace shadowpeft::cli
