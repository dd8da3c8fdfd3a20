#!/usr/bin/env python3
"""Side-by-side forward throughput: shadowpeft's decoder vs. transformers, same model, same run.

Builds a random Llama-shaped model (default ~50M parameters, GQA, fp32), times transformers'
forward (sdpa attention, inference mode) and bench/forward_bench on the same directory with the
same batch shape and thread count, and prints tokens/s and the ratio (ours / transformers).

Usage: compare_forward.py BUILD_DIR [--batch 1] [--seq 256] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=8192, hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                         num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=2048)
    model = LlamaForCausalLM(config).eval()
    n_params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d)
        model = LlamaForCausalLM.from_pretrained(d, attn_implementation="sdpa").eval()
        ids = torch.randint(0, config.vocab_size, (args.batch, args.seq))
        with torch.inference_mode():
            for _ in range(2):
                model(ids)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                model(ids)
                times.append(time.perf_counter() - t0)
        hf_ms = sorted(times)[len(times) // 2] * 1000
        out = subprocess.run([os.path.join(args.build, "bench", "forward_bench"), f"--model={d}",
                              f"--batch={args.batch}", f"--seq={args.seq}", f"--threads={args.threads}",
                              "--benchmark_format=json", "--benchmark_repetitions=5",
                              "--benchmark_report_aggregates_only=true"],
                             check=True, capture_output=True, text=True).stdout
        ours_ms = next(b["real_time"] for b in json.loads(out)["benchmarks"] if b["name"].endswith("_median"))
    tokens = args.batch * args.seq
    print(f"model: Llama {n_params / 1e6:.0f}M params fp32, batch {args.batch} x {args.seq} tokens, "
          f"{args.threads} threads (median of 5)")
    print(f"{'':<14} {'ms':>9} {'tokens/s':>10}")
    print(f"{'transformers':<14} {hf_ms:>9.1f} {tokens / hf_ms * 1000:>10.0f}")
    print(f"{'shadowpeft':<14} {ours_ms:>9.1f} {tokens / ours_ms * 1000:>10.0f}")
    print(f"ratio (shadowpeft speed / transformers speed): {hf_ms / ours_ms:.2f}x")


if __name__ == "__main__":
    main()
