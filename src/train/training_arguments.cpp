#include "shadowpeft/train/training_arguments.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "shadowpeft/core/error.h"

namespace shadowpeft::train {
namespace {

// The fields, once: reading and writing JSON go through the same table.
template <typename Visitor>
void visit_fields(TrainingArguments& a, Visitor&& v) {
  v("output_dir", a.output_dir);
  v("num_train_epochs", a.num_train_epochs);
  v("max_steps", a.max_steps);
  v("per_device_train_batch_size", a.per_device_train_batch_size);
  v("per_device_eval_batch_size", a.per_device_eval_batch_size);
  v("gradient_accumulation_steps", a.gradient_accumulation_steps);
  v("learning_rate", a.learning_rate);
  v("weight_decay", a.weight_decay);
  v("adam_beta1", a.adam_beta1);
  v("adam_beta2", a.adam_beta2);
  v("adam_epsilon", a.adam_epsilon);
  v("max_grad_norm", a.max_grad_norm);
  v("lr_scheduler_type", a.lr_scheduler_type);
  v("warmup_steps", a.warmup_steps);
  v("warmup_ratio", a.warmup_ratio);
  v("logging_steps", a.logging_steps);
  v("eval_steps", a.eval_steps);
  v("save_steps", a.save_steps);
  v("save_total_limit", a.save_total_limit);
  v("seed", a.seed);
  v("bf16", a.bf16);
  v("gradient_checkpointing", a.gradient_checkpointing);
  v("group_by_length", a.group_by_length);
  v("shadow_lr_multiplier", a.shadow_lr_multiplier);
  v("skip_nonfinite_steps", a.skip_nonfinite_steps);
  v("ddp_timeout", a.ddp_timeout);
}

template <typename T>
void read_value(const io::Json& value, T& out, const std::string& source, const std::string& key) {
  try {
    if constexpr (std::is_same_v<T, std::optional<int64_t>>) {
      out = value.is_null() ? std::nullopt : std::optional<int64_t>(value.get<int64_t>());
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!value.is_number()) throw std::runtime_error("not a number");
      out = value.get<T>();
    } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (!value.is_number_integer()) throw std::runtime_error("not an integer");
      out = value.get<T>();
    } else {
      out = value.get<T>();
    }
  } catch (const std::exception&) {
    throw ConfigError(fmt::format("{}: training argument '{}' has the wrong type: {}", source, key, value.dump()));
  }
}

}  // namespace

TrainingArguments TrainingArguments::from_json(const io::Json& json, const std::string& source) {
  if (!json.is_object()) throw ConfigError(fmt::format("{}: training arguments must be a JSON object", source));
  TrainingArguments args;
  std::set<std::string> known;
  visit_fields(args, [&](const char* name, auto& field) {
    known.insert(name);
    if (const auto it = json.find(name); it != json.end()) read_value(*it, field, source, name);
  });
  for (const auto& [key, value] : json.items())
    if (!known.count(key)) throw ConfigError(fmt::format("{}: unknown training argument '{}'", source, key));
  args.validate();
  return args;
}

TrainingArguments TrainingArguments::from_file(const std::filesystem::path& path) {
  return from_json(io::read_json_file(path), path.string());
}

io::Json TrainingArguments::to_json() const {
  io::Json json = io::Json::object();
  TrainingArguments copy = *this;
  visit_fields(copy, [&](const char* name, const auto& field) {
    if constexpr (std::is_same_v<std::decay_t<decltype(field)>, std::optional<int64_t>>)
      json[name] = field ? io::Json(*field) : io::Json(nullptr);
    else
      json[name] = field;
  });
  return json;
}

void TrainingArguments::validate() const {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw ConfigError(message);
  };
  require(!output_dir.empty(), "output_dir must not be empty");
  require(max_steps > 0 || num_train_epochs > 0, fmt::format("num_train_epochs must be > 0 when max_steps is not set, got {}", num_train_epochs));
  require(per_device_train_batch_size > 0, fmt::format("per_device_train_batch_size must be > 0, got {}", per_device_train_batch_size));
  require(per_device_eval_batch_size > 0, fmt::format("per_device_eval_batch_size must be > 0, got {}", per_device_eval_batch_size));
  require(gradient_accumulation_steps > 0, fmt::format("gradient_accumulation_steps must be > 0, got {}", gradient_accumulation_steps));
  require(learning_rate >= 0, fmt::format("learning_rate must be >= 0, got {}", learning_rate));
  require(weight_decay >= 0, fmt::format("weight_decay must be >= 0, got {}", weight_decay));
  require(adam_beta1 >= 0 && adam_beta1 < 1, fmt::format("adam_beta1 must be in [0, 1), got {}", adam_beta1));
  require(adam_beta2 >= 0 && adam_beta2 < 1, fmt::format("adam_beta2 must be in [0, 1), got {}", adam_beta2));
  require(adam_epsilon > 0, fmt::format("adam_epsilon must be > 0, got {}", adam_epsilon));
  require(ddp_timeout > 0, fmt::format("ddp_timeout must be > 0 seconds, got {}", ddp_timeout));
  require(max_grad_norm >= 0, fmt::format("max_grad_norm must be >= 0, got {}", max_grad_norm));
  static const std::set<std::string> schedulers{"linear", "cosine", "constant", "constant_with_warmup"};
  require(schedulers.count(lr_scheduler_type) > 0,
          fmt::format("lr_scheduler_type '{}' is not one of linear, cosine, constant, constant_with_warmup", lr_scheduler_type));
  require(warmup_steps >= 0, fmt::format("warmup_steps must be >= 0, got {}", warmup_steps));
  require(warmup_ratio >= 0 && warmup_ratio <= 1, fmt::format("warmup_ratio must be in [0, 1], got {}", warmup_ratio));
  require(logging_steps > 0, fmt::format("logging_steps must be > 0, got {}", logging_steps));
  require(eval_steps >= 0, fmt::format("eval_steps must be >= 0, got {}", eval_steps));
  require(save_steps >= 0, fmt::format("save_steps must be >= 0, got {}", save_steps));
  require(!save_total_limit || *save_total_limit > 0, "save_total_limit must be > 0 when set");
  require(shadow_lr_multiplier > 0, fmt::format("shadow_lr_multiplier must be > 0, got {}", shadow_lr_multiplier));
}

int64_t TrainingArguments::total_steps(int64_t batches_per_epoch) const {
  if (max_steps > 0) return max_steps;
  const int64_t per_epoch = std::max<int64_t>(1, (batches_per_epoch + gradient_accumulation_steps - 1) / gradient_accumulation_steps);
  return static_cast<int64_t>(std::ceil(num_train_epochs * static_cast<double>(per_epoch)));
}

int64_t TrainingArguments::warmup_steps_for(int64_t total) const {
  if (warmup_steps > 0) return warmup_steps;
  return static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total)));
}

}  // namespace shadowpeft::train
