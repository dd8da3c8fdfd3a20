#include "shadowpeft/train/distributed.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef SHADOWPEFT_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <ATen/ATen.h>

#include <cstdlib>
#include <exception>

#include "shadowpeft/core/error.h"

namespace shadowpeft::train {
namespace {

std::optional<std::string> env_var(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

int64_t env_int(const char* name, int64_t fallback, int64_t min, int64_t max) {
  const auto value = env_var(name);
  if (!value) return fallback;
  std::size_t used = 0;
  int64_t parsed = 0;
  try {
    parsed = std::stoll(*value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value->size() || parsed < min || parsed > max)
    throw ConfigError(fmt::format("environment variable {}={:?}: expected an integer in [{}, {}]", name, *value, min, max));
  return parsed;
}

}  // namespace

std::optional<DistributedEnvironment> DistributedEnvironment::from_environment() {
  if (!env_var("WORLD_SIZE")) return std::nullopt;
  DistributedEnvironment env;
  env.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  env.rank = env_int("RANK", 0, 0, env.world_size - 1);
  env.local_rank = env_int("LOCAL_RANK", env.rank, 0, env.world_size - 1);
  // Every process must be told where rank 0 is (torchrun and --nproc-per-node set both); a guess
  // would leave the processes of a multi-node run waiting for each other at different places.
  if (env.world_size > 1)
    for (const char* name : {"MASTER_ADDR", "MASTER_PORT"})
      if (!env_var(name))
        throw ConfigError(fmt::format("environment variable {} is not set: a data-parallel run (WORLD_SIZE={}) needs rank 0's "
                                      "address and port (torchrun sets them, or use --nproc-per-node)",
                                      name, env.world_size));
  env.master_addr = env_var("MASTER_ADDR").value_or("127.0.0.1");
  env.master_port = static_cast<int>(env_int("MASTER_PORT", 29500, 1, 65535));
  env.agent_hosts_store = env_var("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  return env;
}

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;  // rank 0 hosts the server in it: lives as long as the group
  c10::intrusive_ptr<c10d::Backend> backend;
  std::string name;
  std::chrono::seconds timeout{0};
};

namespace {

// The first line of an exception's message: LibTorch's carry a C++ backtrace after it.
std::string first_line(const std::exception& e) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  std::string message = torch_error ? torch_error->what_without_backtrace() : e.what();
  if (const std::size_t end = message.find('\n'); end != std::string::npos) message.resize(end);
  return message;
}

}  // namespace

ProcessGroup::ProcessGroup(DistributedEnvironment env, c10::Device device, std::unique_ptr<Impl> impl)
    : env_(std::move(env)), device_(device), impl_(std::move(impl)) {}

ProcessGroup::~ProcessGroup() {
  // Nobody leaves while another process may still talk to rank 0's store — unless an error is
  // on its way out (a peer gone, a stop), when waiting would only hold it up until the timeout.
  if (std::uncaught_exceptions() > 0) return;
  try {
    if (impl_ && impl_->backend) impl_->backend->barrier()->wait();
  } catch (const std::exception&) {
  }
}

std::unique_ptr<ProcessGroup> ProcessGroup::join(const DistributedEnvironment& env, c10::Device device,
                                                 std::chrono::seconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->timeout = timeout;
  const int rank = static_cast<int>(env.rank), size = static_cast<int>(env.world_size);
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(env.master_port);
    options.isServer = env.rank == 0 && !env.agent_hosts_store;
    options.numWorkers = size;
    options.waitWorkers = true;
    options.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    impl->store = c10::make_intrusive<c10d::PrefixStore>("default_pg", tcp);
    if (device.is_cuda()) {
#ifdef SHADOWPEFT_WITH_NCCL
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = timeout;
      impl->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, rank, size, nccl_options);
      impl->name = "nccl";
#else
      throw ConfigError("multi-process training on CUDA needs NCCL, and this build of shadowpeft has no NCCL support");
#endif
    } else {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
      // Where this process listens: GLOO_SOCKET_IFNAME as in PyTorch, loopback for a single machine
      // addressed as such, else the interface of this machine's hostname.
      const bool loopback = env.master_addr == "localhost" || env.master_addr.starts_with("127.");
      if (const auto ifname = env_var("GLOO_SOCKET_IFNAME"))
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*ifname));
      else if (loopback)
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      impl->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, rank, size, gloo_options);
      impl->name = "gloo";
    }
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {} of {} could not join the process group at {}:{} (MASTER_ADDR / MASTER_PORT): {}", rank,
                            size, env.master_addr, env.master_port, first_line(e)));
  }
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(env, device.is_cuda() ? device : c10::Device(c10::kCPU), std::move(impl)));
}

const std::string& ProcessGroup::backend() const { return impl_->name; }

namespace {

// Gloo takes one shape per collective: many tensors travel as one flat buffer of their dtype.
template <typename Collective>
void on_flat_buffer(std::vector<at::Tensor>& tensors, Collective&& collective) {
  if (tensors.empty()) return;
  std::vector<at::Tensor> views;
  for (const at::Tensor& t : tensors) {
    if (t.scalar_type() != tensors.front().scalar_type() || t.device() != tensors.front().device())
      throw Error(fmt::format("collective over tensors of different dtypes or devices ({} on {} vs {} on {})",
                              c10::toString(t.scalar_type()), t.device().str(), c10::toString(tensors.front().scalar_type()),
                              tensors.front().device().str()));
    views.push_back(t.reshape({-1}));
  }
  std::vector<at::Tensor> flat{at::cat(views)};
  collective(flat);
  at::NoGradGuard no_grad;
  int64_t offset = 0;
  for (at::Tensor& t : tensors) {
    t.copy_(flat[0].slice(0, offset, offset + t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

}  // namespace

template <typename F>
void ProcessGroup::collective(const char* what, F&& run) {
  try {
    run();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {} of {}: {} failed: {} (another training process stopped or died; the group waits at most "
                            "{} s for one, --ddp-timeout)",
                            env_.rank, env_.world_size, what, first_line(e), impl_->timeout.count()));
  }
}

void ProcessGroup::all_reduce_sum(std::vector<at::Tensor>& tensors) {
  collective("all-reduce", [&] {
    on_flat_buffer(tensors, [&](std::vector<at::Tensor>& flat) {
      c10d::AllreduceOptions options;
      options.reduceOp = c10d::ReduceOp::SUM;
      impl_->backend->allreduce(flat, options)->wait();
    });
  });
}

void ProcessGroup::broadcast(std::vector<at::Tensor>& tensors, int64_t root) {
  collective("broadcast", [&] {
    on_flat_buffer(tensors, [&](std::vector<at::Tensor>& flat) {
      c10d::BroadcastOptions options;
      options.rootRank = root;
      impl_->backend->broadcast(flat, options)->wait();
    });
  });
}

void ProcessGroup::barrier() {
  collective("barrier", [&] { impl_->backend->barrier()->wait(); });
}

}  // namespace shadowpeft::train
