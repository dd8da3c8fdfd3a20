// `shadowpeft train`: fine-tunes a ShadowPEFT adapter on a JSONL/JSON/CSV dataset with the trainer
// (HF TrainingArguments names), printing base / base+shadow / shadow-only metrics before and after;
// or, with --task shadow_pretraining / projection_alignment, prepares a shadow model (upstream's
// pretraining and LM-head alignment workflows).
// `shadowpeft eval`: those metrics for a saved adapter.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <signal.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "adapter_flags.h"
#include "commands.h"
#include "local_launcher.h"
#include "model_setup.h"
#include "shadowpeft/core/error.h"
#include "shadowpeft/core/logging.h"
#include "shadowpeft/core/progress.h"
#include "shadowpeft/data/collate.h"
#include "shadowpeft/data/dataset.h"
#include "shadowpeft/data/packing.h"
#include "shadowpeft/data/split.h"
#include "shadowpeft/io/json_file.h"
#include "shadowpeft/io/model_dir.h"
#include "shadowpeft/io/safetensors.h"
#include "shadowpeft/models/loader.h"
#include "shadowpeft/peft/lora_model.h"
#include "shadowpeft/peft/shadow_model.h"
#include "shadowpeft/shadow/task_models.h"
#include "shadowpeft/tokenizer/tokenizer.h"
#include "shadowpeft/train/dataset_batches.h"
#include "shadowpeft/train/distributed.h"
#include "shadowpeft/train/trainer.h"

namespace shadowpeft::cli {
namespace {

namespace fs = std::filesystem;

struct TrainFlags {
  std::string model, tokenizer, adapter, data, eval_data, config, task = "causal_lm";
  io::Json config_training_arguments;  // --config's TrainingArguments fields (with_config_file)
  std::string teacher;  // projection_alignment: the small model whose LM head teaches
  std::string shadow_model;  // an explicit shadow: a fresh adapter's, or the one --adapter was trained with
  train::ProjectionAlignmentOptions alignment;
  std::string distill_loss = "kld";
  std::optional<double> eval_fraction;
  std::string resume;
  bool resume_latest = false;
  bool json = false;
  // Dataset
  std::size_t max_length = 512;
  bool packing = false, skip_bad_records = false;
  std::string packing_strategy = "bfd";
  std::string chat_template_kwargs = "{}";
  // The adapter's method and a fresh adapter's hyper-parameters
  std::string method;  // "shadow" (shadow-peft's format) or "peft-shadow"; empty: shadow, or --adapter's
  AdapterFlags adapter_flags;
  // TrainingArguments overrides
  std::optional<std::string> output_dir, lr_scheduler_type;
  std::optional<double> num_train_epochs, learning_rate, weight_decay, max_grad_norm, warmup_ratio, shadow_lr_multiplier;
  std::optional<int64_t> max_steps, batch_size, eval_batch_size, gradient_accumulation_steps, warmup_steps, logging_steps,
      eval_steps, save_steps, save_total_limit, ddp_timeout;
  std::optional<uint64_t> seed;
  bool bf16 = false, gradient_checkpointing = false, skip_nonfinite_steps = false, group_by_length = false;
  std::string device = "cpu";
  std::string base_dtype = "float32";  // the frozen base's weights; the adapter trains in float32
  std::string quantize = "none";       // weight-only quantization of the base's Linear layers
  int nproc_per_node = 1;
  std::optional<int64_t> num_labels;  // seq_cls over a causal-LM directory
};

train::TrainingArguments training_arguments(const TrainFlags& f) {
  train::TrainingArguments a = f.config.empty() ? train::TrainingArguments{}
                                                : train::TrainingArguments::from_json(f.config_training_arguments, f.config);
  auto set = [](auto& field, const auto& flag) {
    if (flag) field = *flag;
  };
  set(a.output_dir, f.output_dir);
  set(a.lr_scheduler_type, f.lr_scheduler_type);
  set(a.num_train_epochs, f.num_train_epochs);
  set(a.learning_rate, f.learning_rate);
  set(a.weight_decay, f.weight_decay);
  set(a.max_grad_norm, f.max_grad_norm);
  set(a.warmup_ratio, f.warmup_ratio);
  set(a.shadow_lr_multiplier, f.shadow_lr_multiplier);
  set(a.max_steps, f.max_steps);
  set(a.per_device_train_batch_size, f.batch_size);
  set(a.per_device_eval_batch_size, f.eval_batch_size);
  set(a.gradient_accumulation_steps, f.gradient_accumulation_steps);
  set(a.warmup_steps, f.warmup_steps);
  set(a.logging_steps, f.logging_steps);
  set(a.eval_steps, f.eval_steps);
  set(a.save_steps, f.save_steps);
  set(a.ddp_timeout, f.ddp_timeout);
  if (f.save_total_limit) a.save_total_limit = *f.save_total_limit;
  set(a.seed, f.seed);
  if (f.bf16) a.bf16 = true;
  if (f.gradient_checkpointing) a.gradient_checkpointing = true;
  if (f.group_by_length) a.group_by_length = true;
  if (f.skip_nonfinite_steps) a.skip_nonfinite_steps = true;
  a.validate();
  return a;
}

data::Dataset load_data(const std::string& path, const tokenizer::Tokenizer& tokenizer, const TrainFlags& f) {
  data::DatasetOptions options;
  options.max_length = f.max_length;
  options.packing = f.packing;
  options.packing_strategy = data::parse_packing_strategy(f.packing_strategy);
  options.skip_bad_records = f.skip_bad_records;
  options.chat_template_kwargs = f.chat_template_kwargs;
  if (f.task == "seq_cls") options.kind = data::RecordKind::Classification;
  data::Dataset dataset = data::load_dataset(path, tokenizer, options);
  const auto& s = dataset.stats;
  log_info(fmt::format("{}: {} examples ({}) from {} records; {} bad records skipped, {} truncated to {} tokens, {} without a loss token dropped",
                       path, dataset.examples.size(), data::to_string(dataset.kind), s.records, s.bad_records, s.truncated,
                       f.max_length, s.dropped_no_loss));
  if (dataset.examples.empty()) throw ConfigError(fmt::format("{}: no usable examples", path));
  return dataset;
}

// --device; `cuda` in a multi-process run means this process's GPU (LOCAL_RANK).
c10::Device training_device(const TrainFlags& f) {
  std::optional<c10::Device> parsed;
  try {
    parsed.emplace(f.device);
  } catch (const std::exception&) {
    throw ConfigError(fmt::format("--device {:?}: expected cpu, cuda or cuda:N", f.device));
  }
  c10::Device device = *parsed;
  if (device.is_cuda() && !torch::cuda::is_available())
    throw ConfigError(fmt::format("--device {}: no CUDA device is available to this process", f.device));
  if (device.is_cuda() && !device.has_index())
    if (const auto env = train::DistributedEnvironment::from_environment())
      device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env->local_rank));
  return device;
}

