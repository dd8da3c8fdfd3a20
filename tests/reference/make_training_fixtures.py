#!/usr/bin/env python3
"""Builds the training-loop parity fixtures (AdamW + LR schedule + clipping + grad accumulation) for the C++ tests.

Reads the shadow fixtures written before it (run make_shadow_fixtures.py into the same OUT_DIR first):
`OUT_DIR/shadow/<shadow_case>/{base,adapter,case.json}`. Writes `OUT_DIR/training/<case>/` and
`OUT_DIR/training/index.json` (`{"cases": [...], "skipped": {case: reason}}`).

The reference is an explicit PyTorch loop with the semantics of transformers' Trainer (5.x) for a model whose loss
is a per-micro-batch MEAN (what the C++ trainer implements):

    model = ShadowFor{CausalLM,SequenceClassification}.from_pretrained(
        AutoModelFor{CausalLM,SequenceClassification}.from_pretrained(base, attn_implementation="eager",
                                                                       dtype=float32),
        OUT/shadow/<shadow_case>/adapter, is_trainable=True, shadow_loss_weight=<from the shadow case.json: 0.05>)
    model.train()                      # dropout is 0 everywhere: every nn.Dropout has p == 0 (asserted) and two
                                       # train-mode forwards under different RNG seeds are bitwise equal (asserted)
    params   = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay    = Trainer.get_decay_parameter_names(model) (the real transformers method), restricted to params
    opt      = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                                 lr=lr, betas=(b1, b2), eps=eps)        # torch's default implementation, see below
    sched    = transformers.get_scheduler(name, opt, num_warmup_steps=warmup, num_training_steps=max_steps)
    for step in range(max_steps):
        for micro in range(grad_accum):
            out = model(input_ids=..., attention_mask=..., labels=...)  # NO position_ids (as a Trainer collator)
            (out.loss / grad_accum).backward()
        grad_norm = torch.nn.utils.clip_grad_norm_([p for _, p in params], max_grad_norm)   # pre-clip norm
        lr_used = sched.get_last_lr()[0]; opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
        record loss = torch.stack(micro losses).mean() (float32, unscaled), grad_norm, lr_used

Semantics the C++ side must copy (torch 2.11 / transformers 5.23 source):
- Loss (base_shadow mode, the default): causal LM: HF base loss (shifted CE, mean over labels != -100 of the micro-
  batch) + shadow_loss_weight * shifted CE of shadow_lm_head(s0) (mean); seq_cls: CE(pooled base logits) (mean over
  the batch) + shadow_loss_weight * CE(shadow_classifier_head(s0[b, mask.sum(1) - 1])). position_ids are not passed,
  so base AND shadow backbone use positions 0..T-1 in every row, the left-padded one included.
- No-decay rule (Trainer.get_decay_parameter_names -> trainer_pt_utils.get_parameter_names(model, [nn.LayerNorm],
  patterns)): a parameter gets NO weight decay if any module on its path is an nn.LayerNorm instance (GPT-2 ln_1 /
  ln_2 / ln_f, the shadow update model's hidden_norm), or its full dotted name, lower-cased, matches one of the regexes
  `bias`, `layernorm`, `rmsnorm`, `(?:^|\\.)norm(?:$|\\.)`, `_norm(?:$|\\.)` (re.search, substring match). Everything
  else trainable decays. case.json lists both sets.
- AdamW (torch.optim.AdamW, foreach/fused left None: torch's _default_to_fused_or_foreach picks foreach only on
  cuda/xpu/mtia/privateuse1, so on CPU this is the single-tensor path `_single_tensor_adam`; recorded as
  optimizer_impl). Per parameter with a gradient (a parameter whose .grad is None is SKIPPED entirely: no step
  count, no weight decay, no state): step += 1; p *= 1 - lr * wd; exp_avg.lerp_(g, 1 - b1); exp_avg_sq = exp_avg_sq
  * b2 + (1 - b2) * g * g; bc1 = 1 - b1**step, bc2 = 1 - b2**step (Python doubles); denom = sqrt(exp_avg_sq) /
  sqrt(bc2) + eps; p += -(lr / bc1) * exp_avg / denom. State starts at zeros. lr is the group's current lr (the
  scheduler sets both groups to the same value).
- clip_grad_norm_(max_norm): per-tensor 2-norms (torch._foreach_norm) of every non-None grad, total = 2-norm of
  the stacked norms; coef = max_norm / (total + 1e-6) clamped to <= 1.0; EVERY grad is multiplied by coef (by 1.0
  when not clipping: exact no-op). The returned (recorded) grad_norm is the pre-clip total. The Trainer clips
  over model.parameters(): frozen parameters have grad None and are ignored, so it is the same set.
- LR schedules (transformers.optimization, LambdaLR: lr = base_lr * f(step), step = number of scheduler.step()
  calls so far, so optimizer step s (0-based) uses f(s)): linear: s < w ? s / max(1, w) : max(0, (N - s) /
  max(1, N - w)); cosine: s < w ? s / max(1, w) : max(0, 0.5 * (1 + cos(pi * 2 * 0.5 * (s - w) / max(1, N - w))));
  constant_with_warmup: s < w ? s / max(1.0, w) : 1. With warmup > 0 the FIRST step uses lr 0, so after_1/ then
  equals initial/ bitwise (the optimizer state still moves: see optimizer_after_1.safetensors in llama_linear).
- Gradient accumulation: each micro-batch loss is divided by gradient_accumulation_steps before backward; grads
  accumulate (sum) across micro-batches; clipping / step / schedule once per optimizer step.
- What transformers' Trainer itself does (case.json `hf_trainer_semantics`, checks.hf_trainer: the real Trainer
  run on the same micro-batches with optim="adamw_torch"): the Shadow task models' forward takes **kwargs and has no
  accepts_loss_kwargs attribute, so the Trainer counts num_items_in_batch (labels != -100 over ALL micro-batches of
  the optimizer step, unshifted labels: the wrapper has no loss_type) and passes it to forward; it reaches the BASE
  model's loss (cross_entropy sum / num_items_in_batch) but not the shadow term (still a per-micro-batch mean), and
  the Trainer then does NOT divide by gradient_accumulation_steps. For grad_accum 1 with labels[:, 0] == -100
  (always true here) that is exactly this loop: checked bitwise (losses, grad norms, lrs, final weights) for every
  grad_accum-1 case. For grad_accum > 1 the Trainer differs; the differences are recorded, not enforced. Causal
  LM: base term token-weighted across the step's micro-batches, shadow term grad_accum times larger. seq_cls: the
  base model's GenericForSequenceClassification calls loss_function WITHOUT **kwargs, so num_items_in_batch is
  dropped and both terms stay per-micro-batch means: the Trainer's loss and gradients are exactly grad_accum times
  this loop's (here: logged loss and grad norm exactly 2x; the final weights still agree to ~1e-7 because every
  seq_cls step clips and Adam is nearly scale-invariant).

Outputs per case in `OUT_DIR/training/<case>/`:
- `batches.safetensors`: `step{S}.micro{M}.input_ids` / `.attention_mask` / `.labels` (int64) for every optimizer
  step S (0-based) and micro-batch M, exactly what was fed. Causal LM: [B, T], row 0 left-padded (PAD id 0,
  attention_mask 0, labels -100), labels -100 also on the first 3 real tokens of every row (prompt masking, so
  labels[:, 0] is always -100 and no loss term reads a fully masked query row). seq_cls: row 0 left-padded, row 1
  right-padded, labels [B] class indices.
  The micro-batches come from a small fixed data set (2 * grad_accum distinct micro-batches drawn with
  torch.Generator().manual_seed(data_seed)), cycled in order: step S micro M uses micro-batch (S * GA + M) % (2 * GA)
  -- a few epochs over a tiny data set, so the loss can go down.
- `initial/`: `save_pretrained` of the model as loaded, before training (shadow_config.json,
  shadow_adapter.safetensors, shadow_modules.safetensors when a task head is trainable): the C++ side starts from
  exactly these tensors (checked bitwise equal to the shadow fixture's adapter/).
- `after_1/`, `after_2/`, `after_{max_steps}/`: `save_pretrained` after that many optimizer steps (case.json
  `checkpoints`).
- `optimizer_after_1.safetensors` (llama_linear only): AdamW state after step 1 for two parameters (one decayed
  matrix, one no-decay vector), keys `<key>.exp_avg`, `<key>.exp_avg_sq`, `<key>.step` (float32 scalar, as torch
  stores it), `<key>` as in the adapter files.
- `case.json`: `{"case", "family", "shadow_case", "task": "causal_lm" | "seq_cls", "base_dir":
  "shadow/<shadow_case>/base", "initial_dir": "training/<case>/initial", "args": {"learning_rate", "weight_decay",
  "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm", "lr_scheduler_type", "warmup_steps",
  "gradient_accumulation_steps", "max_steps", "shadow_loss_weight", "per_device_train_batch_size", "seq_len"},
  "data_seed", "losses", "grad_norms", "learning_rates", "clipped" (grad_norm > max_grad_norm per step),
  "trainable_parameter_names" (keys as in the saved files, named_parameters order = the order of the norm stack),
  "trainable_parameter_module_names" ({key: torch named_parameters name}), "no_decay_parameter_names",
  "decay_parameter_names" (keys), "grad_none_parameter_names" (trainable but never receive a gradient -> never
  updated), "optimizer_impl", "checkpoints", "optimizer_after_1" (null or {"file", "keys"}), "shadow_adapter_dir",
  "kind": "training", "checks", "notes", "hf_trainer_semantics", "versions"}`. Losses / norms / lrs are Python floats
  of the float32 values (lr: the scheduler's double).
Self-checks: re-running the whole loop on a fresh model loaded from base/ + initial/ gives bitwise identical
losses, grad norms and final weights; after_{max_steps} differs from initial and holds the in-memory weights;
after_1 == initial exactly when the first lr is 0; mean of the last 3 losses < mean of the first 3; clipping
triggers in llama_linear (max_grad_norm lowered to 0.34: its pre-clip norms are 0.32-0.36, so odd steps clip) and
never in llama_cosine_noclip; no grad norm within 0.1% of max_grad_norm; the real transformers.Trainer equals the
loop bitwise when grad_accum is 1. Informational (llama_linear, gpt2_linear): checks.adamw_fused_* = max |diff|
of final weights / losses when the loop uses AdamW(fused=True) (transformers' default optim `adamw_torch_fused`
for torch >= 2.8; foreach=True was bitwise identical to the single-tensor path when this script was written).
gpt2_linear: checks.gpt2_c_attn_bias_grad_abs_max_q_k_v -- the KEY third of the shadow's c_attn.bias gets a
gradient that is pure rounding noise (~1e-10; a key bias adds the same q.b_k to every score of a query row), which
Adam normalises into updates of ~lr * |g| / (|g| + eps) ~ 1e-5 per step: after_N of that slice depends on rounding
(fused vs single-tensor already differ by ~1e-4 there), so compare it loosely or skip it.

Precision: every case but one runs in float64 (`task.to(torch.float64)` after loading; transformers still computes
its RMSNorm, RoPE tables and base loss in float32 there, the C++ side copies that): Adam's eps (1e-8) then dwarfs
the rounding noise, so weights can be compared tightly on any CPU. `gpt2_linear_float32` keeps the float32 path
(args.dtype says which).
Everything runs on CPU, single-threaded, eager attention, HF_HUB_OFFLINE=1, torch.manual_seed(0) at the
start of every case. Exit status 0 on success (skipped cases allowed), 1 if a case failed.

Usage: make_training_fixtures.py OUT_DIR [CASE ...]   (no case names: all cases)
"""
import contextlib
import io
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_runner import CheckFailed, quiet_transformers, run_cases  # noqa: E402

