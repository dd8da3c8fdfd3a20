// Tokenizer throughput: loading tokenizer.json, encoding one long text, encoding it line by line,
// decoding. bench/compare_tokenizer.py runs this next to Python `tokenizers` on the same text.
// Usage: tokenizer_bench --tokenizer=DIR --text=FILE [google benchmark flags]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "shadowpeft/tokenizer/tokenizer.h"

namespace {

using shadowpeft::tokenizer::Tokenizer;

std::string g_dir;
std::string g_text;
std::vector<std::string> g_lines;

const Tokenizer& tokenizer() {
  static const Tokenizer tok = Tokenizer::from_pretrained(g_dir);
  return tok;
}

void BM_Load(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Tokenizer::from_pretrained(g_dir));
}

void BM_EncodeText(benchmark::State& state) {
  const Tokenizer& tok = tokenizer();
  std::size_t tokens = 0;
  for (auto _ : state) tokens = tok.encode(g_text, false).ids.size();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * g_text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}

void BM_EncodeLines(benchmark::State& state) {
  const Tokenizer& tok = tokenizer();
  shadowpeft::tokenizer::BatchOptions options;
  options.pad = false;
  for (auto _ : state) benchmark::DoNotOptimize(tok.encode_batch(g_lines, options));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * g_text.size()));
}

void BM_Decode(benchmark::State& state) {
  const Tokenizer& tok = tokenizer();
  const auto ids = tok.encode(g_text, false).ids;
  for (auto _ : state) benchmark::DoNotOptimize(tok.decode(ids));
}

BENCHMARK(BM_Load)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EncodeText)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EncodeLines)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Decode)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  std::string text_file;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--tokenizer=", 12) == 0) g_dir = argv[i] + 12;
    if (std::strncmp(argv[i], "--text=", 7) == 0) text_file = argv[i] + 7;
  }
  if (g_dir.empty() || text_file.empty()) {
    std::fprintf(stderr, "usage: %s --tokenizer=DIR --text=FILE [benchmark flags]\n", argv[0]);
    return 2;
  }
  std::ifstream in(text_file, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  g_text = buffer.str();
  std::istringstream lines(g_text);
  for (std::string line; std::getline(lines, line);) g_lines.push_back(line);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
