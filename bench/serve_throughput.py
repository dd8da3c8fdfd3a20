#!/usr/bin/env python3
"""Aggregate decoding throughput of `shadowpeft serve` for 1, 4 and 8 concurrent clients.

Serves MODEL (with ADAPTER as model "shadow" when given) on a free port and sends each client's
requests through the `openai` client: greedy chat completions of up to MAX_TOKENS new tokens, with
distinct prompts. Reports completion tokens (from `usage`) per second over all clients and the mean
latency of a request. Concurrent requests are decoded together (continuous batching, --max-batch 8).

Usage: serve_throughput.py CLI MODEL [ADAPTER] [--requests N] [--max-tokens T]
"""
import argparse
import concurrent.futures
import statistics
import subprocess
import time

from openai import OpenAI


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cli")
    ap.add_argument("model")
    ap.add_argument("adapter", nargs="?")
    ap.add_argument("--requests", type=int, default=8, help="requests per client")
    ap.add_argument("--max-tokens", type=int, default=32)
    args = ap.parse_args()
    cmd = [args.cli, "serve", "--model", args.model, "--port", "0", "--max-queue", "64"]
    if args.adapter:
        cmd += ["--adapter", f"shadow={args.adapter}"]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
    model = "shadow" if args.adapter else line.split("serving ")[1].split(" on ")[0]
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=600)

    def one(i):
        start = time.perf_counter()
        r = client.chat.completions.create(model=model, temperature=0, max_tokens=args.max_tokens,
                                           messages=[{"role": "user", "content": f"Write {1000 + 37 * i} in words."}])
        return time.perf_counter() - start, r.usage.completion_tokens

    try:
        one(0)  # warm-up
        print(f"{'clients':>8} {'requests':>9} {'tokens':>7} {'tokens/s':>10} {'latency s':>10}")
        for clients in (1, 4, 8):
            n = clients * args.requests
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(clients) as pool:
                results = list(pool.map(one, range(n)))
            wall = time.perf_counter() - start
            tokens = sum(r[1] for r in results)
            print(f"{clients:>8} {n:>9} {tokens:>7} {tokens / wall:>10.1f} {statistics.mean(r[0] for r in results):>10.2f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
