#!/usr/bin/env python3
"""Builds the generation parity fixtures (greedy decoding, logits processors, sampling) for the C++ tests.

Reads the fixtures written before it (run make_model_fixtures.py and make_shadow_fixtures.py into the same
OUT_DIR first): `OUT_DIR/models/<name>/` (plain HF model dirs) and `OUT_DIR/shadow/<case>/{base,adapter,
explicit_shadow}/`. Writes `OUT_DIR/generation/`:

- `<case>.json` for every greedy case (one file per case, no sub-directory):
  `{"case", "family", "kind": "model" | "shadow", "model_dir", "prompts", "pad_token_id", "eos_token_id",
  "max_new_tokens", "expected", "reference", ...}` where
  - `model_dir`: the HF model dir, relative to OUT_DIR (`models/<name>`; shadow cases: the base dir);
  - `prompts`: `[[int]]`, the UNPADDED prompt token ids per row (real tokens drawn in [1, vocab), seeded);
  - `input_ids` / `attention_mask`: `[[int]]`, exactly what was passed to `generate`: the prompts
    right-aligned (LEFT padded with `pad_token_id`, mask 0 there) to the longest prompt;
  - `pad_token_id`: int (config pad_token_id, else 0); `eos_token_id`: `[int]` (the list passed to generate);
  - `max_new_tokens`: N; `expected`: `[[int]]`, per row the new tokens up to AND including the first eos
    (nothing after it), N tokens when no eos was generated;
  - `hf_new_tokens`: `[[int]]`, the raw new columns transformers returned (finished rows are filled with
    `pad_token_id` after their eos; all rows have the same length, which is shorter than N when every row
    finished early);
  - `eos_stop`: null, or `{"row": 0, "index": i}` for the `*_batch_eos` cases: eos was chosen as the token
    row 0 generates at 0-based step i (i = 4, the 5th new token, when possible), a token that never occurs in
    row 1's continuation, so row 0 stops after i + 1 tokens and row 1 runs the full N;
  - `min_top2_logit_margin`: min over every (row, step) of the free run (no eos) of top1 - top2 of the raw
    next-token logits: how robust an argmax comparison is (prompts are re-drawn until it is >= MIN_MARGIN);
  - `prompt_seed`: seed of the torch.Generator that drew the prompt lengths and tokens (`prompt_attempts`:
    how many draws that took; `min_margin_required`: MIN_MARGIN);
  - `position_ids_rule`, `reference` (what produced `expected`), `notes`, `attn_implementation` ("eager"),
    `checks` (self-check results: `use_cache_false_same_tokens` for plain models; for shadow batch cases
    `explicit_full_forward_loop_same_tokens` (a hand-written full-recompute loop agrees) and, informational,
    `package_use_cache_true_same_tokens`; `rows_equal_unpadded_single_runs` ([bool per row], informational)
    for `*_batch`; `row0_after_eos_is_pad` / `row1_unaffected_by_row0_finishing` for `*_batch_eos`),
    `versions`; plain cases also `model_class`; shadow cases also `shadow_case` and `generate_error` (null
    unless the package's generate failed and an explicit loop produced `expected`);
  - N (`max_new_tokens`): llama 12, mistral 24 (sliding window 4), qwen3_sliding 16, gpt2 12, gemma 12;
    shadow cases 10, shadow mistral 12. A generated token may equal pad_token_id (it is an ordinary token).
  - shadow cases additionally: `base_dir`, `adapter_dir`, `explicit_shadow_dir` (or null), all relative to
    OUT_DIR, and `mode` (`base_shadow` | `shadow_only`).
  Case names: `<model>_{single,batch,batch_eos}` for the plain models llama, mistral, qwen3_sliding, gpt2,
  gemma; `shadow_<case>_<mode>_{single,batch}` and `shadow_<case>_base_shadow_batch_eos` for the shadow cases
  llama, qwen3, mistral, gpt2, explicit_projected.
- `processors.json` + `processors.safetensors`: logits processors applied to random float32 logits. The
  safetensors file holds `logits` [3, 50] float32 (N(0, 2)), `input_ids` [3, 12] int64 (previous tokens,
  real ones in [1, 50), left pad positions = PAD 0), `attention_mask` [3, 12] int64 (row 0 no pad, row 1 3
  pads, row 2 5 pads) and `<config>.scores` [3, 50] float32 (the processed scores; -inf where filtered), for
  the configs `repetition_penalty` (1.3, greedy, attention_mask passed), `repetition_penalty_inferred_mask` (no
  mask, pad_token_id 0: generate infers it from the ids), `repetition_penalty_no_mask` (no mask, pad_token_id
  127, absent from the ids: every id counts, pads included), `temperature` (0.7), `top_k` (5), `top_p` (0.8),
  `min_p` (0.1) and `combined` (repetition_penalty 1.2, temperature 0.8, top_k 10, top_p 0.9, min_p 0.05); all
  but the three repetition-penalty-only configs use do_sample=True.
  processors.json: `{"case", "family", "kind": "processors", "configs": {name: {"params": {generate kwargs},
  "order": [processor class names in application order], "effective": {the merged generation_config values
  that matter}, "attention_mask_passed": bool, "pad_token_id_passed": int, "kept_per_row": [finite scores per
  row], "repetition_penalty_prompt_ignore_length": [int per row] or null (rep-penalty configs only)}},
  "vocab", "pad_token_id", "left_pads_per_row", "processor_source_model", "notes", "checks", "versions"}`.
  `order` includes what generate adds on its own: a sampling call that leaves top_k unset gets the global
  default TopKLogitsWarper(50) (a no-op on 50 logits). The processor lists are the ones
  transformers' own `generate` builds: `_get_logits_processor` is intercepted during a real
  `generate(prev_ids, attention_mask=..., max_new_tokens=1, **params)` call of the llama model, and the
  captured list is then applied to `logits` (`list(input_ids, logits.clone())`).
- `sampling_llama.json` + `sampling_llama.safetensors`: llama, one prompt, `torch.manual_seed(seed)`
  (the first seed from 1234 on whose every draw wins by a relative margin >= MIN_DRAW_MARGIN, checks.min_draw_margin,
  so that rounding differences between CPUs cannot change a token) immediately before `generate(do_sample=True, temperature=0.9, top_k=20, top_p=0.95, max_new_tokens=12,
  use_cache=True)`. JSON as the greedy cases plus `seed`, `sampling_params`, `order`; the safetensors file
  holds `input_ids` [1, T], `logits` [12, V] (raw next-token logits per step) and `scores` [12, V] (after the
  processors, -inf where filtered; softmax of these is what torch.multinomial drew from).
- `index.json`: `{"cases": [...], "skipped": {case: reason}}`.

Everything runs on CPU, single-threaded, float32, eager attention, `HF_HUB_OFFLINE=1`, `torch.manual_seed(0)`
at the start of every case, under torch.no_grad(). Exit status 0 on success (skipped cases allowed), 1 if a
case failed.

Usage: make_generation_fixtures.py OUT_DIR [CASE ...]   (no case names: all cases)
"""
import contextlib
import io
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_runner import CheckFailed, SkipCase, quiet_transformers, run_cases  # noqa: E402

