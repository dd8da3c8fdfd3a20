#!/usr/bin/env python3
"""Builds the ShadowPEFT parity fixtures for the C++ tests with the real `shadow_peft` package.

For every case this writes `OUT_DIR/shadow/<case>/`:

- `base/`: the base HF model directory, written by `save_pretrained` BEFORE the model is wrapped (wrapping
  replaces the decoder layers by `_ShadowLayerWrapper`s, which renames the base's state_dict keys);
- `adapter/`: what the task wrapper's `save_pretrained` writes: `shadow_config.json`,
  `shadow_adapter.safetensors` and, when a task head is trainable, `shadow_modules.safetensors`. Before
  saving, every adapter tensor is re-drawn (matrices N(0, 0.2), vectors +N(0, 0.1)): upstream initialises
  `injection_ups` to zero, so an untrained adapter would be a no-op. Trainable heads are perturbed too, so
  the copies in `shadow_modules.safetensors` differ from the base checkpoint and from each other;
- `explicit_shadow/` (explicit-shadow cases only): the shadow model directory as passed (after
  `from_pretrained`) to `ShadowFor*.from_pretrained(..., shadow_model=...)`;
- `reference.safetensors`: the inputs (`input_ids`, `attention_mask`, `position_ids`, `labels`, exactly
  what was passed) and the outputs of the task model loaded back from `base/` + `adapter/`
  (`from_pretrained(..., is_trainable=True)`, then `.eval()`): `logits`, `shadow_logits`, `loss` in
  `base_shadow` mode, `shadow_only.logits` / `shadow_only.loss`, `base.logits` / `base.loss` of the plain
  base model, and `grad.<key>` (adapter parameters, `<key>` as in shadow_adapter.safetensors) /
  `grad_modules.<key>` (task heads, `<key>` as in shadow_modules.safetensors) for every trainable parameter
  after `loss.backward()` in base_shadow mode. Parameters that do not reach the loss (grad None) get a
  zero tensor and are listed in case.json `grad_none`;
- `case.json`: config, tolerances, the exact `print_trainable_parameters()` output, trainable parameter
  names, adapter keys, self-check results and notes on what the C++ side must replicate.

Two further kinds of case: `projected_model` (an `AutoModelForCausalLMWithHiddenProjection` built with
`wrap(init_optimal_projection=True)`, saved to `projected/`) and `qwen3_0_6b_count` (parameter count of an
implicit shadow on a Qwen3-0.6B-sized model built on the meta device; `base/` holds config.json only).

And `cls_from_causal_<family>`: a classifier built from a causal-LM directory by `AutoModelForSequenceClassification.from_pretrained(dir, num_labels=3)` (see `cls_from_causal`).

`OUT_DIR/shadow/index.json` is `{"cases": [...], "skipped": {case: reason}}`.

Everything runs on CPU, single-threaded, float32, eager attention, dropout 0.0, `torch.manual_seed(0)` at
the start of every case. Exit status 0 on success (skipped cases allowed), 1 if a case failed.

Usage: make_shadow_fixtures.py OUT_DIR [CASE ...]   (no case names: all cases)
"""
import contextlib
import json
import os
import re
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_runner import CheckFailed, SkipCase, run_cases  # noqa: E402
from fixture_models import (  # noqa: E402  (imported first: it sets the transformers environment)
    ADAPTER_STD, BASE_STD, FAMILY_MODELS, FP32_TOL, GPT2, GRAD_TOL, LLAMA, PAD_ID, QWEN3, SEED, build_model,
    captured_stdout, cls, file_tensors, finish_with_versions, load_model, make_inputs, model_kwargs, randomize,
    shifted_ce, valid_diff,
)

import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import shadow_peft  # noqa: E402
from shadow_peft import (  # noqa: E402
    AutoModelForCausalLMWithHiddenProjection,
    ShadowConfig,
    ShadowForCausalLM,
    ShadowForSequenceClassification,
    ShadowPeftModel,
    prepare_shadow_model,
)

PERTURB_SEED = 4321
SHADOW_LOSS_WEIGHT = 0.05
ADAPTER_PREFIXES = ("shadow_model", "shadow_hidden_projection", "shadow_injection_model", "shadow_update_model")
PKG = os.path.dirname(shadow_peft.__file__)


# ----------------------------------------------------------------------------------------------- helpers

def adapter_modules(peft):
    return [(pfx, getattr(peft, pfx)) for pfx in ADAPTER_PREFIXES]


def head_modules(task):
    if isinstance(task, ShadowForCausalLM):
        return [("lm_head", task.lm_head), ("shadow_lm_head", task.shadow_lm_head)]
    return [("classifier_head", task.classifier_head), ("shadow_classifier_head", task.shadow_classifier_head)]


def redraw_adapter(peft):
    """Every adapter tensor re-drawn: 2-D/3-D ~ N(0, ADAPTER_STD) (shadow backbone, injection downs/ups,
    gate/transform Linear weights, projection); 1-D += N(0, 0.1) (shadow norms, hidden_norm weight/bias)."""
    for _, m in adapter_modules(peft):
        randomize(m, ADAPTER_STD)


def perturb_heads(task):
    """Trainable heads get N(0, 0.05) noise so lm_head / shadow_lm_head (or the classifier pair) differ
    from each other and from the base checkpoint."""
    with torch.no_grad():
        for _, m in head_modules(task):
            for p in m.parameters():
                if p.requires_grad:
                    p.add_(torch.randn_like(p) * 0.05)


def line_of(relpath, pattern):
    """`file.py:LINE` of the first line matching `pattern` in the installed shadow_peft source."""
    try:
        with open(os.path.join(PKG, relpath)) as f:
            for i, line in enumerate(f, 1):
                if re.search(pattern, line):
                    return f"shadow_peft/{relpath}:{i}"
    except OSError:
        pass
    return f"shadow_peft/{relpath}:?"


# ------------------------------------------------------------------------------------------- base models

SMALL_LLAMA = dict(LLAMA, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                   num_key_value_heads=1, head_dim=8)
SHARED_LLAMA = dict(LLAMA, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
                    num_key_value_heads=1, head_dim=16)

SHADOW_KW = dict(num_shadow_layers=1, injection_hidden_size=8, gate_hidden_size=10, alpha=0.1, dropout=0.0,
                 shadow_intermediate_size=24)


# --------------------------------------------------------------------------------------- shadow task case

def print_trainable(task):
    """The task model's print_trainable_parameters; ShadowForSequenceClassification has none (AttributeError
    in the installed package), so fall back to its ShadowPeftModel's (what ShadowForCausalLM delegates to)."""
    fn = getattr(type(task), "print_trainable_parameters", None)
    return (lambda: fn(task)) if fn is not None else task.peft_model.print_trainable_parameters


def run_task(task, inp, mode, *, grad):
    task.set_inference_mode(mode)
    ctx = contextlib.nullcontext() if grad else torch.no_grad()
    with ctx:
        return task(**model_kwargs(inp))


def trainable_map(task):
    """[(key, file, param)] for every trainable parameter, keyed as in the saved files."""
    out = []
    for pfx, m in adapter_modules(task.peft_model):
        for n, p in m.named_parameters():
            if p.requires_grad:
                out.append((f"{pfx}.{n}", "shadow_adapter.safetensors", p))
    for name, m in head_modules(task):
        for n, p in m.named_parameters():
            if p.requires_grad:
                out.append((f"{name}.{n}", "shadow_modules.safetensors", p))
    # every trainable parameter of the whole task model must be covered exactly once
    seen = {id(p) for _, _, p in out}
    if len(seen) != len(out):
        raise CheckFailed("a trainable parameter is listed twice")
    extra = [n for n, p in task.named_parameters() if p.requires_grad and id(p) not in seen]
    if extra:
        raise CheckFailed(f"trainable parameters outside adapter/heads: {extra}")
    return out


def sensitivity(task, inp, outputs_ref):
    """Perturb one adapter group at a time (in place, restored afterwards) and measure how far logits and
    shadow_logits move over valid positions: proves every path reaches the outputs."""
    peft = task.peft_model
    groups = {}
    for pfx, m in adapter_modules(peft):
        for n, p in m.named_parameters():
            if pfx == "shadow_update_model":
                g = "update." + n.split(".")[0]
            elif pfx == "shadow_injection_model":
                g = "injection." + n
            else:
                g = pfx
            groups.setdefault(g, []).append(p)
    gen = torch.Generator().manual_seed(PERTURB_SEED)
    res = {}
    mask = inp["attention_mask"]
    for g, params in groups.items():
        saved = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p in params:
                p.add_(torch.randn(p.shape, generator=gen) * 0.1)
        out = run_task(task, inp, "base_shadow", grad=False)
        res[g] = {"logits": valid_diff(out.logits, outputs_ref["logits"], mask),
                  "shadow_logits": valid_diff(out.shadow_logits, outputs_ref["shadow_logits"], mask)}
        with torch.no_grad():
            for p, s in zip(params, saved):
                p.copy_(s)
    return res


