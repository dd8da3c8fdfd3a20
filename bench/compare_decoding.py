#!/usr/bin/env python3
"""Decoding speed per weight precision: `shadowpeft generate` (C++) vs llama.cpp (llama-cpp-python) and transformers.

Same machine, same model, same prompt ids, greedy, KV-cached, CPU, same thread count N. Each precision is what a
user of that tool would pick for it:

| precision | shadowpeft                              | llama.cpp              | transformers          |
|-----------|-----------------------------------------|------------------------|-----------------------|
| float32   | --dtype float32                         | F32 GGUF               | dtype=torch.float32   |
| bfloat16  | --dtype bfloat16                        | BF16 GGUF              | dtype=torch.bfloat16  |
| int8      | --dtype bfloat16 --quantize int8        | Q8_0 GGUF              | (none without extra packages: its int8 paths need
|           | (per-channel int8 Linear layers; the    | (int8 blocks of 32     |  bitsandbytes / torchao / quanto; its bfloat16 row
|           |  embeddings / tied head stay bfloat16)  |  with a scale each)    |  is the reference)    |

The GGUF files are made from the model directory with llama.cpp's own convert_hf_to_gguf.py (`--outtype f32 /
bf16 / q8_0`), taken from the llama-cpp-python source distribution (vendor/llama.cpp, the same llama.cpp the
installed package was built from), into --gguf-dir (default ~/.cache/shadowpeft/gguf/<model name>/). Install
first: `pip install llama-cpp-python diskcache sentencepiece` (PyPI has only llama-cpp-python's source, which builds
llama.cpp for this CPU: about 10 minutes on 2 cores; the converter imports sentencepiece); the script fetches the
matching source distribution with `pip download` for the converter.

Timings: decode tokens/s = (n - 1) / (time from the first new token to the last), n = --new-tokens (exactly n:
EOS is ignored on every side; our side reads the model through a directory whose configs have no eos_token_id,
compare_generation.make_no_eos_dir). TTFT = prefill + first token. Model loading is not timed. C++ runs one
process per measurement; Python warms each model up first. --repeats R keeps the fastest run of R.
"ratio vs llama.cpp" = our decode tokens/s / llama.cpp's at the same precision (> 1: we are faster).

Usage: compare_decoding.py BUILD_DIR MODEL_DIR [--new-tokens 128] [--threads N] [--precisions float32,bfloat16,int8]
       [--repeats 3] [--gguf-dir DIR] [--out results.json]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_generation import (DEFAULT_PROMPT, TimingStreamer, clear_eos, first_mismatch, loadavg, log,  # noqa: E402
                                make_no_eos_dir, run_ours, run_theirs)

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

OURS = {"float32": ["--dtype", "float32"], "bfloat16": ["--dtype", "bfloat16"],
        "int8": ["--dtype", "bfloat16", "--quantize", "int8"]}
GGUF_TYPES = {"float32": "f32", "bfloat16": "bf16", "int8": "q8_0"}
THEIRS = {"float32": torch.float32, "bfloat16": torch.bfloat16}  # transformers has no int8 of its own


def llama_cpp_source(cache):
    """vendor/llama.cpp of the installed llama-cpp-python's source distribution (downloaded once into cache)."""
    import llama_cpp
    version = llama_cpp.__version__
    root = os.path.join(cache, f"llama_cpp_python-{version}")
    script = os.path.join(root, "vendor", "llama.cpp", "convert_hf_to_gguf.py")
    if not os.path.exists(script):
        os.makedirs(cache, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", cache,
                        f"llama-cpp-python=={version}"], check=True, stdout=subprocess.DEVNULL)
        archive = glob.glob(os.path.join(cache, f"llama_cpp_python-{version}.tar.gz"))[0]
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name and
                       ("/gguf-py/" in m.name or m.name.endswith("convert_hf_to_gguf.py") or "/conversion/" in m.name)]
            tar.extractall(cache, members=members, filter="data")
    return os.path.join(root, "vendor", "llama.cpp")