peft::TaskType peft_task(const TrainFlags& f) {
  return f.task == "seq_cls" ? peft::TaskType::SequenceClassification : peft::TaskType::CausalLM;
}

bool trains_a_model(const TrainFlags& f) { return f.task == "shadow_pretraining" || f.task == "projection_alignment"; }

// The adapter method: --adapter's format when continuing one (a --method that disagrees is an
// error), else --method (default shadow).
std::string adapter_method(const TrainFlags& f) {
  if (f.adapter.empty()) return f.method.empty() ? "shadow" : f.method;
  const AdapterFormat format = adapter_format(f.adapter);
  const std::string found = format == AdapterFormat::PeftShadow ? "peft-shadow" : format == AdapterFormat::PeftLora ? "lora" : "shadow";
  if (!f.method.empty() && f.method != found)
    throw ConfigError(fmt::format("--method {}: --adapter {} is a {}", f.method, f.adapter, describe(format)));
  return found;
}

// Flag combinations that cannot work, before anything is loaded.
void check_flags(const TrainFlags& f) {
  training_device(f);  // throws on an unknown or unavailable device
  if (trains_a_model(f) && !f.adapter.empty())
    throw ConfigError(fmt::format("--adapter does not apply to --task {}: it trains the model in --model itself", f.task));
  if (f.task == "projection_alignment" && f.teacher.empty())
    throw ConfigError("--task projection_alignment needs --teacher: the small model whose own LM head the projection learns to match");
  if (f.task != "projection_alignment" && !f.teacher.empty())
    throw ConfigError(fmt::format("--teacher applies to --task projection_alignment only (this is --task {})", f.task));
  if (trains_a_model(f) && !f.shadow_model.empty())
    throw ConfigError(fmt::format("--shadow-model does not apply to --task {}: it trains the model in --model itself", f.task));
  if (trains_a_model(f) && !f.method.empty())
    throw ConfigError(fmt::format("--method does not apply to --task {}: it trains the model in --model itself", f.task));
  if (trains_a_model(f) && f.quantize != "none")
    throw ConfigError(fmt::format("--quantize {} applies to a frozen base; --task {} trains the model in --model itself",
                                  f.quantize, f.task));
  if (trains_a_model(f)) return;
  const std::string method = adapter_method(f);  // an --adapter that is no adapter, or of another --method
  const AdapterFlags& a = f.adapter_flags;
  if (!f.adapter.empty()) {
    if (const std::string flag = a.first_shape_flag(); !flag.empty())
      throw ConfigError(fmt::format("{} shapes a fresh adapter; --adapter {} brings its own config", flag, f.adapter));
    const bool loss_weight_given = a.shadow_loss_weight || a.file.shadow_loss_weight;
    if (method == "peft-shadow" && loss_weight_given)
      throw ConfigError(fmt::format("shadow_loss_weight: the peft adapter {} keeps its auxiliary_loss_weight in "
                                    "adapter_config.json",
                                    f.adapter));
    if (method == "lora" && loss_weight_given)
      throw ConfigError(fmt::format("shadow_loss_weight: the LoRA adapter {} has no shadow", f.adapter));
  } else if (method == "peft-shadow") {
    (void)a.peft_shadow(peft_task(f), f.shadow_model);
  } else if (method == "lora") {
    if (!f.shadow_model.empty()) throw ConfigError("--shadow-model: --method lora has no shadow");
    (void)a.lora(peft_task(f));
  } else {
    a.shadow_peft().validate();
  }
}