quiet_transformers()

import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, Trainer  # noqa: E402

import shadow_peft  # noqa: E402
from shadow_peft import ShadowForCausalLM, ShadowForSequenceClassification  # noqa: E402


SEED = 0
ATTN = "eager"          # float32 cases; float64 cases use "sdpa" (see attn_implementation())
PAD_ID = 0
PROMPT_MASK = 3         # labels -100 on the first 3 real tokens of each row
OUT = {"dir": None}     # OUT_DIR, set by main()
ADAPTER_PREFIXES = ("shadow_model", "shadow_hidden_projection", "shadow_injection_model", "shadow_update_model")
ADAPTER_FILES = ("shadow_config.json", "shadow_adapter.safetensors", "shadow_modules.safetensors")

COMMON = dict(adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, per_device_train_batch_size=2, seq_len=12)

SPECS = {
    "llama_linear": dict(shadow_case="llama", task="causal_lm", data_seed=1001, learning_rate=1e-3, weight_decay=0.01,
                         max_grad_norm=0.34, lr_scheduler_type="linear", warmup_steps=2,
                         gradient_accumulation_steps=2, max_steps=10, dtype="float64"),
    "llama_cosine_noclip": dict(shadow_case="llama", task="causal_lm", data_seed=1002, learning_rate=1e-3,
                                weight_decay=0.1, max_grad_norm=1000.0, lr_scheduler_type="cosine", warmup_steps=3,
                                gradient_accumulation_steps=1, max_steps=10, dtype="float64"),
    "qwen3_constant": dict(shadow_case="qwen3", task="causal_lm", data_seed=1003, learning_rate=1e-3,
                           weight_decay=0.01, max_grad_norm=1.0, lr_scheduler_type="constant_with_warmup",
                           warmup_steps=1, gradient_accumulation_steps=1, max_steps=10, dtype="float64"),
    "gpt2_linear": dict(shadow_case="gpt2", task="causal_lm", data_seed=1004, learning_rate=1e-3, weight_decay=0.05,
                        max_grad_norm=1.0, lr_scheduler_type="linear", warmup_steps=0,
                        gradient_accumulation_steps=1, max_steps=10, dtype="float64"),
    "seq_cls": dict(shadow_case="seq_cls", task="seq_cls", data_seed=1005, learning_rate=1e-3, weight_decay=0.01,
                    max_grad_norm=1.0, lr_scheduler_type="linear", warmup_steps=0, gradient_accumulation_steps=2,
                    max_steps=5, dtype="float64"),
    # The one float32 case: what users train in. Its weights are compared with a step-size tolerance (see
    # the C++ test): float32 rounding differs between CPU kernels and AdamW can amplify it up to a step.
    "gpt2_linear_float32": dict(shadow_case="gpt2", task="causal_lm", data_seed=1004, learning_rate=1e-3,
                                weight_decay=0.05, max_grad_norm=1.0, lr_scheduler_type="linear", warmup_steps=0,
                                gradient_accumulation_steps=1, max_steps=10, dtype="float32"),
}