def gguf_file(model_dir, precision, gguf_dir):
    path = os.path.join(gguf_dir, f"{os.path.basename(os.path.normpath(model_dir))}-{GGUF_TYPES[precision]}.gguf")
    if os.path.exists(path):
        return path
    src = llama_cpp_source(os.path.join(os.path.expanduser("~/.cache/shadowpeft"), "llama.cpp"))
    os.makedirs(gguf_dir, exist_ok=True)
    log(f"  converting {model_dir} to {GGUF_TYPES[precision]} GGUF with {src}/convert_hf_to_gguf.py")
    env = dict(os.environ, PYTHONPATH=os.path.join(src, "gguf-py"))
    subprocess.run([sys.executable, os.path.join(src, "convert_hf_to_gguf.py"), model_dir, "--outtype",
                    GGUF_TYPES[precision], "--outfile", path + ".part"], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.replace(path + ".part", path)
    return path


def run_llama_cpp(llm, ids, n):
    """Greedy (top_k=1) decoding of exactly n tokens (generate() itself never stops at EOS)."""
    tokens, times = [], []
    t0 = time.perf_counter()
    for token in llm.generate(ids, top_k=1, temp=0.0, reset=True):
        times.append(time.perf_counter())
        tokens.append(token)
        if len(tokens) == n:
            break
    return {"tokens": tokens, "ttft": times[0] - t0, "decode_seconds": times[-1] - times[0]}


def best_of(repeats, fn):
    return min((fn() for _ in range(repeats)), key=lambda r: r["decode_seconds"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("model")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None, help="default: torch's default intra-op thread count")
    ap.add_argument("--precisions", default="float32,bfloat16,int8")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prompt", default=DEFAULT_PROMPT)
    ap.add_argument("--gguf-dir", default=None)
    ap.add_argument("--skip-transformers", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()

    cli = os.path.join(args.build, "tools", "shadowpeft")
    if not os.access(cli, os.X_OK):
        sys.exit(f"error: {cli} not found or not executable")
    try:
        import llama_cpp
    except ImportError:
        sys.exit("error: llama-cpp-python is not installed (pip install llama-cpp-python diskcache sentencepiece: "
                 "builds llama.cpp from source)")
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    gguf_dir = args.gguf_dir or os.path.expanduser(
        f"~/.cache/shadowpeft/gguf/{os.path.basename(os.path.normpath(args.model))}")
    ids = AutoTokenizer.from_pretrained(args.model)(args.prompt).input_ids
    n = args.new_tokens
    precisions = [p for p in args.precisions.split(",") if p]
    env = {"threads": threads, "cpu_count": os.cpu_count(), "loadavg_start": loadavg(), "torch": torch.__version__,
           "transformers": transformers.__version__, "llama_cpp_python": llama_cpp.__version__,
           "model": os.path.abspath(args.model), "prompt_tokens": len(ids), "new_tokens": n, "repeats": args.repeats}
    log(f"threads {threads}, prompt {len(ids)} tokens, {n} new tokens, load average {env['loadavg_start']}")
    rows = []

    def add(precision, impl, r):
        k = len(r["tokens"])
        if k != n:
            raise RuntimeError(f"{impl} {precision}: generated {k} tokens, expected {n}")
        row = {"precision": precision, "implementation": impl, "ttft_s": r["ttft"], "decode_s": r["decode_seconds"],
               "decode_tok_s": (k - 1) / r["decode_seconds"], "tokens": r["tokens"]}
        rows.append(row)
        log(f"  {precision:<9} {impl:<13} TTFT {row['ttft_s']:.3f} s  decode {row['decode_tok_s']:7.1f} tok/s  "
            f"(load {loadavg()})")
        return row

    with tempfile.TemporaryDirectory(prefix="compare_decoding-") as work:
        no_eos = os.path.join(work, "model")
        make_no_eos_dir(args.model, no_eos)
        for precision in precisions:
            log(f"== {precision}")
            path = gguf_file(args.model, precision, gguf_dir)
            llm = llama_cpp.Llama(model_path=path, n_ctx=len(ids) + n + 8, n_threads=threads, n_threads_batch=threads,
                                  verbose=False)
            run_llama_cpp(llm, ids, 2)  # warm-up
            theirs = add(precision, "llama.cpp", best_of(args.repeats, lambda: run_llama_cpp(llm, ids, n)))
            del llm
            ours = add(precision, "shadowpeft", best_of(
                args.repeats, lambda: run_ours(cli, no_eos, ids, n, threads, extra=OURS[precision])))
            i = first_mismatch(ours["tokens"], theirs["tokens"], n)
            log(f"  greedy tokens vs llama.cpp: " + ("all agree" if i is None else f"first differ at token {i}"))
            if precision in THEIRS and not args.skip_transformers:
                model = AutoModelForCausalLM.from_pretrained(args.model, dtype=THEIRS[precision]).eval()
                clear_eos(model)
                run_theirs(model, ids, 2, True)  # warm-up
                add(precision, "transformers", best_of(args.repeats, lambda: run_theirs(model, ids, n, True)))
                del model

    def rate(precision, impl):
        return next((r["decode_tok_s"] for r in rows if r["precision"] == precision and r["implementation"] == impl),
                    None)

    print(f"\n{'precision':<10} {'shadowpeft':>11} {'llama.cpp':>10} {'transformers':>13}  ours/llama.cpp  "
          f"ours/transformers (bf16 for int8)")
    summary = []
    for precision in precisions:
        ours, cpp = rate(precision, "shadowpeft"), rate(precision, "llama.cpp")
        hf = rate(precision if precision in THEIRS else "bfloat16", "transformers")
        summary.append({"precision": precision, "shadowpeft_tok_s": ours, "llama_cpp_tok_s": cpp,
                        "transformers_tok_s": hf, "ratio_vs_llama_cpp": ours / cpp,
                        "ratio_vs_transformers": ours / hf if hf else None})
        print(f"{precision:<10} {ours:>11.1f} {cpp:>10.1f} {hf if hf else float('nan'):>13.1f}  "
              f"{ours / cpp:>14.2f}  {ours / hf if hf else float('nan'):>17.2f}")
    env["loadavg_end"] = loadavg()
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"env": env, "summary": summary, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
