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

With --eval-examples N, both sides also evaluate N held-out examples (generated with another seed) every
--eval-every steps and at the end: the next-token cross-entropy of the base+shadow logits over the completions.
Training time leaves the evaluations out on both sides (ours: train_seconds in train_log.jsonl). "s to target" is
the training time at the first evaluation whose held-out loss is at or below the Python side's final one
(--our-epochs > 1 gives our side room to get there; its tokens/s and training loss then cover all its epochs).

Usage: compare_realistic_training.py [--build build] [--model DIR] [--examples 64] [--batch-size 8]
       [--max-length 512] [--threads 2] [--modes padded,grouped,packed] [--base-dtype float32]
       [--quantize none|int8] [--python-dtype float32] [--eval-examples 0] [--eval-every 2]
       [--our-epochs 1] [--out results.json]
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
model_dir, data, batch, max_length, threads, dtype, eval_data, eval_every = sys.argv[1:9]
batch, max_length, threads, dtype, eval_every = int(batch), int(max_length), int(threads), getattr(torch, dtype), int(eval_every)
torch.set_num_threads(threads)
torch.manual_seed(42)
tok = AutoTokenizer.from_pretrained(model_dir)
def read(path):
    examples = []
    for line in open(path):
        r = json.loads(line)
        p = tok(r["prompt"], add_special_tokens=True)["input_ids"]
        c = tok(r["completion"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        examples.append(((p + c)[:max_length], ([-100] * len(p) + c)[:max_length]))
    return examples
examples = read(data)
held_out = read(eval_data) if eval_data else []
base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
model = ShadowForCausalLM(get_shadow_model(base, ShadowConfig()), shadow_loss_weight=0.05).to(dtype)
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
order = list(range(len(examples)))
random.Random(42).shuffle(order)
pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
def padded(rows):
    t = max(len(ids) for ids, _ in rows)
    return (torch.tensor([r[0] + [pad] * (t - len(r[0])) for r in rows]),
            torch.tensor([r[1] + [-100] * (t - len(r[1])) for r in rows]),
            torch.tensor([[1] * len(r[0]) + [0] * (t - len(r[0])) for r in rows]))
def held_out_loss():
    # The next-token cross-entropy of the base+shadow logits, summed over the held-out labels / their count.
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(held_out), batch):
            ids, labels, mask = padded(held_out[s:s + batch])
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
            shifted = labels[:, 1:].reshape(-1)
            total += torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), shifted,
                                                       ignore_index=-100, reduction="sum").item()
            count += int((shifted != -100).sum())
    model.train()
    return total / count
real, losses, evals, seconds = 0, [], [], 0.0
steps = (len(order) + batch - 1) // batch
for step, s in enumerate(range(0, len(order), batch), 1):
    start = time.perf_counter()
    ids, labels, mask = padded([examples[i] for i in order[s:s + batch]])
    real += int(mask.sum())
    loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    losses.append(loss.item())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    seconds += time.perf_counter() - start  # evaluations left out
    if held_out and (step % eval_every == 0 or step == steps):
        evals.append({"step": step, "train_seconds": seconds, "eval_loss": held_out_loss()})
print(json.dumps({"seconds": seconds, "real_tokens": real, "tokens_per_second": real / seconds,
                  "train_loss": sum(losses) / len(losses), "evals": evals}))