def recompute_checks(task, inp, ref, so, task_kind):
    """s0 and the losses recomputed by hand from the loaded modules."""
    F = torch.nn.functional
    peft = task.peft_model
    ids, mask, pos, labels = inp["input_ids"], inp["attention_mask"], inp["position_ids"], inp["labels"]
    shares = peft._shadow_supports_inputs_embeds and (not peft._explicit_shadow_model
                                                      or peft._explicit_share_base_embeddings)
    out = {}
    with torch.no_grad():
        if shares:
            emb_mod = peft.base_model.get_input_embeddings()
            emb = F.embedding(ids, emb_mod.weight)
            scale = getattr(emb_mod, "embed_scale", None)
            if scale is not None:  # Gemma: GemmaTextScaledWordEmbedding multiplies inside the embedding
                emb = emb * scale.to(emb.dtype)
            h = peft.shadow_model(inputs_embeds=emb, attention_mask=mask, position_ids=pos, use_cache=False)
        else:
            h = peft.shadow_model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
        s0 = peft.shadow_hidden_projection(h.last_hidden_state)
        if task_kind == "causal_lm":
            sl = task.shadow_lm_head(s0)
            out["shadow_logits_recomputed_max_abs_diff"] = (sl - ref["shadow_logits"]).abs().max().item()
            loss = shifted_ce(ref["logits"], labels) + SHADOW_LOSS_WEIGHT * shifted_ce(ref["shadow_logits"], labels)
            out["loss_formula_max_abs_diff"] = (loss - ref["loss"]).abs().item()
            out["shadow_only_loss_formula_max_abs_diff"] = (shifted_ce(so.logits, labels) - so.loss).abs().item()
        else:
            idx = (mask.sum(1) - 1).clamp(min=0)
            out["shadow_pool_indices"] = idx.tolist()
            last_real = torch.tensor([int(mask[b].nonzero()[-1]) for b in range(mask.shape[0])])
            out["base_pool_indices"] = last_real.tolist()
            sl = task.shadow_classifier_head(s0[torch.arange(s0.shape[0]), idx])
            out["shadow_logits_recomputed_max_abs_diff"] = (sl - ref["shadow_logits"]).abs().max().item()
            alt = task.shadow_classifier_head(s0[torch.arange(s0.shape[0]), last_real])
            out["shadow_logits_if_pooled_at_last_real_token_max_abs_diff"] = (
                alt - ref["shadow_logits"]).abs().max().item()
            loss = F.cross_entropy(ref["logits"], labels) + SHADOW_LOSS_WEIGHT * F.cross_entropy(ref["shadow_logits"],
                                                                                                   labels)
            out["loss_formula_max_abs_diff"] = (loss - ref["loss"]).abs().item()
            out["shadow_only_loss_formula_max_abs_diff"] = (F.cross_entropy(so.logits, labels) - so.loss).abs().item()
    for k, v in out.items():
        if k.endswith("_max_abs_diff") and "if_pooled" not in k and v > 1e-5:
            raise CheckFailed(f"{k} = {v}: the package does not do what the notes say")
    return out