// --shadow-model, loaded as the base is (float32, on the training device); null without it.
models::CausalLM explicit_shadow(const TrainFlags& f) {
  if (f.shadow_model.empty()) return nullptr;
  models::LoadOptions load;
  load.dtype = at::kFloat;
  load.device = training_device(f);
  return load_logged(f.shadow_model, load);
}

std::unique_ptr<train::TrainingTask> make_task(const TrainFlags& f, models::CausalLM base, bool trainable) {
  if (f.task == "shadow_pretraining") return train::make_shadow_pretraining_task(base);
  if (f.task == "projection_alignment") {
    models::LoadOptions load;
    load.dtype = at::kFloat;
    load.device = training_device(f);
    const models::CausalLM teacher = load_logged(f.teacher, load);
    train::ProjectionAlignmentOptions options = f.alignment;
    options.use_kld = f.distill_loss != "mse";
    options.use_mse = f.distill_loss != "kld";
    return train::make_projection_alignment_task(base, teacher->output_embedding(), options);
  }
  models::CausalLM shadow = explicit_shadow(f);
  const AdapterFlags& a = f.adapter_flags;
  const peft::TaskType task = peft_task(f);
  if (adapter_method(f) == "lora") {
    if (f.adapter.empty()) return train::make_training_task(peft::get_peft_model(base, a.lora(task)));
    return train::make_training_task(peft::LoraModel(peft::LoraModelImpl::from_pretrained(base, f.adapter, trainable)));
  }
  if (adapter_method(f) == "peft-shadow") {
    if (f.adapter.empty())
      return train::make_training_task(peft::get_peft_model(base, a.peft_shadow(task, f.shadow_model), shadow));
    return train::make_training_task(
        peft::ShadowModel(peft::ShadowModelImpl::from_pretrained(base, f.adapter, trainable, shadow)));
  }
  if (f.task == "seq_cls") {
    if (f.adapter.empty()) {
      const ShadowConfig config = ShadowForSequenceClassificationImpl::fresh_adapter_config(a.shadow_peft());
      return train::make_training_task(ShadowForSequenceClassification(get_shadow_model(base, config, shadow), a.loss_weight()));
    }
    return train::make_training_task(ShadowForSequenceClassification(ShadowForSequenceClassificationImpl::from_pretrained(
        base, f.adapter, trainable, a.loss_weight(), InferenceMode::BaseShadow, shadow)));
  }
  if (f.adapter.empty())
    return train::make_training_task(ShadowForCausalLM(get_shadow_model(base, a.shadow_peft(), shadow), a.loss_weight()));
  return train::make_training_task(ShadowForCausalLM(
      ShadowForCausalLMImpl::from_pretrained(base, f.adapter, trainable, a.loss_weight(), InferenceMode::BaseShadow, shadow)));
}

// One line per evaluated model: eval_<mode>_{loss,perplexity,accuracy}.
std::string format_metrics(const std::map<std::string, double>& metrics) {
  std::vector<std::string> modes;
  for (const auto& [key, value] : metrics) {
    for (const char* metric : {"_loss", "_perplexity", "_accuracy"}) {
      if (!key.starts_with("eval_") || !key.ends_with(metric) || key.size() <= 5 + std::strlen(metric)) continue;
      const std::string mode = key.substr(5, key.size() - 5 - std::strlen(metric));
      if (std::find(modes.begin(), modes.end(), mode) == modes.end()) modes.push_back(mode);
    }
  }
  // The plain base first, then what the shadow adds.
  std::stable_sort(modes.begin(), modes.end(), [](const std::string& a, const std::string& b) {
    static const std::vector<std::string> order{"base", "base_shadow", "shadow_only"};
    const auto rank = [&](const std::string& m) { return std::find(order.begin(), order.end(), m) - order.begin(); };
    return rank(a) < rank(b);
  });
  std::string out;
  for (const std::string& mode : modes) {
    std::string line;
    for (const char* metric : {"loss", "perplexity", "accuracy"})
      if (const auto it = metrics.find(fmt::format("eval_{}_{}", mode, metric)); it != metrics.end())
        line += fmt::format("  {} {:.4f}", metric, it->second);
    out += fmt::format("  {:<12}{}\n", mode, line);
  }
  return out;
}

