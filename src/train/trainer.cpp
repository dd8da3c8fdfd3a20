#include "shadowpeft/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>

#include "shadowpeft/core/error.h"
#include "shadowpeft/core/logging.h"
#include "shadowpeft/core/progress.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/causal_lm.h"
#include "shadowpeft/train/adamw.h"
#include "shadowpeft/train/distributed.h"
#include "shadowpeft/train/loss_curve.h"
#include "shadowpeft/train/lr_schedule.h"

namespace shadowpeft::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kParametersFile = "trainer_parameters.safetensors";
constexpr const char* kOptimizerFile = "optimizer.safetensors";
constexpr const char* kRngFile = "rng_state.safetensors";
constexpr const char* kStateFile = "trainer_state.json";

// bf16: matmuls in bfloat16 under autocast on the model's device; weights and optimizer stay fp32.
class AutocastScope {
 public:
  AutocastScope(bool enabled, c10::DeviceType device) : enabled_(enabled), device_(device) {
    if (!enabled_) return;
    previous_ = at::autocast::is_autocast_enabled(device_);
    at::autocast::set_autocast_dtype(device_, at::kBFloat16);
    at::autocast::set_autocast_enabled(device_, true);
  }
  ~AutocastScope() {
    if (!enabled_) return;
    at::autocast::set_autocast_enabled(device_, previous_);
    at::autocast::clear_cache();
  }

 private:
  bool enabled_, previous_ = false;
  c10::DeviceType device_;
};

std::vector<AdamWParameter> optimizer_parameters(TrainingTask& task, const TrainingArguments& args) {
  std::vector<AdamWParameter> out;
  for (auto& p : task.trainable_parameters())
    out.push_back({p.name, p.tensor, args.learning_rate * (p.shadow ? args.shadow_lr_multiplier : 1.0),
                   p.decay ? args.weight_decay : 0.0});
  if (out.empty()) throw ConfigError("the model has no trainable parameters (was the adapter loaded with is_trainable?)");
  return out;
}

io::TensorMap parameter_values(TrainingTask& task) {
  io::TensorMap values;
  for (auto& p : task.trainable_parameters()) values.emplace(p.name, p.tensor.detach());
  return values;
}

void load_parameter_values(TrainingTask& task, const io::TensorMap& values, const std::string& source) {
  at::NoGradGuard no_grad;
  std::vector<std::string> problems;
  const auto params = task.trainable_parameters();
  for (const auto& p : params) {
    const auto it = values.find(p.name);
    if (it == values.end()) problems.push_back("missing " + p.name);
    else if (it->second.sizes() != p.tensor.sizes())
      problems.push_back(fmt::format("{}: expected [{}], got [{}]", p.name, fmt::join(p.tensor.sizes(), ", "),
                                     fmt::join(it->second.sizes(), ", ")));
    else p.tensor.copy_(it->second);
  }
  if (values.size() != params.size()) problems.push_back(fmt::format("{} tensors for {} trainable parameters", values.size(), params.size()));
  if (!problems.empty())
    throw LoadError(fmt::format("{}: checkpoint does not fit the model being trained: {}", source, fmt::join(problems, "; ")));
}

TrainBatch on_device(TrainBatch batch, const c10::Device& device) {
  if (batch.input_ids.device() == device) return batch;
  return {batch.input_ids.to(device), batch.attention_mask.to(device), batch.labels.to(device), std::move(batch.lines),
          batch.position_ids.defined() ? batch.position_ids.to(device) : at::Tensor()};
}

// "lines 3, 17 and 40" (the first few of many).
std::string lines_text(const std::vector<std::size_t>& lines) {
  if (lines.empty()) return "unknown lines";
  constexpr std::size_t kShown = 8;
  std::string text = fmt::format("line{} {}", lines.size() > 1 ? "s" : "", fmt::join(lines.begin(), lines.begin() + std::min(lines.size(), kShown), ", "));
  if (lines.size() > kShown) text += fmt::format(" and {} more", lines.size() - kShown);
  return text;
}

c10::Device device_of(TrainingTask& task) {
  const auto params = task.module().parameters();
  return params.empty() ? c10::Device(c10::kCPU) : params.front().device();
}

io::Json metrics_json(const std::map<std::string, double>& metrics) {
  io::Json json = io::Json::object();
  for (const auto& [key, value] : metrics) json[key] = value;
  return json;
}