def shadow_case(case_dir, *, family, task_kind, base_spec, shadow_kw, explicit=None, notes=""):
    """base_spec: (config_cls, model_cls, kwargs). explicit: None or dict(build=fn() -> model to save in
    explicit_shadow/, load=fn(dir) -> shadow_model argument, model_cls=...)."""
    torch.manual_seed(SEED)
    config_cls, model_cls, base_kw = base_spec
    task_cls = ShadowForCausalLM if task_kind == "causal_lm" else ShadowForSequenceClassification
    base_dir = os.path.join(case_dir, "base")
    adapter_dir = os.path.join(case_dir, "adapter")
    explicit_dir = os.path.join(case_dir, "explicit_shadow")
    inp = make_inputs(task_kind)
    checks = {}

    base = build_model(config_cls, model_cls, base_kw)
    base.save_pretrained(base_dir)

    shadow_arg = None
    if explicit is not None:
        src = explicit["build"]()
        src.save_pretrained(explicit_dir)
        shadow_arg = explicit["load"](explicit_dir, "eager")

    # Plain base model, as loaded from base/.
    base_ref = load_model(model_cls, base_dir)
    with torch.no_grad():
        bout = base_ref(**model_kwargs(inp))
    base_logits, base_loss = bout.logits.detach(), bout.loss.detach()

    # Wrap the in-memory base, make the adapter non-trivial, save.
    cfg = ShadowConfig(**shadow_kw)
    peft = ShadowPeftModel(base, cfg, shadow_model=shadow_arg)
    task = task_cls(peft, shadow_loss_weight=SHADOW_LOSS_WEIGHT)
    _, print_fresh = captured_stdout(print_trainable(task))
    redraw_adapter(peft)
    perturb_heads(task)
    task.eval()
    task.save_pretrained(adapter_dir)
    out_mem = run_task(task, inp, "base_shadow", grad=False)

    def load_task(is_trainable, attn="eager"):
        """base/ + adapter/ (+ explicit_shadow/) loaded back the way a user does it; eval mode."""
        shadow = explicit["load"](explicit_dir, attn) if explicit is not None else None
        t, stdout = captured_stdout(task_cls.from_pretrained, load_model(model_cls, base_dir, attn), adapter_dir,
                             is_trainable=is_trainable, shadow_model=shadow,
                             shadow_loss_weight=SHADOW_LOSS_WEIGHT)
        return t.eval(), stdout

    def grads_of(t):
        tm = trainable_map(t)
        o = run_task(t, inp, "base_shadow", grad=True)
        o.loss.backward()
        return tm, o, {key: p.grad for key, _, p in tm}

    # Reference: load everything back from disk.
    task2, load_stdout = load_task(True)
    _, print_loaded = captured_stdout(print_trainable(task2))
    if print_loaded != print_fresh:
        raise CheckFailed(f"print_trainable_parameters differs after reload: {print_fresh!r} vs {print_loaded!r}")

    tmap, out, raw_grads = grads_of(task2)
    grads, grad_none = {}, []
    for key, fname, p in tmap:
        tag = "grad" if fname == "shadow_adapter.safetensors" else "grad_modules"
        if raw_grads[key] is None:
            grad_none.append(key)
            grads[f"{tag}.{key}"] = torch.zeros_like(p).detach().contiguous()
        else:
            grads[f"{tag}.{key}"] = raw_grads[key].detach().clone().contiguous()
    ref = {"logits": out.logits.detach(), "shadow_logits": out.shadow_logits.detach(), "loss": out.loss.detach()}
    so = run_task(task2, inp, "shadow_only", grad=False)

    mask = inp["attention_mask"]
    # self-checks
    checks["in_memory_vs_reloaded_max_abs_diff"] = max(
        (out_mem.logits - ref["logits"]).abs().max().item(),
        (out_mem.shadow_logits - ref["shadow_logits"]).abs().max().item(),
        (out_mem.loss - ref["loss"]).abs().item())
    if checks["in_memory_vs_reloaded_max_abs_diff"] != 0.0:
        raise CheckFailed(f"reloaded task model differs: {checks['in_memory_vs_reloaded_max_abs_diff']}")
    checks["shadow_vs_base_logits_max_abs_diff"] = valid_diff(ref["logits"], base_logits, mask)
    if checks["shadow_vs_base_logits_max_abs_diff"] <= 1e-2:
        raise CheckFailed("the adapter does not change the base logits by more than 1e-2")
    checks["shadow_only_vs_base_shadow_shadow_logits_max_abs_diff"] = (
        so.logits - ref["shadow_logits"]).abs().max().item()
    if checks["shadow_only_vs_base_shadow_shadow_logits_max_abs_diff"] > 1e-6:
        raise CheckFailed("shadow_only logits differ from base_shadow shadow_logits")
    # Independent recomputation of what the package does (documents the semantics in case.json).
    checks.update(recompute_checks(task2, inp, ref, so, task_kind))

    # How far a second valid implementation (transformers' sdpa attention) lands from this eager reference:
    # a floor for the tolerances.
    # (Gemma 2 has no sdpa path: sdpa cannot soft-cap scores.)
    if getattr(cls(base_spec[1]), "_supports_sdpa", True):
        task_sdpa, _ = load_task(True, "sdpa")
        _, out_sdpa, g_sdpa = grads_of(task_sdpa)
        checks["sdpa_vs_eager_valid_logits_max_abs_diff"] = max(
            valid_diff(out_sdpa.logits, ref["logits"], mask),
            valid_diff(out_sdpa.shadow_logits, ref["shadow_logits"], mask),
            (out_sdpa.loss - ref["loss"]).abs().item())
        checks["sdpa_vs_eager_grad_max_abs_diff"] = max(
            (g_sdpa[k] - raw_grads[k]).abs().max().item() for k in raw_grads if raw_grads[k] is not None)
    sens = sensitivity(task2, inp, ref)
    checks["perturbation_sensitivity"] = sens
    weak = [g for g, d in sens.items() if max(d.values()) < 1e-4]
    if weak:
        raise CheckFailed(f"adapter groups that do not move the outputs: {weak}")
    if task_kind == "causal_lm":
        # Loss must not read logits at padded positions: change the PAD tokens' ids, nothing valid moves.
        inp_alt = dict(inp)
        ids_alt = inp["input_ids"].clone()
        ids_alt[mask == 0] = 5
        inp_alt["input_ids"] = ids_alt
        alt = run_task(task2, inp_alt, "base_shadow", grad=False)
        checks["pad_content_change_max_abs_diff"] = max(
            valid_diff(alt.logits, ref["logits"], mask), valid_diff(alt.shadow_logits, ref["shadow_logits"], mask),
            (alt.loss - ref["loss"]).abs().item())
        if checks["pad_content_change_max_abs_diff"] > 1e-5:
            raise CheckFailed(f"valid outputs depend on pad content: {checks['pad_content_change_max_abs_diff']}")
    grad_max = {k: v.abs().max().item() for k, v in grads.items()}
    checks["grad_abs_max_min_over_params_with_grad"] = min(
        v for k, v in grad_max.items() if k.split(".", 1)[1] not in grad_none)
    checks["grad_abs_max_max"] = max(grad_max.values())
    zero_grads = [k for k, v in grad_max.items() if v == 0.0 and k.split(".", 1)[1] not in grad_none]
    if zero_grads:
        checks["params_with_exactly_zero_grad"] = zero_grads

    # reference.safetensors
    tensors = {k: v.contiguous() for k, v in inp.items()}
    tensors.update({"logits": ref["logits"].contiguous(), "shadow_logits": ref["shadow_logits"].contiguous(),
                    "loss": ref["loss"].reshape(()).contiguous(),
                    "shadow_only.logits": so.logits.detach().contiguous(),
                    "shadow_only.loss": so.loss.detach().reshape(()).contiguous(),
                    "base.logits": base_logits.contiguous(), "base.loss": base_loss.reshape(()).contiguous()})
    tensors.update(grads)
    save_file(tensors, os.path.join(case_dir, "reference.safetensors"), metadata={"format": "pt"})

    # what the adapter files hold
    files = {}
    for fname in ("shadow_adapter.safetensors", "shadow_modules.safetensors"):
        path = os.path.join(adapter_dir, fname)
        if os.path.exists(path):
            files[fname] = file_tensors(path)
    adapter_keys = files["shadow_adapter.safetensors"]["keys_in_data_order"]
    for key, fname, _ in tmap:
        if key not in files.get(fname, {}).get("tensors", {}):
            raise CheckFailed(f"trainable {key} is not in {fname}")
    # The same checkpoint loaded for inference (is_trainable=False).
    task_inf, _ = load_task(False)
    _, print_inference = captured_stdout(print_trainable(task_inf))

    with open(os.path.join(adapter_dir, "shadow_config.json")) as f:
        shadow_config_text = f.read()
    shadow_config = json.loads(shadow_config_text)
    if shadow_config_text != json.dumps(shadow_config, indent=2, sort_keys=True) + "\n":
        raise CheckFailed("shadow_config.json is not json.dumps(indent=2, sort_keys=True) + newline")
    peft2 = task2.peft_model
    info = {
        "kind": "shadow",
        "task": task_kind,
        "shadow_config": shadow_config,
        "shadow_config_json_text": shadow_config_text,
        "shadow_loss_weight": SHADOW_LOSS_WEIGHT,
        "explicit": explicit is not None,
        "explicit_shares_base_embeddings": bool(peft2._explicit_share_base_embeddings),
        "shadow_uses_base_embeddings": bool(
            peft2._shadow_supports_inputs_embeds and (not peft2._explicit_shadow_model
                                                      or peft2._explicit_share_base_embeddings)),
        "shadow_backbone_class": type(peft2.shadow_model).__name__,
        "shadow_backbone_config": {k: v for k, v in peft2.shadow_model.config.to_dict().items()
                                   if k in ("hidden_size", "n_embd", "num_hidden_layers", "n_layer",
                                            "intermediate_size", "n_inner", "num_attention_heads", "n_head",
                                            "num_key_value_heads", "head_dim", "sliding_window", "layer_types",
                                            "rms_norm_eps", "layer_norm_epsilon")},
        "shadow_hidden_projection": type(peft2.shadow_hidden_projection).__name__,
        "num_adapter_slots": int(peft2.shadow_injection_model.injection_downs.shape[0]),
        **FP32_TOL, **GRAD_TOL,
        "print_trainable_parameters": print_fresh.rstrip("\n"),
        "print_trainable_parameters_inference": print_inference.rstrip("\n"),
        "trainable_param_names": [k for k, _, _ in tmap],
        "trainable_param_files": {k: f for k, f, _ in tmap},
        "grad_none": grad_none,
        "adapter_keys": adapter_keys,
        "adapter_files": files,
        "from_pretrained_stdout": load_stdout,
        "semantics": semantics(),
        "checks": checks,
        "notes": notes,
    }
    return info