// The tokenizer: --tokenizer, else the model's own, else (alignment) the teacher's, as upstream.
fs::path tokenizer_dir(const TrainFlags& f, const fs::path& model_dir) {
  if (!f.tokenizer.empty()) return io::resolve_model_dir(f.tokenizer);
  if (!fs::exists(model_dir / "tokenizer.json") && !f.teacher.empty()) return io::resolve_model_dir(f.teacher);
  return model_dir;
}

// A trained model directory works on its own: it gets the tokenizer files it lacks.
void copy_tokenizer_files(const fs::path& from, const fs::path& to) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                           "generation_config.json"})
    if (fs::exists(from / name) && !fs::exists(to / name)) fs::copy_file(from / name, to / name);
}

// The classes of a seq_cls adapter's trained head, in any format; nullopt if it has none.
std::optional<int64_t> saved_num_labels(const std::string& adapter) {
  switch (adapter_format(adapter)) {
    case AdapterFormat::PeftShadow: return peft::ShadowModelImpl::saved_num_labels(adapter);
    case AdapterFormat::PeftLora: return peft::LoraModelImpl::saved_num_labels(adapter);
    case AdapterFormat::ShadowPeft: return ShadowForSequenceClassificationImpl::saved_num_labels(adapter);
  }
  return std::nullopt;
}

// The base model. For seq_cls over a causal-LM directory: a classifier with a new `score` head (as
// transformers' AutoModelForSequenceClassification), its label count from --num-labels, else the
// adapter's trained head, else the data.
models::CausalLM load_base(const TrainFlags& f, const fs::path& model_dir, const models::LoadOptions& load,
                           const data::Dataset& train_set, const std::vector<data::Example>& eval_examples, uint64_t seed) {
  if (f.task != "seq_cls") return load_logged(model_dir.string(), load);
  const bool classifier = models::read_model_config(model_dir / "config.json").is_sequence_classifier();
  if (classifier && !f.num_labels) return load_logged(model_dir.string(), load);
  int64_t num_labels = 0;
  std::string source;
  if (f.num_labels) {
    num_labels = *f.num_labels, source = "--num-labels";
  } else if (const auto saved = f.adapter.empty() ? std::nullopt : saved_num_labels(f.adapter)) {
    num_labels = *saved, source = f.adapter;
  } else {
    for (const auto* examples : {&train_set.examples, &eval_examples})
      for (const data::Example& e : *examples) num_labels = std::max(num_labels, e.class_label.value_or(0) + 1);
    num_labels = std::max<int64_t>(num_labels, static_cast<int64_t>(train_set.label_names.size()));
    source = "the labels in the data";
  }
  log_info(fmt::format("{} is a causal LM: classifying into {} classes (from {}) with a new score head", model_dir.string(),
                       num_labels, source));
  models::SequenceClassifierOptions options;
  options.seed = seed;
  if (static_cast<int64_t>(train_set.label_names.size()) == num_labels) options.labels = train_set.label_names;
  return models::load_sequence_classifier(model_dir.string(), num_labels, load, options);
}

struct Prepared {
  fs::path tokenizer_dir;
  std::unique_ptr<train::TrainingTask> task;
  std::unique_ptr<train::DatasetBatches> train, eval;
};

