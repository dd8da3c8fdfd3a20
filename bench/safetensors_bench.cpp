// Loading a checkpoint: open a safetensors file and materialise every tensor (and, separately, read
// every byte). bench/compare_safetensors.py runs this next to Python safetensors on the same file.
// Usage: safetensors_bench --file=PATH [google benchmark flags]
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

#include "shadowpeft/io/safetensors.h"

namespace {

std::string g_file;

void BM_OpenAndGetAllTensors(benchmark::State& state) {
  for (auto _ : state) {
    const auto file = shadowpeft::io::SafetensorsFile::open(g_file);
    for (const auto& info : file.tensors()) benchmark::DoNotOptimize(file.tensor(info.name));
  }
}

void BM_OpenAndSumAllTensors(benchmark::State& state) {
  for (auto _ : state) {
    const auto file = shadowpeft::io::SafetensorsFile::open(g_file);
    double total = 0;
    for (const auto& info : file.tensors()) total += file.tensor(info.name).sum().item<double>();
    benchmark::DoNotOptimize(total);
  }
}

BENCHMARK(BM_OpenAndGetAllTensors)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OpenAndSumAllTensors)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--file=", 7) == 0) g_file = argv[i] + 7;
  if (g_file.empty()) {
    std::fprintf(stderr, "usage: %s --file=PATH.safetensors [benchmark flags]\n", argv[0]);
    return 2;
  }
  at::set_num_threads(1);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