def semantics():
    """What the C++ side must copy, with file:line references into the installed package."""
    L = line_of
    return {
        "layer_loop": (
            f"_ShadowLayerWrapper.forward ({L('peft_model.py', 'if self.layer_idx > 0:')}..."
            f"{L('peft_model.py', 'adapter._shadow_hidden_states = adapter.shadow_update_model')}): base layer i "
            "(0-based, L layers, N = L - 1 slots): if i > 0: h = h + alpha * ((h - s) @ downs[i-1]) @ ups[i-1] "
            f"({L('modules.py', 'delta = hidden_states - shadow_hidden_states')}); h = layer_i(h, ...) with the "
            "base's own mask/rope; if i > 0: x = LayerNorm(h) (ONE shared hidden_norm, eps 1e-5); s = s + "
            "sigmoid(G2(silu(G1 x))) * (T2(silu(T1 x)) - s) with slot i-1 "
            f"({L('modules.py', 'h_in = self.hidden_norm')}). Layer 0 has neither; s starts as s0; the update "
            "after the last layer (slot N-1) is computed but unused. Final base norm + lm_head as usual."),
        "shadow_input": (
            f"{L('peft_model.py', 'share_base = ')}..."
            f"{L('peft_model.py', 'shadow_hidden = self.shadow_hidden_projection')}"
            ": implicit shadows (and explicit ones without input embeddings) get inputs_embeds = "
            "base.get_input_embeddings()(input_ids) (Gemma: that module already multiplies by sqrt(hidden)); an "
            "explicit shadow with its own embeddings gets input_ids. Always the caller's attention_mask and "
            "position_ids, use_cache False. s0 = projection(last_hidden_state) (Identity when hidden sizes "
            "match); the shadow's final norm is included."),
        "implicit_shadow_config": (
            f"{L('model_utils.py', 'cfg = deepcopy.backbone.config.')}..."
            f"{L('model_utils.py', 'shadow = backbone.__class__')}"
            ": deepcopy of the base BACKBONE config; num_hidden_layers = num_shadow_layers; optional "
            "intermediate_size (else ffn_dim / n_inner), num_attention_heads, num_key_value_heads, head_dim "
            "overrides; use_cache False; every other field (rope, eps, sliding_window, layer_types, head_dim) "
            "inherited. Random init (fully replaced by the adapter file)."),
        "embedding_removal": (
            f"{L('peft_model.py', 'supports_inputs_embeds = .inputs_embeds. in sig')}..."
            f"{L('peft_model.py', 'self._remove_embed_tokens.self.shadow_model.')}"
            ": only an attribute literally named embed_tokens is removed (GPT-2's wte stays)."),
        "causal_loss": (
            f"{L('task_models.py', 'loss = loss . self.shadow_loss_weight . _shifted_ce_loss')}: loss = HF base "
            "loss (transformers ForCausalLMLoss: logits.float(), labels shifted left with -100 padding, "
            "cross_entropy ignore_index -100, mean over all non-ignored tokens of the batch) + 0.05 * "
            f"_shifted_ce_loss(shadow_logits, labels) ({L('task_models.py', 'def _shifted_ce_loss')}: same "
            "shift, mean over non-ignored). shadow_logits = shadow_lm_head(s0), s0 = INITIAL shadow state. "
            "shadow_only: logits = shadow_logits, loss = shifted CE only; the base is not run."),
        "seq_cls": (
            f"{L('task_models.py', 'token_counts = attention_mask.long...sum.dim=1. - 1')}: shadow pooled at "
            "index attention_mask.sum(1) - 1 (clamped >= 0) -- a count, not the last real position; base pools at "
            "the rightmost input_ids != pad_token_id. loss = HF base loss (CE, mean) + 0.05 * CE(shadow_logits, "
            f"labels) ({L('task_models.py', 'loss = loss . self.shadow_loss_weight . F.cross_entropy')})."),
        "save": (
            f"{L('peft_model.py', 'def adapter_state_dict')}, {L('peft_model.py', 'def save_pretrained')}: "
            "shadow_adapter.safetensors = state_dict() of shadow_model, shadow_hidden_projection, "
            "shadow_injection_model, shadow_update_model, keys '<prefix>.<key>', tensors detached/cpu/contiguous "
            "in their in-memory dtype, no header metadata; the file lists tensors sorted by key (safetensors "
            f"writer order). Task heads: {L('task_models.py', 'def _save_modules_to_save')} -> "
            "shadow_modules.safetensors only for trainable heads (filtered by modules_to_save when non-empty), "
            f"keys '<head>.<key>'. shadow_config.json: {L('config.py', 'json.dumps.self.to_dict')} "
            "json.dumps(asdict, indent=2, sort_keys=True) + newline."),
        "load": (
            f"{L('peft_model.py', 'def load_adapter_state_dict')}: shadow_model / injection / update loaded "
            "strict=True; shadow_hidden_projection only if the file has such keys (prints 'Loading shadow hidden "
            "projection weights'); then train(is_trainable) and requires_grad set "
            f"({L('peft_model.py', 'peft_model.train.is_trainable.')}). Task heads from shadow_modules.safetensors "
            f"strict per head ({L('task_models.py', 'module.load_state_dict.sub, strict=True.')}); absent -> "
            "shadow head stays a copy of the base head. ShadowConfig.from_dict drops unknown keys."),
        "print_trainable_parameters": (
            f"{L('peft_model.py', 'def print_trainable_parameters')} + {L('model_utils.py', 'def count_parameters')}"
            ": over ShadowPeftModel.parameters() (base incl. its heads + adapter; shared/tied parameters once; the "
            "wrapper's shadow_lm_head / shadow_classifier_head are NOT included). 'Trainable params: {t:,} || "
            "Total params: {n:,} || Trainable%: {100*t/n:.2f}%'. ShadowForCausalLM delegates; "
            "ShadowForSequenceClassification has no such method."),
    }


# ------------------------------------------------------------------------------------------------ cases

COMMON_NOTES = (
    "Inputs: input_ids [2, 9] (real tokens in [1, 128), PAD 0), row 0 left-padded by 3, position_ids = "
    "cumsum(mask) - 1 clamped at 0, passed explicitly (the shadow backbone receives the SAME attention_mask "
    "and position_ids as the base). labels = input_ids with -100 at PAD positions AND at the first real token "
    "of the left-padded row (so no loss term reads logits at a fully masked query row; checks."
    "pad_content_change_max_abs_diff proves the outputs at valid positions and the loss do not depend on the "
    "PAD content). Adapter re-drawn (matrices N(0, 0.2), 1-D tensors +N(0, 0.1)) so every group moves the "
    "outputs (checks.perturbation_sensitivity; checks.shadow_vs_base_logits_max_abs_diff > 1e-2 vs the plain "
    "base model). Reference = base/ + adapter/ loaded with ShadowFor*.from_pretrained(is_trainable=True) in "
    "eval mode; identical (diff 0) to the in-memory model that was saved. grads: loss.backward() of the "
    "base_shadow loss. The update slot N-1 (after the last base layer) is computed but never used, so its "
    "gate/transform weights get no gradient (grad_none; stored as zeros). ")


def implicit(family, extra_notes, **shadow_over):
    def fn(d):
        kw = dict(SHADOW_KW, **shadow_over)
        return shadow_case(d, family=family, task_kind="causal_lm", base_spec=FAMILY_MODELS[family],
                           shadow_kw=kw, notes=COMMON_NOTES + extra_notes)
    return fn


CASE_NOTES = {
    "llama": "Implicit shadow: LlamaModel with num_hidden_layers 1, intermediate_size 24 (other config fields "
             "copied from the base backbone config), embed_tokens removed (shadow fed base embed_tokens(ids)).",
    "llama_heads": "modules_to_save [lm_head, shadow_lm_head]: both heads trainable and written to "
                   "shadow_modules.safetensors (keys lm_head.weight, shadow_lm_head.weight). Both were perturbed "
                   "after wrapping, so lm_head.weight in shadow_modules.safetensors differs from lm_head.weight in "
                   "base/model.safetensors: the C++ loader must replace the base lm_head with it (task "
                   "from_pretrained loads recognised heads strictly after the adapter). base.logits / base.loss "
                   "are the plain base with the ORIGINAL lm_head. print_trainable_parameters counts lm_head "
                   "(it lives inside base_model) but NOT shadow_lm_head (a task-wrapper attribute). Shadow "
                   "overrides: num_shadow_layers 2, num_attention_heads 2, num_key_value_heads 1, head_dim 16 "
                   "(model_utils._set_* write these fields on the deep-copied backbone config: q_proj [32, 32], "
                   "k_proj/v_proj [16, 32], o_proj [32, 32]).",
    "qwen2": "Implicit Qwen2Model shadow (q/k/v biases, 1 layer, MLP 24).",
    "qwen3": "Implicit Qwen3Model shadow: head_dim 16 != hidden/heads (q_proj [64, 32]), q_norm/k_norm [16]. "
             "The shadow config keeps the base's layer_types list (length 4) with num_hidden_layers 1; only "
             "layer_types[0] is used.",
    "mistral": "Implicit MistralModel shadow: the copied config keeps sliding_window 4, so the shadow backbone "
               "uses the same sliding-window mask (T = 9 > 4) as the base.",
    "gemma": "Gemma: base embed_tokens is GemmaTextScaledWordEmbedding (transformers 5.x), whose forward "
             "already multiplies by sqrt(hidden_size) (a fp32 scalar buffer cast to the weight dtype). The "
             "shadow backbone receives inputs_embeds = base.embed_tokens(ids) = E[ids] * sqrt(32) and GemmaModel "
             "does not scale inputs_embeds again: scaled exactly once. Base lm_head is tied to embed_tokens; "
             "shadow_lm_head is an untied deepcopy (frozen here, default modules_to_save []). Shadow norms are "
             "GemmaRMSNorm (1 + w).",
    "gemma2": "Gemma 2: sandwich (1 + w) RMSNorms, q·k scaled by query_pre_attn_scalar^-0.5 (16), attention "
              "scores soft-capped (cap 5) and sliding_window 4 on the layers layer_types marks [sliding, full, "
              "sliding, full]; the implicit shadow keeps layer 0 (sliding). The base logits are soft-capped (cap "
              "3); shadow_logits come from shadow_lm_head, an nn.Linear copy of the head, NOT capped.",
    "gemma3": "Gemma 3 text: Gemma 2's layer plus (1 + w) q/k norms and one RoPE per layer type (sliding "
              "layers theta 10000, full layers 1e6 with linear scaling 8); layer_types [sliding, full, sliding, "
              "full]. The implicit shadow keeps layer 0 (sliding, local RoPE).",
    "smollm3": "SmolLM3 with no_rope_layers [0, 1, 1, 0]: layers 0 and 3 of the base and the shadow's only "
               "layer (layer 0 of the copied list) attend without RoPE; tied embeddings.",
    "olmo2": "OLMo 2: post-norms only (post_attention_layernorm, post_feedforward_layernorm) and q/k RMSNorms "
             "over all heads; the implicit Olmo2Model shadow has the same layer.",
    "phi3": "Phi-3: fused qkv_proj / gate_up_proj in the base and adapter files (the shadow is a Phi3Model, so "
            "its adapter tensors are fused too), partial rotary 0.5 and LongRoPE (original context 8 < T = 9: long "
            "factors).",
    "gpt2": "GPT-2: _remove_embed_tokens only looks for an attribute named `embed_tokens`, GPT2Model has "
            "`wte`/`wpe`, so NOTHING is removed: shadow_model.wte.weight [128, 32] and shadow_model.wpe.weight "
            "[64, 32] are both in the adapter file and trainable. GPT2Model.forward accepts inputs_embeds, so "
            "the shadow is fed the BASE token embeddings (base transformer.wte(ids)); shadow_model.wte is never "
            "used (grad None -> listed in grad_none, zeros stored) while the shadow's OWN wpe is added "
            "(wpe(position_ids), position_ids as passed). Shadow MLP width comes from n_inner (=24; GPT2Config "
            "has no intermediate_size). Base dropouts set to 0.",
    "opt": "OPT: the shadow is an OPTModel, whose layers sit under `decoder`, so _remove_embed_tokens (an "
           "attribute of the backbone itself) removes nothing: shadow_model.decoder.embed_tokens.weight stays in "
           "the adapter file, unused (the shadow is fed the base's embed_tokens(ids)), while the shadow's own "
           "decoder.embed_positions adds its learned positions (offset 2). Without position_ids (the forward "
           "here) both OPT decoders count positions over the real tokens of the attention mask. Shadow MLP "
           "width from ffn_dim (24).",
    "qwen3_moe": "Qwen3-MoE base (layers 0, 2, 3 MoE with 4 experts, top-2, renormalised; layer 1 dense via "
                 "mlp_only_layers [1]). The implicit shadow's only layer is an MoE layer: shadow_intermediate_size "
                 "24 sets intermediate_size (dense layers only), the experts keep moe_intermediate_size 16. The "
                 "adapter holds the shadow's experts stacked as transformers' modules do "
                 "(shadow_model.layers.0.mlp.experts.gate_up_proj [4, 32, 32], down_proj [4, 32, 16]) and the "
                 "router shadow_model.layers.0.mlp.gate.weight [4, 32]; the frozen base's router has no auxiliary "
                 "loss (output_router_logits false).",
    "mixtral": "Mixtral base (every layer MoE, 4 experts, top-2, sliding_window 4). The implicit shadow is a "
               "1-layer MixtralModel whose experts have width shadow_intermediate_size 24 (Mixtral's "
               "intermediate_size is the expert width); adapter experts stacked (gate_up_proj [4, 48, 32]).",
    "gpt_oss": "GPT-OSS base (sinks, sliding/full layers, YaRN, 4 experts top-2 with biases and the clamped "
               "SwiGLU). The implicit shadow is a 1-layer GptOssModel (layer_types[0]: sliding) whose experts have "
               "width 24; the adapter keeps transformers' layout: shadow_model.layers.0.mlp.router.{weight,bias}, "
               "experts.gate_up_proj [4, 32, 48] ([E, H, 2I], gate/up interleaved), gate_up_proj_bias [4, 48], "
               "down_proj [4, 24, 32], down_proj_bias [4, 32], self_attn.sinks [4].",
    "llama4": "Llama 4 text base (chunks of 4 on RoPE layers with L2 q/k norms, NoPE layers with temperature tuning, "
              "MoE with a shared expert on layers 1 and 3). The implicit shadow is a 1-layer Llama4TextModel: layer 0 "
              "of the copied lists, a dense chunked RoPE layer of intermediate_size_mlp 48 (shadow_intermediate_size "
              "24 sets intermediate_size, the experts' width, which a dense layer 0 does not use).",
}


