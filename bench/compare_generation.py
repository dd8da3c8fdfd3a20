#!/usr/bin/env python3
"""Side-by-side generation speed: `shadowpeft generate` (C++) vs transformers / the shadow-peft package.

Same machine, same model directory, same prompt ids, greedy, float32, CPU, same thread count N (Python:
`torch.set_num_threads(N)`; C++ subprocess: `OMP_NUM_THREADS=N`, `MKL_NUM_THREADS=N`, which LibTorch's
default intra-op pool follows). Every run generates exactly the requested number of tokens: the C++ side
reads the model through a temporary directory of symlinks whose config.json / generation_config.json have
`eos_token_id: null` (and no tokenizer.json, so the tokenizer's eos is not used either; ids go in with
--input-ids), the Python side clears `eos_token_id` in the generation config. The token counts are checked.

Cases
1. plain       : the base model alone. ours (KV cache) vs transformers `generate(use_cache=True)`.
2. base_shadow : a fresh implicit ShadowPEFT adapter (1 shadow layer, injection up-projections re-drawn
                 to N(0, --up-std) so it is not a no-op) made and saved by the shadow-peft package.
                 ours (`--adapter`, KV cache) vs the package's `generate(use_cache=False)` (its default);
                 our `--no-cache` path is timed too, and the package's `use_cache=True` path for reference.
3. shadow_only : as 2 with `--mode shadow_only` / `inference_mode="shadow_only"` (the package has no cached
                 shadow_only path).
Uncached runs cost O(N^2): they run at the --slow-lengths (default "auto": 64 and 256 when the estimate for
all of them, extrapolated from the 64-token runs, stays under --slow-budget seconds, else 64 and 128). The
cached runs run at --new-tokens (256) and at every slow length.

Timings: TTFT = prefill + first token (the C++ JSON `time_to_first_token_seconds`; Python: a streamer's
clock from the `generate` call to the first new token). decode tokens/s = (n - 1) / (time after the first
token). overall tokens/s = n / (TTFT + decode time). Model loading is not timed on either side. C++ runs
one fresh process per measurement (cold: no warm-up); Python warms each model up with a 2-token generate
first. Each case and length runs back to back (theirs, then ours), so drifting machine load biases the
ratios less. With --repeats R > 1 (--slow-repeats for the uncached runs) each measurement is repeated
and the fastest (overall) kept. On a busy machine prefer --threads 1: with as many threads as cores, OpenMP
threads preempted by other processes make single runs up to ~50x slower, on both sides. "ratio" is ours
overall tokens/s divided by the reference implementation's (transformers / shadow-peft) for the same case,
length and the reference's default way (transformers: cached; shadow-peft: uncached); on the shadow-peft
cached rows it is our cached run divided by that row.

Greedy agreement: the first --check-tokens (20) tokens of every run are compared with the reference
implementation's run of the same case; mismatches are reported (float32 sums in a different order can
flip a near-tie, after which the continuations diverge).

Usage: compare_generation.py BUILD_DIR MODEL_DIR [--new-tokens 256] [--threads N] [--out results.json]
       [--prompt TEXT] [--slow-lengths auto|64,128] [--repeats 1] [--slow-repeats 1] [--skip-slow]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from transformers.generation.streamers import BaseStreamer  # noqa: E402

transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

DEFAULT_PROMPT = ("Once upon a time, in a small village at the edge of a great forest, there lived an old "
                  "clockmaker who")


# ------------------------------------------------------------------------------------------------ helpers

def log(msg):
    print(msg, file=sys.stderr, flush=True)


def loadavg():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


class TimingStreamer(BaseStreamer):
    """Records the time of every put() after the first (the first one is the prompt)."""

    def __init__(self):
        self.times = []
        self.seen_prompt = False

    def put(self, value):
        if not self.seen_prompt:
            self.seen_prompt = True
            return
        self.times.append(time.perf_counter())

    def end(self):
        pass


def make_no_eos_dir(model_dir, dst):
    """Symlinks MODEL_DIR's files into dst, except tokenizer files; config.json and generation_config.json
    are copies with eos_token_id null, so `shadowpeft generate` cannot stop early."""
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(model_dir):
        src = os.path.join(os.path.abspath(model_dir), name)
        if name in ("config.json", "generation_config.json") or name.startswith("tokenizer") or \
                name in ("special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt"):
            continue
        os.symlink(src, os.path.join(dst, name))
    for name in ("config.json", "generation_config.json"):
        path = os.path.join(model_dir, name)
        cfg = json.load(open(path)) if os.path.exists(path) else {}
        cfg["eos_token_id"] = None
        json.dump(cfg, open(os.path.join(dst, name), "w"), indent=2)


def run_ours(cli, model_dir, ids, n, threads, adapter=None, mode=None, no_cache=False, extra=()):
    cmd = [cli, "generate", "--model", model_dir, "--input-ids", ",".join(map(str, ids)),
           "--max-new-tokens", str(n), "--json", *extra]
    if adapter:
        cmd += ["--adapter", adapter, "--mode", mode]
    if no_cache:
        cmd.append("--no-cache")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    out = json.loads(r.stdout)
    tokens = out["results"][0]["tokens"]
    ttft = float(out["time_to_first_token_seconds"])
    decode = float(out["decode_seconds"])
    return {"tokens": tokens, "ttft": ttft, "decode_seconds": decode}


def run_theirs(model, ids, n, use_cache):
    streamer = TimingStreamer()
    input_ids = torch.tensor([ids], dtype=torch.long)
    with torch.inference_mode():
        t0 = time.perf_counter()
        out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                             max_new_tokens=n, do_sample=False, use_cache=use_cache, streamer=streamer,
                             eos_token_id=None, pad_token_id=0)
        t1 = time.perf_counter()
    tokens = out[0, len(ids):].tolist()
    first = streamer.times[0] if streamer.times else t1
    return {"tokens": tokens, "ttft": first - t0, "decode_seconds": t1 - first}


def best_of(repeats, fn):
    runs = [fn() for _ in range(repeats)]
    return min(runs, key=lambda r: r["ttft"] + r["decode_seconds"])


def clear_eos(model):
    model.generation_config.eos_token_id = None
    for key in ("temperature", "top_p", "top_k", "repetition_penalty"):
        if hasattr(model.generation_config, key):
            setattr(model.generation_config, key, None)


def first_mismatch(a, b, k):
    for i, (x, y) in enumerate(zip(a[:k], b[:k])):
        if x != y:
            return i
    return None


# ------------------------------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("model")
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None, help="default: torch's default intra-op thread count")
    ap.add_argument("--prompt", default=DEFAULT_PROMPT)
    ap.add_argument("--slow-lengths", default="auto", help="'auto' or comma-separated lengths for uncached runs")
    ap.add_argument("--slow-budget", type=float, default=240.0,
                    help="auto: run 256 (else 128) as the second uncached length if the estimate stays below this")
    ap.add_argument("--skip-slow", action="store_true", help="no uncached runs at all")
    ap.add_argument("--repeats", type=int, default=1, help="repeat each cached measurement, keep the fastest")
    ap.add_argument("--slow-repeats", type=int, default=1, help="the same for the uncached (slow) runs")
    ap.add_argument("--check-tokens", type=int, default=20)
    ap.add_argument("--up-std", type=float, default=0.05, help="std of the re-drawn injection up-projections")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()

    cli = os.path.join(args.build, "tools", "shadowpeft")
    if not os.access(cli, os.X_OK):
        sys.exit(f"error: {cli} not found or not executable")
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    import shadow_peft
    from shadow_peft import ShadowConfig, ShadowForCausalLM, get_shadow_model

    tok = AutoTokenizer.from_pretrained(args.model)
    ids = tok(args.prompt).input_ids
    n = args.new_tokens
    load_start = loadavg()
    env_info = {
        "threads": threads, "cpu_count": os.cpu_count(), "loadavg_start": load_start,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "shadow_peft": getattr(shadow_peft, "__version__", None) or _dist_version("shadow-peft"),
        "model": os.path.abspath(args.model), "prompt": args.prompt, "prompt_tokens": len(ids),
        "dtype": "float32", "device": "cpu", "greedy": True,
    }
    log(f"threads {threads}, prompt {len(ids)} tokens, load average {load_start}")

    rows = []          # one per measurement
    token_checks = []  # agreement notes

    def add(case, impl, cache, r):
        k = len(r["tokens"])
        total = r["ttft"] + r["decode_seconds"]
        row = {"case": case, "implementation": impl, "cache": cache, "new_tokens": k,
               "ttft_s": r["ttft"], "decode_s": r["decode_seconds"],
               "decode_tok_s": (k - 1) / r["decode_seconds"] if k > 1 and r["decode_seconds"] > 0 else None,
               "overall_tok_s": k / total if total > 0 else None, "tokens": r["tokens"]}
        rows.append(row)
        log(f"  {case:<12} {impl:<26} {k:>4} tokens  TTFT {row['ttft_s']:.3f} s  "
            f"overall {row['overall_tok_s']:.2f} tok/s  (load {loadavg()})")
        return row

    def check(case, what, mine, ref):
        k = min(args.check_tokens, len(mine), len(ref))
        i = first_mismatch(mine, ref, k)
        full = min(len(mine), len(ref))
        j = first_mismatch(mine, ref, full)
        token_checks.append({"case": case, "compared": what, "tokens": k, "first_mismatch": i,
                             "agree": i is None, "ours": mine[:k], "reference": ref[:k],
                             "all_tokens": full, "all_first_mismatch": j})
        log(f"  tokens {case}: {what}: " + ("first %d agree" % k if i is None else f"MISMATCH at token {i}"))

    work = tempfile.mkdtemp(prefix="compare_generation-")
    try:
        no_eos = os.path.join(work, "model")
        make_no_eos_dir(args.model, no_eos)

        def expect(r, k, what):
            if len(r["tokens"]) != k:
                raise RuntimeError(f"{what}: generated {len(r['tokens'])} tokens, expected {k}")
            return r

        # ------------------------------------------------------------------ 1. plain model
        log("== plain model")
        base = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
        clear_eos(base)
        run_theirs(base, ids, 2, True)  # warm-up
        theirs = add("plain", "transformers", "cached",
                     expect(best_of(args.repeats, lambda: run_theirs(base, ids, n, True)), n, "transformers"))
        ours = add("plain", "shadowpeft", "cached",
                   expect(best_of(args.repeats, lambda: run_ours(cli, no_eos, ids, n, threads)), n, "ours"))
        check("plain", "shadowpeft cached vs transformers cached", ours["tokens"], theirs["tokens"])
        base = None

        # ------------------------------------------------------------------ 2./3. ShadowPEFT adapter
        log("== making an implicit ShadowPEFT adapter with the shadow-peft package")
        torch.manual_seed(args.seed)
        adapter_dir = os.path.join(work, "adapter")
        b = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
        cfg = ShadowConfig(num_shadow_layers=1, dropout=0.0)
        peft = get_shadow_model(b, cfg)
        with torch.no_grad():
            peft.shadow_injection_model.injection_ups.normal_(0.0, args.up_std)
        ShadowForCausalLM(peft).save_pretrained(adapter_dir)
        del peft, b
        env_info["adapter"] = {"config": cfg.to_dict(), "injection_ups_std": args.up_std,
                               "files": sorted(os.listdir(adapter_dir))}

        b = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
        model = ShadowForCausalLM.from_pretrained(b, adapter_dir).eval()
        clear_eos(model)
        run_theirs(model, ids, 2, False)  # warm-up

        def slow_lengths():
            if args.skip_slow:
                return []
            if args.slow_lengths != "auto":
                return [int(x) for x in args.slow_lengths.split(",") if x]
            return None

        lengths = slow_lengths()
        theirs_slow = {}    # (mode, length) -> row (shadow-peft, uncached)
        theirs_cached = {}  # length -> row (shadow-peft, cached, base_shadow)
        modes = ("base_shadow", "shadow_only")
        theirs_cached_warm = [False]

        # Each (mode, length) group runs back to back (theirs, then ours) so that a change in machine load
        # biases the comparison less.
        def group(mode, k, slow):
            if slow and (mode, k) not in theirs_slow:
                model.set_inference_mode(mode)
                theirs_slow[(mode, k)] = add(mode, "shadow-peft", "uncached", expect(best_of(
                    args.slow_repeats, lambda: run_theirs(model, ids, k, False)), k, f"shadow-peft {mode}"))
            if slow:
                r = add(mode, "shadowpeft", "uncached", expect(best_of(
                    args.slow_repeats, lambda: run_ours(cli, no_eos, ids, k, threads, adapter_dir, mode, True)),
                    k, "ours uncached"))
                if k == lengths[0]:
                    check(mode, "shadowpeft uncached vs shadow-peft uncached", r["tokens"],
                          theirs_slow[(mode, k)]["tokens"])
            mine = add(mode, "shadowpeft", "cached", expect(best_of(
                args.repeats, lambda: run_ours(cli, no_eos, ids, k, threads, adapter_dir, mode)), k, "ours"))
            if (mode, k) in theirs_slow and k == lengths[0]:
                check(mode, "shadowpeft cached vs shadow-peft uncached", mine["tokens"], theirs_slow[(mode, k)]["tokens"])
            if mode == "base_shadow":  # the package's own cached path (shadow_only has none), for reference
                model.set_inference_mode(mode)
                if not theirs_cached_warm[0]:
                    run_theirs(model, ids, 2, True)
                    theirs_cached_warm[0] = True
                theirs_cached[k] = add(mode, "shadow-peft", "cached", expect(best_of(
                    args.repeats, lambda: run_theirs(model, ids, k, True)), k, "shadow-peft cached"))
                if (mode, k) in theirs_slow and k == lengths[0]:
                    check(mode, "shadow-peft cached vs shadow-peft uncached (both Python)",
                          theirs_cached[k]["tokens"], theirs_slow[(mode, k)]["tokens"])
                if k == n:
                    check(mode, "shadowpeft cached vs shadow-peft cached", mine["tokens"], theirs_cached[k]["tokens"])

        done = set()
        if lengths is None:  # auto: 64 first, then extrapolate the uncached cost
            first_len = 64
            lengths = [first_len]
            for mode in modes:
                group(mode, first_len, True)
                done.add((mode, first_len))
            # uncached cost ~ sum over steps of the sequence length: k * (P + k / 2)
            p = len(ids)
            cost = lambda k: k * (p + k / 2)  # noqa: E731
            t64 = sum(theirs_slow[(m, first_len)]["ttft_s"] + theirs_slow[(m, first_len)]["decode_s"] for m in modes)
            est256 = t64 * cost(256) / cost(first_len)
            second = 256 if t64 + est256 <= args.slow_budget else 128
            log(f"  auto lengths: shadow-peft's uncached 64-token runs took {t64:.0f} s, 256 estimated at "
                f"{est256:.0f} s (budget {args.slow_budget:.0f} s) -> {first_len} and {second}")
            lengths = [first_len, second]
            env_info["slow_length_estimate_256_s"] = est256
        env_info["slow_lengths"] = lengths
        for k in sorted(set([n] + lengths)):
            for mode in modes:
                if (mode, k) not in done:
                    group(mode, k, k in lengths)
        model = b = None
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # ratios (overall tokens/s). Ours: divided by the reference's default way for the same case and length
    # (transformers cached for plain, shadow-peft uncached for the adapter cases). The shadow-peft cached
    # rows: ours cached divided by them.
    def find(case, impl, cache, k):
        return next((r for r in rows if r["case"] == case and r["cache"] == cache and r["new_tokens"] == k
                     and (r["implementation"] == "shadowpeft") == (impl == "shadowpeft")), None)

    for row in rows:
        row["ratio"], row["ratio_note"] = None, None
        if row["implementation"] == "shadowpeft":
            ref_cache = "cached" if row["case"] == "plain" else "uncached"
            ref = find(row["case"], "theirs", ref_cache, row["new_tokens"])
            if ref:
                row["ratio"] = row["overall_tok_s"] / ref["overall_tok_s"]
                row["ratio_note"] = f"vs {ref['implementation']} {ref_cache}"
        elif row["case"] != "plain" and row["cache"] == "cached":
            mine = find(row["case"], "shadowpeft", "cached", row["new_tokens"])
            if mine:
                row["ratio"] = mine["overall_tok_s"] / row["overall_tok_s"]
                row["ratio_note"] = "ours cached / this"

    env_info["loadavg_end"] = loadavg()
    order = {"plain": 0, "base_shadow": 1, "shadow_only": 2}
    rows.sort(key=lambda r: (order[r["case"]], r["new_tokens"], r["implementation"] != "shadowpeft",
                             r["cache"] != "cached"))

    print(f"\nGeneration speed, {os.path.basename(os.path.abspath(args.model))}, float32, CPU, {threads} threads, "
          f"greedy, prompt {len(ids)} tokens; load average {load_start} -> {env_info['loadavg_end']} "
          f"({os.cpu_count()} CPUs)")
    hdr = (f"{'case':<12} {'implementation':<24} {'new tok':>7} {'TTFT s':>8} {'decode tok/s':>12} "
           f"{'overall tok/s':>13} {'ratio ours/theirs':>26}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        impl = f"{r['implementation']} ({r['cache']})"
        ratio = f"{r['ratio']:.2f}x {r['ratio_note']}" if r["ratio"] is not None else ""
        dec = f"{r['decode_tok_s']:.2f}" if r["decode_tok_s"] is not None else "-"
        print(f"{r['case']:<12} {impl:<24} {r['new_tokens']:>7} {r['ttft_s']:>8.3f} {dec:>12} "
              f"{r['overall_tok_s']:>13.2f} {ratio:>26}")
    print()
    for c in token_checks:
        status = "agree" if c["agree"] else f"MISMATCH from token {c['first_mismatch']}"
        rest = (f"all {c['all_tokens']} agree" if c["all_first_mismatch"] is None
                else f"of all {c['all_tokens']}, first difference at token {c['all_first_mismatch']}")
        print(f"greedy tokens, {c['case']}: {c['compared']}: first {c['tokens']} {status} ({rest})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"environment": env_info, "rows": rows, "token_checks": token_checks}, f, indent=2)
        print(f"\nwrote {args.out}")
    return 0


def _dist_version(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
