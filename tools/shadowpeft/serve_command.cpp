// `shadowpeft serve`: an OpenAI-compatible HTTP server (cpp-httplib) for one base model and any
// number of ShadowPEFT adapters over it, each selected by the request's `model`. The base is
// loaded once. A decoding thread runs each model's requests in a continuous batch: requests join
// it as they arrive and leave as they finish; more than --max-batch wait, and beyond --max-queue
// more the server answers 429.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <httplib.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>

#include "commands.h"
#include "model_setup.h"
#include "openai_api.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/core/logging.h"
#include "shadowpeft/generate/batch_scheduler.h"
#include "shadowpeft/io/model_dir.h"

namespace shadowpeft::cli {
namespace {

namespace fs = std::filesystem;
using io::Json;

struct ServeFlags {
  ModelFlags model;
  std::vector<std::string> adapters;       // NAME=DIR
  std::vector<std::string> shadow_models;  // NAME=MODEL: adapter NAME's explicit shadow
  std::string served_name;
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string api_key;
  int max_batch = 8;
  int max_queue = 16;
};

// One request's rows as the decoding thread reports them to the HTTP thread that answers it.
class RequestProgress {
 public:
  struct News {
    std::vector<std::pair<std::size_t, int64_t>> tokens;  // (row, token) since the last wait
    bool done = false;                                    // every row finished or failed
  };

  explicit RequestProgress(std::size_t rows) : open_(rows) {
    result_.tokens.resize(rows);
    result_.finish_reasons.assign(rows, generate::FinishReason::Length);
  }

  // The decoding thread's side.
  void token(std::size_t row, int64_t token) {
    update([&] { tokens_.emplace_back(row, token); });
  }
  void finished(std::size_t row, generate::FinishReason reason, const std::vector<int64_t>& tokens) {
    update([&] {
      result_.tokens[row] = tokens;
      result_.finish_reasons[row] = reason;
      --open_;
    });
  }
  void failed(const std::string& message) {
    update([&] {
      error_ = message;
      --open_;
    });
  }

  // The HTTP thread's side: blocks until there is news.
  News wait() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !tokens_.empty() || open_ == 0; });
    News news;
    news.tokens.swap(tokens_);
    news.done = open_ == 0;
    return news;
  }
  // Once done: the rows' tokens and finish reasons, or the error of a failed row.
  const generate::GenerationResult& result() const { return result_; }
  const std::optional<std::string>& error() const { return error_; }

  std::atomic<bool> gone{false};  // the client went away: the rows are cancelled

 private:
  template <typename F>
  void update(F&& change) {
    {
      const std::lock_guard lock(mutex_);
      change();
    }
    changed_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<std::size_t, int64_t>> tokens_;
  std::size_t open_;
  generate::GenerationResult result_;
  std::optional<std::string> error_;
};

// "NAME=VALUE" → (NAME, VALUE), or a ConfigError naming the flag.
std::pair<std::string, std::string> split_name(const std::string& spec, const char* flag, const char* form) {
  const std::size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) throw ConfigError(fmt::format("{} '{}': expected {}", flag, spec, form));
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

class Server {
 public:
  explicit Server(const ServeFlags& flags) : flags_(flags), tokenizer_(load_tokenizer(flags.model, /*need_tokenizer=*/true)) {
    const std::string base_name = flags.served_name.empty() ? fs::path(flags.model.model).filename().string() : flags.served_name;
    models::CausalLM base_model = load_base_model(flags.model);
    base_model->eval();
    defaults_ = default_generation_config(flags.model, base_model->config(), tokenizer_);
    limits_.context_length = base_model->config().max_position_embeddings;
    served_.emplace(base_name, generate::make_decoding_model(base_model));
    names_.push_back(base_name);
    std::map<std::string, std::string> shadow_models;
    for (const std::string& spec : flags.shadow_models) {
      const auto [name, model] = split_name(spec, "--shadow-model", "NAME=MODEL");
      if (!shadow_models.emplace(name, model).second) throw ConfigError(fmt::format("--shadow-model '{}': a second shadow model for '{}'", spec, name));
    }
    for (const std::string& spec : flags.adapters) {
      const auto [name, dir] = split_name(spec, "--adapter", "NAME=DIR");
      if (served_.count(name)) throw ConfigError(fmt::format("--adapter '{}': the name '{}' is already served", spec, name));
      ModelFlags adapter = flags.model;
      adapter.adapter = dir;
      if (const auto it = shadow_models.find(name); it != shadow_models.end()) {
        adapter.shadow_model = it->second;
        shadow_models.erase(it);
      }
      // LoRA adapts the base's own layers, so a LoRA adapter gets a base of its own.
      models::CausalLM base = base_model;
      if (adapter_format(dir) == AdapterFormat::PeftLora) {
        base = load_base_model(flags.model);
        base->eval();
      }
      served_.emplace(name, load_adapter_model(adapter, base).decoding(InferenceMode::BaseShadow));
      names_.push_back(name);
    }
    if (!shadow_models.empty())
      throw ConfigError(fmt::format("--shadow-model '{}=…': no adapter is named '{}'", shadow_models.begin()->first, shadow_models.begin()->first));
    std::map<std::string, generate::DecodingModel*> models;
    for (const auto& [name, model] : served_) models.emplace(name, model.get());
    scheduler_.emplace(models, flags.max_batch, [](const std::string& message) { log_warning(message); });
  }