VISION_QWEN3_VL = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32,
                       deepstack_visual_indexes=[0], patch_size=4, spatial_merge_size=2, temporal_patch_size=2)


def case_qwen3_vl(d):
    """shadow-peft cannot wrap a Qwen3-VL model (its backbone has no ModuleList of decoder layers). For text,
    the language model of a Qwen3-VL checkpoint computes what a Qwen3ForCausalLM with the same weights does,
    so the reference is shadow-peft on that Qwen3 twin; base/ then holds the Qwen3-VL checkpoint."""
    import shutil
    r = implicit("qwen3", "")(d)
    base_dir = os.path.join(d, "base")
    twin = load_model("Qwen3ForCausalLM", base_dir)
    c = twin.config
    text = dict(vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
                num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
                num_key_value_heads=c.num_key_value_heads, head_dim=c.head_dim, rms_norm_eps=c.rms_norm_eps,
                max_position_embeddings=c.max_position_embeddings, attention_dropout=0.0,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 2, 2],
                                 "mrope_interleaved": True})
    torch.manual_seed(SEED)
    vl = cls("Qwen3VLForConditionalGeneration")(cls("Qwen3VLConfig")(
        text_config=text, vision_config=VISION_QWEN3_VL, tie_word_embeddings=c.tie_word_embeddings,
        bos_token_id=c.bos_token_id, eos_token_id=c.eos_token_id))
    randomize(vl, BASE_STD)
    vl.model.language_model.load_state_dict(twin.model.state_dict())
    vl.lm_head.load_state_dict(twin.lm_head.state_dict())
    vl = vl.float().eval()
    inp = make_inputs("causal_lm")
    with torch.no_grad():
        kw = model_kwargs(inp, with_labels=False)
        valid = kw["attention_mask"].bool()  # padded positions hold whatever each implementation left there
        diff = (vl(**kw).logits[valid] - twin(**kw).logits[valid]).abs().max().item()
    if diff > 1e-5:
        raise CheckFailed(f"the Qwen3-VL language model differs from its Qwen3 twin by {diff}")
    shutil.rmtree(base_dir)
    vl.save_pretrained(base_dir)
    r["checks"]["qwen3_vl_vs_qwen3_twin_logits_max_abs_diff"] = diff
    r["notes"] = ("Qwen3-VL base (Qwen3VLForConditionalGeneration: the language model under model.language_model.*, "
                  "a vision encoder under model.visual.*, interleaved MRoPE that reduces to 1-D RoPE for text). "
                  "shadow-peft cannot wrap it (no decoder ModuleList on its backbone), so every reference output is "
                  "shadow-peft's on the Qwen3ForCausalLM twin holding the same language-model weights "
                  "(checks.qwen3_vl_vs_qwen3_twin_logits_max_abs_diff: the two bases agree); the implicit shadow is "
                  "a 1-layer Qwen3 model. " + r.get("notes", ""))
    return r


def case_llama_heads(d):
    kw = dict(SHADOW_KW, num_shadow_layers=2, shadow_num_attention_heads=2, shadow_num_key_value_heads=1,
              shadow_head_dim=16, modules_to_save=["lm_head", "shadow_lm_head"])
    return shadow_case(d, family="llama", task_kind="causal_lm", base_spec=FAMILY_MODELS["llama"], shadow_kw=kw,
                       notes=COMMON_NOTES + CASE_NOTES["llama_heads"])


def case_explicit_projected(d):
    def build():
        return build_model("LlamaConfig", "LlamaForCausalLM", SMALL_LLAMA)

    def load(p, attn):
        return load_model("LlamaForCausalLM", p, attn)

    notes = (COMMON_NOTES + "Explicit shadow: explicit_shadow/ is a LlamaForCausalLM with hidden 16 (2 layers, "
             "2 heads, 1 kv head, head_dim 8, MLP 32, own embed_tokens, own lm_head). ShadowPeftModel keeps only "
             "its backbone (.model = LlamaModel; the explicit lm_head is dropped) and keeps its embed_tokens "
             "(explicit + embeddings present -> no sharing: the shadow is called with input_ids, not base "
             "embeddings). Hidden 16 != 32 -> shadow_hidden_projection = Linear(16, 32, bias=False), "
             "s0 = projection(shadow_backbone(...).last_hidden_state). The adapter's shadow_model.* tensors "
             "(re-drawn after wrapping) REPLACE the weights of explicit_shadow/ (strict load): explicit_shadow/ "
             "only supplies the architecture/config; the C++ side must load the adapter tensors over it.")
    return shadow_case(d, family="llama", task_kind="causal_lm", base_spec=FAMILY_MODELS["llama"],
                       shadow_kw=dict(SHADOW_KW), explicit={"build": build, "load": load}, notes=notes)