quiet_transformers()

import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

import shadow_peft  # noqa: E402
from shadow_peft import ShadowForCausalLM  # noqa: E402


SEED = 0
PROMPT_SEED = 2024
SAMPLING_SEED = 1234     # first seed tried for the sampling case
MIN_DRAW_MARGIN = 1e-3   # sampling: relative gap between the drawn token's p/q and the runner-up's (see below)
MIN_MARGIN = 2e-3
MAX_ATTEMPTS = 30
EOS_INDEX = 4           # "step 5": row 0 stops after its 5th new token
ATTN = "eager"
OUT = {"dir": None}     # OUT_DIR, set by main()

PLAIN_MODELS = {        # name -> max_new_tokens
    "llama": 12,
    "mistral": 24,      # sliding_window 4: prompt + 24 tokens exceeds the window many times
    "qwen3_sliding": 16,
    "gpt2": 12,
    "gemma": 12,
    "gemma2": 16,       # sliding_window 4 on alternate layers, soft-capped scores and logits
    "gemma3": 16,       # sliding_window 4 on alternate layers, RoPE per layer type
    "smollm3": 12,      # a NoPE layer
    "olmo2": 12,        # post-norms, q/k norms over all heads
    "opt": 12,          # learned positions with offset 2, counted over the real tokens
    "opt_post_norm": 12,  # norms after the residual sums, project_in / project_out
    "qwen3_moe": 12,    # MoE layers around a dense one, renormalised top-2 routing
    "mixtral": 16,      # MoE on every layer, sliding_window 4
    "gpt_oss": 16,      # attention sinks beside a sliding window 4, YaRN, top-k-then-softmax routing
    "qwen3_vl": 12,     # the language model of an image-text checkpoint, MRoPE on text positions
    "mistral3": 16,     # the language model of an image-text checkpoint, sliding_window 4
    "qwen3_vl_moe": 12,  # an image-text checkpoint whose language model routes to experts
    "llama4": 16,       # chunked attention (chunks of 4), NoPE layers with temperature, shared expert
    "llama4_multimodal": 12,  # the same language model inside Llama4ForConditionalGeneration
    "nemotron_h": 16,   # Mamba-2 recurrent state (the step does not clamp dt), attention without positions, MoE
}
SHADOW_CASES = {        # shadow fixture case -> max_new_tokens
    "llama": 10,
    "qwen3": 10,
    "mistral": 12,      # prompt + 12 > window 4 many times; every step re-runs the whole sequence
    "gpt2": 10,
    "explicit_projected": 10,
    "gemma2": 10,
    "gemma3": 10,
    "smollm3": 10,
    "olmo2": 10,
    "opt": 10,
    "qwen3_moe": 10,
    "mixtral": 10,
    "gpt_oss": 10,
    "llama4": 10,
}
MODES = ("base_shadow", "shadow_only")

POSITION_RULE_MODEL = (
    "transformers GenerationMixin._prepare_position_ids_for_generation: position_ids = attention_mask.cumsum(-1) "
    "- 1, masked_fill(attention_mask == 0, 0) on the prompt; every step appends last + 1 (so for each row the "
    "real tokens get 0, 1, 2, ... from its first real token on) and attention_mask gets a column of ones.")
POSITION_RULE_SHADOW = (
    "shadow_peft ShadowForCausalLM.prepare_inputs_for_generation: every step the FULL sequence is re-run "
    "(use_cache=False) with position_ids = attention_mask.cumsum(-1) - 1, masked_fill(attention_mask == 0, 1) "
    "on the grown mask (transformers does not build position_ids itself: ShadowForCausalLM.forward has no "
    "position_ids parameter). At real positions this equals the plain-model rule; pad positions are masked.")
FINISHED_ROWS = (
    "transformers _sample: next_tokens = next * unfinished + pad_token_id * (1 - unfinished); a row is finished "
    "once the token it just produced is in eos_token_id (EosTokenCriteria looks only at the last token); "
    "finished rows keep being fed (their pad tokens get attention_mask 1) but cannot influence other rows; the "
    "loop stops when every row is finished or N tokens were produced.")


# ----------------------------------------------------------------------------------------------- helpers

def rel(path):
    return os.path.relpath(path, OUT["dir"])


def captured(fn, *a, **kw):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        r = fn(*a, **kw)
    return r, buf.getvalue()


_CACHE = {}


def load_plain(name):
    key = ("model", name)
    if key not in _CACHE:
        d = os.path.join(OUT["dir"], "models", name)
        if not os.path.isdir(d):
            raise CheckFailed(f"{d} missing: run make_model_fixtures.py {OUT['dir']} first")
        with open(os.path.join(d, "config.json")) as f:
            multimodal = "vision_config" in json.load(f)  # the text-only use of an image-text model
        auto = transformers.AutoModelForImageTextToText if multimodal else AutoModelForCausalLM
        _CACHE[key] = auto.from_pretrained(d, attn_implementation=ATTN, dtype=torch.float32).eval()
    return _CACHE[key]


