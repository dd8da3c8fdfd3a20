#!/usr/bin/env python3
"""Side-by-side: shadowpeft's tokenizer vs. Python `tokenizers` on the same text, same run.

Builds a ~1 MB text from the tokenizer fixture corpus (English, code, numbers, emoji, CJK, Arabic,
Hindi, Thai, ...) plus plain English prose, times Python (load; encode of the whole text; encode of
each line, one thread; decode), runs bench/tokenizer_bench on the same text and prints the ratios
(Python time / C++ time: above 1 means we are faster).

Usage: compare_tokenizer.py BUILD_DIR [TOKENIZER_DIR ...]   (default: ../shared/tokenizers/*)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"  # one thread on both sides
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from tokenizers import Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
from make_tokenizer_fixtures import CORPUS  # noqa: E402

PROSE = ("The committee reviewed the proposal in detail, and after a long discussion about costs, "
         "timelines and the risks involved, it decided to fund a smaller pilot first. ")


def best_of(fn, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0


def bench_text():
    lines = []
    while sum(len(s) for s in lines) < 1_000_000:
        lines.extend(line.replace("\n", " ") for line in CORPUS if line.strip())
        lines.extend([PROSE * 3] * 20)
    return "\n".join(lines)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    dirs = sys.argv[2:] or [os.path.join(HERE, "..", "..", "shared", "tokenizers", n)
                            for n in ("qwen3", "gpt4o", "deepseek_v3", "mistral7b")]
    text = bench_text()
    lines = text.split("\n")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(text)
        text_file = f.name
    print(f"text: {len(text.encode()) / 1e6:.2f} MB, {len(lines)} lines, 1 thread")
    print(f"{'tokenizer':<12} {'case':<13} {'python ms':>10} {'c++ ms':>10} {'ratio':>7}")
    try:
        for d in dirs:
            path = os.path.join(d, "tokenizer.json")
            tok = Tokenizer.from_file(path)
            ids = tok.encode(text, add_special_tokens=False).ids
            py = {"load": best_of(lambda: Tokenizer.from_file(path), 3),
                  "encode_text": best_of(lambda: tok.encode(text, add_special_tokens=False)),
                  "encode_lines": best_of(lambda: tok.encode_batch(lines, add_special_tokens=True)),
                  "decode": best_of(lambda: tok.decode(ids, skip_special_tokens=False))}
            out = subprocess.run([os.path.join(build, "bench", "tokenizer_bench"), f"--tokenizer={d}", f"--text={text_file}",
                                  "--benchmark_format=json", "--benchmark_repetitions=3",
                                  "--benchmark_report_aggregates_only=true"],
                                 check=True, capture_output=True, text=True).stdout
            names = {"BM_Load": "load", "BM_EncodeText": "encode_text", "BM_EncodeLines": "encode_lines", "BM_Decode": "decode"}
            cpp = {}
            for b in json.loads(out)["benchmarks"]:
                if b["name"].endswith("_median"):
                    cpp[names[b["name"].split("/")[0]]] = b["real_time"]
            for k in ("load", "encode_text", "encode_lines", "decode"):
                print(f"{os.path.basename(os.path.normpath(d)):<12} {k:<13} {py[k]:>10.1f} {cpp[k]:>10.1f} {py[k] / cpp[k]:>6.2f}x")
    finally:
        os.unlink(text_file)


if __name__ == "__main__":
    main()
