// Forward throughput of the generic decoder on a model directory; bench/compare_forward.py runs it
// next to transformers on the same model and inputs.
// Usage: forward_bench --model=DIR [--batch=N] [--seq=T] [--threads=K] [google benchmark flags]
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cstring>
#include <string>

#include "shadowpeft/models/loader.h"

namespace {

std::string g_model;
int64_t g_batch = 1, g_seq = 128;

void BM_Forward(benchmark::State& state) {
  auto model = shadowpeft::models::load_causal_lm(g_model);
  torch::InferenceMode guard;
  const at::Tensor ids = at::randint(0, model->config().vocab_size, {g_batch, g_seq}, at::kLong);
  for (auto _ : state) benchmark::DoNotOptimize(model->forward(ids));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(g_batch * g_seq), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Forward)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--model=", 8) == 0) g_model = argv[i] + 8;
    if (std::strncmp(argv[i], "--batch=", 8) == 0) g_batch = std::stoll(argv[i] + 8);
    if (std::strncmp(argv[i], "--seq=", 6) == 0) g_seq = std::stoll(argv[i] + 6);
    if (std::strncmp(argv[i], "--threads=", 10) == 0) threads = std::stoi(argv[i] + 10);
  }
  if (g_model.empty()) {
    std::fprintf(stderr, "usage: %s --model=DIR [--batch=N] [--seq=T] [--threads=K]\n", argv[0]);
    return 2;
  }
  at::set_num_threads(threads);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
