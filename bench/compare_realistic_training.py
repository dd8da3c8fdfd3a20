#!/usr/bin/env python3
"""Training as people train: prompt/completion examples of varied lengths, loss on the completions only.

The fixed-length benchmark (compare_training.py) feeds rows with no padding and a loss on every token. Real
instruction data varies in length (here 20-400 tokens per example) and Hugging Face's collators pad each batch to
its longest row, so a batch of 8 spends much of its compute on padding. This script trains one epoch over the same
generated prompt/completion set (--examples records, deterministic) and reports *real* tokens per second (tokens
that are not padding, over the trainer's training time), peak resident memory (ru_maxrss from wait4, model loading
included) and the mean training loss over the epoch's steps.

- shadow-peft (Python), as a user runs it: the examples tokenized by the same rules (prompt, completion, eos; labels
  -100 on the prompt), shuffled, batches of --batch-size padded to their longest row (DataCollatorForSeq2Seq's
  padding, on the right), `ShadowForCausalLM(get_shadow_model(...))` with shadow-peft's defaults, AdamW, clipping
  at 1.0, one epoch; the model in --python-dtype (the package cannot pair a float32 shadow with a half-precision
  base).
- shadowpeft, the same data, batch size, learning rate, alpha 0.1, dropout 0.2 and epoch, in each --modes entry:
  `padded` (batches padded to their longest row, as the Python side), `grouped` (--group-by-length) and `packed`
  (--packing: whole examples binned into rows of --max-length tokens, attention within each example), with
  --base-dtype (and --quantize int8: the base's Linear layers weight-only int8, computing in --base-dtype).

Usage: compare_realistic_training.py [--build build] [--model DIR] [--examples 64] [--batch-size 8]
       [--max-length 512] [--threads 2] [--modes padded,grouped,packed] [--base-dtype float32]
       [--quantize none|int8] [--python-dtype float32] [--out results.json]
"""
import argparse
import json
import os
import random
import sys
import tempfile

from measure import WORDS, run_measured

WORKER = r"""
import json, random, sys, time, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from shadow_peft import ShadowConfig, ShadowForCausalLM, get_shadow_model
model_dir, data, batch, max_length, threads, dtype = sys.argv[1:7]
batch, max_length, threads, dtype = int(batch), int(max_length), int(threads), getattr(torch, dtype)
torch.set_num_threads(threads)
torch.manual_seed(42)
tok = AutoTokenizer.from_pretrained(model_dir)
examples = []
for line in open(data):
    r = json.loads(line)
    p = tok(r["prompt"], add_special_tokens=True)["input_ids"]
    c = tok(r["completion"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids, labels = (p + c)[:max_length], ([-100] * len(p) + c)[:max_length]
    examples.append((ids, labels))
base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
model = ShadowForCausalLM(get_shadow_model(base, ShadowConfig()), shadow_loss_weight=0.05).to(dtype)
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
order = list(range(len(examples)))
random.Random(42).shuffle(order)
pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
real, losses = 0, []
start = time.perf_counter()
for s in range(0, len(order), batch):
    rows = [examples[i] for i in order[s:s + batch]]
    t = max(len(ids) for ids, _ in rows)
    ids = torch.tensor([r[0] + [pad] * (t - len(r[0])) for r in rows])
    labels = torch.tensor([r[1] + [-100] * (t - len(r[1])) for r in rows])
    mask = torch.tensor([[1] * len(r[0]) + [0] * (t - len(r[0])) for r in rows])
    real += int(mask.sum())
    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    losses.append(loss.item())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "real_tokens": real, "tokens_per_second": real / seconds,
                  "train_loss": sum(losses) / len(losses)}))
"""

def write_data(path, n):
    """Prompt/completion pairs, each side 10-200 words (about 20-400 tokens an example), seed 0."""
    rng = random.Random(0)
    with open(path, "w") as f:
        for _ in range(n):
            prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 200)))
            completion = " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 200)))
            f.write(json.dumps({"prompt": prompt.capitalize() + "?", "completion": completion.capitalize() + "."}) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/shadowpeft/models/smollm2-135m-instruct"))
    ap.add_argument("--examples", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="padded,grouped,packed")
    ap.add_argument("--base-dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--quantize", default="none", choices=["none", "int8"], help="our base's Linear layers")
    ap.add_argument("--python-dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--out")
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    cli = os.path.join(a.build, "tools", "shadowpeft")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "train.jsonl")
        write_data(data, a.examples)
        stdout, rss = run_measured([sys.executable, "-c", WORKER, a.model, data, str(a.batch_size), str(a.max_length),
                           str(a.threads), a.python_dtype], env)
        r = json.loads(stdout.strip().splitlines()[-1])
        results[f"shadow-peft (Python, {a.python_dtype})"] = {**r, "peak_rss_mib": rss}
        mode_flags = {"padded": [], "grouped": ["--group-by-length"], "packed": ["--packing"]}
        for mode in a.modes.split(","):
            stdout, rss = run_measured([cli, "train", "--model", a.model, "--data", data, "--max-length", str(a.max_length),
                               "--batch-size", str(a.batch_size), "--num-train-epochs", "1", "--learning-rate", "1e-4",
                               "--alpha", "0.1", "--weight-decay", "0", "--warmup-steps", "0", "--lr-scheduler-type",
                               "constant", "--logging-steps", "1", "--save-steps", "0", "--seed", "42",
                               "--base-dtype", a.base_dtype, "--quantize", a.quantize,
                               "--output-dir", os.path.join(tmp, mode), "--json",
                               *mode_flags[mode]], env)
            s = json.loads(stdout.strip().splitlines()[-1])
            base = a.base_dtype + (", int8" if a.quantize == "int8" else "")
            results[f"shadowpeft {mode} ({base})"] = {"seconds": s["seconds"],
                                                              "tokens_per_second": s["tokens_per_second"],
                                                              "train_loss": s["train_loss"], "peak_rss_mib": rss}
    reference = next(iter(results.values()))
    print(f"{a.examples} prompt/completion examples (20-400 tokens), batch {a.batch_size}, 1 epoch, {a.threads} threads")
    print(f"{'':36}{'real tok/s':>11}{'seconds':>9}{'peak RSS':>10}{'loss':>8}{'vs Python':>11}")
    for name, r in results.items():
        print(f"{name:36}{r['tokens_per_second']:>11.1f}{r['seconds']:>9.1f}{r['peak_rss_mib']:>8.0f} M"
              f"{r['train_loss']:>8.3f}{r['tokens_per_second'] / reference['tokens_per_second']:>10.2f}x")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"args": vars(a), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