def case_explicit_shared_embeddings(d):
    def build():
        return build_model("LlamaConfig", "LlamaForCausalLM", SHARED_LLAMA)

    def load(p, attn):
        return prepare_shadow_model(load_model("LlamaForCausalLM", p, attn), remove_embed_tokens=True)

    # Probe: does the installed stack support this mode at all?
    probe = prepare_shadow_model(build_model("LlamaConfig", "LlamaForCausalLM", SHARED_LLAMA),
                                 remove_embed_tokens=True)
    try:
        got = probe.get_input_embeddings()
        probe_err = None if got is None else f"get_input_embeddings() returned {type(got).__name__}"
    except Exception as e:  # noqa: BLE001
        probe_err = f"{type(e).__name__}: {e}"
    if probe_err is not None:
        peft = ShadowPeftModel(build_model("LlamaConfig", "LlamaForCausalLM", LLAMA), ShadowConfig(**SHADOW_KW),
                               shadow_model=probe)
        inp = make_inputs("causal_lm")
        try:
            with torch.no_grad():
                peft(**model_kwargs(inp, with_labels=False))
            fwd = "forward unexpectedly ran"
        except Exception as e:  # noqa: BLE001
            fwd = f"{type(e).__name__}: {e}"
        raise SkipCase(
            "prepare_shadow_model(remove_embed_tokens=True) sets LlamaModel.embed_tokens = None, but in "
            f"transformers {transformers.__version__} LlamaModel.get_input_embeddings() then raises ({probe_err}) "
            "instead of returning None. ShadowPeftModel.__init__ swallows that exception "
            f"({line_of('peft_model.py', 'if callable.get_inp. and get_inp.. is None')}), so "
            "_explicit_share_base_embeddings stays False, the shadow backbone is called with input_ids and its "
            f"missing embed_tokens fails the forward ({fwd}). Explicit embedding sharing is unusable with the "
            "installed packages, so there is no reference to record.")

    notes = (COMMON_NOTES + "Explicit shadow with shared embeddings: explicit_shadow/ is a LlamaForCausalLM "
             "with hidden 32 (2 layers, 2 heads, 1 kv head, head_dim 16, MLP 48). It is passed as "
             "prepare_shadow_model(model, remove_embed_tokens=True) -> LlamaModel with embed_tokens = None; "
             "get_input_embeddings() is None -> _explicit_share_base_embeddings -> the shadow is fed "
             "base.embed_tokens(ids). Equal hidden sizes -> shadow_hidden_projection = Identity (no tensor). "
             "No shadow_model.embed_tokens in the adapter; explicit_shadow/'s embed_tokens and lm_head are "
             "unused and its layer weights are replaced by the adapter's shadow_model.* tensors.")
    return shadow_case(d, family="llama", task_kind="causal_lm", base_spec=FAMILY_MODELS["llama"],
                       shadow_kw=dict(SHADOW_KW), explicit={"build": build, "load": load}, notes=notes)


PROJ_DIR_NAME = "projected_src"


def build_projected(small, large):
    proj = nn.Linear(16, 32, bias=False)
    wrapped, stdout = captured_stdout(AutoModelForCausalLMWithHiddenProjection.wrap, shadow_model=small,
                               shadow_hidden_projection=proj, lm_head=large.lm_head, init_optimal_projection=True,
                               reference_lm_head=small.lm_head)
    return wrapped, stdout


def case_explicit_projected_wrapper(d):
    def build():
        small = build_model("LlamaConfig", "LlamaForCausalLM", SMALL_LLAMA)
        large = build_model("LlamaConfig", "LlamaForCausalLM", dict(LLAMA, num_hidden_layers=1))
        wrapped, _ = build_projected(small, large)
        return wrapped

    def load(p, attn):
        return AutoModelForCausalLMWithHiddenProjection.from_pretrained(p, attn_implementation=attn).eval()

    notes = (COMMON_NOTES + "Explicit shadow given as an AutoModelForCausalLMWithHiddenProjection (the "
             "robot-dog notebook pattern): explicit_shadow/ is that model's save_pretrained dir (config "
             "model_type causal_lm_with_hidden_projection, shadow_model.* LlamaModel hidden 16 incl. embed_tokens, "
             "shadow_hidden_projection.weight [32, 16], lm_head.weight [128, 32]), loaded with "
             "AutoModelForCausalLMWithHiddenProjection.from_pretrained (defaults freeze_embed_tokens=True, "
             "freeze_lm_head=True). ShadowPeftModel copies its shadow_hidden_projection (later replaced by the "
             "adapter's), unwraps it to the LlamaModel backbone (its lm_head is dropped; the task uses the base "
             "lm_head and a deepcopy as shadow_lm_head) and keeps the backbone's own embed_tokens (no sharing). "
             "Because the embeddings were frozen by from_pretrained, shadow_model.embed_tokens.weight is saved in "
             "the adapter but NOT trainable (ShadowPeftModel.from_pretrained(is_trainable=True) re-enables only "
             "the parameters that were trainable in the projected model). The pinv-initialised projection of "
             "explicit_shadow/ is replaced by the adapter's re-drawn one.")
    return shadow_case(d, family="llama", task_kind="causal_lm", base_spec=FAMILY_MODELS["llama"],
                       shadow_kw=dict(SHADOW_KW), explicit={"build": build, "load": load}, notes=notes)


def case_seq_cls(d):
    kw = dict(LLAMA, num_labels=3, pad_token_id=0)
    notes = (COMMON_NOTES.replace("row 0 left-padded by 3", "row 0 left-padded by 3, row 1 right-padded by 2")
             + "Sequence classification: base LlamaForSequenceClassification (num_labels 3, pad_token_id 0, "
             "score = Linear(32, 3, bias=False)); labels [2] int64 = [2, 0]. Default modules_to_save [] -> BOTH "
             "heads trainable (classifier_head = base.score, shadow_classifier_head = deepcopy) and saved in "
             "shadow_modules.safetensors (classifier_head.weight, shadow_classifier_head.weight); both perturbed, "
             "so classifier_head.weight there differs from score.weight in base/: C++ must load it over the base "
             "score. BASE pooling (transformers GenericForSequenceClassification): rightmost token with "
             "input_ids != pad_token_id -> row 0: index 8, row 1: index 6. SHADOW pooling "
             "(task_models.ShadowForSequenceClassification.forward): index = attention_mask.sum(1) - 1 clamped "
             ">= 0, i.e. the COUNT of real tokens minus one, NOT the last real position: row 0 (left-padded, 6 "
             "real tokens) -> index 5 (the 3rd real token), row 1 (right-padded, 7 real) -> index 6. "
             "shadow_logits = shadow_classifier_head(s0[b, idx]) (initial shadow state s0, not the evolved one). "
             "loss = base HF loss (CE over pooled base logits, mean over batch) + 0.05 * CE(shadow_logits, "
             "labels) (mean); shadow_only: logits = shadow_logits, loss = CE(shadow_logits, labels). "
             "print_trainable_parameters counts classifier_head (inside base_model) but not "
             "shadow_classifier_head; with is_trainable=False the heads still become trainable (the wrapper "
             "constructor re-enables them), see print_trainable_parameters_inference. The pad-content check is "
             "not run (changing PAD ids would move the base's pad_token_id pooling).")
    return shadow_case(d, family="llama", task_kind="seq_cls",
                       base_spec=("LlamaConfig", "LlamaForSequenceClassification", kw),
                       shadow_kw=dict(SHADOW_KW), notes=notes)


