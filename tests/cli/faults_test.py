#!/usr/bin/env python3
"""Training survives faults: signals, a full disk, NaNs and data-parallel processes that die.

A tiny random Llama with the real Mistral tokenizer trains on text records; the checks:
- SIGINT: the current step finishes, a checkpoint is written, the exit status is 130, and --resume
  ends with an adapter equal byte for byte to an uninterrupted run's; SIGTERM gives 143;
- a second signal exits at once, and the checkpoints on disk still resume;
- a write that fails (a file size limit, as a full disk would) stops with a one-line error naming
  the checkpoint, leaves no partial files, and the earlier checkpoint and adapter are unchanged;
- a NaN loss stops with the step and its data lines and writes nothing; with
  --skip-nonfinite-steps the step is skipped and the adapter written is finite;
- data-parallel: a process killed mid-run makes the others stop with an error within seconds
  (through the launcher, and alone through the collective's error with --ddp-timeout); a SIGINT
  stops both processes at the same step with a checkpoint; WORLD_SIZE without MASTER_ADDR and a
  MASTER_PORT in use are one-line errors.

Usage: faults_test.py CLI WORK_DIR TOKENIZER_DIR
"""
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

import torch
import transformers
from safetensors.torch import load_file

transformers.utils.logging.set_verbosity_error()
FAILURES = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def last_line(text):
    lines = text.strip().splitlines()
    return lines[-1][:200] if lines else ""


def make_model(work, tokenizer_dir):
    model_dir = os.path.join(work, "tiny")
    config = transformers.LlamaConfig(vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                      tie_word_embeddings=True)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(model_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, name), model_dir)
    data = os.path.join(work, "train.jsonl")
    with open(data, "w") as f:
        for i in range(64):
            f.write(json.dumps({"text": f"Record {i}: {i * 37 % 1000} plus {i} makes {i * 37 % 1000 + i}."}) + "\n")
    return model_dir, data


def digests(directory):
    """file name → sha256 of every file under `directory`."""
    out = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
    return out