DTYPES = {"float32": torch.float32, "float64": torch.float64}

FUSED_COMPARISON = ("llama_linear", "gpt2_linear", "gpt2_linear_float32")

CASE_NOTES = {
    "llama_linear": "Llama base (4 layers) + implicit 1-layer shadow (shadow fixture `llama`). max_grad_norm "
                    "0.34 (lowered from 1.0: pre-clip norms are 0.32-0.36), so the odd steps clip (see clipped). "
                    "Warmup 2: step 0 uses lr 0 -> after_1/ == initial/ bitwise, but the "
                    "AdamW moments of step 0 are non-zero and enter every later step (optimizer_after_1.safetensors).",
    "llama_cosine_noclip": "Cosine (num_cycles 0.5) with warmup 3, max_grad_norm 1000 (never reached: the clip "
                           "multiplies every grad by exactly 1.0). weight_decay 0.1.",
    "qwen3_constant": "Qwen3 base + implicit shadow (q_norm/k_norm in the shadow layer: names contain `_norm.` -> "
                      "no decay). constant_with_warmup, warmup 1: lr 0 at step 0, then 1e-3.",
    "gpt2_linear": "GPT-2 base + implicit GPT2Model shadow. The shadow's ln_1/ln_2/ln_f are nn.LayerNorm and "
                   "c_attn/c_proj/c_fc biases match `bias`: no decay, by module TYPE for ln_* (their names match no "
                   "pattern). shadow_model.wte.weight is trainable but unused (the shadow gets the base "
                   "embeddings), so its grad stays None and AdamW skips it: no update, no weight decay "
                   "(grad_none_parameter_names). No warmup: step 0 already moves the weights. The key third "
                   "([32:64]) of shadow_model.h.0.attn.c_attn.bias has a pure-rounding-noise gradient (checks."
                   "gpt2_c_attn_bias_grad_abs_max_q_k_v): its trained values are implementation-dependent at ~1e-4.",
    "seq_cls": "LlamaForSequenceClassification base (3 labels, pad_token_id 0) + implicit shadow; both heads "
               "(classifier_head = base score, shadow_classifier_head) trainable and saved in "
               "shadow_modules.safetensors; both decay. grad_accum 2. labels [B] class indices in [0, 3).",
    "gpt2_linear_float32": "gpt2_linear in float32 (same data, same hyper-parameters): the precision users train in. "
                           "Elements whose gradient is rounding noise (the key third of c_attn.bias, or any "
                           "element where terms cancel) get Adam steps of up to ~lr whose sign depends on the "
                           "CPU's kernels, so its weights can only be compared to a fraction of the step size.",
}