  void run() {
    httplib::Server http;
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      Json models = Json::object();
      for (const auto& [name, stats] : scheduler_->stats())
        models[name] = {{"running", stats.running}, {"waiting", stats.waiting}, {"steps", stats.steps}, {"largest_batch", stats.largest_batch}};
      res.set_content(Json{{"status", "ok"}, {"models", models}}.dump(), "application/json");
    });
    http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      Json data = Json::array();
      for (const std::string& name : names_) data.push_back({{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "shadowpeft"}});
      res.set_content(Json{{"object", "list"}, {"data", data}}.dump(), "application/json");
    });
    http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, Endpoint::Completions); });
    http.Post("/v1/chat/completions",
              [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, Endpoint::ChatCompletions); });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string message = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        message = e.what();
      } catch (...) {
      }
      res.status = 500;
      res.set_content(error_body(500, message), "application/json");
    });
    http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      log_info(fmt::format("{} {} -> {}", req.method, req.path, res.status));
    });
    // A thread per request that may be in the server, so that a waiting one never holds up the
    // answer (429) to the next.
    const auto threads = static_cast<std::size_t>(flags_.max_batch + flags_.max_queue + 2);
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    const int port = flags_.port == 0 ? http.bind_to_any_port(flags_.host) : (http.bind_to_port(flags_.host, flags_.port) ? flags_.port : -1);
    if (port < 0) throw Error(fmt::format("cannot listen on {}:{} (in use, or not an address of this machine)", flags_.host, flags_.port));
    fmt::print("serving {} on http://{}:{}/v1 (models: {})\n", names_.front(), flags_.host, port, fmt::join(names_, ", "));
    std::fflush(stdout);
    http.listen_after_bind();
  }

 private:
  // One request in the server: counted from arrival to the end of its response.
  struct Slot {
    explicit Slot(std::atomic<int>& count) : count_(count) { ++count_; }
    ~Slot() { --count_; }
    std::atomic<int>& count_;
  };

  bool authorized(const httplib::Request& req, httplib::Response& res) const {
    if (flags_.api_key.empty() || req.get_header_value("Authorization") == "Bearer " + flags_.api_key) return true;
    res.status = 401;
    res.set_content(error_body(401, "invalid or missing API key (Authorization: Bearer KEY)", "invalid_api_key"), "application/json");
    return false;
  }

  void handle(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
    if (!authorized(req, res)) return;
    auto slot = std::make_shared<Slot>(requests_);
    try {
      if (requests_.load() > flags_.max_batch + flags_.max_queue)
        throw HttpError(429, fmt::format("the server is busy: {} requests are running and {} waiting (--max-batch, --max-queue)",
                                         flags_.max_batch, flags_.max_queue));
      auto request = std::make_shared<ApiRequest>(parse_request(req.body, endpoint, *tokenizer_, defaults_, limits_));
      if (!served_.count(request->model))
        throw HttpError(404, fmt::format("model '{}' is not served here; served: {}", request->model, fmt::join(names_, ", ")),
                        "model_not_found");
      auto progress = std::make_shared<RequestProgress>(request->prompts.size());
      submit(*request, progress, slot);
      if (request->stream) {
        res.set_chunked_content_provider("text/event-stream", [this, request, progress, slot](std::size_t, httplib::DataSink& sink) {
          return stream(*request, *progress, sink);
        });
        return;
      }
      while (!progress->wait().done) {
      }
      if (progress->error()) throw HttpError(500, *progress->error());
      const ResponseIds ids = new_response_ids(endpoint, request->model);
      std::vector<std::string> texts;
      for (const auto& tokens : progress->result().tokens) texts.push_back(cut_at_stop(tokenizer_->decode(tokens, true), request->stop));
      res.set_content(response_body(*request, ids, texts, progress->result()), "application/json");
    } catch (const HttpError& e) {
      res.status = e.status;
      res.set_content(error_body(e.status, e.what(), e.code), "application/json");
    }
  }

  // The request's prompts join its model's batch; the rows hold the request's slot until they leave.
  void submit(const ApiRequest& request, const std::shared_ptr<RequestProgress>& progress, const std::shared_ptr<Slot>& slot) {
    std::vector<generate::BatchRow> rows;
    for (std::size_t i = 0; i < request.prompts.size(); ++i) {
      generate::BatchRow row;
      row.prompt = request.prompts[i];
      row.config = request.generation;
      row.on_token = [progress, i](int64_t token) { progress->token(i, token); };
      row.on_finish = [progress, slot, i](generate::FinishReason reason, const std::vector<int64_t>& tokens) {
        progress->finished(i, reason, tokens);
      };
      row.on_error = [progress](const std::string& message) { progress->failed(message); };
      row.decode = [this](const std::vector<int64_t>& ids) { return tokenizer_->decode(ids, true); };
      row.cancelled = [progress] { return progress->gone.load(); };
      rows.push_back(std::move(row));
    }
    try {
      scheduler_->submit(request.model, std::move(rows));
    } catch (const ConfigError& e) {
      throw HttpError(400, e.what());
    }
  }

  // Server-sent events: a chunk per piece of text of every choice, held back where it could be
  // the start of a stop string, then each choice's finish reason and [DONE]. A client that goes
  // away cancels its rows (false: the connection is done with).
  bool stream(const ApiRequest& request, RequestProgress& progress, httplib::DataSink& sink) {
    const ResponseIds ids = new_response_ids(request.endpoint, request.model);
    std::size_t hold = 0;
    for (const std::string& s : request.stop) hold = std::max(hold, s.size() - 1);
    const std::size_t n = request.prompts.size();
    std::vector<std::string> text(n);
    std::vector<std::size_t> sent(n, 0);
    bool gone = false;
    auto send = [&](const std::string& event) {
      if (!gone && !sink.write(event.data(), event.size())) gone = true;
    };
    auto flush = [&](std::size_t row, bool final) {
      const std::string visible = cut_at_stop(text[row], request.stop);
      const std::size_t upto = final || visible.size() < text[row].size() ? visible.size()
                               : visible.size() > hold                    ? visible.size() - hold
                                                                          : 0;
      if (upto > sent[row]) {
        send(stream_chunk(request, ids, static_cast<int64_t>(row), visible.substr(sent[row], upto - sent[row])));
        sent[row] = upto;
      }
    };
    std::vector<std::unique_ptr<TextStreamer>> streamers;
    for (std::size_t row = 0; row < n; ++row)
      streamers.push_back(std::make_unique<TextStreamer>(*tokenizer_, [&, row](std::string_view piece) {
        text[row].append(piece);
        flush(row, false);
      }));
    for (bool done = false; !done && !gone;) {
      RequestProgress::News news = progress.wait();
      for (const auto& [row, token] : news.tokens) streamers[row]->add(token);
      done = news.done;
    }
    if (gone) {
      progress.gone = true;
      return false;
    }
    if (progress.error()) {
      send("data: " + error_body(500, *progress.error()) + "\n\n");
      return false;
    }
    const generate::GenerationResult& result = progress.result();
    for (std::size_t row = 0; row < n; ++row) {
      streamers[row]->finish();
      flush(row, true);
      send(stream_chunk(request, ids, static_cast<int64_t>(row), "", finish_reason_name(result.finish_reasons[row])));
    }
    if (request.stream_usage) send(stream_usage_chunk(request, ids, result));
    send("data: [DONE]\n\n");
    sink.done();
    return !gone;
  }

  const ServeFlags& flags_;
  std::optional<tokenizer::Tokenizer> tokenizer_;  // always present
  generate::GenerationConfig defaults_;
  RequestLimits limits_;
  std::map<std::string, std::unique_ptr<generate::DecodingModel>> served_;
  std::vector<std::string> names_;  // the base first
  std::atomic<int> requests_{0};
  std::optional<generate::BatchScheduler> scheduler_;  // last: its thread stops before the models go
};

}  // namespace

void add_serve_command(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "An OpenAI-compatible HTTP server for a base model and its ShadowPEFT adapters");
  add_model_flags(cmd, f->model, {.adapter = false, .mode = false});
  cmd->add_option("--adapter", f->adapters, "NAME=DIR: serve this adapter as model NAME (repeatable)");
  cmd->add_option("--shadow-model", f->shadow_models,
                  "NAME=MODEL: the explicit (or projected) shadow model of adapter NAME, directory or org/name (repeatable)");
  cmd->add_option("--served-model-name", f->served_name, "The base model's name in requests (default: its directory name)");
  cmd->add_option("--host", f->host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", f->port, "Port (default 8000; 0: any free port, printed at start)")->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", f->api_key, "Require 'Authorization: Bearer KEY' on /v1 requests");
  cmd->add_option("--max-batch", f->max_batch, "Requests (prompts) decoded together per model (default 8)")->check(CLI::Range(1, 1024));
  cmd->add_option("--max-queue", f->max_queue, "Requests that may wait while the batch is full, before 429 (default 16)")
      ->check(CLI::Range(0, 100000));
  cmd->callback([f] {
    Server server(*f);
    server.run();
  });
}

}  // namespace shadowpeft::cli