def log_lines(out_dir):
    try:
        with open(os.path.join(out_dir, "train_log.jsonl")) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def wait_for(predicate, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def children(pid):
    """pids whose parent is `pid`."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def main(cli, work, tokenizer_dir):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    model_dir, data = make_model(work, tokenizer_dir)
    base = [cli, "train", "--model", model_dir, "--data", data, "--batch-size", "4", "--max-length", "32",
            "--logging-steps", "1", "--dropout", "0", "--seed", "1"]

    def args(out, extra):
        return base + ["--output-dir", out, *extra, *([] if "--learning-rate" in extra else ["--learning-rate", "1e-3"])]

    def train(out, *extra, **kw):
        return subprocess.run(args(out, extra), capture_output=True, text=True, **kw)

    def start(out, *extra, **kw):
        return subprocess.Popen(args(out, extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

    # ---- SIGINT: a checkpoint of the step, status 130, and --resume ends where an uninterrupted run does
    steps = "150"
    reference = os.path.join(work, "reference")
    r = train(reference, "--max-steps", steps)
    check(r.returncode == 0, f"an uninterrupted run ({last_line(r.stderr)})")
    out = os.path.join(work, "interrupted")
    proc = start(out, "--max-steps", steps)
    check(wait_for(lambda: log_lines(out) >= 5, 60), "the run logs its first steps")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    stopped_at = [int(n[len("checkpoint-"):]) for n in os.listdir(out) if n.startswith("checkpoint-")]
    check(proc.returncode == 130 and "stopped by SIGINT at step" in err and len(stopped_at) == 1 and stopped_at[0] < int(steps),
          f"SIGINT: status 130 and a checkpoint of the step ({proc.returncode}, {stopped_at}, {err.strip().splitlines()[-1:]})")
    r = train(out, "--max-steps", steps, "--resume")
    same = r.returncode == 0 and digests(out).get("shadow_adapter.safetensors") == digests(reference).get("shadow_adapter.safetensors")
    check(same, f"--resume after SIGINT ends with the uninterrupted run's adapter, byte for byte ({last_line(r.stderr)})")

    out = os.path.join(work, "terminated")
    proc = start(out, "--max-steps", steps)
    wait_for(lambda: log_lines(out) >= 3, 60)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    check(proc.returncode == 143, f"SIGTERM: status 143 ({proc.returncode})")

    # ---- a second signal: out at once, the checkpoints on disk still resume
    out = os.path.join(work, "twice")
    proc = start(out, "--max-steps", steps, "--save-steps", "2")
    wait_for(lambda: log_lines(out) >= 6, 60)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    complete = all(os.path.exists(os.path.join(out, n, "trainer_state.json")) for n in os.listdir(out) if n.startswith("checkpoint-"))
    check(proc.returncode == 130 and complete, f"a second SIGINT exits at once with whole checkpoints ({proc.returncode})")
    r = train(out, "--max-steps", "12", "--save-steps", "2", "--resume")
    check(r.returncode == 0, f"... and the run resumes from them ({last_line(r.stderr)})")

    # ---- a full disk (a file size limit): a clear error, no partial files, the earlier checkpoint intact
    out = os.path.join(work, "full")
    r = train(out, "--max-steps", "2")
    check(r.returncode == 0 and os.path.isdir(os.path.join(out, "checkpoint-2")), "a 2-step run with its checkpoint")
    before = digests(out)
    adapter_bytes = os.path.getsize(os.path.join(out, "shadow_adapter.safetensors"))
    limit = 16384
    assert adapter_bytes > limit, adapter_bytes

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = train(out, "--max-steps", "4", "--resume", preexec_fn=small_files)
    lines = r.stderr.strip().splitlines()
    after = digests(out)
    unchanged = all(after.get(name) == digest for name, digest in before.items() if name != "train_log.jsonl")
    leftovers = [n for n in os.listdir(out) if n.endswith(".tmp") or n == "checkpoint-4"]
    check(r.returncode == 1 and lines[-1].startswith("error: saving checkpoint-4 failed") and "File too large" in lines[-1],
          f"a failed write stops with a one-line error naming the checkpoint ({r.returncode}, {lines[-1:]})")
    check(unchanged and not leftovers, f"... no partial files, the earlier checkpoint and adapter unchanged (left: {leftovers})")
    r = train(out, "--max-steps", "4", "--resume")
    check(r.returncode == 0 and os.path.isdir(os.path.join(out, "checkpoint-4")), "... and the run resumes once there is room")

    # ---- NaN: stop naming the step and its data lines, or skip the step when asked
    out = os.path.join(work, "nan")
    r = train(out, "--max-steps", "3", "--learning-rate", "1e30", "--max-grad-norm", "0")
    last = r.stderr.strip().splitlines()[-1]
    check(r.returncode == 1 and "training diverged at step" in last and "data lines" in last
          and not os.path.exists(os.path.join(out, "shadow_adapter.safetensors")),
          f"a NaN loss stops with the step and its data lines, writing no adapter ({last[:200]})")
    out = os.path.join(work, "nan_skipped")
    r = train(out, "--max-steps", "3", "--learning-rate", "1e30", "--max-grad-norm", "0", "--skip-nonfinite-steps")
    finite = r.returncode == 0 and all(torch.isfinite(t).all() for t in load_file(os.path.join(out, "shadow_adapter.safetensors")).values())
    check(finite and "warning: skipped step" in r.stderr, f"--skip-nonfinite-steps skips it and writes a finite adapter ({last_line(r.stderr)})")

    # ---- data-parallel
    out = os.path.join(work, "dp_killed")
    proc = start(out, "--max-steps", "100000", "--nproc-per-node", "2")
    wait_for(lambda: log_lines(out) >= 3, 120)
    workers = children(proc.pid)
    killed_at = time.time()
    if workers:
        os.kill(max(workers), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    took = time.time() - killed_at
    check(len(workers) == 2 and proc.returncode == 1 and took < 30 and "stopping the other 1" in err,
          f"--nproc-per-node: a killed process stops the other within {took:.1f} s ({proc.returncode}, {err.strip().splitlines()[-1:]})")

    out = os.path.join(work, "dp_interrupted")
    proc = start(out, "--max-steps", "100000", "--nproc-per-node", "2")
    wait_for(lambda: log_lines(out) >= 3, 120)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    checkpoints = [n for n in os.listdir(out) if n.startswith("checkpoint-")]
    check(proc.returncode == 130 and len(checkpoints) == 1, f"--nproc-per-node: SIGINT stops both at one checkpoint ({proc.returncode}, {checkpoints})")

    # Two processes started by hand (as another launcher would): rank 1 dies, rank 0 reports it.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = os.path.join(work, "dp_manual")
    env = {**os.environ, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    ranks = [start(out if rank == 0 else out + "_1", "--max-steps", "100000", "--ddp-timeout", "10",
                   env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)}) for rank in (0, 1)]
    wait_for(lambda: log_lines(out) >= 3, 120)
    ranks[1].kill()
    killed_at = time.time()
    _, err = ranks[0].communicate(timeout=120)
    took = time.time() - killed_at
    last = err.strip().splitlines()[-1] if err.strip() else ""
    check(ranks[0].returncode == 1 and last.startswith("error: rank 0 of 2:") and took < 30,
          f"a rank whose peer died stops with an error within {took:.1f} s ({last[:200]})")
    ranks[1].communicate()

    r = subprocess.run(args(os.path.join(work, "no_addr"), ["--max-steps", "1"]), capture_output=True, text=True,
                       env={k: v for k, v in {**os.environ, "WORLD_SIZE": "2", "RANK": "0"}.items() if not k.startswith("MASTER_")})
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    check(r.returncode == 1 and "MASTER_ADDR is not set" in last, f"WORLD_SIZE without MASTER_ADDR: one-line error ({last[:160]})")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = subprocess.run(args(os.path.join(work, "busy_port"), ["--max-steps", "1", "--ddp-timeout", "5"]),
                           capture_output=True, text=True,
                           env={**os.environ, "WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1",
                                "MASTER_PORT": str(busy.getsockname()[1])})
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 1 and len(lines) >= 1 and "could not join the process group" in lines[-1] and "\\x0a" not in lines[-1],
          f"a MASTER_PORT in use: one-line error ({lines[-1:] if lines else ''})")

    print(f"{len(FAILURES)} failures")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