# ----------------------------------------------------------------------------------------------- helpers

def captured(fn, *a, **kw):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        r = fn(*a, **kw)
    return r, buf.getvalue()


def shadow_case_dir(case):
    d = os.path.join(OUT["dir"], "shadow", case)
    if not os.path.isdir(os.path.join(d, "adapter")):
        raise CheckFailed(f"{d} missing: run make_shadow_fixtures.py {OUT['dir']} first")
    return d


def attn_implementation(dtype):
    """eager in float32; sdpa in float64, where eager attention adds finfo(float64).min to the masked scores and then
    takes the softmax in float32, in which that is -inf: the fully masked query rows of a left-padded row become NaN
    and poison every gradient. sdpa keeps float64 and gives those rows a uniform distribution."""
    return ATTN if dtype == "float32" else "sdpa"


def load_task(spec, adapter_dir, weight):
    d = shadow_case_dir(spec["shadow_case"])
    auto = AutoModelForCausalLM if spec["task"] == "causal_lm" else AutoModelForSequenceClassification
    task_cls = ShadowForCausalLM if spec["task"] == "causal_lm" else ShadowForSequenceClassification
    base = auto.from_pretrained(os.path.join(d, "base"), attn_implementation=attn_implementation(spec["dtype"]),
                                dtype=torch.float32)
    task, _ = captured(task_cls.from_pretrained, base, adapter_dir, is_trainable=True, shadow_loss_weight=weight)
    task.to(DTYPES[spec["dtype"]])  # the whole model, buffers included, as the C++ side does with ->to()
    task.train()
    return task


def key_map(task):
    """{id(param): key as in the saved files} for adapter tensors and task heads."""
    peft = task.peft_model
    out = {}
    for pfx in ADAPTER_PREFIXES:
        for n, p in getattr(peft, pfx).named_parameters():
            out[id(p)] = f"{pfx}.{n}"
    heads = (("lm_head", task.lm_head), ("shadow_lm_head", task.shadow_lm_head)) if isinstance(
        task, ShadowForCausalLM) else (("classifier_head", task.classifier_head),
                                       ("shadow_classifier_head", task.shadow_classifier_head))
    for name, m in heads:
        for n, p in m.named_parameters():
            out.setdefault(id(p), f"{name}.{n}")
    return out