def shadow_dirs(case):
    d = os.path.join(OUT["dir"], "shadow", case)
    if not os.path.isdir(d):
        raise CheckFailed(f"{d} missing: run make_shadow_fixtures.py {OUT['dir']} first")
    explicit = os.path.join(d, "explicit_shadow")
    return (os.path.join(d, "base"), os.path.join(d, "adapter"),
            explicit if os.path.isdir(explicit) else None)


def load_shadow(case):
    """base/ + adapter/ (+ explicit_shadow/) loaded the way a user does it (as make_shadow_fixtures'
    load_task, but for inference: is_trainable=False), eval mode."""
    key = ("shadow", case)
    if key not in _CACHE:
        base_dir, adapter_dir, explicit_dir = shadow_dirs(case)
        base = AutoModelForCausalLM.from_pretrained(base_dir, attn_implementation=ATTN, dtype=torch.float32).eval()
        shadow = None
        if explicit_dir is not None:
            shadow = AutoModelForCausalLM.from_pretrained(explicit_dir, attn_implementation=ATTN,
                                                          dtype=torch.float32).eval()
        with open(os.path.join(OUT["dir"], "shadow", case, "case.json")) as f:
            weight = json.load(f).get("shadow_loss_weight", 0.05)
        task, _ = captured(ShadowForCausalLM.from_pretrained, base, adapter_dir, is_trainable=False,
                           shadow_model=shadow, shadow_loss_weight=weight)
        _CACHE[key] = task.eval()
    return _CACHE[key]


def draw_prompts(seed, batch, vocab):
    """batch 1: one prompt; batch 2: two prompts of different lengths (row 0 the shorter one)."""
    g = torch.Generator().manual_seed(seed)
    if batch == 1:
        lens = [int(torch.randint(3, 10, (1,), generator=g))]
    else:
        while True:
            lens = sorted(int(x) for x in torch.randint(3, 10, (2,), generator=g))
            if lens[0] != lens[1]:
                break
    return [torch.randint(1, vocab, (n,), generator=g).tolist() for n in lens]


