#pragma once
// Multi-process data-parallel training on torch's c10d: Gloo between CPU processes (NCCL between
// GPUs where LibTorch was built with it), rendezvous through a TCP store, configured by the
// environment variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT).
// The c10d headers stay in distributed.cpp.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shadowpeft::train {

struct DistributedEnvironment {
  int64_t rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // torchrun's agent already serves the store on MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE=True).
  bool agent_hosts_store = false;
  // The torchrun variables, when WORLD_SIZE is set; invalid values are a ConfigError naming the variable.
  static std::optional<DistributedEnvironment> from_environment();
};

class ProcessGroup {
 public:
  // Joins the group (blocks until all world_size processes have joined or `timeout` passes).
  // Backend: NCCL for CUDA devices, Gloo otherwise.
  static std::unique_ptr<ProcessGroup> join(const DistributedEnvironment& env, c10::Device device,
                                            std::chrono::seconds timeout = std::chrono::seconds(300));
  ~ProcessGroup();
  int64_t rank() const { return env_.rank; }
  int64_t world_size() const { return env_.world_size; }
  const std::string& backend() const;
  // Where collectives take their tensors (CUDA for NCCL, CPU for Gloo).
  c10::Device device() const { return device_; }
  // In place, on every process; any shapes, one dtype and device (sent as one flat buffer).
  void all_reduce_sum(std::vector<at::Tensor>& tensors);
  void broadcast(std::vector<at::Tensor>& tensors, int64_t root = 0);
  void barrier();

 private:
  struct Impl;
  ProcessGroup(DistributedEnvironment env, c10::Device device, std::unique_ptr<Impl> impl);
  // Runs a collective; a failure (a peer gone, the timeout) becomes an Error naming it.
  template <typename F>
  void collective(const char* what, F&& run);
  DistributedEnvironment env_;
  c10::Device device_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shadowpeft::train