// Every process ends the step with the mean of the processes' gradients.
void average_gradients(ProcessGroup& group, const std::vector<at::Tensor>& parameters) {
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  group.all_reduce_sum(grads);
  for (at::Tensor& g : grads) g.div_(static_cast<double>(group.world_size()));
}

// Sums over the processes, in place.
void sum_over_processes(ProcessGroup& group, std::vector<double>& values) {
  std::vector<at::Tensor> buffer{at::tensor(values, at::kDouble).to(group.device())};
  group.all_reduce_sum(buffer);
  const at::Tensor result = buffer[0].cpu();
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = result[static_cast<int64_t>(i)].item<double>();
}

}  // namespace

std::optional<fs::path> latest_checkpoint(const fs::path& output_dir) {
  if (!fs::is_directory(output_dir)) return std::nullopt;
  static const std::regex pattern("checkpoint-([0-9]+)");
  std::optional<fs::path> best;
  int64_t best_step = -1;
  for (const auto& entry : fs::directory_iterator(output_dir)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || !std::regex_match(name, m, pattern) || !fs::exists(entry.path() / kStateFile)) continue;
    if (const int64_t step = std::stoll(m[1].str()); step > best_step) best_step = step, best = entry.path();
  }
  return best;
}

Trainer::Trainer(TrainingTask& task, TrainingArguments args, BatchSource& train_batches, BatchSource* eval_batches)
    : task_(task), args_(std::move(args)), train_(train_batches), eval_(eval_batches) {
  args_.validate();
  if (train_.size() == 0) throw ConfigError("the training set has no batches");
  // A trainable tensor owns its storage: one that still shares a frozen tensor's (a head that
  // started as a view of the base's) would change the frozen one with every step.
  std::set<const void*> frozen_storage;
  for (const at::Tensor& p : task_.module().parameters())
    if (!p.requires_grad()) frozen_storage.insert(p.storage().data());
  for (TrainingTask::Parameter& p : task_.trainable_parameters()) {
    const at::ScalarType dtype = p.tensor.scalar_type();
    if (dtype == at::kBFloat16 || dtype == at::kHalf) p.tensor.set_data(p.tensor.detach().to(at::kFloat));
    else if (frozen_storage.count(p.tensor.storage().data())) p.tensor.set_data(p.tensor.detach().clone());
  }
  // Reentrant checkpointing: parameter gradients reach .grad because train() calls loss.backward().
  if (args_.gradient_checkpointing && models::set_gradient_checkpointing(task_.module(), true) == 0)
    throw ConfigError("gradient_checkpointing: the model being trained has no decoder to checkpoint");
}

bool Trainer::is_main() const { return !group_ || group_->rank() == 0; }
int64_t Trainer::world_size() const { return group_ ? group_->world_size() : 1; }

std::map<std::string, double> Trainer::evaluate() {
  if (!eval_) throw ConfigError("evaluate: no evaluation set");
  const bool was_training = task_.module().is_training();
  task_.module().eval();
  at::NoGradGuard no_grad;
  EvalSums sums;
  const c10::Device device = device_of(task_);
  // Split over the processes when each gets a batch (then every process holds the same keys).
  const bool split = group_ && eval_->size() >= world_size();
  for (int64_t i = split ? group_->rank() : 0; i < eval_->size(); i += split ? world_size() : 1) {
    sums.add(task_.evaluate(on_device(eval_->get(0, i), device)));
    if (eval_progress_) eval_progress_(i + 1, eval_->size());
  }
  if (split) {
    std::vector<double> values;
    for (const auto& [key, value] : sums.sums) values.push_back(value);
    sum_over_processes(*group_, values);
    std::size_t i = 0;
    for (auto& [key, value] : sums.sums) value = values[i++];
  }
  task_.module().train(was_training);
  std::map<std::string, double> out;
  for (const auto& [key, value] : sums.metrics()) out["eval_" + key] = value;
  if (const auto it = out.find("eval_" + task_.eval_loss_metric()); it != out.end()) out["eval_loss"] = it->second;
  return out;
}

void Trainer::save_checkpoint(int64_t step, const AdamW& optimizer) {
  if (is_main()) write_checkpoint(step, optimizer);
  if (group_) group_->barrier();  // whoever resumes later reads what rank 0 wrote
}

