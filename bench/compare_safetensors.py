#!/usr/bin/env python3
"""Side-by-side: shadowpeft's safetensors loading vs. Python `safetensors` on the same file, same run.

Writes a checkpoint shaped like a small LLM (bf16 and fp32 tensors, ~200 MB), times Python
(safe_open + get_tensor for every tensor; and summing every tensor), runs bench/safetensors_bench on
the same file, and prints the ratios (Python time / C++ time: above 1 means we are faster).

Usage: compare_safetensors.py BUILD_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import torch
from safetensors import safe_open
from safetensors.torch import save_file


def best_of(fn, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    torch.set_num_threads(1)
    tensors = {}
    for i in range(24):
        tensors[f"model.layers.{i}.mlp.up_proj.weight"] = torch.randn(1024, 1024).bfloat16()
        tensors[f"model.layers.{i}.mlp.down_proj.weight"] = torch.randn(1024, 1024).bfloat16()
        tensors[f"model.layers.{i}.self_attn.q_proj.weight"] = torch.randn(512, 1024)
        tensors[f"model.layers.{i}.input_layernorm.weight"] = torch.randn(1024)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bench.safetensors")
        save_file(tensors, path)
        size_mb = os.path.getsize(path) / 1e6

        def py_get_all():
            with safe_open(path, "pt") as f:
                for k in f.keys():
                    f.get_tensor(k)

        def py_sum_all():
            with safe_open(path, "pt") as f:
                total = 0.0
                for k in f.keys():
                    total += f.get_tensor(k).sum().item()

        py = {"get_all": best_of(py_get_all), "sum_all": best_of(py_sum_all)}
        out = subprocess.run([os.path.join(build, "bench", "safetensors_bench"), f"--file={path}",
                              "--benchmark_format=json", "--benchmark_repetitions=5",
                              "--benchmark_report_aggregates_only=true"],
                             check=True, capture_output=True, text=True).stdout
        cpp = {}
        for b in json.loads(out)["benchmarks"]:
            if b["name"].endswith("_mean"):
                key = "get_all" if "GetAll" in b["name"] else "sum_all"
                cpp[key] = b["real_time"]
        print(f"file: {len(tensors)} tensors, {size_mb:.0f} MB, 1 thread")
        print(f"{'case':<10} {'python ms':>10} {'c++ ms':>10} {'ratio':>8}")
        for k in ("get_all", "sum_all"):
            print(f"{k:<10} {py[k]:>10.3f} {cpp[k]:>10.3f} {py[k] / cpp[k]:>7.1f}x")


if __name__ == "__main__":
    main()