def pad_left(prompts, pad):
    T = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), T), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), T), dtype=torch.long)
    for b, p in enumerate(prompts):
        ids[b, T - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[b, T - len(p):] = 1
    return ids, mask


def truncate_at_eos(rows, eos):
    out = []
    for r in rows:
        cut = []
        for t in r:
            cut.append(t)
            if t in eos:
                break
        out.append(cut)
    return out


def top2_margin(logits):
    """logits [B, S, V] -> min over (b, s) of top1 - top2."""
    top = logits.topk(2, dim=-1).values
    return (top[..., 0] - top[..., 1]).min().item()


@contextlib.contextmanager
def no_default_eos(model):
    """generate without any eos: the checkpoints' generation_config.json sets eos_token_id, and an explicit
    eos_token_id=None in generate() is overridden by it."""
    gc = model.generation_config
    saved = gc.eos_token_id
    gc.eos_token_id = None
    try:
        yield
    finally:
        gc.eos_token_id = saved


def hf_generate(model, ids, mask, *, n, pad, eos, use_cache, **extra):
    """-> (new tokens [B, S] as returned, raw logits [B, S, V])."""
    kw = dict(attention_mask=mask, do_sample=False, max_new_tokens=n, use_cache=use_cache, pad_token_id=pad,
              return_dict_in_generate=True, output_logits=True, **extra)
    with torch.no_grad():
        if eos is None:
            with no_default_eos(model):
                out = model.generate(ids, **kw)
        else:
            out = model.generate(ids, eos_token_id=list(eos), **kw)
    return out.sequences[:, ids.shape[1]:], torch.stack(out.logits, 1)


def explicit_shadow_loop(task, ids, mask, *, n, pad, eos):
    """The greedy reference re-derived by hand: each step a full forward of the task model (use_cache=False)
    on the whole sequence with position_ids = cumsum(mask) - 1 (pads 1), argmax of the last column; finished
    rows get pad_token_id; stop when every row is finished."""
    seq, m = ids.clone(), mask.clone()
    unfinished = torch.ones(ids.shape[0], dtype=torch.long)
    new = []
    with torch.no_grad():
        for _ in range(n):
            pos = m.cumsum(-1) - 1
            pos.masked_fill_(m == 0, 1)
            out = task(input_ids=seq, attention_mask=m, position_ids=pos, use_cache=False)
            nxt = out.logits[:, -1].float().argmax(-1)
            if eos is not None:
                nxt = nxt * unfinished + pad * (1 - unfinished)
            new.append(nxt)
            seq = torch.cat([seq, nxt[:, None]], 1)
            m = torch.cat([m, torch.ones_like(m[:, :1])], 1)
            if eos is not None:
                unfinished = unfinished & ~torch.isin(nxt, torch.tensor(eos))
                if unfinished.max() == 0:
                    break
    return torch.stack(new, 1)


def pick_absent_eos(default_eos, used, pad, vocab):
    if default_eos is not None and default_eos not in used and default_eos != pad:
        return default_eos
    for t in range(1, vocab):
        if t not in used and t != pad:
            return t
    raise CheckFailed("every token id occurs in the prompts/continuations")


def pick_row0_eos(free, prompts):
    """(index, token): row 0's token at EOS_INDEX (else the nearest later index) that occurs neither earlier in
    row 0 nor anywhere in row 1's continuation (it may occur in a prompt: only generated tokens stop a row)."""
    r0, r1 = free[0], free[1]
    banned = set(r1)
    for i in range(EOS_INDEX, len(r0) - 2):
        t = r0[i]
        if t not in r0[:i] and t not in banned:
            return i, t
    return None


def greedy_search(gen_free, *, batch, n, pad, vocab, eos_variant, seed, default_eos):
    """Draws prompts until the free run's top1-top2 margin is >= MIN_MARGIN (and, for the eos variant, a usable
    row-0 eos exists). Returns (prompts, ids, mask, free_new, margin, eos list, eos_stop, prompt_seed, attempts)."""
    for attempt in range(MAX_ATTEMPTS):
        pseed = seed + 7919 * attempt
        prompts = draw_prompts(pseed, batch, vocab)
        ids, mask = pad_left(prompts, pad)
        free, free_logits = gen_free(ids, mask)
        if free.shape[1] != n:
            raise CheckFailed(f"free run produced {free.shape[1]} tokens, expected {n}")
        margin = top2_margin(free_logits)
        if margin < MIN_MARGIN:
            continue
        free_rows = free.tolist()
        if eos_variant == "absent":
            used = {t for r in free_rows for t in r} | {t for p in prompts for t in p}
            return prompts, ids, mask, free, margin, [pick_absent_eos(default_eos, used, pad, vocab)], None, \
                pseed, attempt + 1
        got = pick_row0_eos(free_rows, prompts)
        if got is None:
            continue
        i, t = got
        return prompts, ids, mask, free, margin, [t], {"row": 0, "index": i}, pseed, attempt + 1
    raise CheckFailed(f"no prompt draw in {MAX_ATTEMPTS} attempts gave a top1-top2 margin >= {MIN_MARGIN}")


def finish_greedy(*, new, free, eos, eos_stop, n, pad):
    expected = truncate_at_eos(new.tolist(), eos)
    checks = {}
    if eos_stop is None:
        if any(len(r) != n for r in expected):
            raise CheckFailed(f"eos {eos} was generated although it was chosen absent: {expected}")
        if not torch.equal(new, free):
            raise CheckFailed("tokens changed when eos_token_id was set")
    else:
        i = eos_stop["index"]
        if len(expected[0]) != i + 1 or expected[0] != free.tolist()[0][:i + 1]:
            raise CheckFailed(f"row 0 did not stop at index {i}: {expected[0]}")
        if expected[1] != free.tolist()[1]:
            raise CheckFailed("row 1 changed after row 0 finished")
        after = new.tolist()[0][i + 1:]
        checks["row0_after_eos_is_pad"] = all(t == pad for t in after)
        if not checks["row0_after_eos_is_pad"]:
            raise CheckFailed(f"finished row 0 continued with {after}, not pad tokens")
        checks["row1_unaffected_by_row0_finishing"] = True
    return expected, checks


def common_fields(*, prompts, ids, mask, pad, eos, n, expected, new, eos_stop, margin, pseed, attempts):
    return {"prompts": prompts, "input_ids": ids.tolist(), "attention_mask": mask.tolist(), "pad_token_id": pad,
            "eos_token_id": list(eos), "max_new_tokens": n, "expected": expected,
            "hf_new_tokens": new.tolist(), "eos_stop": eos_stop, "min_top2_logit_margin": margin,
            "min_margin_required": MIN_MARGIN, "prompt_seed": pseed, "prompt_attempts": attempts}


# ------------------------------------------------------------------------------------------ plain models

def plain_case(name, variant):
    batch = 1 if variant == "single" else 2
    eos_variant = "row0" if variant == "batch_eos" else "absent"
    n = PLAIN_MODELS[name]

    def fn(case_dir):
        torch.manual_seed(SEED)
        model = load_plain(name)
        cfg = model.config.get_text_config()
        pad = cfg.pad_token_id if cfg.pad_token_id is not None else 0
        vocab = cfg.vocab_size
        default_eos = model.generation_config.eos_token_id
        default_eos = default_eos[0] if isinstance(default_eos, list) else default_eos
        seed = PROMPT_SEED + 100 * list(PLAIN_MODELS).index(name) + {"single": 0, "batch": 1, "batch_eos": 2}[
            variant]

        def gen_free(ids, mask):
            return hf_generate(model, ids, mask, n=n, pad=pad, eos=None, use_cache=True)

        prompts, ids, mask, free, margin, eos, eos_stop, pseed, attempts = greedy_search(
            gen_free, batch=batch, n=n, pad=pad, vocab=vocab, eos_variant=eos_variant, seed=seed,
            default_eos=default_eos)
        new, _ = hf_generate(model, ids, mask, n=n, pad=pad, eos=eos, use_cache=True)
        expected, checks = finish_greedy(new=new, free=free, eos=eos, eos_stop=eos_stop, n=n,
                                         pad=pad)
        # self-check: no KV cache (full sequence each step) gives the same tokens
        nocache, _ = hf_generate(model, ids, mask, n=n, pad=pad, eos=eos, use_cache=False)
        checks["use_cache_false_same_tokens"] = torch.equal(nocache, new)
        if not checks["use_cache_false_same_tokens"]:
            raise CheckFailed(f"use_cache=False gives {nocache.tolist()} vs {new.tolist()}")
        if variant == "batch":
            # each left-padded row against the same prompt generated alone (no padding)
            same = []
            for b, p in enumerate(prompts):
                alone, _ = hf_generate(model, torch.tensor([p]), torch.ones(1, len(p), dtype=torch.long), n=n,
                                       pad=pad, eos=eos, use_cache=True)
                same.append(truncate_at_eos(alone.tolist(), eos)[0] == expected[b])
            checks["rows_equal_unpadded_single_runs"] = same
            if not all(same):
                print(f"  note: {case_dir}: a padded row differs from its unpadded run: {same}", flush=True)
        ref = (f"transformers {transformers.__version__} {type(model).__name__}.from_pretrained(model_dir, "
               f"attn_implementation='{ATTN}', dtype=torch.float32).eval().generate(input_ids, attention_mask="
               f"attention_mask, do_sample=False, max_new_tokens={n}, use_cache=True, pad_token_id={pad}, "
               f"eos_token_id={eos}) on CPU, 1 thread")
        notes = ("Greedy decoding with a KV cache (DynamicCache; sliding-window layers keep only their window). "
                 "eos chosen " + ("so row 0 stops at its token index "
                                  f"{eos_stop['index'] if eos_stop else None} while row 1 runs the full N. "
                                  if eos_stop else "absent from prompts and continuations: full N tokens. ")
                 + FINISHED_ROWS)
        return {"kind": "model", "model_dir": f"models/{name}", "model_class": type(model).__name__,
                **common_fields(prompts=prompts, ids=ids, mask=mask, pad=pad, eos=eos, n=n, expected=expected,
                                new=new, eos_stop=eos_stop, margin=margin, pseed=pseed, attempts=attempts),
                "attn_implementation": ATTN, "position_ids_rule": POSITION_RULE_MODEL, "reference": ref,
                "notes": notes, "checks": checks}
    return fn


# ------------------------------------------------------------------------------------------ shadow cases

def shadow_case(case, mode, variant):
    batch = 1 if variant == "single" else 2
    eos_variant = "row0" if variant == "batch_eos" else "absent"
    n = SHADOW_CASES[case]

    def fn(case_dir):
        torch.manual_seed(SEED)
        task = load_shadow(case)
        task.set_inference_mode(mode)
        if task.inference_mode != mode:
            raise CheckFailed("set_inference_mode did not take")
        cfg = task.config
        pad = cfg.pad_token_id if cfg.pad_token_id is not None else 0
        vocab = cfg.vocab_size
        default_eos = task.generation_config.eos_token_id
        default_eos = default_eos[0] if isinstance(default_eos, list) else default_eos
        seed = (PROMPT_SEED + 5000 + 100 * list(SHADOW_CASES).index(case) + 10 * MODES.index(mode)
                + {"single": 0, "batch": 1, "batch_eos": 2}[variant])
        generate_error = None

        def run(ids, mask, eos):
            nonlocal generate_error
            if generate_error is None:
                try:
                    return hf_generate(task, ids, mask, n=n, pad=pad, eos=eos, use_cache=False)
                except Exception as e:  # noqa: BLE001 - the package's generate is broken: fall back
                    generate_error = f"{type(e).__name__}: {e}"
            try:
                new = explicit_shadow_loop(task, ids, mask, n=n, pad=pad, eos=eos)
            except Exception as e:  # noqa: BLE001
                raise SkipCase(f"shadow_peft generate fails ({generate_error}) and so does a plain forward loop "
                               f"({type(e).__name__}: {e})") from e
            # raw logits for the margin: one full forward on the final sequence
            seq = torch.cat([ids, new], 1)
            m = torch.cat([mask, torch.ones_like(new)], 1)
            pos = (m.cumsum(-1) - 1).masked_fill(m == 0, 1)
            with torch.no_grad():
                lg = task(input_ids=seq, attention_mask=m, position_ids=pos, use_cache=False).logits
            return new, lg[:, ids.shape[1] - 1:-1]

        prompts, ids, mask, free, margin, eos, eos_stop, pseed, attempts = greedy_search(
            lambda i, m: run(i, m, None), batch=batch, n=n, pad=pad, vocab=vocab, eos_variant=eos_variant,
            seed=seed, default_eos=default_eos)
        new, _ = run(ids, mask, eos)
        expected, checks = finish_greedy(new=new, free=free, eos=eos, eos_stop=eos_stop, n=n,
                                         pad=pad)
        if batch == 2 and generate_error is None:
            # self-check: the hand-written full-recompute loop (the documented semantics) gives the same tokens
            loop = explicit_shadow_loop(task, ids, mask, n=n, pad=pad, eos=eos)
            checks["explicit_full_forward_loop_same_tokens"] = torch.equal(loop, new)
            if not checks["explicit_full_forward_loop_same_tokens"]:
                raise CheckFailed(f"explicit loop {loop.tolist()} != generate {new.tolist()}")
        if variant == "batch" and generate_error is None:
            # informational: the package's cached path (use_cache=True)
            try:
                cached, _ = hf_generate(task, ids, mask, n=n, pad=pad, eos=eos, use_cache=True)
                checks["package_use_cache_true_same_tokens"] = torch.equal(cached, new)
            except Exception as e:  # noqa: BLE001
                checks["package_use_cache_true_same_tokens"] = f"error: {type(e).__name__}: {e}"
        if variant == "batch":
            same = []
            for b, p in enumerate(prompts):
                alone, _ = run(torch.tensor([p]), torch.ones(1, len(p), dtype=torch.long), eos)
                same.append(truncate_at_eos(alone.tolist(), eos)[0] == expected[b])
            checks["rows_equal_unpadded_single_runs"] = same
            if not all(same):
                print(f"  note: {case_dir}: a padded row differs from its unpadded run: {same}", flush=True)
        base_dir, adapter_dir, explicit_dir = shadow_dirs(case)
        load = (f"ShadowForCausalLM.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir, "
                f"attn_implementation='{ATTN}', dtype=torch.float32), adapter_dir, is_trainable=False, "
                f"shadow_model={'AutoModelForCausalLM.from_pretrained(explicit_shadow_dir)' if explicit_dir else None}"
                f").eval(); set_inference_mode('{mode}')")
        if generate_error is None:
            ref = (f"shadow_peft {shadow_peft.__version__} + transformers {transformers.__version__}: {load}; "
                   f"generate(input_ids, attention_mask=attention_mask, do_sample=False, max_new_tokens={n}, "
                   f"use_cache=False, pad_token_id={pad}, eos_token_id={eos}) on CPU, 1 thread")
        else:
            ref = (f"{load}; the package's generate fails ({generate_error}), so: explicit greedy loop, each step "
                   "a full forward of the task model (use_cache=False) on the whole sequence with position_ids = "
                   "cumsum(mask) - 1 (pads 1), argmax of the last column, finished rows get pad_token_id")
        picks = ("base_shadow: the generated logits are the BASE path's logits (base model with the shadow "
                 "injection/update hooks; shadow_lm_head(s0) is computed but not used for decoding)"
                 if mode == "base_shadow" else
                 "shadow_only: the generated logits are shadow_lm_head(s0), s0 = shadow_hidden_projection("
                 "shadow backbone(base embeddings or own ids, mask, position_ids).last_hidden_state); the base "
                 "model is not run")
        notes = (f"{picks}. Every step recomputes the whole sequence (use_cache=False, as the package's forward "
                 "defaults to). Inference mode is a plain attribute of the task wrapper (ShadowForCausalLM("
                 "inference_mode=...), from_pretrained(..., inference_mode=...) or set_inference_mode(mode)); it "
                 "is not stored in shadow_config.json. " + FINISHED_ROWS)
        return {"kind": "shadow", "model_dir": rel(base_dir), "base_dir": rel(base_dir),
                "adapter_dir": rel(adapter_dir), "explicit_shadow_dir": rel(explicit_dir) if explicit_dir else None,
                "mode": mode, "shadow_case": case,
                **common_fields(prompts=prompts, ids=ids, mask=mask, pad=pad, eos=eos, n=n, expected=expected,
                                new=new, eos_stop=eos_stop, margin=margin, pseed=pseed, attempts=attempts),
                "attn_implementation": ATTN, "position_ids_rule": POSITION_RULE_SHADOW, "reference": ref,
                "generate_error": generate_error, "notes": notes, "checks": checks}
    return fn


# ------------------------------------------------------------------------------------------- processors

PROC_V, PROC_B, PROC_T = 50, 3, 12
PROC_PADS = [0, 3, 5]
PROC_CONFIGS = {
    "repetition_penalty": dict(do_sample=False, repetition_penalty=1.3),
    "repetition_penalty_inferred_mask": dict(do_sample=False, repetition_penalty=1.3),
    "repetition_penalty_no_mask": dict(do_sample=False, repetition_penalty=1.3),
    "temperature": dict(do_sample=True, temperature=0.7),
    "top_k": dict(do_sample=True, top_k=5),
    "top_p": dict(do_sample=True, top_p=0.8),
    "min_p": dict(do_sample=True, min_p=0.1),
    "combined": dict(do_sample=True, repetition_penalty=1.2, temperature=0.8, top_k=10, top_p=0.9, min_p=0.05),
}
EFFECTIVE_KEYS = ("do_sample", "repetition_penalty", "temperature", "top_k", "top_p", "min_p", "typical_p",
                  "epsilon_cutoff", "eta_cutoff", "renormalize_logits", "remove_invalid_values")


def captured_processors(model, ids, mask, params, pad=0):
    """The LogitsProcessorList a real generate() call builds (and its merged generation_config)."""
    got = []
    orig = model._get_logits_processor

    def spy(*a, **kw):
        lp = orig(*a, **kw)
        got.append((lp, kw.get("generation_config", a[0] if a else None)))
        return lp
    model._get_logits_processor = spy
    try:
        kw = {"attention_mask": mask} if mask is not None else {}
        with torch.no_grad(), no_default_eos(model):
            model.generate(ids, max_new_tokens=1, pad_token_id=pad, **kw, **params)
    finally:
        del model._get_logits_processor
    if len(got) != 1:
        raise CheckFailed(f"_get_logits_processor called {len(got)} times")
    return got[0]


def manual_processors(e, prompt_ignore_length):
    from transformers.generation import logits_process as lp_mod
    procs = lp_mod.LogitsProcessorList()
    if e["repetition_penalty"] is not None and e["repetition_penalty"] != 1.0:
        procs.append(lp_mod.RepetitionPenaltyLogitsProcessor(e["repetition_penalty"],
                                                             prompt_ignore_length=prompt_ignore_length))
    if e["do_sample"]:
        if e["temperature"] is not None and e["temperature"] != 1.0:
            procs.append(lp_mod.TemperatureLogitsWarper(e["temperature"]))
        if e["top_k"] is not None and e["top_k"] != 0:
            procs.append(lp_mod.TopKLogitsWarper(top_k=e["top_k"], min_tokens_to_keep=1))
        if e["top_p"] is not None and e["top_p"] < 1.0:
            procs.append(lp_mod.TopPLogitsWarper(top_p=e["top_p"], min_tokens_to_keep=1))
        if e["min_p"] is not None:
            procs.append(lp_mod.MinPLogitsWarper(min_p=e["min_p"], min_tokens_to_keep=1))
    return procs


def case_processors(case_dir):
    torch.manual_seed(SEED)
    model = load_plain("llama")
    g = torch.Generator().manual_seed(PROMPT_SEED)
    logits = torch.randn(PROC_B, PROC_V, generator=g) * 2.0
    ids = torch.randint(1, PROC_V, (PROC_B, PROC_T), generator=g)
    mask = torch.ones_like(ids)
    for b, p in enumerate(PROC_PADS):
        mask[b, :p] = 0
    ids[mask == 0] = 0
    tensors = {"logits": logits.contiguous(), "input_ids": ids, "attention_mask": mask}
    configs, checks, manual_pil = {}, {}, {}
    for name, params in PROC_CONFIGS.items():
        # *_inferred_mask: no attention_mask passed, pad_token_id 0 -> generate infers mask = ids != 0;
        # *_no_mask: no attention_mask and pad_token_id 127 (absent from ids) -> inferred mask all ones.
        with_mask = not name.endswith("_mask")
        gen_pad = 127 if name.endswith("_no_mask") else 0
        lp, gc = captured_processors(model, ids, mask if with_mask else None, params, pad=gen_pad)
        scores = lp(ids, logits.clone())
        tensors[f"{name}.scores"] = scores.contiguous()
        configs[name] = {"params": params, "order": [type(p).__name__ for p in lp],
                         "effective": {k: getattr(gc, k, None) for k in EFFECTIVE_KEYS},
                         "attention_mask_passed": with_mask, "pad_token_id_passed": gen_pad,
                         "kept_per_row": torch.isfinite(scores).sum(-1).tolist()}
        for p in lp:
            if type(p).__name__ == "RepetitionPenaltyLogitsProcessor":
                pil = p.prompt_ignore_length
                configs[name]["repetition_penalty_prompt_ignore_length"] = (
                    pil.tolist() if isinstance(pil, torch.Tensor) else pil)
        # what the notes say generate does: the mask it uses (given, else ids != pad when pad occurs in ids),
        # prompt_ignore_length = index of the first 1 in each row
        used_mask = mask if with_mask else (ids != gen_pad).long()
        manual_pil[name] = (used_mask != 0).int().argmax(dim=1)
    # Do pad tokens of the left-padded rows count for the repetition penalty? (pad id 0 never occurs as a real
    # token: real ids are in [1, 50).)
    base = logits[:, 0]
    for name in ("repetition_penalty", "repetition_penalty_inferred_mask", "repetition_penalty_no_mask"):
        checks[f"{name}.pad_token_0_penalised"] = [bool(tensors[f"{name}.scores"][b, 0] != base[b])
                                                  for b in range(PROC_B)]
    padded_rows = [PROC_PADS[b] > 0 for b in range(PROC_B)]
    if any(checks["repetition_penalty.pad_token_0_penalised"]) or \
            any(checks["repetition_penalty_inferred_mask.pad_token_0_penalised"]) or \
            checks["repetition_penalty_no_mask.pad_token_0_penalised"] != padded_rows:
        raise CheckFailed(f"unexpected pad penalty behaviour: {checks}")
    # Cross-check of the documented order/semantics: the processor classes instantiated by hand from the
    # merged ('effective') values, in the order of notes, give bit-identical scores.
    for name, c in configs.items():
        lp = manual_processors(c["effective"], manual_pil[name])
        checks[f"{name}.manual_list_identical"] = torch.equal(lp(ids, logits.clone()), tensors[f"{name}.scores"])
        if [type(p).__name__ for p in lp] != c["order"] or not checks[f"{name}.manual_list_identical"]:
            raise CheckFailed(f"{name}: hand-built processor list differs from generate's")
    save_file(tensors, os.path.join(case_dir, "processors.safetensors"), metadata={"format": "pt"})
    notes = (
        "Order as transformers 5.x _get_logits_processor builds it (generation/utils.py): RepetitionPenalty first "
        "(before the warpers), then, only when do_sample=True: Temperature, TopK, TopP, MinP (then Typical, "
        "Epsilon, Eta). generate() merges the model's generation_config and then the GLOBAL defaults "
        "(GenerationConfig._get_default_generation_params: temperature 1.0, top_k 50, top_p 1.0, "
        "repetition_penalty 1.0) into unset fields, so a sampling call without top_k gets TopKLogitsWarper(50) "
        "(a no-op here: 50 = vocab) -- see each config's 'order'/'effective'. Processors operate on float32 "
        "scores [B, V]; filtered entries become -inf (filter_value). Repetition penalty: for every token id "
        "present in input_ids (each id once per row), score < 0 -> score * penalty, else score / penalty. When "
        "generate gets an attention_mask it passes prompt_ignore_length = (mask != 0).int().argmax(1) (the "
        "number of LEFT pads per row) and positions before it are ignored, i.e. pad tokens of left-padded "
        "prompts are NOT penalised (config 'repetition_penalty'). Without an attention_mask generate infers one "
        "as input_ids != pad_token_id when pad_token_id occurs in input_ids (and is not eos), so the pads are "
        "still ignored ('repetition_penalty_inferred_mask', pad 0); only when the inferred mask is all ones "
        "('repetition_penalty_no_mask': pad_token_id 127, absent) does every id count, pads included "
        "(prompt_ignore_length = zeros). Real prompt tokens and generated tokens always count. TopK keeps "
        "scores >= the k-th largest (ties kept). TopP: sort ascending, cumulative softmax, remove where cumsum "
        "<= 1 - top_p, always keep the last min_tokens_to_keep (1). MinP: probs = softmax(scores); remove tokens "
        "with prob < min_p * max prob (keep at least 1). Temperature divides by t.")
    return {"kind": "processors", "configs": configs, "vocab": PROC_V, "pad_token_id": 0,
            "left_pads_per_row": PROC_PADS, "processor_source_model": "models/llama", "notes": notes,
            "checks": checks}


# ------------------------------------------------------------------------------------------------- sampling

SAMPLING_PARAMS = dict(do_sample=True, temperature=0.9, top_k=20, top_p=0.95, max_new_tokens=12)


def replica_sampling(model, lp, ids, mask, seed):
    """manual_seed(seed), then per step: full forward, the processors, softmax, torch.multinomial(probs, 1).

    Returns the tokens and the smallest relative draw margin. torch.multinomial with one sample takes
    argmax(probs / q) with q ~ Exp(1) drawn from the global generator (checked against the real call at every
    step): the drawn token is robust to rounding in probs when its probs / q beats the runner-up's by a margin.
    """
    torch.manual_seed(seed)
    seq, m = ids.clone(), mask.clone()
    tokens, margin = [], float("inf")
    with torch.no_grad():
        for _ in range(SAMPLING_PARAMS["max_new_tokens"]):
            pos = (m.cumsum(-1) - 1).masked_fill(m == 0, 0)
            lg = model(input_ids=seq, attention_mask=m, position_ids=pos, use_cache=False).logits[:, -1].float()
            probs = torch.softmax(lp(seq, lg), -1)
            state = torch.get_rng_state()
            ratio = probs / torch.empty_like(probs).exponential_(1)
            torch.set_rng_state(state)
            nxt = torch.multinomial(probs, num_samples=1).squeeze(1)
            top = ratio[0].topk(2).values
            if int(ratio[0].argmax()) != int(nxt):
                raise CheckFailed("torch.multinomial no longer draws argmax(probs / Exp(1))")
            margin = min(margin, float((top[0] - top[1]) / top[0]))
            tokens.append(int(nxt))
            seq = torch.cat([seq, nxt[:, None]], 1)
            m = torch.cat([m, torch.ones_like(m[:, :1])], 1)
    return tokens, margin


def case_sampling_llama(case_dir):
    torch.manual_seed(SEED)
    model = load_plain("llama")
    pad = 0
    vocab = model.config.vocab_size
    prompts = draw_prompts(PROMPT_SEED + 9000, 1, vocab)
    ids, mask = pad_left(prompts, pad)
    lp, _ = captured_processors(model, ids, mask, {k: v for k, v in SAMPLING_PARAMS.items()
                                                  if k != "max_new_tokens"})
    order = [type(p).__name__ for p in lp]
    # A seed whose every draw has a margin: our probabilities equal torch's to ~1e-6 relative on any CPU, so a
    # draw with a relative margin of 1e-3 cannot flip.
    for seed in range(SAMPLING_SEED, SAMPLING_SEED + MAX_ATTEMPTS):
        rep, draw_margin = replica_sampling(model, lp, ids, mask, seed)
        if draw_margin >= MIN_DRAW_MARGIN:
            break
    else:
        raise CheckFailed(f"no sampling seed in {MAX_ATTEMPTS} gave a draw margin >= {MIN_DRAW_MARGIN}")

    def sample(eos):
        torch.manual_seed(seed)
        kw = dict(attention_mask=mask, use_cache=True, pad_token_id=pad, return_dict_in_generate=True,
                  output_logits=True, output_scores=True, **SAMPLING_PARAMS)
        with torch.no_grad():
            if eos is None:
                with no_default_eos(model):
                    return model.generate(ids, **kw)
            return model.generate(ids, eos_token_id=eos, **kw)

    free = sample(None)
    new_free = free.sequences[:, ids.shape[1]:]
    used = set(new_free[0].tolist()) | set(prompts[0])
    default_eos = model.generation_config.eos_token_id
    eos = [pick_absent_eos(default_eos, used, pad, vocab)]
    out = sample(eos)
    new = out.sequences[:, ids.shape[1]:]
    checks = {"same_tokens_with_absent_eos": torch.equal(new, new_free)}
    if not checks["same_tokens_with_absent_eos"]:
        raise CheckFailed("sampled tokens changed when eos was set")
    checks["min_draw_margin"] = draw_margin
    checks["replica_loop_same_tokens"] = rep == new[0].tolist()
    if not checks["replica_loop_same_tokens"]:
        raise CheckFailed(f"replica {rep} != generate {new[0].tolist()}")
    scores = torch.cat(out.scores, 0)
    checks["kept_per_step"] = torch.isfinite(scores).sum(-1).tolist()
    save_file({"input_ids": ids, "logits": torch.cat(out.logits, 0).contiguous(), "scores": scores.contiguous()},
              os.path.join(case_dir, "sampling_llama.safetensors"), metadata={"format": "pt"})
    ref = (f"transformers {transformers.__version__} LlamaForCausalLM.from_pretrained(models/llama, "
           f"attn_implementation='{ATTN}', dtype=torch.float32); torch.manual_seed({seed}); generate("
           f"input_ids, attention_mask=attention_mask, do_sample=True, temperature=0.9, top_k=20, top_p=0.95, "
           f"max_new_tokens=12, use_cache=True, pad_token_id={pad}, eos_token_id={eos}) on CPU, 1 thread")
    notes = ("Best-effort RNG parity. The only consumer of the global CPU generator inside generate is one "
             "torch.multinomial(softmax(scores), num_samples=1) per step on a float32 [1, V] tensor (checked: a "
             "replica loop -- manual_seed, then per step full forward, the same processor list, softmax, "
             "multinomial -- gives the same tokens). Processor order: " + ", ".join(order) + ".")
    return {"kind": "sampling", "model_dir": "models/llama", "seed": seed,
            "sampling_params": SAMPLING_PARAMS, "order": order, "prompts": prompts, "input_ids": ids.tolist(),
            "attention_mask": mask.tolist(), "pad_token_id": pad, "eos_token_id": eos,
            "max_new_tokens": SAMPLING_PARAMS["max_new_tokens"], "expected": new.tolist(),
            "hf_new_tokens": new.tolist(), "position_ids_rule": POSITION_RULE_MODEL, "reference": ref,
            "notes": notes, "checks": checks}


# ------------------------------------------------------------------------------------------------ driver

CASES = {}
for _m in PLAIN_MODELS:
    for _v in ("single", "batch", "batch_eos"):
        CASES[f"{_m}_{_v}"] = (_m, plain_case(_m, _v))
for _c in SHADOW_CASES:
    for _mode in MODES:
        for _v in ("single", "batch"):
            CASES[f"shadow_{_c}_{_mode}_{_v}"] = (f"shadow_{_c}", shadow_case(_c, _mode, _v))
    CASES[f"shadow_{_c}_base_shadow_batch_eos"] = (f"shadow_{_c}", shadow_case(_c, "base_shadow", "batch_eos"))
CASES["processors"] = ("llama", case_processors)
CASES["sampling_llama"] = ("llama", case_sampling_llama)


def finish_case(name, family, info):
    versions = {"shadow_peft": getattr(shadow_peft, "__version__", "?"), "transformers": transformers.__version__,
                "torch": torch.__version__}
    return {**info, "versions": versions}


def flat_case(fn, root, name):
    """run_cases builds OUT/generation/<case>/; the C++ tests read flat files. Stale flat outputs are removed
    first so a skipped or failed case leaves nothing behind."""
    def wrapped(case_dir):
        for f in os.listdir(root):
            if f == f"{name}.json" or f.startswith(f"{name}."):
                os.remove(os.path.join(root, f))
        with torch.no_grad():
            return fn(case_dir)
    return wrapped


def flatten(root, names):
    for name in names:
        d = os.path.join(root, name)
        if not os.path.isdir(d):
            continue
        for f in os.listdir(d):
            dst = os.path.join(root, f"{name}.json" if f == "case.json" else f)
            os.replace(os.path.join(d, f), dst)
        shutil.rmtree(d, ignore_errors=True)


def main(argv):
    if len(argv) >= 2 and argv[1] not in ("-h", "--help"):
        OUT["dir"] = argv[1]
    root = os.path.join(argv[1], "generation") if OUT["dir"] else None
    if root:
        os.makedirs(root, exist_ok=True)
    cases = {k: (fam, flat_case(fn, root, k)) for k, (fam, fn) in CASES.items()} if root else CASES
    rc = run_cases(argv, __doc__.strip().splitlines()[-1], cases, "generation", finish_case)
    if root:
        flatten(root, list(CASES))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