void Trainer::check_finite_parameters(const std::string& what) {
  for (const TrainingTask::Parameter& p : task_.trainable_parameters())
    if (!at::isfinite(p.tensor).all().item<bool>())
      throw Error(fmt::format("not writing {}: the trainable parameter '{}' holds NaN or infinite values", what, p.name));
}

void Trainer::write_checkpoint_files(const fs::path& dir, int64_t step, const AdamW& optimizer) {
  fs::create_directories(dir);
  task_.save_pretrained(dir);
  io::save_safetensors(dir / kParametersFile, parameter_values(task_));
  io::save_safetensors(dir / kOptimizerFile, optimizer.state_dict());
  io::save_safetensors(dir / kRngFile, {{"cpu", at::detail::getDefaultCPUGenerator().get_state()}});
  io::Json state = io::Json::object();
  state["global_step"] = step;
  state["optimizer_steps"] = optimizer.steps();
  state["epoch"] = static_cast<double>(step * args_.gradient_accumulation_steps * world_size()) / static_cast<double>(train_.size());
  state["log_history"] = io::Json::array();
  for (const std::string& line : log_lines_) state["log_history"].push_back(io::Json::parse(line));
  state["args"] = args_.to_json();
  io::write_json_file(dir / kStateFile, state);
}

void Trainer::save_final(const fs::path& out) {
  check_finite_parameters(out.string());
  // Written beside the output and moved in once complete: a failed write (a full disk) leaves the
  // previous files as they were.
  const fs::path staging = out / ".final.tmp";
  fs::remove_all(staging);
  try {
    fs::create_directories(staging);
    task_.save_pretrained(staging);
  } catch (const std::exception& e) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw Error(fmt::format("saving the trained files to {} failed, the checkpoints are intact: {}", out.string(), e.what()));
  }
  for (const auto& entry : fs::directory_iterator(staging)) {
    const fs::path target = out / entry.path().filename();
    if (fs::is_directory(target)) fs::remove_all(target);
    fs::rename(entry.path(), target);
  }
  fs::remove(staging);
}

void Trainer::write_checkpoint(int64_t step, const AdamW& optimizer) {
  const fs::path out(args_.output_dir);
  const fs::path final_dir = out / fmt::format("checkpoint-{}", step);
  check_finite_parameters(final_dir.string());
  // Written beside its final name and renamed into place: a kill at any moment leaves either the
  // complete checkpoint or a temporary directory that the next run removes; a failed write (a full
  // disk) removes it at once.
  const fs::path tmp = out / fmt::format(".checkpoint-{}.tmp", step);
  fs::remove_all(tmp);
  try {
    write_checkpoint_files(tmp, step, optimizer);
  } catch (const std::exception& e) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw Error(fmt::format("saving checkpoint-{} failed, earlier checkpoints are intact: {}", step, e.what()));
  }
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  if (args_.save_total_limit) {
    std::vector<std::pair<int64_t, fs::path>> checkpoints;
    for (const auto& entry : fs::directory_iterator(out)) {
      const std::string name = entry.path().filename().string();
      if (entry.is_directory() && name.rfind("checkpoint-", 0) == 0)
        checkpoints.emplace_back(std::stoll(name.substr(11)), entry.path());
    }
    std::sort(checkpoints.begin(), checkpoints.end());
    for (std::size_t i = 0; i + static_cast<std::size_t>(*args_.save_total_limit) < checkpoints.size(); ++i)
      fs::remove_all(checkpoints[i].second);
  }
}

