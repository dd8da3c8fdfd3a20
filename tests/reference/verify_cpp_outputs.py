#!/usr/bin/env python3
"""Checks, with Python `safetensors` and `transformers`, the files the C++ tests wrote (ForPython.*).

- from_cpp/all_dtypes.safetensors: every tensor bit-identical to Python's original, same metadata.
- from_cpp/tiny_llama_sharded: a sharded checkpoint that transformers loads into the same weights.

Usage: verify_cpp_outputs.py FIXTURES_DIR      (exit status 0 when everything matches)
"""
import os
import sys

import torch
from safetensors import safe_open


def as_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8)


def main():
    root = sys.argv[1]
    failures = []
    orig_path = os.path.join(root, "safetensors", "all_dtypes.safetensors")
    ours_path = os.path.join(root, "from_cpp", "all_dtypes.safetensors")
    with safe_open(orig_path, "pt") as orig, safe_open(ours_path, "pt") as ours:
        if orig.metadata() != ours.metadata():
            failures.append(f"metadata differs: {ours.metadata()} vs {orig.metadata()}")
        if sorted(orig.keys()) != sorted(ours.keys()):
            failures.append(f"tensor names differ: {sorted(ours.keys())} vs {sorted(orig.keys())}")
        for name in orig.keys():
            a, b = orig.get_tensor(name), ours.get_tensor(name)
            if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(as_bytes(a), as_bytes(b)):
                failures.append(f"{name}: {b.dtype}{list(b.shape)} differs from {a.dtype}{list(a.shape)}")

    from transformers import AutoModelForCausalLM

    ref = AutoModelForCausalLM.from_pretrained(os.path.join(root, "tiny_llama"))
    ours = AutoModelForCausalLM.from_pretrained(os.path.join(root, "from_cpp", "tiny_llama_sharded"))
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    for name, t in ref_sd.items():
        if name not in our_sd or not torch.equal(t, our_sd[name]):
            failures.append(f"transformers loaded a different {name} from the C++ sharded save")

    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} mismatches in files written by C++")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