def check_no_dropout(task, batch):
    bad = [n for n, m in task.named_modules() if isinstance(m, nn.Dropout) and m.p != 0.0]
    if bad:
        raise CheckFailed(f"dropout modules with p != 0: {bad}")
    outs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        with torch.no_grad():
            outs.append(task(**batch).loss)
    if not torch.equal(outs[0], outs[1]):
        raise CheckFailed("train-mode forward is not deterministic: some dropout is active")
    torch.manual_seed(SEED)


def make_micro(g, spec, num_labels, vocab):
    B, T = COMMON["per_device_train_batch_size"], COMMON["seq_len"]
    ids = torch.randint(1, vocab, (B, T), generator=g)
    mask = torch.ones_like(ids)
    mask[0, :int(torch.randint(2, 5, (1,), generator=g))] = 0          # row 0: 2..4 left pads
    if spec["task"] == "seq_cls":
        mask[1, T - int(torch.randint(1, 4, (1,), generator=g)):] = 0  # row 1: 1..3 right pads
    ids[mask == 0] = PAD_ID
    if spec["task"] == "seq_cls":
        labels = torch.randint(0, num_labels, (B,), generator=g)
    else:
        labels = ids.clone()
        labels[mask == 0] = -100
        for b in range(B):
            first = int(mask[b].nonzero()[0])
            labels[b, first:first + PROMPT_MASK] = -100
    return {"input_ids": ids.long(), "attention_mask": mask.long(), "labels": labels.long()}


def make_batches(spec, task):
    ga, n = spec["gradient_accumulation_steps"], spec["max_steps"]
    g = torch.Generator().manual_seed(spec["data_seed"])
    cfg = task.peft_model.base_model.config
    data = [make_micro(g, spec, getattr(cfg, "num_labels", 2), cfg.vocab_size) for _ in range(2 * ga)]
    return [[data[(s * ga + m) % len(data)] for m in range(ga)] for s in range(n)]


def param_groups(task):
    params = [(n, p) for n, p in task.named_parameters() if p.requires_grad]
    decay_names = set(Trainer.get_decay_parameter_names(None, task))
    decay = [(n, p) for n, p in params if n in decay_names]
    no_decay = [(n, p) for n, p in params if n not in decay_names]
    return params, decay, no_decay


def train(task, spec, batches, *, save_dir=None, checkpoints=(), opt_kwargs=None, opt_probe=()):
    """The explicit Trainer-semantics loop (module docstring). Returns a result dict."""
    params, decay, no_decay = param_groups(task)
    wd = spec["weight_decay"]
    opt = torch.optim.AdamW([{"params": [p for _, p in decay], "weight_decay": wd},
                             {"params": [p for _, p in no_decay], "weight_decay": 0.0}],
                            lr=spec["learning_rate"], betas=(COMMON["adam_beta1"], COMMON["adam_beta2"]),
                            eps=COMMON["adam_epsilon"], **(opt_kwargs or {}))
    sched = transformers.get_scheduler(spec["lr_scheduler_type"], opt, num_warmup_steps=spec["warmup_steps"],
                                       num_training_steps=spec["max_steps"])
    ga = spec["gradient_accumulation_steps"]
    losses, norms, lrs, probe = [], [], [], {}
    grad_seen = set()
    task.train()
    for step, micro in enumerate(batches):
        micro_losses = []
        for batch in micro:
            out = task(**batch)
            (out.loss / ga).backward()
            micro_losses.append(out.loss.detach())
        grad_seen.update(n for n, p in params if p.grad is not None)
        norm = torch.nn.utils.clip_grad_norm_([p for _, p in params], spec["max_grad_norm"])
        lr_used = sched.get_last_lr()[0]
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(torch.stack(micro_losses).mean().item())
        norms.append(norm.item())
        lrs.append(lr_used)
        if step == 0 and opt_probe:
            byname = dict(params)
            for name, key in opt_probe:
                st = opt.state[byname[name]]
                for k in ("exp_avg", "exp_avg_sq", "step"):
                    probe[f"{key}.{k}"] = st[k].detach().clone().reshape(st[k].shape).contiguous()
        if save_dir is not None and (step + 1) in checkpoints:
            task.save_pretrained(os.path.join(save_dir, f"after_{step + 1}"))
    final = {n: p.detach().clone() for n, p in params}
    return {"losses": losses, "grad_norms": norms, "learning_rates": lrs, "final": final, "probe": probe,
            "decay": [n for n, _ in decay], "no_decay": [n for n, _ in no_decay], "params": [n for n, _ in params],
            "grad_seen": grad_seen, "opt": opt}


def optimizer_impl(opt):
    from torch.optim.optimizer import _default_to_fused_or_foreach
    g = opt.param_groups[0]
    if g.get("fused"):
        return "fused"
    if g.get("foreach") is not None:
        return "foreach" if g["foreach"] else "single_tensor"
    ps = [p for grp in opt.param_groups for p in grp["params"]]
    _, foreach = _default_to_fused_or_foreach(ps, differentiable=False, use_fused=False)
    return ("foreach" if foreach else "single_tensor") + " (foreach=None, fused=None: torch default on CPU)"


