#!/usr/bin/env python3
"""Side-by-side training speed and peak memory: `shadowpeft train` (C++) vs the shadow-peft package.

Same machine, same model directory, float32 unless --base-dtype / --python-dtype say otherwise, CPU, same
thread count N (Python: `torch.set_num_threads(N)`;
C++ subprocess: OMP_NUM_THREADS / MKL_NUM_THREADS = N), the same ShadowPEFT adapter shape (shadow-peft's
ShadowConfig defaults: 1 implicit shadow layer, injection rank 16, gate 10, alpha 0.1, dropout 0.2;
shadow_loss_weight 0.05) and the same step: micro-batches of B rows x T tokens, all real (no padding),
loss on every token, AdamW (lr 1e-4, no weight decay), clip_grad_norm_(1.0).

- ours: `shadowpeft train --packing --packing-strategy wrapped --max-length T --batch-size B --max-steps S` on a generated text corpus
  (packing makes every row exactly T tokens); tokens/s = B*T*S / training seconds as the trainer reports them
  (model loading, tokenization and the final save are not included).
- reference: a subprocess running the package's `ShadowForCausalLM(get_shadow_model(AutoModelForCausalLM...))`
  (transformers' default attention) with the textbook loop (forward with labels, backward, clip, AdamW step,
  zero_grad) on random token ids of the same shape; the same S steps are timed the same way.

Peak memory is each process's peak resident set size (ru_maxrss from wait4), model loading included on both
sides; for Python that includes the interpreter and its imported libraries, which a user pays as well.
Both processes start cold; runs alternate (ours, then theirs) --repeats times and the fastest of each is kept.

Usage: compare_training.py BUILD_DIR MODEL_DIR [--batch-size 8] [--seq-len 64] [--steps 10] [--threads 1]
       [--repeats 1] [--base-dtype float32] [--python-dtype float32] [--out results.json]
"""
import argparse
import json
import os
import random
import sys
import tempfile

from measure import WORDS, run_measured

WORKER = r"""
import json, sys, time, torch
from transformers import AutoModelForCausalLM
from shadow_peft import ShadowConfig, ShadowForCausalLM, get_shadow_model
model_dir, batch, seq, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
dtype = getattr(torch, sys.argv[6])
torch.set_num_threads(threads)
torch.manual_seed(0)
base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
# shadow-peft builds its shadow in float32, which fails beside a half-precision base: the whole model
# goes to the base's dtype, the one way the package runs there.
model = ShadowForCausalLM(get_shadow_model(base, ShadowConfig()), shadow_loss_weight=0.05).to(dtype)
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
g = torch.Generator().manual_seed(0)
vocab = base.config.vocab_size
start = time.perf_counter()
for _ in range(steps):
    ids = torch.randint(0, vocab, (batch, seq), generator=g)
    loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "tokens_per_second": batch * seq * steps / seconds,
                  "trainable_parameters": sum(p.numel() for p in params)}))
"""

def write_corpus(path, tokens_needed):
    rng = random.Random(0)
    with open(path, "w") as f:
        words = 0
        while words < tokens_needed * 2:  # a word is ~1-2 tokens: plenty for packing
            line = " ".join(rng.choice(WORDS) for _ in range(60))
            f.write(json.dumps({"text": line.capitalize() + "."}) + "\n")
            words += 60


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir")
    ap.add_argument("model_dir")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--base-dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                    help="ours: --base-dtype (the adapter stays float32)")
    ap.add_argument("--python-dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                    help="shadow-peft: the whole model in this dtype (it cannot mix a float32 shadow with a "
                         "half-precision base)")
    ap.add_argument("--out")
    a = ap.parse_args()
    cli = os.path.join(a.build_dir, "tools", "shadowpeft")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    best = {}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.jsonl")
        write_corpus(corpus, a.batch_size * a.seq_len * a.steps)
        for _ in range(a.repeats):
            stdout, rss = run_measured([cli, "train", "--model", a.model_dir, "--data", corpus, "--packing", "--packing-strategy", "wrapped",
                               "--max-length", str(a.seq_len), "--batch-size", str(a.batch_size), "--max-steps",
                               str(a.steps), "--learning-rate", "1e-4", "--alpha", "0.1", "--logging-steps", str(a.steps),
                               "--save-steps", "0", "--base-dtype", a.base_dtype, "--output-dir", os.path.join(tmp, "ours"),
                               "--json"], env)
            ours = json.loads(stdout.strip().splitlines()[-1])
            ours = {"tokens_per_second": a.batch_size * a.seq_len * a.steps / ours["seconds"],
                    "seconds": ours["seconds"], "peak_rss_mib": rss}
            stdout, rss = run_measured([sys.executable, "-c", WORKER, a.model_dir, str(a.batch_size), str(a.seq_len),
                               str(a.steps), str(a.threads), a.python_dtype], env)
            theirs = json.loads(stdout.strip().splitlines()[-1])
            theirs["peak_rss_mib"] = rss
            for name, r in (("shadowpeft", ours), ("shadow-peft (Python)", theirs)):
                if name not in best or r["tokens_per_second"] > best[name]["tokens_per_second"]:
                    best[name] = r
    ours, theirs = best["shadowpeft"], best["shadow-peft (Python)"]
    print(f"model {a.model_dir}; batch {a.batch_size} x {a.seq_len} tokens, {a.steps} steps, {a.threads} thread(s); "
          f"base dtype: ours {a.base_dtype}, shadow-peft {a.python_dtype}")
    print(f"{'':22}{'tokens/s':>10}{'seconds':>10}{'peak RSS MiB':>14}")
    for name, r in best.items():
        print(f"{name:22}{r['tokens_per_second']:>10.1f}{r['seconds']:>10.2f}{r['peak_rss_mib']:>14.0f}")
    ratios = {"speed_ratio": ours["tokens_per_second"] / theirs["tokens_per_second"],
              "memory_ratio": ours["peak_rss_mib"] / theirs["peak_rss_mib"]}
    print(f"ours / theirs: speed {ratios['speed_ratio']:.2f}x, peak memory {ratios['memory_ratio']:.2f}x")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"args": vars(a), "results": best, **ratios}, f, indent=2)


if __name__ == "__main__":
    main()