TrainOutput Trainer::train(const std::optional<fs::path>& resume_from_checkpoint) {
  const fs::path out(args_.output_dir);
  fs::create_directories(out);
  if (is_main())
    for (const auto& entry : fs::directory_iterator(out))
      if (entry.path().extension() == ".tmp") fs::remove_all(entry.path());  // an interrupted save

  const int64_t accumulation = args_.gradient_accumulation_steps;
  // Each process sees 1/W of the batches of an epoch.
  const int64_t world = world_size(), rank = group_ ? group_->rank() : 0;
  const int64_t total = args_.total_steps((train_.size() + world - 1) / world);
  const LRSchedule schedule(args_.lr_scheduler_type, args_.warmup_steps_for(total), total);
  std::vector<AdamWParameter> params = optimizer_parameters(task_, args_);
  std::vector<at::Tensor> tensors;
  for (const auto& p : params) tensors.push_back(p.tensor);
  AdamW optimizer(params, args_.adam_beta1, args_.adam_beta2, args_.adam_epsilon);
  at::manual_seed(args_.seed);

  int64_t step = 0;
  log_lines_.clear();
  records_.clear();
  if (resume_from_checkpoint) {
    fs::path dir = *resume_from_checkpoint;
    if (!fs::exists(dir / kStateFile)) {
      const auto latest = latest_checkpoint(dir);
      if (!latest) throw LoadError(fmt::format("{}: no checkpoint to resume from (no {} and no checkpoint-N/)", dir.string(), kStateFile));
      dir = *latest;
    }
    const io::Json state = io::read_json_file(dir / kStateFile);
    step = state.at("global_step").get<int64_t>();
    load_parameter_values(task_, io::SafetensorsFile::open(dir / kParametersFile).load_all(), (dir / kParametersFile).string());
    optimizer.load_state_dict(io::SafetensorsFile::open(dir / kOptimizerFile).load_all(), state.at("optimizer_steps").get<int64_t>(),
                              (dir / kOptimizerFile).string());
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    generator.set_state(io::SafetensorsFile::open(dir / kRngFile).tensor("cpu").clone());
    for (const auto& entry : state.at("log_history")) log_lines_.push_back(entry.dump());
    log_info(fmt::format("resuming from {} at step {}/{}", dir.string(), step, total));
  }

  if (group_) {
    std::vector<at::Tensor> weights;
    for (const at::Tensor& t : tensors) weights.push_back(t.detach());
    group_->broadcast(weights, 0);  // one starting point, whatever each process initialised
  }

  std::ofstream log_file;
  if (is_main()) log_file.open(out / "train_log.jsonl", resume_from_checkpoint ? std::ios::app : std::ios::trunc);
  auto log = [&](io::Json entry) {
    const std::string line = entry.dump();
    log_lines_.push_back(line);
    if (!is_main()) return;
    log_file << line << '\n';
    log_file.flush();
    if (!log_file) throw Error(fmt::format("writing {} failed: {}", (out / "train_log.jsonl").string(), std::strerror(errno)));
  };

  task_.module().train();
  const AutocastScope autocast(args_.bf16, tensors.front().device().type());
  int64_t consumed = step * accumulation;  // micro-batches, across epochs
  const auto start = Clock::now();
  double loss_since_log = 0, loss_sum = 0;
  int64_t steps_since_log = 0, steps_run = 0, tokens_run = 0, skipped = 0;
  bool interrupted = false;
  double evaluation_seconds = 0;  // spent in the evaluations between steps
  while (step < total && (!stop_after_ || steps_run < *stop_after_)) {
    const double multiplier = schedule.multiplier(step);
    task_.begin_step(step, total);
    double step_loss = 0;
    int64_t step_tokens = 0;
    std::vector<std::size_t> step_lines;
    for (int64_t m = 0; m < accumulation; ++m, ++consumed) {
      const int64_t index = consumed * world + rank;  // in the order all processes share
      const TrainBatch batch = on_device(train_.get(index / train_.size(), index % train_.size()), tensors.front().device());
      const at::Tensor loss = task_.loss(batch);
      (loss / static_cast<double>(accumulation)).backward();
      step_loss += loss.item<double>() / static_cast<double>(accumulation);
      step_tokens += batch.tokens();
      step_lines.insert(step_lines.end(), batch.lines.begin(), batch.lines.end());
    }
    bool stop = stop_requested_ && stop_requested_();
    if (group_) {
      average_gradients(*group_, tensors);
      // The stop request travels with the loss: every process learns of it at the same step.
      std::vector<double> totals{step_loss, static_cast<double>(step_tokens), stop ? 1.0 : 0.0};
      sum_over_processes(*group_, totals);
      step_loss = totals[0] / static_cast<double>(world);
      step_tokens = static_cast<int64_t>(totals[1]);
      stop = totals[2] > 0;
    }
    // The norm is of the averaged gradients, so every process decides alike.
    const double grad_norm = clip_grad_norm(tensors, args_.max_grad_norm);
    const bool finite = std::isfinite(step_loss) && std::isfinite(grad_norm);
    if (!finite) {
      std::sort(step_lines.begin(), step_lines.end());
      const std::string what = fmt::format("step {}: loss {}, gradient norm {} on the batches of data {}{}", step + 1, step_loss, grad_norm,
                                           lines_text(step_lines), group_ ? " (this process's share)" : "");
      if (!args_.skip_nonfinite_steps)
        throw Error(fmt::format("training diverged at {}; the weights were not updated with it. Lower the learning rate, check "
                                "those records, or skip such steps (skip_nonfinite_steps, --skip-nonfinite-steps)",
                                what));
      if (is_main()) log_warning(fmt::format("skipped {}", what));
      ++skipped;
    } else {
      optimizer.step(multiplier);
      // Autocast caches bfloat16 copies of weights that require grad: the updated ones must be cast anew.
      if (args_.bf16) at::autocast::clear_cache();
    }
    optimizer.zero_grad();
    ++step;
    ++steps_run;
    tokens_run += step_tokens;
    if (finite) {
      records_.push_back({step, step_loss, grad_norm, args_.learning_rate * multiplier, step_tokens});
      loss_since_log += step_loss;
      loss_sum += step_loss;
      ++steps_since_log;
    } else {
      log({{"step", step}, {"skipped", true}, {"loss", nullptr}, {"grad_norm", nullptr}});
    }

    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double epoch = static_cast<double>(consumed * world) / static_cast<double>(train_.size());
    if ((step % args_.logging_steps == 0 || step == total) && steps_since_log > 0) {
      const double tokens_per_second = elapsed > 0 ? static_cast<double>(tokens_run) / elapsed : 0;
      log({{"step", step}, {"epoch", epoch}, {"loss", loss_since_log / static_cast<double>(steps_since_log)},
           {"grad_norm", grad_norm}, {"learning_rate", args_.learning_rate * multiplier},
           {"tokens_per_second", tokens_per_second}});
      const double eta = elapsed / static_cast<double>(steps_run) * static_cast<double>(total - step);
      if (is_main())
        log_info(fmt::format("step {}/{} ({:.0f}%)  loss {:.4f}  lr {:.3g}  grad {:.3g}  {:.0f} tok/s  elapsed {}  ETA {}", step,
                           total, 100.0 * static_cast<double>(step) / static_cast<double>(total),
                           loss_since_log / static_cast<double>(steps_since_log), args_.learning_rate * multiplier, grad_norm,
                           tokens_per_second, format_duration(elapsed), format_duration(eta)));
      loss_since_log = 0;
      steps_since_log = 0;
    }
    if (eval_ && args_.eval_steps > 0 && step % args_.eval_steps == 0 && step < total) {
      const auto eval_start = Clock::now();
      io::Json entry = metrics_json(evaluate());
      entry["step"] = step;
      // Seconds spent training so far, evaluations left out: how long it took to reach this loss.
      entry["train_seconds"] = elapsed - evaluation_seconds;
      evaluation_seconds += std::chrono::duration<double>(Clock::now() - eval_start).count();
      log(entry);
      if (is_main()) log_info(fmt::format("eval at step {}: {}", step, entry.dump()));
    }
    const bool saved = args_.save_steps > 0 && step % args_.save_steps == 0 && step < total;
    if (saved) save_checkpoint(step, optimizer);
    if (stop && step < total) {
      if (!saved) save_checkpoint(step, optimizer);
      interrupted = true;
      break;
    }
  }

  TrainOutput result;
  result.global_step = step;
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.train_loss = steps_run > skipped ? loss_sum / static_cast<double>(steps_run - skipped) : 0;
  result.interrupted = interrupted;
  result.skipped_steps = skipped;
  result.tokens_per_second = result.seconds > 0 ? static_cast<double>(tokens_run) / result.seconds : 0;
  if (step < total) return result;  // stopped early on request: no final artefacts
  if (eval_) {
    result.eval_metrics = evaluate();
    io::Json entry = metrics_json(result.eval_metrics);
    entry["step"] = step;
    entry["train_seconds"] = result.seconds - evaluation_seconds;
    log(entry);
  }
  save_checkpoint(step, optimizer);
  if (!is_main()) return result;
  save_final(out);
  CurvePoints train_curve, eval_curve;
  for (const std::string& line : log_lines_) {
    const io::Json entry = io::Json::parse(line);
    if (entry.contains("loss") && entry["loss"].is_number()) train_curve.emplace_back(entry["step"].get<double>(), entry["loss"].get<double>());
    if (entry.contains("eval_loss")) eval_curve.emplace_back(entry["step"].get<double>(), entry["eval_loss"].get<double>());
  }
  write_loss_curve_svg(out / "loss_curve.svg", train_curve, eval_curve);
  return result;
}

}  // namespace shadowpeft::train