Prepared prepare(const TrainFlags& f, const train::TrainingArguments& args, bool training) {
  check_flags(f);
  const fs::path model_dir = io::resolve_model_dir(f.model);
  Prepared p;
  p.tokenizer_dir = tokenizer_dir(f, model_dir);
  const tokenizer::Tokenizer tokenizer = tokenizer::Tokenizer::from_pretrained(p.tokenizer_dir);
  data::Dataset train_set = load_data(f.data, tokenizer, f);
  std::vector<data::Example> eval_examples;
  if (!f.eval_data.empty()) {
    eval_examples = load_data(f.eval_data, tokenizer, f).examples;
  } else if (f.eval_fraction && training) {
    data::SplitOptions split;
    split.eval_fraction = *f.eval_fraction;
    split.seed = args.seed;
    auto parts = data::split_examples(std::move(train_set.examples), split);
    train_set.examples = std::move(parts.train);
    eval_examples = std::move(parts.eval);
    log_info(fmt::format("split: {} training and {} evaluation examples", train_set.examples.size(), eval_examples.size()));
  }
  models::LoadOptions load;
  // The frozen base in --base-dtype (its matmuls too); the adapter trains in float32 beside it.
  load.dtype = parse_dtype(f.base_dtype);
  load.device = training_device(f);
  load.quantization = models::parse_weight_quantization(f.quantize);
  if (*load.dtype == at::kHalf && load.device.is_cpu())
    log_info("--base-dtype float16 on the CPU: most CPUs have no float16 matrix units and run it many times slower "
             "than bfloat16 (measured: 35x); float16 is for GPUs");
  models::CausalLM base = load_base(f, model_dir, load, train_set, eval_examples, args.seed);
  torch::manual_seed(args.seed);  // a fresh adapter's initialisation
  p.task = make_task(f, base, training);
  // A classifier pools at the last token that is not its pad_token_id: batches are padded with it.
  const int64_t pad = f.task == "seq_cls" && base->config().pad_token_id ? *base->config().pad_token_id
                                                                          : data::default_pad_id(tokenizer);
  if (training)
    p.train = std::make_unique<train::DatasetBatches>(std::move(train_set.examples), args.per_device_train_batch_size, pad, true,
                                                      args.seed, args.group_by_length);
  else
    eval_examples = std::move(train_set.examples);
  if (!eval_examples.empty())
    p.eval = std::make_unique<train::DatasetBatches>(std::move(eval_examples), args.per_device_eval_batch_size, pad, false, 0);
  return p;
}