def files_equal(a, b):
    """Adapter dirs a and b: same files, identical tensors / json."""
    out = {}
    for f in ADAPTER_FILES:
        pa, pb = os.path.join(a, f), os.path.join(b, f)
        if os.path.exists(pa) != os.path.exists(pb):
            return False, {f: "present in one dir only"}
        if not os.path.exists(pa):
            continue
        if f.endswith(".json"):
            with open(pa) as fa, open(pb) as fb:
                out[f] = json.load(fa) == json.load(fb)
            continue
        ta, tb = load_file(pa), load_file(pb)
        # By value: a float64 case's initial/ holds the float32 fixture adapter's values in float64.
        out[f] = ta.keys() == tb.keys() and all(torch.equal(ta[k].double(), tb[k].double()) for k in ta)
    return all(out.values()), out


def max_weight_diff(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


def hf_trainer_run(spec, init_dir, weight, batches, res):
    """transformers.Trainer(optim='adamw_torch') fed exactly `batches` (sequential sampler, default collator)."""
    import tempfile
    from torch.utils.data import SequentialSampler

    class SeqTrainer(Trainer):
        def _get_train_sampler(self, *a, **k):
            return SequentialSampler(self.train_dataset)

    task = load_task(spec, init_dir, weight)
    rows = [{k: v[r] for k, v in mb.items()} for micro in batches for mb in micro
            for r in range(COMMON["per_device_train_batch_size"])]
    seen = []
    task.register_forward_pre_hook(
        lambda mod, a, kw: seen.append(kw.get("num_items_in_batch")), with_kwargs=True)
    with tempfile.TemporaryDirectory() as tmp:
        args = transformers.TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=COMMON["per_device_train_batch_size"],
            gradient_accumulation_steps=spec["gradient_accumulation_steps"], max_steps=spec["max_steps"],
            learning_rate=spec["learning_rate"], weight_decay=spec["weight_decay"],
            adam_beta1=COMMON["adam_beta1"], adam_beta2=COMMON["adam_beta2"], adam_epsilon=COMMON["adam_epsilon"],
            max_grad_norm=spec["max_grad_norm"], lr_scheduler_type=spec["lr_scheduler_type"],
            warmup_steps=spec["warmup_steps"], optim="adamw_torch", logging_steps=1, save_strategy="no",
            report_to=[], use_cpu=True, dataloader_num_workers=0, remove_unused_columns=False,
            disable_tqdm=True, seed=SEED)
        tr = SeqTrainer(model=task, args=args, train_dataset=rows)
        captured(tr.train)
    logs = [h for h in tr.state.log_history if "loss" in h and "grad_norm" in h]
    final = {n: p.detach() for n, p in task.named_parameters() if p.requires_grad}
    out = {
        "model_accepts_loss_kwargs": bool(tr.model_accepts_loss_kwargs),
        "loss_shifts_labels": bool(tr._loss_shifts_labels),
        "num_items_in_batch_per_forward": [None if x is None else float(x) for x in seen],
        "logged_losses": [h["loss"] for h in logs],
        "grad_norms": [float(h["grad_norm"]) for h in logs],
        "learning_rates": [h["learning_rate"] for h in logs],
        "final_weights_max_abs_diff": max_weight_diff(final, res["final"]),
        "losses_max_abs_diff": max(abs(a - b) for a, b in zip((h["loss"] for h in logs), res["losses"])),
        "grad_norms_max_abs_diff": max(abs(float(h["grad_norm"]) - b) for h, b in zip(logs, res["grad_norms"])),
    }
    # The Trainer sums the logged loss in a float32 tensor (Trainer._tr_loss), so in float64 the logged losses
    # are the loop's rounded to float32; weights and grad norms must still be bitwise equal.
    loss_rounding = 0.0 if spec["dtype"] == "float32" else 1e-6
    out["bitwise_equal"] = (len(logs) == spec["max_steps"] and out["final_weights_max_abs_diff"] == 0.0
                            and out["losses_max_abs_diff"] <= loss_rounding and out["grad_norms_max_abs_diff"] == 0.0
                            and out["learning_rates"] == res["learning_rates"])
    return out


def c_attn_bias_grad(spec, init_dir, weight, batches):
    """|grad| max of the q / k / v thirds of the GPT-2 shadow's c_attn.bias on step 0's first micro-batch: the key
    bias cannot change the softmax, so its gradient is rounding noise."""
    task = load_task(spec, init_dir, weight)
    task(**batches[0][0]).loss.backward()
    g = task.peft_model.shadow_model.h[0].attn.c_attn.bias.grad
    return [x.abs().max().item() for x in g.chunk(3)]


def rel(path):
    return os.path.relpath(path, OUT["dir"])


