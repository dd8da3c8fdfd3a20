#include "shadowpeft/models/gradient_checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/ivalue.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mutex>
#include <optional>
#include <utility>

namespace shadowpeft::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor generator_state(at::Generator generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_generator_state(at::Generator generator, const at::Tensor& state) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

// The default generators a layer on `device` draws from: CPU always, plus the device's own.
struct RngState {
  at::Tensor cpu;
  std::optional<at::Device> cuda_device;
  at::Tensor cuda;

  static RngState capture(const at::Device& device) {
    RngState s{generator_state(at::detail::getDefaultCPUGenerator()), std::nullopt, {}};
    if (device.is_cuda()) {
      s.cuda_device = device;
      s.cuda = generator_state(at::globalContext().defaultGenerator(device));
    }
    return s;
  }
  void restore() const {
    set_generator_state(at::detail::getDefaultCPUGenerator(), cpu);
    if (cuda_device) set_generator_state(at::globalContext().defaultGenerator(*cuda_device), cuda);
  }
};

// Replays `saved` for the scope and puts the current state back afterwards (torch.random.fork_rng).
class ForkedRng {
 public:
  ForkedRng(const RngState& saved, const at::Device& device) : current_(RngState::capture(device)) { saved.restore(); }
  ~ForkedRng() { current_.restore(); }
  ForkedRng(const ForkedRng&) = delete;
  ForkedRng& operator=(const ForkedRng&) = delete;

 private:
  RngState current_;
};

struct AutocastSettings {
  bool cpu_enabled, cuda_enabled, cache_enabled;
  at::ScalarType cpu_dtype, cuda_dtype;

  static AutocastSettings current() {
    using namespace at::autocast;
    return {is_autocast_enabled(at::kCPU), is_autocast_enabled(at::kCUDA), is_autocast_cache_enabled(),
            get_autocast_dtype(at::kCPU), get_autocast_dtype(at::kCUDA)};
  }
  void apply() const {
    using namespace at::autocast;
    set_autocast_enabled(at::kCPU, cpu_enabled);
    set_autocast_enabled(at::kCUDA, cuda_enabled);
    set_autocast_cache_enabled(cache_enabled);
    set_autocast_dtype(at::kCPU, cpu_dtype);
    set_autocast_dtype(at::kCUDA, cuda_dtype);
  }
};

class AutocastAs {
 public:
  explicit AutocastAs(const AutocastSettings& settings) : previous_(AutocastSettings::current()) { settings.apply(); }
  ~AutocastAs() { previous_.apply(); }
  AutocastAs(const AutocastAs&) = delete;
  AutocastAs& operator=(const AutocastAs&) = delete;

 private:
  AutocastSettings previous_;
};

struct CheckpointState : torch::CustomClassHolder {
  std::function<at::Tensor(const at::Tensor&)> fn;
  RngState rng;
  AutocastSettings autocast{};
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // `anchor`: an empty tensor requiring grad, present when only fn's parameters need gradients.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const std::optional<at::Tensor>& /*anchor*/,
                            const c10::intrusive_ptr<CheckpointState>& state) {
    state->rng = RngState::capture(input.device());
    state->autocast = AutocastSettings::current();
    ctx->saved_data["state"] = c10::IValue::make_capsule(state);
    ctx->save_for_backward({input});
    // Autocast caches the low-precision casts of trainable weights; a cast made here, without
    // grad, would be reused by the recomputation and cut the weights off their gradients.
    AutocastSettings no_cache = state->autocast;
    no_cache.cache_enabled = false;
    const AutocastAs autocast(no_cache);
    return state->fn(input);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto holder = ctx->saved_data.at("state").toCapsule();
    const auto& state = static_cast<const CheckpointState&>(*holder);
    at::Tensor x = ctx->get_saved_variables().at(0).detach();
    if (ctx->needs_input_grad(0)) x.requires_grad_(true);
    at::Tensor out;
    {
      const ForkedRng rng(state.rng, x.device());
      const AutocastAs autocast(state.autocast);
      const at::AutoGradMode grad(true);
      out = state.fn(x);
    }
    if (out.requires_grad() && grad_outputs.at(0).defined()) torch::autograd::backward({out}, {grad_outputs[0]});
    return {ctx->needs_input_grad(0) ? x.grad() : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor checkpoint(std::function<at::Tensor(const at::Tensor&)> fn, const at::Tensor& input, bool parameters_need_grad) {
  auto state = c10::make_intrusive<CheckpointState>();
  state->fn = std::move(fn);
  std::optional<at::Tensor> anchor;
  if (parameters_need_grad && !input.requires_grad()) anchor = at::empty({0}, input.options()).requires_grad_(true);
  return CheckpointFunction::apply(input, anchor, state);
}

}  // namespace shadowpeft::models