def case_projected_model(d):
    torch.manual_seed(SEED)
    small = build_model("LlamaConfig", "LlamaForCausalLM", SMALL_LLAMA)
    large = build_model("LlamaConfig", "LlamaForCausalLM", dict(LLAMA, num_hidden_layers=1))
    small.save_pretrained(os.path.join(d, "small"))
    large.save_pretrained(os.path.join(d, "large"))
    # wrap() the in-memory models (identical weights to small/ and large/; a reloaded config would carry
    # _name_or_path = OUT_DIR into projected/config.json).
    wrapped, stdout = build_projected(small, large)
    wrapped.eval()
    pdir = os.path.join(d, "projected")
    wrapped.save_pretrained(pdir)
    m = re.search(r"Reconstruction error: ([0-9.eE+-]+)", stdout)
    logged_err = float(m.group(1)) if m else None
    P = wrapped.shadow_hidden_projection.weight.detach().clone()
    W_old = small.lm_head.weight.detach().double()
    W_lm = large.lm_head.weight.detach().double()
    err64 = ((W_lm @ P.double() - W_old).norm() / W_old.norm()).item()
    P64 = torch.linalg.pinv(W_lm) @ W_old
    checks = {"logged_reconstruction_error": logged_err, "reconstruction_error_float64": err64,
              "pinv_fp32_vs_fp64_max_abs_diff": (P.double() - P64).abs().max().item()}

    inp = make_inputs("causal_lm")
    with torch.no_grad():
        mem = wrapped(**model_kwargs(inp))
    reloaded = AutoModelForCausalLMWithHiddenProjection.from_pretrained(pdir, attn_implementation="eager").eval()
    auto = transformers.AutoModelForCausalLM.from_pretrained(pdir, attn_implementation="eager").eval()
    with torch.no_grad():
        out = reloaded(**model_kwargs(inp))
        out_auto = auto(**model_kwargs(inp))
        small_out = small(**model_kwargs(inp, with_labels=False))
    mask = inp["attention_mask"]
    # wrap() builds the model with cls(cfg) -> default attention (sdpa); the reference is reloaded with eager.
    checks["in_memory_sdpa_vs_reloaded_eager_valid_max_abs_diff"] = valid_diff(mem.logits, out.logits, mask)
    checks["auto_model_vs_reloaded_max_abs_diff"] = (out_auto.logits - out.logits).abs().max().item()
    checks["auto_model_class"] = type(auto).__name__
    if checks["in_memory_sdpa_vs_reloaded_eager_valid_max_abs_diff"] > 1e-5 or \
            checks["auto_model_vs_reloaded_max_abs_diff"] != 0.0:
        raise CheckFailed("projected model reload differs")
    if not torch.equal(reloaded.shadow_hidden_projection.weight, P):
        raise CheckFailed("saved projection differs from the pinv init")
    checks["projected_vs_small_logits_max_abs_diff"] = valid_diff(out.logits, small_out.logits,
                                                                  inp["attention_mask"])
    trainable = [n for n, p in reloaded.named_parameters() if p.requires_grad]
    tensors = {k: v.contiguous() for k, v in inp.items()}
    tensors.update({"logits": out.logits.contiguous(), "loss": out.loss.reshape(()).contiguous(),
                    "pinv_projection": P.contiguous(), "small.logits": small_out.logits.contiguous()})
    save_file(tensors, os.path.join(d, "reference.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(pdir, "config.json")) as f:
        pcfg = json.load(f)
    notes = (
        "AutoModelForCausalLMWithHiddenProjection.wrap(shadow_model=small (LlamaForCausalLM hidden 16, in "
        "small/), shadow_hidden_projection=Linear(16, 32) (ignored: init_optimal_projection=True), "
        "lm_head=large.lm_head (Linear(32, 128), large/ = 1-layer hidden-32 Llama), init_optimal_projection="
        "True, reference_lm_head=small.lm_head). Pinv init (projected_causal_lm.py wrap): P = "
        "torch.linalg.pinv(W_lm.float()) @ W_old.float(), W_lm = large.lm_head.weight [128, 32], W_old = "
        "small.lm_head.weight [128, 16] -> P [32, 16] assigned as shadow_hidden_projection.weight (stored in "
        "reference as pinv_projection; fp32, default pinv tolerance rtol = eps * max(m, n)); the "
        "shadow_hidden_projection argument is ignored in this mode. The LOGGED 'Reconstruction error' "
        "(reconstruction_error, 6 decimals) is ||out.lm_head.weight @ P - W_old||_F / ||W_old||_F computed "
        "BEFORE lm_head is copied into the new model ("
        f"{line_of('projected_causal_lm.py', 'reconstructed = out.lm_head')} "
        f"vs {line_of('projected_causal_lm.py', 'out.lm_head.load_state_dict')}), i.e. against the freshly "
        "constructed (random nn.Linear default init) lm_head: it is not reproducible and not the real quality "
        "of P (the upstream notebook's logged 1.0156 > 1 fits this). checks.reconstruction_error_float64 "
        "is the true ||W_lm P - W_old|| / ||W_old|| (< 1, as least squares guarantees). Forward: logits = "
        "lm_head(P(small backbone(input_ids).last_hidden_state)); loss = shifted CE mean over labels != -100. "
        "projected/ is a normal HF dir: config.json (model_type causal_lm_with_hidden_projection) + "
        "model.safetensors with shadow_model.* (LlamaModel incl. embed_tokens), shadow_hidden_projection.weight, "
        "lm_head.weight. Reloaded with AutoModelForCausalLMWithHiddenProjection.from_pretrained (and "
        "AutoModelForCausalLM via the import-time registration): identical logits. After from_pretrained the "
        "trainable params are all but shadow_model.embed_tokens.weight and lm_head.weight (freeze defaults). "
        "small.logits = the small model's own logits (differ: its own lm_head vs the projected large head).")
    return {"kind": "projected_model", "task": "causal_lm", "explicit": False, **FP32_TOL,
            "pinv_atol": 1e-4, "pinv_rtol": 1e-4,
            "projected_config": pcfg,
            "projected_files": {"model.safetensors": file_tensors(os.path.join(pdir, "model.safetensors"))},
            "wrap_stdout": stdout, "reconstruction_error": logged_err,
            "trainable_after_from_pretrained": trainable, "checks": checks, "notes": notes}


QWEN3_0_6B = dict(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                  num_attention_heads=16, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True,
                  max_position_embeddings=40960, rms_norm_eps=1e-6,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                  attention_bias=False, hidden_act="silu", bos_token_id=151643, eos_token_id=151645)


def case_qwen3_0_6b_count(d):
    torch.manual_seed(SEED)
    config = cls("Qwen3Config")(**QWEN3_0_6B)
    shadow_kw = dict(num_shadow_layers=1, injection_hidden_size=16, gate_hidden_size=10,
                     shadow_intermediate_size=256)
    try:
        with torch.device("meta"):
            base = cls("Qwen3ForCausalLM")(config)
            n_base = sum(p.numel() for p in base.parameters())
            peft = ShadowPeftModel(base, ShadowConfig(**shadow_kw))
            task = ShadowForCausalLM(peft)
    except Exception as e:  # noqa: BLE001
        raise SkipCase(f"meta-device construction failed: {type(e).__name__}: {e}")
    if not all(p.is_meta for p in task.parameters()):
        raise CheckFailed("some parameters were materialised off the meta device")
    _, s_peft = captured_stdout(peft.print_trainable_parameters)
    _, s_task = captured_stdout(task.print_trainable_parameters)
    if s_peft != s_task:
        raise CheckFailed("task and peft print_trainable_parameters differ")
    os.makedirs(os.path.join(d, "base"), exist_ok=True)
    config.save_pretrained(os.path.join(d, "base"))
    ShadowConfig(**shadow_kw).save_pretrained(os.path.join(d, "adapter_config_only"))
    trainable = sum(p.numel() for p in peft.parameters() if p.requires_grad)
    total = sum(p.numel() for p in peft.parameters())
    groups = {}
    for pfx, m in adapter_modules(peft):
        groups[pfx] = sum(p.numel() for p in m.parameters())
    task_all = sum(p.numel() for p in task.parameters())
    expected = "Trainable params: 9,073,920 || Total params: 605,123,840 || Trainable%: 1.50%"
    checks = {"matches_upstream_notebook": s_peft.strip() == expected}
    if not checks["matches_upstream_notebook"]:
        raise CheckFailed(f"count {s_peft!r} != notebook {expected!r}")
    notes = (
        "Qwen3ForCausalLM with the Qwen3-0.6B config built under `with torch.device('meta')` (no weights; base/ "
        "holds config.json only, adapter_config_only/ the shadow_config.json), wrapped with ShadowPeftModel + "
        "ShadowForCausalLM(ShadowConfig(num_shadow_layers=1, injection_hidden_size=16, gate_hidden_size=10, "
        "shadow_intermediate_size=256); alpha 0.1 and dropout 0.2 are defaults and do not change counts). "
        "ShadowForCausalLM.print_trainable_parameters just calls ShadowPeftModel.print_trainable_parameters, so "
        "both print the same string (checked) = the upstream notebook number. Formula: count_parameters(peft) "
        "over peft.parameters() (deduplicated: tied lm_head/embed_tokens counted once; the task wrapper's "
        "shadow_lm_head deepcopy is NOT inside peft and is not counted); trainable = requires_grad params = "
        "shadow backbone (1 layer, MLP 256, no embed_tokens) + injection (27 x 2 x 1024 x 16) + update "
        "(27 x 4 x 1024 x 10 + LayerNorm 2 x 1024); total = base (596,049,920) + trainable. Format: "
        "f'Trainable params: {t:,} || Total params: {n:,} || Trainable%: {100*t/n:.2f}%' (0.0 when n == 0).")
    return {"kind": "param_count", "task": "causal_lm", "explicit": False,
            "shadow_config": ShadowConfig(**shadow_kw).to_dict(),
            "print_trainable_parameters": s_task.rstrip("\n"),
            "print_trainable_parameters_peft_model": s_peft.rstrip("\n"),
            "counts": {"base_params": n_base, "trainable": trainable, "total": total,
                       "adapter_groups": groups,
                       "task_model_parameters_incl_shadow_lm_head": task_all},
            "checks": checks, "notes": notes}


# ------------------------------------------------------- sequence classification from a causal-LM directory

CLS_FROM_CAUSAL_LABELS = 3
CLS_SCORE_SEED = 2024
CLS_FROM_CAUSAL = {
    # untied: the causal checkpoint stores lm_head.weight, which the classifier ignores
    "llama": ("LlamaConfig", "LlamaForCausalLM", dict(LLAMA, pad_token_id=PAD_ID)),
    # tied like Qwen3-0.6B: no lm_head.weight stored at all
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", dict(QWEN3, tie_word_embeddings=True, pad_token_id=PAD_ID)),
    # GPT2LMHeadModel: no *ForCausalLM name, Conv1D tensors, tied head
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", dict(GPT2, pad_token_id=PAD_ID)),
}


def cls_from_causal(family):
    """A classifier built from a causal-LM directory, as users do with
    `AutoModelForSequenceClassification.from_pretrained(causal_dir, num_labels=3)`.

    Writes `causal/` (the causal LM), `classifier/` (the classifier as transformers saves it, score set to
    `score_weight`), `adapter/` (ShadowForSequenceClassification over it: adapter re-drawn, both heads
    perturbed, so classifier_head in shadow_modules.safetensors differs from score_weight) and
    `reference.safetensors`: inputs (seq_cls padding), `score_weight` (seeded randn * BASE_STD, copied into
    the freshly initialised score), `fresh_score_weight` (transformers' own init, for its std only),
    `base.logits` / `base.loss` (the classifier before wrapping), `logits`, `shadow_logits`, `loss`
    (base_shadow) and `shadow_only.logits` / `shadow_only.loss` of the wrapped model."""
    def fn(d):
        torch.manual_seed(SEED)
        config_cls, model_cls, kw = CLS_FROM_CAUSAL[family]
        causal_dir, clf_dir, adapter_dir = (os.path.join(d, n) for n in ("causal", "classifier", "adapter"))
        inp = make_inputs("seq_cls")
        build_model(config_cls, model_cls, kw).save_pretrained(causal_dir)

        clf = cls("AutoModelForSequenceClassification").from_pretrained(
            causal_dir, num_labels=CLS_FROM_CAUSAL_LABELS, attn_implementation="eager", dtype=torch.float32).eval()
        score = clf.score
        hidden = clf.config.hidden_size if family != "gpt2" else clf.config.n_embd
        if score.bias is not None or tuple(score.weight.shape) != (CLS_FROM_CAUSAL_LABELS, hidden):
            raise CheckFailed(f"unexpected score head {score}")
        fresh = score.weight.detach().clone()
        g = torch.Generator().manual_seed(CLS_SCORE_SEED)
        score_weight = torch.randn(fresh.shape, generator=g) * BASE_STD
        with torch.no_grad():
            score.weight.copy_(score_weight)
        clf.save_pretrained(clf_dir)  # before any forward with labels, which records problem_type in the config
        with torch.no_grad():
            bout = clf(**model_kwargs(inp))

        peft = shadow_peft.get_shadow_model(clf, ShadowConfig(**SHADOW_KW))
        task = ShadowForSequenceClassification(peft, shadow_loss_weight=SHADOW_LOSS_WEIGHT)
        redraw_adapter(peft)
        perturb_heads(task)
        task.eval()
        task.save_pretrained(adapter_dir)
        out = run_task(task, inp, "base_shadow", grad=False)
        so = run_task(task, inp, "shadow_only", grad=False)

        # Self-check: classifier/ + adapter/ loaded back the usual way gives the same outputs.
        loaded = ShadowForSequenceClassification.from_pretrained(
            load_model("AutoModelForSequenceClassification", clf_dir), adapter_dir, is_trainable=True,
            shadow_loss_weight=SHADOW_LOSS_WEIGHT).eval()
        out2 = run_task(loaded, inp, "base_shadow", grad=False)
        reload_diff = max((out.logits - out2.logits).abs().max().item(),
                          (out.shadow_logits - out2.shadow_logits).abs().max().item())
        if reload_diff != 0.0:
            raise CheckFailed(f"classifier/ + adapter/ reloaded differs by {reload_diff}")
        if (out.logits - bout.logits).abs().max().item() <= 1e-2:
            raise CheckFailed("the adapter does not change the classifier logits")

        tensors = {k: v.contiguous() for k, v in inp.items()}
        tensors.update({"score_weight": score_weight.contiguous(), "fresh_score_weight": fresh.contiguous(),
                        "base.logits": bout.logits.detach().contiguous(),
                        "base.loss": bout.loss.detach().reshape(()).contiguous(),
                        "logits": out.logits.detach().contiguous(),
                        "shadow_logits": out.shadow_logits.detach().contiguous(),
                        "loss": out.loss.detach().reshape(()).contiguous(),
                        "shadow_only.logits": so.logits.detach().contiguous(),
                        "shadow_only.loss": so.loss.detach().reshape(()).contiguous()})
        save_file(tensors, os.path.join(d, "reference.safetensors"), metadata={"format": "pt"})
        return {"kind": "seq_cls_from_causal", "task": "seq_cls_from_causal", "num_labels": CLS_FROM_CAUSAL_LABELS,
                "causal_architecture": cls(model_cls).__name__, "classifier_architecture": type(clf).__name__,
                "initializer_range": clf.config.initializer_range, "shadow_loss_weight": SHADOW_LOSS_WEIGHT,
                **FP32_TOL, "adapter_files": {f: file_tensors(os.path.join(adapter_dir, f))
                                              for f in ("shadow_adapter.safetensors", "shadow_modules.safetensors")},
                "checks": {"reloaded_max_abs_diff": reload_diff,
                           "fresh_score_std": fresh.std().item()},
                "notes": "transformers drops the causal head (lm_head.weight when stored), builds score = "
                         "Linear(hidden, num_labels, bias=False) initialised normal(0, initializer_range), writes "
                         "architectures [<Family>ForSequenceClassification] and id2label/label2id LABEL_i. Pooling "
                         "and loss as in the seq_cls case."}
    return fn


# ------------------------------------------------------------------------------------------------ driver

CASES = {
    "llama": ("llama", implicit("llama", CASE_NOTES["llama"])),
    "llama_heads": ("llama", case_llama_heads),
    "qwen2": ("qwen2", implicit("qwen2", CASE_NOTES["qwen2"])),
    "qwen3": ("qwen3", implicit("qwen3", CASE_NOTES["qwen3"])),
    "mistral": ("mistral", implicit("mistral", CASE_NOTES["mistral"])),
    "gemma": ("gemma", implicit("gemma", CASE_NOTES["gemma"])),
    "gemma2": ("gemma2", implicit("gemma2", CASE_NOTES["gemma2"])),
    "gemma3": ("gemma3", implicit("gemma3", CASE_NOTES["gemma3"])),
    "smollm3": ("smollm3", implicit("smollm3", CASE_NOTES["smollm3"])),
    "olmo2": ("olmo2", implicit("olmo2", CASE_NOTES["olmo2"])),
    "phi3": ("phi3", implicit("phi3", CASE_NOTES["phi3"])),
    "gpt2": ("gpt2", implicit("gpt2", CASE_NOTES["gpt2"])),
    "opt": ("opt", implicit("opt", CASE_NOTES["opt"])),
    "qwen3_moe": ("qwen3_moe", implicit("qwen3_moe", CASE_NOTES["qwen3_moe"])),
    "mixtral": ("mixtral", implicit("mixtral", CASE_NOTES["mixtral"])),
    "gpt_oss": ("gpt_oss", implicit("gpt_oss", CASE_NOTES["gpt_oss"])),
    "qwen3_vl": ("qwen3_vl", case_qwen3_vl),
    "llama4": ("llama4_text", implicit("llama4", CASE_NOTES["llama4"])),
    "explicit_projected": ("llama", case_explicit_projected),
    "explicit_shared_embeddings": ("llama", case_explicit_shared_embeddings),
    "explicit_projected_wrapper": ("llama", case_explicit_projected_wrapper),
    "seq_cls": ("llama", case_seq_cls),
    "projected_model": ("llama", case_projected_model),
    "qwen3_0_6b_count": ("qwen3", case_qwen3_0_6b_count),
    **{f"cls_from_causal_{f}": (f, cls_from_causal(f)) for f in CLS_FROM_CAUSAL},
}


finish_case = finish_with_versions("shadow_peft", shadow_peft)


def main(argv):
    return run_cases(argv, __doc__.strip().splitlines()[-1], CASES, "shadow", finish_case)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
