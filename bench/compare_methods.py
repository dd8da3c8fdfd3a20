#!/usr/bin/env python3
"""Which adapter should I train? shadow vs peft-shadow vs LoRA on one real task, at matched budgets.

Trains each method with `shadowpeft train` on the same data, the same steps, schedule, batch size and
seeds, and prints one table: trainable parameters, training tokens/s, peak memory, held-out loss and
held-out accuracy (mean and standard deviation over the seeds; with a few hundred held-out examples a
single run moves by several points, so one seed decides nothing).

The default task is data/compare/ (scripts/make_compare_data.py): 600 training and 250 held-out Debian
package descriptions, each to be classified into its archive section (games, graphics, mail, science,
sound; chance is 20%), on SmolLM2-135M-Instruct (scripts/prepare_demo_model.py), with `--task seq_cls`.

The methods and their shapes (each close to 4.8M trainable parameters on SmolLM2-135M):
- shadow:      shadow-peft's adapter with `shadowpeft train`'s defaults (1 implicit shadow layer,
               injection rank 16, gate 10, alpha 0.5), shadow-peft's files.
- peft-shadow: Hugging Face peft's SHADOW tuner, a 1-layer mirror shadow, --r 12 (update width 12).
- lora:        peft's LoRA on every linear layer (all-linear), r 16, lora_alpha 32.
Every method trains its classification head (`score`) too, as each library does for classification.

Tokens/s counts real (unpadded) training tokens over the trainer's own training time; peak memory is the
process's peak resident set size (ru_maxrss from wait4), model loading included. Extra flags for one
method go in --shadow-flags= / --peft-shadow-flags= / --lora-flags= as one string, e.g.
--shadow-flags="--alpha 0.5" (with the =, since the value starts with a dash).

Usage: compare_methods.py [--build build] [--model DIR] [--seeds 42,1,2] [--epochs 1] [--batch-size 8]
       [--learning-rate 1e-3] [--warmup-ratio 0.1] [--methods shadow,peft-shadow,lora] [--out results.json]
"""
import argparse
import json
import os
import pathlib
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
METHOD_FLAGS = {
    "shadow": "--method shadow",
    "peft-shadow": "--method peft-shadow --r 12",
    "lora": "--method lora --r 16 --lora-alpha 32",
}
# The metric each method's trainer reports for the model it produces.
ACCURACY_KEY = {"shadow": "eval_base_shadow_accuracy", "peft-shadow": "eval_base_shadow_accuracy",
                "lora": "eval_lora_accuracy"}


def trainable_parameters(log):
    # shadow-peft's "Trainable params: 4,747,392 || ..." or peft's "trainable params: 4,887,360 || ...".
    match = re.search(r"[Tt]rainable params: ([\d,]+)", log)
    if not match:
        raise SystemExit("the trainer printed no trainable-parameter count:\n" + log[-2000:])
    return int(match.group(1).replace(",", ""))


def train_once(args, method, seed, workdir):
    flags = METHOD_FLAGS[method] + " " + getattr(args, method.replace("-", "_") + "_flags")
    cmd = [str(pathlib.Path(args.build) / "tools" / "shadowpeft"), "train", "--task", "seq_cls", "--model", args.model,
           "--data", args.train, "--eval-data", args.eval, "--output-dir", str(workdir / f"{method}-{seed}"),
           "--num-train-epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--eval-batch-size", "25",
           "--learning-rate", str(args.learning_rate), "--warmup-ratio", str(args.warmup_ratio),
           "--max-length", str(args.max_length), "--logging-steps", "1000000", "--save-steps", "0",
           "--seed", str(seed), "--json"] + shlex.split(flags)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{method} (seed {seed}) failed: {shlex.join(cmd)}\n{stderr[-3000:]}")
    summary = json.loads(stdout)
    after = summary["after"]
    return {"method": method, "seed": seed, "flags": flags.strip(), "trainable_parameters": trainable_parameters(stderr),
            "tokens_per_second": summary["tokens_per_second"], "train_seconds": summary["seconds"],
            "peak_rss_mib": usage.ru_maxrss / 1024, "eval_loss": after["eval_loss"],
            "eval_accuracy": after[ACCURACY_KEY[method]], "steps": summary["global_step"]}


def mean_sd(values, fmt):
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} ± {fmt.format(statistics.stdev(values))}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=str(ROOT / "build"))
    parser.add_argument("--model", help="base model directory (default: SmolLM2-135M-Instruct, prepared once)")
    parser.add_argument("--train", default=str(ROOT / "data" / "compare" / "debian_sections_train.jsonl"))
    parser.add_argument("--eval", default=str(ROOT / "data" / "compare" / "debian_sections_eval.jsonl"))
    parser.add_argument("--methods", default="shadow,peft-shadow,lora")
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    for method in METHOD_FLAGS:
        parser.add_argument(f"--{method}-flags", default="", help=f"extra `shadowpeft train` flags for {method}")
    parser.add_argument("--out", help="write every run's numbers to this JSON file")
    args = parser.parse_args()
    methods = [m.strip() for m in args.methods.split(",")]
    for m in methods:
        if m not in METHOD_FLAGS:
            parser.error(f"--methods: unknown method {m!r} (expected some of {', '.join(METHOD_FLAGS)})")
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.model is None:
        prepare = subprocess.run([sys.executable, str(ROOT / "scripts" / "prepare_demo_model.py")], check=True,
                                 capture_output=True, text=True)
        args.model = prepare.stdout.strip().splitlines()[-1]

    runs = []
    with tempfile.TemporaryDirectory(prefix="compare_methods_") as tmp:
        for seed in seeds:
            for method in methods:
                run = train_once(args, method, seed, pathlib.Path(tmp))
                runs.append(run)
                print(f"{method:<12} seed {seed:<4} accuracy {run['eval_accuracy']:.3f}  loss {run['eval_loss']:.3f}  "
                      f"{run['tokens_per_second']:.0f} tokens/s  {run['peak_rss_mib']:.0f} MiB", file=sys.stderr, flush=True)

    print(f"\n{os.path.basename(args.train)}: {runs[0]['steps']} steps of {args.batch_size}, lr {args.learning_rate:g}, "
          f"warmup {args.warmup_ratio:g}, linear decay; seeds {args.seeds}; {args.threads} threads\n")
    print("| method | flags | trainable params | tokens/s | peak RSS (MiB) | held-out loss | held-out accuracy |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for method in methods:
        mine = [r for r in runs if r["method"] == method]
        print(f"| {method} | `{mine[0]['flags']}` | {mine[0]['trainable_parameters'] / 1e6:.2f}M "
              f"| {mean_sd([r['tokens_per_second'] for r in mine], '{:.0f}')} "
              f"| {max(r['peak_rss_mib'] for r in mine):.0f} "
              f"| {mean_sd([r['eval_loss'] for r in mine], '{:.3f}')} "
              f"| {mean_sd([100 * r['eval_accuracy'] for r in mine], '{:.1f}')}% |")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps({"model": args.model, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
