#!/usr/bin/env python3
"""Builds fixtures for packed sequences with `transformers`: several examples in one row, told apart by position_ids.

transformers detects packed rows when a model gets `position_ids`, no `attention_mask` and no cache (`use_cache=False`:
a model in eval mode otherwise creates one before building its mask, and then does not look): wherever the
positions do not go up by one a new sequence starts, and each token attends within its own sequence only, windows
and chunks counted from the sequence's first position (masking_utils.find_packed_sequence_indices).

For every case (a tiny random model of one family) this writes `OUT_DIR/packing/<case>/`:
- `base/`: the model directory (`save_pretrained`, matrices N(0, 0.2), vectors +N(0, 0.1));
- `reference.safetensors`: `packed.input_ids` / `packed.position_ids` ([2, 12]: row 0 holds examples of 5, 4 and
  3 tokens, row 1 one of 7 and one of 5), `packed.logits` (float32, the model run on them with no attention
  mask), and `example<i>.input_ids` / `example<i>.logits` for each example run alone ([1, n], positions 0..n-1);
- `case.json`: the layout (`examples`: per example its row, start and length), tolerances and self-checks.

Self-check (CheckFailed if violated): the packed logits equal each example's own logits (1e-5): transformers really
keeps packed examples apart for this family (`packed_equals_examples`; not Llama 4, see CASES); and a run of the same row as one sequence (positions 0..11) differs
(> 1e-3), so the packing matters.

Everything runs on CPU, single-threaded, float32, SDPA attention (Gemma 2: eager), `torch.manual_seed(0)` per case.

Usage: make_packing_fixtures.py OUT_DIR [CASE ...]   (no case names: all cases)
"""
import os
import sys

import torch

from fixture_runner import CheckFailed, run_cases
from fixture_models import FAMILY_MODELS, build_model, cls, finish_with_versions
import transformers  # noqa: E402  (after fixture_models, which sets its environment)
from safetensors.torch import save_file  # noqa: E402

LENGTHS = [[5, 4, 3], [7, 5]]  # examples per row; both rows 12 tokens
TOL = {"atol": 1e-5, "rtol": 1e-5}


def packed_case(case_dir, family, attention="sdpa", exact=True):
    torch.manual_seed(0)
    config_cls, model_cls, kwargs = FAMILY_MODELS[family]
    base_dir = os.path.join(case_dir, "base")
    build_model(config_cls, model_cls, kwargs).save_pretrained(base_dir)
    model = cls(model_cls).from_pretrained(base_dir, attn_implementation=attention, dtype=torch.float32).eval()
    g = torch.Generator().manual_seed(1234)
    vocab = model.config.vocab_size
    ids, positions, layout, tensors = [], [], [], {}
    for row, lengths in enumerate(LENGTHS):
        row_ids, row_pos, start = [], [], 0
        for n in lengths:
            example = torch.randint(1, vocab, (n,), generator=g)
            layout.append({"row": row, "start": start, "length": n})
            row_ids.append(example)
            row_pos.append(torch.arange(n))
            start += n
        ids.append(torch.cat(row_ids))
        positions.append(torch.cat(row_pos))
    ids, positions = torch.stack(ids).long(), torch.stack(positions).long()
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=positions, use_cache=False).logits.float()
        whole = model(input_ids=ids, position_ids=torch.arange(ids.shape[1]).expand_as(ids)).logits.float()
    checks = {"packed_vs_examples_max_abs_diff": 0.0,
              "packed_vs_one_sequence_max_abs_diff": (packed - whole).abs().max().item()}
    for i, e in enumerate(layout):
        example = ids[e["row"], e["start"]:e["start"] + e["length"]].unsqueeze(0)
        with torch.no_grad():
            alone = model(input_ids=example, position_ids=torch.arange(e["length"]).unsqueeze(0)).logits.float()
        tensors[f"example{i}.input_ids"] = example.clone()
        tensors[f"example{i}.logits"] = alone.contiguous()
        diff = (packed[e["row"], e["start"]:e["start"] + e["length"]] - alone[0]).abs().max().item()
        checks["packed_vs_examples_max_abs_diff"] = max(checks["packed_vs_examples_max_abs_diff"], diff)
    if exact and checks["packed_vs_examples_max_abs_diff"] > 1e-5:
        raise CheckFailed(f"transformers' packed logits differ from the examples': {checks}")
    if checks["packed_vs_one_sequence_max_abs_diff"] <= 1e-3:
        raise CheckFailed(f"packing changes nothing here: {checks}")
    tensors.update({"packed.input_ids": ids.contiguous(), "packed.position_ids": positions.contiguous(),
                    "packed.logits": packed.contiguous()})
    save_file(tensors, os.path.join(case_dir, "reference.safetensors"))
    return {"examples": layout, "tolerances": TOL, "checks": checks, "architecture": model_cls, "attention": attention,
            "packed_equals_examples": exact}


# Plain causal attention, a sliding window (Mistral, 4 tokens), alternating sliding/full layers with soft-capping
# (Gemma 2, eager: transformers has no SDPA path for it), chunked attention with NoPE layers (Llama 4). Llama 4's
# NoPE layers scale queries by their index in the row (cache_position), not by their position: transformers' packed
# rows differ from the examples run alone there, and the fixture records by how much.
CASES = {
    "llama": ("llama", lambda d: packed_case(d, "llama")),
    "mistral": ("mistral", lambda d: packed_case(d, "mistral")),
    "gemma2": ("gemma2", lambda d: packed_case(d, "gemma2", attention="eager")),
    "llama4": ("llama4", lambda d: packed_case(d, "llama4", exact=False)),
}


def main(argv):
    return run_cases(argv, __doc__.strip().splitlines()[-1], CASES, "packing", finish_with_versions("transformers", transformers))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
