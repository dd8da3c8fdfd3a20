#!/usr/bin/env python3
"""Mixture-of-experts forward, shadowpeft vs. transformers: speed and peak memory on the same model.

Builds a random Qwen3-MoE model (default ~150M parameters: 8 layers, 32 experts of width 256, top-4,
fp32) and runs, each in a fresh process so that peak RSS belongs to one side only, transformers'
forward (eager attention, its default experts implementation, inference mode) and
bench/forward_bench, same batch shape and thread count. Prints tokens/s, peak RSS and the ratios.

Usage: compare_moe.py BUILD_DIR [--batch 4] [--seq 128] [--threads 2] [--experts 32] [--top-k 4]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import transformers

HF_SIDE = r"""
import sys, time, torch, transformers
d, batch, seq, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
model = transformers.AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager", dtype=torch.float32).eval()
ids = torch.randint(0, model.config.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(0))
times = []
with torch.inference_mode():
    for i in range(7):
        t0 = time.perf_counter()
        model(ids)
        if i >= 2:
            times.append(time.perf_counter() - t0)
impl = getattr(model.config, "_experts_implementation", None) or "eager (per-expert loop)"
print(sorted(times)[len(times) // 2] * 1000, impl)
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--experts", type=int, default=32)
    ap.add_argument("--top-k", type=int, default=4)
    args = ap.parse_args()
    torch.manual_seed(0)
    config = transformers.Qwen3MoeConfig(vocab_size=8192, hidden_size=512, intermediate_size=1408,
                                         moe_intermediate_size=256, num_experts=args.experts,
                                         num_experts_per_tok=args.top_k, norm_topk_prob=True, num_hidden_layers=8,
                                         num_attention_heads=8, num_key_value_heads=4, head_dim=64,
                                         max_position_embeddings=2048)
    model = transformers.Qwen3MoeForCausalLM(config).eval()
    n_params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d)
        del model
        results = {}
        for side, cmd in (
            ("transformers", [sys.executable, "-c", HF_SIDE, d, str(args.batch), str(args.seq), str(args.threads)]),
            ("shadowpeft", [os.path.join(args.build, "bench", "forward_bench"), f"--model={d}", f"--batch={args.batch}",
                            f"--seq={args.seq}", f"--threads={args.threads}", "--benchmark_format=json",
                            "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true"])):
            with tempfile.TemporaryFile("w+") as err:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
                out = proc.stdout.read()
                _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak RSS
                if status != 0:
                    err.seek(0)
                    sys.exit(f"{side} failed:\n{err.read()}")
            if side == "transformers":
                ms, impl = out.split(maxsplit=1)
                results[side] = (float(ms), usage.ru_maxrss / 1024, impl.strip())
            else:
                ms = next(b["real_time"] for b in json.loads(out)["benchmarks"] if b["name"].endswith("_median"))
                results[side] = (ms, usage.ru_maxrss / 1024, "grouped by expert (sorted tokens)")
    tokens = args.batch * args.seq
    print(f"model: Qwen3-MoE {n_params / 1e6:.0f}M params fp32, {args.experts} experts top-{args.top_k}, "
          f"batch {args.batch} x {args.seq} tokens, {args.threads} threads (median)")
    print(f"{'':<14} {'ms':>9} {'tokens/s':>10} {'peak RSS MB':>12}  experts")
    for side, (ms, rss, impl) in results.items():
        print(f"{side:<14} {ms:>9.1f} {tokens / ms * 1000:>10.0f} {rss:>12.0f}  {impl}")
    (hf_ms, hf_rss, _), (ours_ms, ours_rss, _) = results["transformers"], results["shadowpeft"]
    print(f"speed ratio (shadowpeft / transformers): {hf_ms / ours_ms:.2f}x; peak RSS ratio: {ours_rss / hf_rss:.2f}x")


if __name__ == "__main__":
    main()