# ------------------------------------------------------------------------------------------------- case

def training_case(name):
    spec = SPECS[name]

    def fn(case_dir):
        torch.manual_seed(SEED)
        sdir = shadow_case_dir(spec["shadow_case"])
        with open(os.path.join(sdir, "case.json")) as f:
            weight = json.load(f).get("shadow_loss_weight", 0.05)
        task = load_task(spec, os.path.join(sdir, "adapter"), weight)
        batches = make_batches(spec, task)
        check_no_dropout(task, batches[0][0])
        checks = {}

        init_dir = os.path.join(case_dir, "initial")
        task.save_pretrained(init_dir)
        same, detail = files_equal(init_dir, os.path.join(sdir, "adapter"))
        checks["initial_equals_shadow_fixture_adapter"] = detail
        if not same:
            raise CheckFailed(f"initial/ differs from the shadow fixture's adapter/: {detail}")

        kmap = key_map(task)
        byid = {id(p): n for n, p in task.named_parameters()}
        name2key = {n: kmap[pid] for pid, n in byid.items() if pid in kmap}
        n_steps = spec["max_steps"]
        ckpts = sorted({1, 2, n_steps})
        probe = ()
        if name == "llama_linear":
            probe = (("peft_model.shadow_injection_model.injection_ups", "shadow_injection_model.injection_ups"),
                     ("peft_model.shadow_update_model.hidden_norm.weight", "shadow_update_model.hidden_norm.weight"))
        res = train(task, spec, batches, save_dir=case_dir, checkpoints=ckpts, opt_probe=probe)
        missing = [n for n in res["params"] if n not in name2key]
        if missing:
            raise CheckFailed(f"trainable parameters not in the saved files: {missing}")
        impl = optimizer_impl(res["opt"])

        # Determinism: a fresh model from base/ + initial/ gives bitwise the same run.
        torch.manual_seed(SEED)
        again = train(load_task(spec, init_dir, weight), spec, batches)
        checks["rerun_from_initial_bitwise_equal"] = (
            again["losses"] == res["losses"] and again["grad_norms"] == res["grad_norms"]
            and again["learning_rates"] == res["learning_rates"]
            and all(torch.equal(again["final"][k], res["final"][k]) for k in res["final"]))
        if not checks["rerun_from_initial_bitwise_equal"]:
            raise CheckFailed("re-running from initial/ is not bitwise identical")
        # Informational: transformers' default optim for torch >= 2.8 (adamw_torch_fused).
        if name in FUSED_COMPARISON:
            alt = train(load_task(spec, init_dir, weight), spec, batches, opt_kwargs={"fused": True})
            checks["adamw_fused_final_weights_max_abs_diff"] = max_weight_diff(alt["final"], res["final"])
            checks["adamw_fused_losses_max_abs_diff"] = max(abs(a - b) for a, b in zip(alt["losses"], res["losses"]))
        # The real transformers.Trainer on the same micro-batches (optim adamw_torch): identical for grad_accum 1.
        checks["hf_trainer"] = hf_trainer_run(spec, init_dir, weight, batches, res)
        if spec["gradient_accumulation_steps"] == 1 and not checks["hf_trainer"]["bitwise_equal"]:
            raise CheckFailed(f"transformers.Trainer differs from the explicit loop: {checks['hf_trainer']}")
        if spec["shadow_case"] == "gpt2":
            checks["gpt2_c_attn_bias_grad_abs_max_q_k_v"] = c_attn_bias_grad(spec, init_dir, weight, batches)
        margin = min(abs(g - spec["max_grad_norm"]) for g in res["grad_norms"]) / spec["max_grad_norm"]
        checks["clip_threshold_min_relative_margin"] = margin
        if margin < 1e-3:
            raise CheckFailed(f"a grad norm is within 0.1% of max_grad_norm: {res['grad_norms']}")

        # Training moved the weights; saved checkpoints reload to the in-memory weights.
        last = os.path.join(case_dir, f"after_{n_steps}")
        same, _ = files_equal(init_dir, last)
        checks["after_last_differs_from_initial"] = not same
        if same:
            raise CheckFailed(f"after_{n_steps}/ equals initial/")
        saved = {}
        for f in ("shadow_adapter.safetensors", "shadow_modules.safetensors"):
            p = os.path.join(last, f)
            if os.path.exists(p):
                saved.update(load_file(p))
        checks["after_last_equals_in_memory_weights"] = all(
            torch.equal(saved[name2key[n]], t) for n, t in res["final"].items())
        if not checks["after_last_equals_in_memory_weights"]:
            raise CheckFailed(f"after_{n_steps}/ does not hold the trained weights")
        checks["after_1_equals_initial"] = files_equal(init_dir, os.path.join(case_dir, "after_1"))[0]
        if checks["after_1_equals_initial"] != (res["learning_rates"][0] == 0.0):
            raise CheckFailed("after_1/ == initial/ should hold exactly when the first lr is 0")

        losses = res["losses"]
        checks["mean_first3_loss"] = sum(losses[:3]) / 3
        checks["mean_last3_loss"] = sum(losses[-3:]) / 3
        if not checks["mean_last3_loss"] < checks["mean_first3_loss"]:
            raise CheckFailed(f"loss did not decrease: {losses}")
        clipped = [g > spec["max_grad_norm"] for g in res["grad_norms"]]
        if name == "llama_linear" and not any(clipped):
            raise CheckFailed(f"no step clipped: {res['grad_norms']}")
        if name == "llama_cosine_noclip" and any(clipped):
            raise CheckFailed(f"a step clipped: {res['grad_norms']}")

        tensors = {}
        for s, micro in enumerate(batches):
            for m, b in enumerate(micro):
                for k, v in b.items():
                    tensors[f"step{s}.micro{m}.{k}"] = v.clone().contiguous()
        save_file(tensors, os.path.join(case_dir, "batches.safetensors"), metadata={"format": "pt"})
        if res["probe"]:
            save_file(res["probe"], os.path.join(case_dir, "optimizer_after_1.safetensors"),
                      metadata={"format": "pt"})

        grad_none = [name2key[n] for n in res["params"] if n not in res["grad_seen"]]
        args = {k: spec[k] for k in ("learning_rate", "weight_decay", "max_grad_norm", "lr_scheduler_type",
                                     "warmup_steps", "gradient_accumulation_steps", "max_steps", "dtype")}
        args.update(COMMON)
        args["shadow_loss_weight"] = weight
        hf_trainer = (
            "transformers.Trainer (5.23) with this model (measured: checks.hf_trainer): model_accepts_loss_kwargs = "
            "True (forward(*args, "
            "labels=None, **kwargs), no accepts_loss_kwargs attribute), so num_items_in_batch = sum over the "
            "step's micro-batches of labels.ne(-100).sum() (unshifted labels: _loss_shifts_labels is False, the "
            "wrapper has no loss_type) is passed to forward and reaches the base model's loss_function "
            "(causal LM: fixed_cross_entropy reduction='sum' / num_items_in_batch; seq_cls: dropped, "
            "GenericForSequenceClassification does not forward **kwargs to its loss_function) but never the shadow "
            "term; training_step then does NOT divide by gradient_accumulation_steps (loss_is_scaled_for_ga). With "
            "grad_accum 1 and labels[:, 0] == -100 this is exactly the loop here (checked bitwise); with grad_accum "
            "> 1 the Trainer weights the causal-LM base term by tokens across micro-batches and the shadow term is "
            "gradient_accumulation_steps times larger, and for seq_cls both terms are (loss and grads x GA). "
            "The Trainer's default optim for torch >= 2.8 is adamw_torch_fused (AdamW(fused=True)); see checks "
            "adamw_fused_* for the difference; checks.hf_trainer is the real Trainer run with optim adamw_torch. "
            "Its logged loss is the sum over micro-batches of the (GA-scaled) "
            "losses; grad_norm and learning_rate are logged as recorded here.")
        return {
            "kind": "training",
            "shadow_case": spec["shadow_case"],
            "task": spec["task"],
            "base_dir": rel(os.path.join(sdir, "base")),
            "shadow_adapter_dir": rel(os.path.join(sdir, "adapter")),
            "initial_dir": rel(init_dir),
            "args": args,
            "data_seed": spec["data_seed"],
            "losses": losses,
            "grad_norms": res["grad_norms"],
            "learning_rates": res["learning_rates"],
            "clipped": clipped,
            "trainable_parameter_names": [name2key[n] for n in res["params"]],
            "trainable_parameter_module_names": {name2key[n]: n for n in res["params"]},
            "decay_parameter_names": [name2key[n] for n in res["decay"]],
            "no_decay_parameter_names": [name2key[n] for n in res["no_decay"]],
            "grad_none_parameter_names": grad_none,
            "optimizer_impl": impl,
            "checkpoints": [f"after_{k}" for k in ckpts],
            "optimizer_after_1": ({"file": "optimizer_after_1.safetensors", "keys": sorted(res["probe"])}
                                  if res["probe"] else None),
            "checks": checks,
            "notes": CASE_NOTES[name] + " Loop and semantics: see make_training_fixtures.py docstring.",
            "hf_trainer_semantics": hf_trainer,
        }
    return fn


# ------------------------------------------------------------------------------------------------ driver

CASES = {name: (SPECS[name]["shadow_case"], training_case(name)) for name in SPECS}


def finish_case(name, family, info):
    versions = {"shadow_peft": getattr(shadow_peft, "__version__", "?"), "transformers": transformers.__version__,
                "torch": torch.__version__}
    return {**info, "versions": versions}


def main(argv):
    if len(argv) >= 2 and argv[1] not in ("-h", "--help"):
        OUT["dir"] = argv[1]
    return run_cases(argv, __doc__.strip().splitlines()[-1], CASES, "training", finish_case)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
