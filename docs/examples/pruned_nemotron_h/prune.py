#!/usr/bin/env python3
"""Prunes a Nemotron-H checkpoint the way NAS / Minitron-style compression does, expressed with
transformers' per-layer config: the mixers of SKIP blocks are removed (the block becomes the
identity: no norm, no tensors) and the MLPs of SHRINK blocks keep their WIDTH most important
neurons (by |up row| * |down column|). Only config.json and the safetensors change.

Usage: prune.py IN_DIR OUT_DIR
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file

SKIP = [2, 6]               # two Mamba blocks
SHRINK = {3: 32, 5: 32}     # two MLP blocks, 128 -> 32 neurons


def main(src, dst):
    os.makedirs(dst, exist_ok=True)
    config = json.load(open(os.path.join(src, "config.json")))
    tensors = load_file(os.path.join(src, "model.safetensors"))
    per_layer = {str(i): {"skip": ["mixer"]} for i in SKIP}
    for i in SKIP:
        tensors = {k: v for k, v in tensors.items() if not k.startswith(f"backbone.layers.{i}.")}
    for i, width in SHRINK.items():
        up, down = f"backbone.layers.{i}.mixer.up_proj.weight", f"backbone.layers.{i}.mixer.down_proj.weight"
        importance = tensors[up].norm(dim=1) * tensors[down].norm(dim=0)
        keep = importance.topk(width).indices.sort().values
        tensors[up] = tensors[up][keep].contiguous()
        tensors[down] = tensors[down][:, keep].contiguous()
        per_layer[str(i)] = {"intermediate_size": width}
    config["per_layer_config"] = dict(sorted(per_layer.items(), key=lambda kv: int(kv[0])))
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    save_file(tensors, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if os.path.exists(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), dst)
    before = sum(v.numel() for v in load_file(os.path.join(src, "model.safetensors")).values())
    after = sum(v.numel() for v in tensors.values())
    print(f"{dst}: mixers of blocks {SKIP} skipped, MLPs of blocks {list(SHRINK)} shrunk to {list(SHRINK.values())}; "
          f"{after:,} of {before:,} parameters kept")


if __name__ == "__main__":
    main(*sys.argv[1:3])