// SIGINT and SIGTERM during training: the first lets the current step finish, a checkpoint be
// written and the command exit with 128 + the signal; a second one exits at once (the checkpoints
// on disk stay whole: each is renamed into place only when complete).
class StopSignals {
 public:
  StopSignals() {
    received_ = 0;
    struct sigaction action {};
    action.sa_handler = &StopSignals::handle;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  static int received() { return received_; }

 private:
  static void handle(int signal) {
    if (received_.exchange(signal) != 0) ::_exit(128 + signal);
    static constexpr char kMessage[] = "\nstopping after this step: a checkpoint is written (signal again to exit now)\n";
    [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  }
  static inline std::atomic<int> received_{0};
  struct sigaction previous_int_ {}, previous_term_ {};
};

// --config: its TrainingArguments fields, and the adapter's method and hyper-parameters, which the
// flags override.
TrainFlags with_config_file(TrainFlags f) {
  if (f.config.empty()) return f;
  TrainConfigFile file = TrainConfigFile::read(f.config);
  f.config_training_arguments = std::move(file.training_arguments);
  if (f.method.empty()) f.method = file.adapter.method;
  f.adapter_flags.file = std::move(file.adapter);
  return f;
}

void run_train(const TrainFlags& flags) {
  const TrainFlags f = with_config_file(flags);
  const auto distributed = train::DistributedEnvironment::from_environment();
  if (f.nproc_per_node > 1 && !distributed) {
    const int status = run_local_workers(f.nproc_per_node);
    if (status == 128 + SIGINT || status == 128 + SIGTERM) throw ExitStatus(status, "");  // rank 0 said where it stopped
    if (status != 0) throw Error(fmt::format("a training process failed (exit status {}); its error is printed above", status));
    return;
  }
  const bool main_process = !distributed || distributed->rank == 0;
  if (!main_process) set_quiet(true);
  const train::TrainingArguments args = training_arguments(f);
  std::unique_ptr<train::ProcessGroup> group;
  if (distributed && distributed->world_size > 1) {
    group = train::ProcessGroup::join(*distributed, training_device(f), std::chrono::seconds(args.ddp_timeout));
    log_info(fmt::format("data-parallel training: {} processes ({}), {} examples per step", group->world_size(), group->backend(),
                         args.per_device_train_batch_size * args.gradient_accumulation_steps * group->world_size()));
  }
  Prepared p = prepare(f, args, true);
  log_info(p.task->trainable_parameters_string());
  train::Trainer trainer(*p.task, args, *p.train, p.eval.get());
  trainer.set_process_group(group.get());
  std::map<std::string, double> before;
  if (p.eval) {
    ProgressBar bar("evaluating before training", p.eval->size());
    trainer.set_eval_progress([&bar](int64_t done, int64_t) { bar.update(done); });
    before = trainer.evaluate();
    trainer.set_eval_progress({});
    log_info("before training:\n" + format_metrics(before));
  }
  std::optional<fs::path> resume;
  if (f.resume_latest) resume = fs::path(args.output_dir);
  else if (!f.resume.empty()) resume = fs::path(f.resume);
  train::TrainOutput out;
  {
    const StopSignals signals;
    trainer.set_stop_request([] { return StopSignals::received() != 0; });
    out = trainer.train(resume);
  }
  if (out.interrupted) {
    const int signal = StopSignals::received();
    throw ExitStatus(128 + signal, fmt::format("stopped by {} at step {}: checkpoint-{} written to {}; continue with --resume",
                                               signal == SIGINT ? "SIGINT" : "SIGTERM", out.global_step, out.global_step,
                                               args.output_dir));
  }
  if (trains_a_model(f) && main_process) copy_tokenizer_files(p.tokenizer_dir, args.output_dir);
  log_info(fmt::format("trained {} steps in {:.1f} s ({:.0f} tokens/s); {} saved to {}", out.global_step, out.seconds,
                       out.tokens_per_second, trains_a_model(f) ? "model" : "adapter", args.output_dir));
  if (!out.eval_metrics.empty()) log_info("after training:\n" + format_metrics(out.eval_metrics));
  if (f.json && main_process) {
    io::Json summary = {{"global_step", out.global_step}, {"train_loss", out.train_loss}, {"seconds", out.seconds},
                        {"tokens_per_second", out.tokens_per_second}, {"output_dir", args.output_dir}};
    summary["before"] = io::Json::object();
    for (const auto& [k, v] : before) summary["before"][k] = v;
    summary["after"] = io::Json::object();
    for (const auto& [k, v] : out.eval_metrics) summary["after"][k] = v;
    fmt::print("{}\n", summary.dump());
  }
}

void run_eval(const TrainFlags& f) {
  train::TrainingArguments args;
  if (f.eval_batch_size) args.per_device_eval_batch_size = *f.eval_batch_size;
  Prepared p = prepare(f, args, false);
  // The trainer's evaluation, so the numbers are the ones training reports. Without --adapter the
  // task carries a fresh shadow, of which only the base model's numbers mean anything.
  train::Trainer trainer(*p.task, args, *p.eval, p.eval.get());
  std::map<std::string, double> metrics;
  {
    ProgressBar bar("evaluating", p.eval->size());
    trainer.set_eval_progress([&bar](int64_t done, int64_t) { bar.update(done); });
    metrics = trainer.evaluate();
  }
  if (!trains_a_model(f) && f.adapter.empty())
    std::erase_if(metrics, [](const auto& metric) {
      return !metric.first.starts_with("eval_base_") || metric.first.starts_with("eval_base_shadow_");
    });
  if (f.json) {
    io::Json out = io::Json::object();
    for (const auto& [k, v] : metrics) out[k] = v;
    fmt::print("{}\n", out.dump());
  } else {
    fmt::print("{}", format_metrics(metrics));
  }
}

void add_common(CLI::App* cmd, TrainFlags& f) {
  cmd->add_option("--model", f.model, "Base model directory or org/name[@revision] in the local HF cache")->required();
  cmd->add_option("--tokenizer", f.tokenizer, "Tokenizer directory (default: the model directory)");
  cmd->add_option("--shadow-model", f.shadow_model,
                  "An explicit (or projected) shadow model, directory or org/name: a fresh adapter's shadow, or the one "
                  "--adapter was trained with");
  cmd->add_option("--task", f.task,
                  "causal_lm (default), seq_cls (classification: a *ForSequenceClassification or causal-LM base), "
                  "shadow_pretraining (train --model "
                  "itself, embeddings and head frozen) or projection_alignment (train only the projection of a projected "
                  "--model by distillation from --teacher)")
      ->check(CLI::IsMember({"causal_lm", "seq_cls", "shadow_pretraining", "projection_alignment"}));
  cmd->add_option("--max-length", f.max_length, "Tokens per example (longer ones are cut; default 512)");
  CLI::Option* packing = cmd->add_flag(
      "--packing", f.packing, "Several examples per row of --max-length tokens, each attending to itself only (see --packing-strategy)");
  cmd->add_option("--packing-strategy", f.packing_strategy,
                  "bfd (default): whole examples, best-fit into rows, positions restarting per example; wrapped: all "
                  "examples concatenated and cut into blocks (attention crosses examples)")
      ->check(CLI::IsMember({"bfd", "wrapped"}))
      ->needs(packing);
  cmd->add_flag("--skip-bad-records", f.skip_bad_records, "Skip malformed records (counted) instead of stopping at the first");
  cmd->add_option("--chat-template-kwargs", f.chat_template_kwargs, "Extra chat template variables as JSON, e.g. '{\"enable_thinking\": false}'");
  cmd->add_option("--shadow-loss-weight,--auxiliary-loss-weight", f.adapter_flags.shadow_loss_weight,
                  "Weight of the shadow prediction's loss (default 0.05)");
  cmd->add_option("--num-labels", f.num_labels,
                  "seq_cls over a causal-LM --model: classes of the new score head (default: the adapter's, else the data's)");
  cmd->add_flag("--json", f.json, "Print a JSON summary on stdout");
  cmd->add_option("--device", f.device, "cpu (default), cuda (cuda:LOCAL_RANK in a multi-process run) or cuda:N")
      ->check(check_device, "DEVICE");
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto f = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand("train", "Fine-tune a ShadowPEFT adapter on a dataset (JSONL, JSON or CSV)");
  add_common(cmd, *f);
  cmd->add_option("--data", f->data, "Training data: {text} | {prompt, completion} | {messages} | {text, label} | {input_ids[, labels]} records")->required();
  cmd->add_option("--eval-data", f->eval_data, "Evaluation data (same format)");
  cmd->add_option("--eval-fraction", f->eval_fraction, "Hold out this fraction of --data for evaluation");
  cmd->add_option("--adapter", f->adapter, "Continue training this adapter (default: a fresh one from the shadow flags)");
  cmd->add_option("--method", f->method,
                  "shadow (default: shadow-peft's adapter files), peft-shadow (Hugging Face peft's SHADOW tuner) or lora "
                  "(peft's LoRA); with --adapter: that adapter's")
      ->check(CLI::IsMember({"shadow", "peft-shadow", "lora"}));
  AdapterFlags& a = f->adapter_flags;
  cmd->add_option("--num-shadow-layers,--shadow-num-hidden-layers", a.num_shadow_layers, "Layers of the fresh shadow (default 1)");
  cmd->add_option("--injection-hidden-size,--r", a.injection_hidden_size,
                  "Rank of the injection (default: shadow 16, peft-shadow 8) or of LoRA (default 8)");
  cmd->add_option("--gate-hidden-size,--update-hidden-size", a.gate_hidden_size,
                  "Width of the update MLPs (default: shadow 10, peft-shadow the rank)");
  cmd->add_option("--alpha,--shadow-alpha", a.alpha,
                  "Injection scale (default: shadow 0.5, measured better than shadow-peft's 0.1; peft-shadow 0.1)");
  cmd->add_option("--dropout,--shadow-dropout,--lora-dropout", a.dropout, "Adapter dropout (default: shadows 0.2, lora 0)");
  cmd->add_option("--lora-alpha", a.lora_alpha, "lora: scaling numerator, scaling = lora_alpha / r (default 8)");
  cmd->add_flag("--use-rslora", a.use_rslora, "lora: scaling = lora_alpha / sqrt(r)");
  cmd->add_option("--shadow-intermediate-size", a.shadow_intermediate_size, "MLP width of the shadow (default: the base's)");
  cmd->add_option("--shadow-num-attention-heads", a.shadow_num_attention_heads, "Attention heads of the shadow (default: the base's)");
  cmd->add_option("--shadow-hidden-size", a.shadow_hidden_size,
                  "peft-shadow: width of the mirror shadow (default: the base's; a projection maps it back)");
  cmd->add_option("--target-modules", a.target_modules,
                  "peft-shadow: the decoder blocks to wrap, e.g. model.layers.4 model.layers.5 (default: all; contiguous); "
                  "lora: the Linear layers, e.g. q_proj v_proj (default: all-linear)");
  cmd->add_option("--modules-to-save", a.modules_to_save,
                  "Heads trained and saved with the adapter (shadow: lm_head, shadow_lm_head, ...; peft-shadow, lora: lm_head)");
  cmd->add_option("--teacher", f->teacher, "projection_alignment: the small model whose own LM head teaches (and whose tokenizer is used by default)");
  cmd->add_option("--distill-alpha", f->alignment.alpha, "projection_alignment: weight of distillation vs. cross-entropy (default 0.7)");
  cmd->add_option("--distill-loss", f->distill_loss, "projection_alignment: kld (default), mse or both (averaged)")
      ->check(CLI::IsMember({"kld", "mse", "both"}));
  cmd->add_option("--distill-temperature", f->alignment.temperature, "projection_alignment: distillation temperature (default 1)");
  cmd->add_flag("--adaptive-temperature", f->alignment.adaptive_temperature,
                "projection_alignment: temperature falls linearly from --initial-temperature to --final-temperature");
  cmd->add_option("--initial-temperature", f->alignment.initial_temperature, "Default 3");
  cmd->add_option("--final-temperature", f->alignment.final_temperature, "Default 1");
  cmd->add_option("--regularization-weight", f->alignment.regularization_weight,
                  "projection_alignment: weight of mean((P - P_initial)^2) (default 0)");
  cmd->add_option("--config", f->config,
                  "A JSON file of TrainingArguments fields (HF names), optionally with \"method\", \"adapter_config\" (the "
                  "method's config fields) and \"shadow_loss_weight\"; flags override it");
  cmd->add_option("--output-dir,--output_dir", f->output_dir, "Where checkpoints, logs and the adapter go");
  cmd->add_option("--num-train-epochs,--num_train_epochs", f->num_train_epochs, "Epochs (default 3)");
  cmd->add_option("--max-steps,--max_steps", f->max_steps, "Optimizer steps; overrides epochs");
  cmd->add_option("--batch-size,--per_device_train_batch_size", f->batch_size, "per_device_train_batch_size (default 8)");
  cmd->add_option("--eval-batch-size,--per_device_eval_batch_size", f->eval_batch_size, "per_device_eval_batch_size (default 8)");
  cmd->add_option("--gradient-accumulation-steps,--gradient_accumulation_steps", f->gradient_accumulation_steps, "Micro-batches per optimizer step");
  cmd->add_option("--learning-rate,--learning_rate", f->learning_rate, "Peak learning rate (default 5e-5)");
  cmd->add_option("--weight-decay,--weight_decay", f->weight_decay, "AdamW weight decay (not on biases and norms)");
  cmd->add_option("--max-grad-norm,--max_grad_norm", f->max_grad_norm, "Clip the global gradient norm (0: off; default 1)");
  cmd->add_option("--lr-scheduler-type,--lr_scheduler_type", f->lr_scheduler_type, "linear | cosine | constant | constant_with_warmup");
  cmd->add_option("--warmup-steps,--warmup_steps", f->warmup_steps, "Warmup steps");
  cmd->add_option("--warmup-ratio,--warmup_ratio", f->warmup_ratio, "Warmup as a fraction of all steps");
  cmd->add_option("--logging-steps,--logging_steps", f->logging_steps, "Log every N steps (default 500)");
  cmd->add_option("--eval-steps,--eval_steps", f->eval_steps, "Evaluate every N steps (0: at the end only)");
  cmd->add_option("--save-steps,--save_steps", f->save_steps, "Checkpoint every N steps (0: none)");
  cmd->add_option("--save-total-limit,--save_total_limit", f->save_total_limit, "Keep at most N checkpoints");
  cmd->add_option("--seed", f->seed, "Seed for initialisation, shuffling and dropout (default 42)");
  cmd->add_flag("--bf16", f->bf16, "Autocast matmuls to bfloat16");
  cmd->add_option("--base-dtype", f->base_dtype,
                  "The frozen base's weights and matmuls: float32 (default), bfloat16 or float16; the adapter stays float32")
      ->check(CLI::IsMember({"float32", "bfloat16", "float16"}));
  cmd->add_option("--quantize", f->quantize,
                  "Weight-only quantization of the frozen base's Linear layers: none (default) or int8 (per-channel "
                  "scales; they compute in --base-dtype)")
      ->check(CLI::IsMember({"none", "int8"}));
  cmd->add_flag("--skip-nonfinite-steps,--skip_nonfinite_steps", f->skip_nonfinite_steps,
                "Skip (with a warning) a step whose loss or gradient norm is NaN or infinite, instead of stopping");
  cmd->add_flag("--gradient-checkpointing,--gradient_checkpointing", f->gradient_checkpointing,
                "Recompute each decoder layer in the backward pass instead of keeping its activations");
  cmd->add_flag("--group-by-length,--group_by_length", f->group_by_length,
                "Batch examples of similar length together (less padding; transformers' LengthGroupedSampler)");
  cmd->add_option("--nproc-per-node", f->nproc_per_node,
                  "Data-parallel training in N local processes (Gloo on CPU, NCCL on GPU); under torchrun the "
                  "RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT variables are used instead")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--ddp-timeout,--ddp_timeout", f->ddp_timeout,
                  "Data-parallel training: seconds to wait for the other processes before stopping with an error (default 300)");
  cmd->add_option("--shadow-lr-multiplier", f->shadow_lr_multiplier, "Learning-rate factor for shadow parameters");
  auto* resume = cmd->add_option("--resume-from-checkpoint,--resume_from_checkpoint", f->resume, "Resume from this checkpoint-N directory");
  auto* latest = cmd->add_flag("--resume", f->resume_latest, "Resume from the newest checkpoint in --output-dir");
  resume->excludes(latest);
  cmd->callback([f] { run_train(*f); });
}

void add_eval_command(CLI::App& app) {
  auto f = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand("eval", "Loss / perplexity (or accuracy) of base, base+shadow and shadow-only on a dataset "
                                             "(or of a pretrained / aligned shadow model with --task)");
  add_common(cmd, *f);
  cmd->add_option("--data", f->data, "Evaluation data (JSONL, JSON or CSV)")->required();
  cmd->add_option("--adapter", f->adapter,
                  "The adapter directory, shadow-peft's or peft's SHADOW (causal_lm and seq_cls tasks; none: the base "
                  "model alone)");
  cmd->add_option("--teacher", f->teacher, "projection_alignment: the small model whose head is compared");
  cmd->add_option("--eval-batch-size,--per_device_eval_batch_size", f->eval_batch_size, "Batch size (default 8)");
  cmd->callback([f] { run_eval(*f); });
}

}  // namespace shadowpeft::cli