"""

def write_data(path, n, seed=0):
    """Prompt/completion pairs, each side 10-200 words (about 20-400 tokens an example)."""
    rng = random.Random(seed)
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
    ap.add_argument("--eval-examples", type=int, default=0,
                    help="held-out examples (another seed) evaluated every --eval-every steps: seconds to a loss")
    ap.add_argument("--eval-every", type=int, default=2)
    ap.add_argument("--our-epochs", type=int, default=1,
                    help="epochs on our side (the Python side trains one): room to reach the target loss")
    ap.add_argument("--out")
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    cli = os.path.join(a.build, "tools", "shadowpeft")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data, held_out = os.path.join(tmp, "train.jsonl"), os.path.join(tmp, "eval.jsonl")
        write_data(data, a.examples)
        write_data(held_out, a.eval_examples, seed=1)
        stdout, rss = run_measured([sys.executable, "-c", WORKER, a.model, data, str(a.batch_size), str(a.max_length),
                           str(a.threads), a.python_dtype, held_out if a.eval_examples else "", str(a.eval_every)], env)
        r = json.loads(stdout.strip().splitlines()[-1])
        results[f"shadow-peft (Python, {a.python_dtype})"] = {**r, "peak_rss_mib": rss}
        mode_flags = {"padded": [], "grouped": ["--group-by-length"], "packed": ["--packing"]}
        eval_flags = ["--eval-data", held_out, "--eval-steps", str(a.eval_every), "--eval-batch-size",
                      str(a.batch_size)] if a.eval_examples else []
        for mode in a.modes.split(","):
            stdout, rss = run_measured([cli, "train", "--model", a.model, "--data", data, "--max-length", str(a.max_length),
                               "--batch-size", str(a.batch_size), "--num-train-epochs", str(a.our_epochs), "--learning-rate", "1e-4",
                               "--alpha", "0.1", "--weight-decay", "0", "--warmup-steps", "0", "--lr-scheduler-type",
                               "constant", "--logging-steps", "1", "--save-steps", "0", "--seed", "42",
                               "--base-dtype", a.base_dtype, "--quantize", a.quantize,
                               "--output-dir", os.path.join(tmp, mode), "--json", *mode_flags[mode], *eval_flags], env)
            s = json.loads(stdout.strip().splitlines()[-1])
            base = a.base_dtype + (", int8" if a.quantize == "int8" else "")
            evals = [{"step": e["step"], "train_seconds": e["train_seconds"], "eval_loss": e["eval_loss"]}
                     for e in map(json.loads, open(os.path.join(tmp, mode, "train_log.jsonl"))) if "eval_loss" in e]
            seconds = evals[-1]["train_seconds"] if evals else s["seconds"]  # evaluations left out
            results[f"shadowpeft {mode} ({base})"] = {"seconds": seconds,
                                                      "tokens_per_second": s["tokens_per_second"] * s["seconds"] / seconds,
                                                      "train_loss": s["train_loss"], "peak_rss_mib": rss, "evals": evals}
    reference = next(iter(results.values()))
    # Seconds to the held-out loss the Python side ends its epoch at: the first evaluation at or below it.
    target = reference["evals"][-1]["eval_loss"] if reference.get("evals") else None
    for r in results.values():
        r["seconds_to_target"] = next((e["train_seconds"] for e in r.get("evals", []) if e["eval_loss"] <= target), None)
    print(f"{a.examples} prompt/completion examples (20-400 tokens), batch {a.batch_size}, 1 epoch, {a.threads} threads")
    if target is not None:
        print(f"held-out: {a.eval_examples} examples every {a.eval_every} steps; target = the Python side's final "
              f"held-out loss {target:.4f}")
    print(f"{'':36}{'real tok/s':>11}{'seconds':>9}{'peak RSS':>10}{'loss':>8}{'vs Python':>11}"
          + (f"{'held-out':>10}{'s to target':>13}" if target is not None else ""))
    for name, r in results.items():
        line = (f"{name:36}{r['tokens_per_second']:>11.1f}{r['seconds']:>9.1f}{r['peak_rss_mib']:>8.0f} M"
                f"{r['train_loss']:>8.3f}{r['tokens_per_second'] / reference['tokens_per_second']:>10.2f}x")
        if target is not None:
            reached = r["seconds_to_target"]
            line += f"{r['evals'][-1]['eval_loss']:>10.4f}" + (f"{reached:>12.1f}s" if reached is not None else f"{'not reached':>13}")
        print(line)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"args": vars(a), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
