#!/usr/bin/env python3
"""Builds parity fixtures for the C++ tests with Hugging Face `peft`'s LoRA tuner (`peft.LoraConfig`).

The companion of make_peft_fixtures.py (peft's SHADOW tuner): same layout, inputs, conventions and tolerances,
but the adapter is a plain LoRA adapter (`adapter_config.json` + `adapter_model.safetensors`).

For every case this writes `OUT_DIR/lora/<case>/`:

- `base/`: the base HF model directory (tiny, random weights: matrices N(0, 0.2), vectors +N(0, 0.1)), written
  by `save_pretrained` BEFORE the model is wrapped (wrapping turns each targeted module into a `lora.Linear`
  whose original module lives under `<module>.base_layer`);
- `adapter/`: what `PeftModel.save_pretrained` writes for `get_peft_model(base, LoraConfig(...))`. Before saving,
  every trainable parameter is re-drawn (lora_A / lora_B matrices N(0, 0.2); the trainable copy of a
  `modules_to_save` module, e.g. lm_head or score, += N(0, 0.05)): peft zero-initialises lora_B, so an untrained
  adapter would be a no-op;
- `merged/`: `save_pretrained` of `merge_and_unload()` of the reloaded adapter model (a plain transformers
  checkpoint of the same architecture as base/; written for every case, seq_cls included);
- `reference.safetensors` (all tensors float32 or int64, contiguous):
    inputs `input_ids`, `attention_mask`, `position_ids`, `labels` (exactly what was passed);
    outputs of `PeftModel.from_pretrained(<base/ loaded fresh>, adapter/, is_trainable=True).eval()`:
    `logits` ([B,T,V] or [B,num_labels]) and `loss` of one forward with input_ids, attention_mask, position_ids
    and labels; `grad.<key>` for every `<key>` of adapter_model.safetensors: the gradient of the parameter that
    key is saved from after `loss.backward()` of that forward (a parameter whose grad is None gets zeros and is
    listed in case.json `grad_none`); `base.logits` (inside `model.disable_adapter()`); `merged.logits`: the
    `merge_and_unload()` model on the same inputs (no labels); causal-LM cases only: `generate.greedy`
    ([1, P+6] int64): greedy `generate(max_new_tokens=6, do_sample=False)` from the prompt = row 1 of input_ids
    (no padding, P = 9, attention mask all ones) with the PeftModel. EOS is disabled (`eos_token_id=[]`), so
    exactly 6 tokens are generated; self-checked against an uncached greedy loop and against the merged model;
- `case.json`: the LoraConfig kwargs (`lora_config`), the `adapter_config.json` peft wrote (target_modules sorted
  when it is a list: peft stores a set, so the file's order is arbitrary), the exact `print_trainable_parameters()`
  stdout, `trainable_params` / `all_params` (`get_nb_trainable_parameters()`), the saved keys with dtype and shape
  in file (data offset) order, `param_names` (saved key -> in-memory parameter name), `targeted_modules` (names
  of the modules peft replaced by LoRA layers, sorted; relative to the HF model, i.e. without `base_model.model.`),
  `lora_modules` (per targeted module: base class, in/out features, r, scaling, fan_in_fan_out), `scaling`
  ({adapter: lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora}), `grad_none`, tolerances (atol/rtol for
  outputs, grad_atol/grad_rtol for grads), `task` ("causal_lm" / "seq_cls"), the base `architecture`,
  self-check results, any warnings/stdout peft printed, and `notes` on semantics the C++ side must replicate
  (each one verified by a self-check below).

Self-checks (CheckFailed if violated): the reloaded model reproduces the in-memory one exactly; the targeted
modules equal an independent re-implementation of peft's matching rules (exact name / '.'-suffix match,
layers_to_transform, regex fullmatch, "all-linear", modules_to_save exclusion); an independent re-implementation
driven ONLY by the files (base/ + adapter/: keys, adapter_config.json) -- forward hooks adding
`scaling * B(A(x))` to each targeted module and the modules_to_save copies swapped in -- reproduces logits, loss
and every grad; the same files merged by hand (`W += scaling * B @ A`, transposed for Conv1D) reproduce the
`merge_and_unload()` weights; merged logits equal the adapter logits (1e-5); `merged/` reloaded with
AutoModelFor... reproduces `merged.logits`; `base.logits` equals the plain base model; dropout only touches the
LoRA branch input; cached generation equals uncached greedy argmax and the merged model's generation.

`OUT_DIR/lora/index.json` is `{"cases": [...], "skipped": {case: reason}}`.

Everything runs on CPU, single-threaded, float32, eager attention, lora_dropout 0.0, `torch.manual_seed(0)`
at the start of every case. Exit status 0 on success (skipped cases allowed), 1 if a case failed.

Usage: make_lora_fixtures.py OUT_DIR [CASE ...]   (no case names: all cases)
"""
import json
import math
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_runner import CheckFailed, SkipCase, run_cases  # noqa: E402
from fixture_models import (  # noqa: E402  (imported first: it sets the transformers environment)
    GEMMA2, GENERATION, GPT2, LLAMA, NUM_LABELS, PAD_ID, QWEN3, TOL, adapter_vs_base, base_and_inputs, build_model,
    captured, check, cls, finish_with_versions, generate_greedy, greedy_prompt, greedy_uncached, load_model,
    model_kwargs, peft_round_trip, saved_grads,
)

from safetensors.torch import load_file, save_file  # noqa: E402
from transformers.pytorch_utils import Conv1D  # noqa: E402

try:
    import peft  # noqa: E402
    from peft import LoraConfig, get_peft_model  # noqa: E402
    from peft.tuners.lora import LoraLayer  # noqa: E402
    PEFT_IMPORT_ERROR = None
except ImportError as e:  # pragma: no cover - peft missing: every case is skipped
    peft = None
    PEFT_IMPORT_ERROR = str(e)

SAVED_PREFIX = "base_model.model."


def grad_close(a, b):
    """max over elements of |a - b| - (grad_atol + grad_rtol * |b|) (<= 0 means within tolerance)."""
    return ((a - b).abs() - (TOL["grad_atol"] + TOL["grad_rtol"] * b.abs())).max().item()


# ------------------------------------------------------------------------------------------- base models

# name: (config class, model class, Auto class for reloading merged/, config kwargs)
BASES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", "AutoModelForCausalLM", LLAMA),
    "llama_seq_cls": ("LlamaConfig", "LlamaForSequenceClassification", "AutoModelForSequenceClassification",
                      dict(LLAMA, num_labels=NUM_LABELS, pad_token_id=PAD_ID)),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", "AutoModelForCausalLM", QWEN3),
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", "AutoModelForCausalLM", GPT2),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", "AutoModelForCausalLM", GEMMA2),
}


# ------------------------------------------------------------------------------------------ peft helpers

def expected_targets(hf, lora_kw, task):
    """peft's target matching, re-implemented from the notes (compared with what peft actually wrapped):
    - a module whose name matches a modules_to_save entry m (`(^|.*\\.)m($|\\..*)`) is never targeted
      (task SEQ_CLS adds 'classifier' and 'score' to modules_to_save);
    - target_modules == 'all-linear': every nn.Linear / transformers Conv1D except the output embedding
      (get_output_embeddings(), i.e. lm_head) or, when there is none and the task is SEQ_CLS, the first of the
      attributes 'score' / 'classifier' of the model;
    - any other string: re.fullmatch(pattern, module name);
    - a list: name == entry or name ends with '.' + entry; then, with layers_to_transform, the layer index is the
      first number in the name after `<anything>.<segment>.` (regex `.*?\\.[^.]*\\.(\\d+)\\.`, or with
      layers_pattern p `(?:^|.*?\\.)p\\.(\\d+)\\.`) and must be in layers_to_transform."""
    tm = lora_kw.get("target_modules")
    mts = list(lora_kw.get("modules_to_save") or [])
    if task == "seq_cls":
        mts += ["classifier", "score"]
    excluded_linear = set()
    if tm == "all-linear":
        out_emb = hf.get_output_embeddings()
        if out_emb is not None:
            excluded_linear |= {n for n, m in hf.named_modules() if m is out_emb}
        elif task == "seq_cls":
            for attr in ("score", "classifier"):
                head = getattr(hf, attr, None)
                if head is not None:
                    excluded_linear |= {n for n, m in hf.named_modules() if m is head}
                    break
    layers = lora_kw.get("layers_to_transform")
    pattern = lora_kw.get("layers_pattern")
    out = []
    for name, mod in hf.named_modules():
        if not name or any(re.match(rf"(^|.*\.){m}($|\..*)", name) for m in mts):
            continue
        if tm == "all-linear":
            hit = isinstance(mod, (torch.nn.Linear, Conv1D)) and name not in excluded_linear
        elif isinstance(tm, str):
            hit = re.fullmatch(tm, name) is not None
        elif name in tm:
            hit = True
        else:
            hit = any(name.endswith("." + t) for t in tm)
            if hit and layers is not None:
                rx = rf"(?:^|.*?\.){pattern}\.(?P<idx>\d+)\." if pattern else r".*?\.[^.]*\.(?P<idx>\d+)\."
                mm = re.match(rx, name)
                hit = mm is not None and int(mm["idx"]) in ([layers] if isinstance(layers, int) else layers)
        if hit:
            out.append(name)
    return sorted(out)


def lora_scaling(acfg):
    r, alpha = acfg["r"], acfg["lora_alpha"]
    return alpha / math.sqrt(r) if acfg.get("use_rslora") else alpha / r


def from_files(model_cls, base_dir, adapter_dir):
    """The C++ contract, re-implemented from the files only: base/ loaded plain (frozen); every saved key
    `base_model.model.<module>.lora_{A,B}.weight` becomes a leaf tensor and <module> gets a forward hook
    `out + scaling * (x @ A^T) @ B^T` (same for Conv1D: A is [r, in], B is [out, r]); every other saved key
    `base_model.model.<module>.<param>` replaces that parameter of the base module (modules_to_save copy).
    Returns (model, {saved key: leaf parameter}, {module: (A, B)}, scaling, hook handles)."""
    acfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
    if acfg.get("rank_pattern") or acfg.get("alpha_pattern") or acfg.get("use_dora") or acfg.get("lora_bias"):
        raise CheckFailed("from_files only handles plain LoRA (no rank/alpha patterns, DoRA, lora_bias)")
    sd = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    m = load_model(model_cls, base_dir)
    m.requires_grad_(False)
    scaling = lora_scaling(acfg)
    params, lora = {}, {}
    for k, v in sd.items():
        if not k.startswith(SAVED_PREFIX):
            raise CheckFailed(f"saved key {k} lacks the {SAVED_PREFIX} prefix")
        rest = k[len(SAVED_PREFIX):]
        p = torch.nn.Parameter(v.clone())
        params[k] = p
        mm = re.fullmatch(r"(.+)\.lora_([AB])\.weight", rest)
        if mm:
            lora.setdefault(mm[1], {})[mm[2]] = p
        else:
            path, attr = rest.rsplit(".", 1)
            mod = m.get_submodule(path)
            if tuple(getattr(mod, attr).shape) != tuple(v.shape):
                raise CheckFailed(f"{k}: shape {tuple(v.shape)} vs base {tuple(getattr(mod, attr).shape)}")
            mod._parameters[attr] = p
    handles = []
    for name, ab in lora.items():
        if set(ab) != {"A", "B"} or ab["A"].shape[0] != acfg["r"] or ab["B"].shape[1] != acfg["r"]:
            raise CheckFailed(f"{name}: incomplete or wrong-rank LoRA pair")
        A, Bm = ab["A"], ab["B"]

        def hook(mod, args, out, A=A, Bm=Bm):
            return out + scaling * torch.nn.functional.linear(torch.nn.functional.linear(args[0], A), Bm)
        handles.append(m.get_submodule(name).register_forward_hook(hook))
    return m, params, {n: (ab["A"], ab["B"]) for n, ab in lora.items()}, scaling, handles


def merged_from_files(model_cls, base_dir, adapter_dir):
    """base/ state_dict with W += scaling * (B @ A) for every LoRA pair (transposed when the base module is a
    Conv1D, whose weight is [in, out]) and the modules_to_save copies substituted."""
    m, params, lora, scaling, handles = from_files(model_cls, base_dir, adapter_dir)
    for h in handles:
        h.remove()
    with torch.no_grad():
        for name, (A, Bm) in lora.items():
            mod = m.get_submodule(name)
            delta = (Bm @ A) * scaling
            if isinstance(mod, Conv1D):
                delta = delta.T
            mod.weight.add_(delta)
    return {k: v.detach() for k, v in m.state_dict().items()}


class _Scale(torch.nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s


def dropout_position_check(model, name):
    """Replaces the lora_dropout module of one targeted layer by x*0 and x*2: the base path must be unaffected
    and the LoRA branch must see the replaced input, i.e. out = base_layer(x) + scaling * B(A(dropout(x)))."""
    layer = model.base_model.model.get_submodule(name)
    orig = layer.lora_dropout["default"]
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, layer.in_features, generator=g)
    s = layer.scaling["default"]
    A, Bm = layer.lora_A["default"], layer.lora_B["default"]
    with torch.no_grad():
        base = layer.base_layer(x)
        try:
            layer.lora_dropout["default"] = _Scale(0.0)
            d0 = (layer(x) - base).abs().max().item()
            layer.lora_dropout["default"] = _Scale(2.0)
            d2 = (layer(x) - (base + s * Bm(A(2.0 * x)))).abs().max().item()
        finally:
            layer.lora_dropout["default"] = orig
    return {"module": name, "dropout_module": type(orig).__name__, "zeroed_dropout_vs_base_max_abs_diff": d0,
            "doubled_dropout_vs_formula_max_abs_diff": d2}


def dropout_module_check():
    """lora_dropout > 0 gives nn.Dropout(p) (0.0 gives nn.Identity), checked on a throwaway 1-Linear model."""
    net = torch.nn.Sequential(torch.nn.Linear(4, 4))
    net = peft.inject_adapter_in_model(LoraConfig(target_modules=["0"], lora_dropout=0.1, r=2), net)
    d = net[0].lora_dropout["default"]
    return {"lora_dropout_0.1_module": type(d).__name__, "p": getattr(d, "p", None)}


# --------------------------------------------------------------------------------------------- the case

def lora_case(case_dir, *, base, task, lora_kw, notes, checks_extra=None):
    if peft is None:
        raise SkipCase(f"peft unavailable: {PEFT_IMPORT_ERROR}")
    config_cls, model_cls, auto_cls, base_kw = BASES[base]
    adapter_dir = os.path.join(case_dir, "adapter")
    merged_dir = os.path.join(case_dir, "merged")
    hf, inp, base_dir, plain_logits = base_and_inputs(case_dir, config_cls, model_cls, base_kw, task)
    checks = {}
    expected = expected_targets(hf, lora_kw, task)

    # Wrap, make the adapter non-trivial, save; the reference is everything loaded back from disk.
    # (LoraConfig mutates its target_modules; lora_kw stays as given.)
    cfg = LoraConfig(**json.loads(json.dumps(lora_kw)))
    rt = peft_round_trip(hf, cfg, model_cls, base_dir, adapter_dir, inp)
    model = rt.model
    tuner = model.base_model
    targeted_fresh = sorted(rt.fresh.base_model.targeted_module_names)
    saved_keys = rt.saved_keys
    adapter_config = rt.adapter_config

    # Which modules were wrapped: peft's record, the actual LoraLayers, the saved keys, the independent matcher.
    targeted = sorted(tuner.targeted_module_names)
    lora_layers = {n: m for n, m in tuner.model.named_modules() if isinstance(m, LoraLayer)}
    from_keys = sorted({re.sub(r"\.lora_[AB]\.weight$", "", k[len(SAVED_PREFIX):]) for k in saved_keys
                        if re.search(r"\.lora_[AB]\.weight$", k)})
    lists = {"targeted_module_names (reloaded)": targeted, "targeted_module_names (fresh)": targeted_fresh,
             "LoraLayer modules": sorted(lora_layers), "saved lora keys": from_keys, "expected_targets": expected}
    if any(v != expected for v in lists.values()):
        raise CheckFailed(f"targeted modules disagree: {lists}")
    checks["targeted_modules_agree"] = list(lists)

    # Scaling and per-module facts.
    scale = lora_scaling(adapter_config)
    lora_modules = {}
    for n in targeted:
        lay = lora_layers[n]
        if abs(lay.scaling["default"] - scale) > 0:
            raise CheckFailed(f"{n}: scaling {lay.scaling['default']} != {scale}")
        if type(lay.lora_dropout["default"]).__name__ != "Identity":
            raise CheckFailed(f"{n}: dropout {type(lay.lora_dropout['default']).__name__} for lora_dropout 0")
        lora_modules[n] = {"base_class": type(lay.base_layer).__name__, "in_features": lay.in_features,
                           "out_features": lay.out_features, "r": lay.r["default"], "scaling": lay.scaling["default"],
                           "fan_in_fan_out": lay.fan_in_fan_out,
                           "base_weight_shape": list(lay.base_layer.weight.shape),
                           "base_has_bias": lay.base_layer.bias is not None,
                           "base_bias_requires_grad": (lay.base_layer.bias.requires_grad
                                                       if lay.base_layer.bias is not None else None),
                           "lora_B_has_bias": lay.lora_B["default"].bias is not None}

    # Forward with labels + backward.
    out = model(**model_kwargs(inp))
    grads, grad_none = saved_grads(out, rt)
    logits, loss = out.logits.detach(), out.loss.detach()
    model.zero_grad(set_to_none=True)
    base_logits = adapter_vs_base(rt, inp, logits, loss, plain_logits, checks, "lora_vs_base_logits_max_abs_diff")

    # The C++ contract from the files alone: forward hooks + swapped modules_to_save, logits, loss and grads.
    fm, fparams, _, fscale, handles = from_files(model_cls, base_dir, adapter_dir)
    fout = fm(**model_kwargs(inp))
    fout.loss.backward()
    for h in handles:
        h.remove()
    check(checks, "from_files_scaling_vs_peft_abs_diff", abs(fscale - scale), 0.0)
    check(checks, "from_files_logits_max_abs_diff", (fout.logits.detach() - logits).abs().max().item())
    check(checks, "from_files_loss_abs_diff", (fout.loss.detach() - loss).abs().item())
    fgrads = {k: fparams[k].grad if fparams[k].grad is not None else torch.zeros_like(fparams[k]) for k in saved_keys}
    checks["from_files_grads_max_abs_diff"] = max((fgrads[k] - grads[f"grad.{k}"]).abs().max().item()
                                                  for k in saved_keys)
    worst = max(grad_close(fparams[k].grad if fparams[k].grad is not None else torch.zeros_like(fparams[k]),
                           grads[f"grad.{k}"]) for k in saved_keys)
    check(checks, "from_files_grads_excess_over_grad_tolerance", worst, 0.0)

    # Dropout only enters the LoRA branch.
    dp = dropout_position_check(model, targeted[0])
    checks["dropout_position"] = dp
    if dp["zeroed_dropout_vs_base_max_abs_diff"] != 0.0 or dp["doubled_dropout_vs_formula_max_abs_diff"] > 1e-6:
        raise CheckFailed(f"dropout position assumption wrong: {dp}")

    tensors = {**{k: v.contiguous() for k, v in inp.items()},
               "logits": logits.contiguous(), "loss": loss.reshape(()).contiguous(), **grads,
               "base.logits": base_logits.contiguous()}

    generation, prompt, ones = None, None, None
    if task == "causal_lm":
        prompt, ones = greedy_prompt(inp)
        g = generate_greedy(model, prompt, ones)
        ref = greedy_uncached(model, prompt)
        checks["generate_cached_equals_uncached"] = torch.equal(g, ref)
        if not checks["generate_cached_equals_uncached"]:
            raise CheckFailed(f"cached vs uncached greedy differ: {g.tolist()} vs {ref.tolist()}")
        tensors["generate.greedy"] = g.contiguous()
        generation = GENERATION

    if checks_extra is not None:
        checks.update(checks_extra(model, tuner, inp, tensors, case_dir))

    # Merge (last: merge_and_unload modifies the loaded model in place).
    merged, merge_stdout, merge_warnings = captured(model.merge_and_unload)
    merged.eval()
    with torch.no_grad():
        merged_logits = merged(**model_kwargs(inp, with_labels=False)).logits.detach()
    check(checks, "merged_vs_adapter_logits_max_abs_diff", (merged_logits - logits).abs().max().item())
    manual = merged_from_files(model_cls, base_dir, adapter_dir)
    msd = merged.state_dict()
    if set(manual) != set(msd):
        raise CheckFailed(f"merged state_dict keys differ: {sorted(set(manual) ^ set(msd))}")
    check(checks, "merged_weights_vs_files_merge_max_abs_diff",
          max((manual[k] - msd[k]).abs().max().item() for k in msd), 1e-6)
    if getattr(merged.config, "tie_word_embeddings", False):
        out_emb, in_emb = merged.get_output_embeddings(), merged.get_input_embeddings()
        checks["merged_output_embedding_still_tied"] = out_emb.weight is in_emb.weight
        if not checks["merged_output_embedding_still_tied"]:
            raise CheckFailed("merge_and_unload untied the output embedding")
    tensors["merged.logits"] = merged_logits.contiguous()
    _, msave_stdout, msave_warnings = captured(merged.save_pretrained, merged_dir)
    reloaded = cls(auto_cls).from_pretrained(merged_dir, attn_implementation="eager", dtype=torch.float32).eval()
    if type(reloaded).__name__ != cls(model_cls).__name__:
        raise CheckFailed(f"merged/ reloads as {type(reloaded).__name__}")
    with torch.no_grad():
        rl = reloaded(**model_kwargs(inp, with_labels=False)).logits
    check(checks, "merged_dir_reloaded_vs_merged_logits_max_abs_diff", (rl - merged_logits).abs().max().item(), 0.0)
    if task == "causal_lm":
        gm = generate_greedy(reloaded, prompt, ones)
        checks["merged_generate_equals_generate_greedy"] = torch.equal(gm, tensors["generate.greedy"])
        if not checks["merged_generate_equals_generate_greedy"]:
            raise CheckFailed(f"merged greedy {gm.tolist()} != adapter greedy {tensors['generate.greedy'].tolist()}")
    merged_files = sorted(os.listdir(merged_dir))

    save_file(tensors, os.path.join(case_dir, "reference.safetensors"), metadata={"format": "pt"})

    if isinstance(adapter_config.get("target_modules"), list):
        adapter_config["target_modules"] = sorted(adapter_config["target_modules"])
    if isinstance(adapter_config.get("modules_to_save"), list):
        adapter_config["modules_to_save"] = sorted(adapter_config["modules_to_save"])
    tm_loaded = tuner.peft_config["default"].target_modules
    return {"task": task, "architecture": cls(model_cls).__name__, "lora_config": lora_kw,
            "adapter_config": adapter_config, **rt.info,
            "loaded_config_target_modules": sorted(tm_loaded) if isinstance(tm_loaded, (set, list)) else tm_loaded,
            "loaded_config_modules_to_save": tuner.peft_config["default"].modules_to_save,
            "targeted_modules": targeted,
            "lora_modules": lora_modules, "scaling": {"default": scale},
            "grad_none": grad_none, **TOL, "checks": checks, "generation": generation,
            "merged_files": merged_files,
            "python_output": {**rt.python_output,
                              "merge_and_unload": {"stdout": merge_stdout, "warnings": merge_warnings},
                              "merged_save_pretrained": {"stdout": msave_stdout, "warnings": msave_warnings}},
            "notes": notes}


# ------------------------------------------------------------------------------------------------ notes

COMMON_NOTES = (
    "peft LoRA (peft/tuners/lora), vanilla variant (no DoRA, lora_bias False, bias 'none', init_lora_weights "
    "True). Each targeted module M (nn.Linear, or transformers Conv1D for GPT-2) is replaced by lora.Linear holding "
    "the original as `base_layer` plus lora_A = Linear(in, r, bias=False) and lora_B = Linear(r, out, bias=False) "
    "per adapter. Forward (adapter enabled, unmerged): y = base_layer(x) + scaling * lora_B(lora_A(dropout(x))), "
    "scaling = lora_alpha / r (use_rslora: lora_alpha / sqrt(r)); the base path sees the un-dropped x, dropout "
    "only feeds lora_A (checked by replacing it with x*0 / x*2); lora_dropout 0.0 -> nn.Identity, > 0 -> "
    "nn.Dropout(p) (checked), active only in train mode. Base weights and ALL base biases stay frozen "
    "(bias='none'); lora_B has no bias. Merge (merge_and_unload): W += scaling * (B @ A) (B: [out, r], A: [r, in]); "
    "with fan_in_fan_out (Conv1D, weight stored [in, out]) the delta is transposed: W += scaling * (B @ A)^T; "
    "biases untouched; a modules_to_save wrapper is replaced by its trained copy; the result is the plain HF model "
    "(checked: a by-hand merge of the files reproduces every merged weight; merged logits == adapter logits; "
    "merged/ reloads with AutoModelFor* and gives the same logits). Target matching "
    "(check_target_module_exists, against names relative to the HF model, e.g. `model.layers.0.self_attn.q_proj`): "
    "modules matching a modules_to_save entry m (`(^|.*\\.)m($|\\..*)`) are never targeted; target_modules as a "
    "STRING is a regex that must FULLMATCH the module name; as a LIST an entry matches the name exactly or as a "
    "'.'-separated suffix (name.endswith('.' + entry)); layers_to_transform (list only) keeps a suffix match only "
    "if the first number after `<anything>.<segment>.` (regex `.*?\\.[^.]*\\.(\\d+)\\.`; with layers_pattern p: "
    "`(?:^|.*?\\.)p\\.(\\d+)\\.`) is in the list. 'all-linear' (case-insensitive string) resolves to every "
    "nn.Linear / Conv1D module EXCEPT the output embedding (model.get_output_embeddings(), i.e. lm_head, tied or "
    "not); when get_output_embeddings() is None and task_type is SEQ_CLS, the first existing attribute 'score' / "
    "'classifier' is excluded instead. The resolved full names replace target_modules; with >= 20 names peft "
    "condenses them to minimal unique suffixes (_find_minimal_target_modules), so a 4-layer all-linear adapter's "
    "adapter_config.json stores the 7 leaf names (e.g. ['down_proj', ..., 'v_proj']), not 'all-linear' (with "
    "fewer than 20 it stores the full module names); on reload that list is matched by the suffix rule. "
    "(The independent matcher `expected_targets` implements exactly these rules and is compared with what peft "
    "wrapped.) Saved keys: `base_model.model.<module name>.lora_A.weight` [r, in] and `...lora_B.weight` [out, r] "
    "-- the adapter name is REMOVED (in memory: `base_model.model.<module>.lora_A.default.weight`), unlike "
    "SHADOW's keys which keep `.default.`; modules_to_save copies are saved under the original module's name "
    "(`base_model.model.lm_head.weight` for param `base_model.model.lm_head.modules_to_save.default.weight`). "
    "Only adapter weights are saved (no base weights, no embeddings). adapter_config.json target_modules / "
    "modules_to_save are sets serialised as lists in arbitrary order (sorted in case.json). The C++ side can "
    "load purely from the files: it is checked that forward hooks `out + scaling * (x A^T) B^T` on the modules "
    "named by the saved lora keys, plus the modules_to_save copies swapped in, reproduce logits, loss and every "
    "grad."
)

CASE_NOTES = {
    "llama_qv": "target_modules=['q_proj', 'v_proj'] (suffix match): the 8 modules model.layers.{0..3}.self_attn."
                "{q,v}_proj; scaling 8/4 = 2.0. q_proj: lora_A [4, 32], lora_B [32, 4]; v_proj (2 kv heads x "
                "head_dim 8 = 16 outputs): lora_A [4, 32], lora_B [16, 4]. print_trainable_parameters counts "
                "LoRA params as trainable and base + LoRA as all params.",
    "llama_all_linear_rslora": "target_modules='all-linear' on LlamaForCausalLM: q/k/v/o_proj and gate/up/down_proj "
                               "of all 4 layers (28 modules); lm_head is excluded (output embedding). "
                               "adapter_config.json stores the condensed suffix list (7 names), not 'all-linear'. "
                               "use_rslora: scaling = 16 / sqrt(4) = 8.0 (not 16/4 = 4). Checked on a throwaway "
                               "2-layer Llama (14 linears < 20): there target_modules keeps the 14 full module names; "
                               "'ALL-LINEAR' resolves the same way.",
    "llama_layers": "target_modules=['q_proj','k_proj','o_proj','gate_proj','down_proj'] + layers_to_transform "
                    "[1, 2] (layers_pattern None): only layers 1 and 2 are wrapped (10 modules); the layer index is "
                    "the first '.<digits>.' after `<first segment>.<segment>` (here `model.layers.<i>.`). "
                    "r=2, alpha 4: scaling 2.0.",
    "llama_modules_to_save": "target_modules=['q_proj'] + modules_to_save=['lm_head']: lm_head becomes a "
                             "ModulesToSaveWrapper (original frozen, trainable deep copy used in the forward), "
                             "saved as `base_model.model.lm_head.weight` [128, 32]; it is not LoRA-wrapped (checked "
                             "separately: even target_modules=['q_proj','lm_head'] + modules_to_save=['lm_head'] "
                             "leaves lm_head un-wrapped). After merge_and_unload the copy replaces lm_head.",
    "qwen3_all_linear": "Qwen3: 'all-linear' picks q/k/v/o_proj + gate/up/down_proj per layer (28 modules); "
                        "q_norm / k_norm (RMSNorm) and lm_head are not targeted. q_proj: 32 -> 64 (4 heads x "
                        "head_dim 16), k/v_proj: 32 -> 32, o_proj: 64 -> 32.",
    "gemma2_all_linear": "Gemma 2 (tied embeddings, attn/final logit soft-capping, sliding window 4): 'all-linear' "
                         "picks the same 7 projections per layer; lm_head (tied to embed_tokens) is excluded as the "
                         "output embedding, so the tie is untouched and no embedding is saved; after merge_and_unload "
                         "lm_head.weight is still embed_tokens.weight (checked). LoRA only changes the projections: "
                         "embedding scale, soft-capping and sliding window stay the base model's (checked: the "
                         "from-files hooks on a plain Gemma2ForCausalLM reproduce the logits).",
    "llama_regex": "target_modules is the STRING r'.*\\.layers\\.[02]\\.mlp\\.(up|down)_proj': re.fullmatch on the "
                   "module name, so exactly model.layers.{0,2}.mlp.{up,down}_proj (4 modules); adapter_config.json "
                   "keeps the string as is. up_proj: lora_A [4, 32], lora_B [64, 4]; down_proj: lora_A [4, 64], "
                   "lora_B [32, 4].",
    "llama_seq_cls": "SEQ_CLS: PeftModelForSequenceClassification appends ['classifier', 'score'] to "
                     "modules_to_save (adapter_config.json modules_to_save = ['classifier', 'score']; only score "
                     "exists; after PeftModel.from_pretrained the in-memory list is ['classifier', 'score', "
                     "'classifier', 'score'] because the names are appended again -- harmless, checked): "
                     "score becomes a ModulesToSaveWrapper, saved as `base_model.model.score.weight` [3, 32] (param "
                     "base_model.model.score.modules_to_save.default.weight); q_proj/v_proj get LoRA. Loss: "
                     "LlamaForSequenceClassification's (pool at the last token with input_ids != pad_token_id, CE). "
                     "'all-linear' on this model (recorded in checks.all_linear_resolution): get_output_embeddings() "
                     "is None, so with task_type SEQ_CLS `score` is excluded (and it is a modules_to_save module "
                     "anyway); WITHOUT task_type `score` would be in the resolved set. merged/ is written too (score "
                     "= the trained copy).",
    "gpt2_c_attn": "GPT-2 c_attn is a transformers Conv1D (weight [in=32, out=96], y = x @ W + b): peft warns "
                   "'fan_in_fan_out is set to False but the target module is `Conv1D`. Setting fan_in_fan_out to "
                   "True.' and mutates the config, so adapter_config.json has fan_in_fan_out: true. lora_A [4, 32], "
                   "lora_B [96, 4] (in/out taken from the Conv1D weight shape [in, out]); the LoRA branch itself is "
                   "the same Linear math (x A^T B^T), only the MERGE transposes: W[in, out] += scaling * (B @ A)^T. "
                   "c_attn is FUSED q|k|v: output columns 0:32 = q, 32:64 = k, 64:96 = v, so rows 0:32 / 32:64 / "
                   "64:96 of lora_B act on q / k / v while lora_A is shared. The frozen base bias is kept. A C++ "
                   "loader that splits c_attn would have to split lora_B by rows (3 x [32, 4]) and share lora_A.",
}


def notes_for(case):
    return {"common": COMMON_NOTES, "case": CASE_NOTES[case]}


# ------------------------------------------------------------------------------------------------ cases

def causal(base, case, checks_extra=None, **lora):
    kw = dict(task_type="CAUSAL_LM", lora_dropout=0.0, **lora)
    return lambda d: lora_case(d, base=base, task="causal_lm", lora_kw=kw, notes=notes_for(case),
                               checks_extra=checks_extra)


def extra_llama_qv(model, tuner, inp, tensors, case_dir):
    d = dropout_module_check()
    if d != {"lora_dropout_0.1_module": "Dropout", "p": 0.1}:
        raise CheckFailed(f"dropout module assumption wrong: {d}")
    return {"dropout_module": d}


def extra_all_linear(model, tuner, inp, tensors, case_dir):
    """adapter_config target_modules for 'all-linear': condensed suffixes with >= 20 resolved modules (this case:
    28), full module names below that (a throwaway 2-layer Llama: 14); 'ALL-LINEAR' is accepted too."""
    tiny = build_model("LlamaConfig", "LlamaForCausalLM", dict(LLAMA, num_hidden_layers=2))
    res = {}
    for spelling in ("all-linear", "ALL-LINEAR"):
        pm, _, _ = captured(get_peft_model, tiny, LoraConfig(task_type="CAUSAL_LM", target_modules=spelling))
        tm = sorted(pm.peft_config["default"].target_modules)
        res[spelling] = {"n_targeted": len(pm.base_model.targeted_module_names), "target_modules_len": len(tm),
                         "full_names": all(t.startswith("model.layers.") for t in tm)}
        tiny = pm.unload()
    want = {"n_targeted": 14, "target_modules_len": 14, "full_names": True}
    if res != {"all-linear": want, "ALL-LINEAR": want}:
        raise CheckFailed(f"all-linear on a 2-layer model: {res}")
    return {"all_linear_2_layer_model": res}


def extra_modules_to_save(model, tuner, inp, tensors, case_dir):
    """A module named in modules_to_save is never LoRA-targeted, even when target_modules names it too."""
    fresh = load_model("LlamaForCausalLM", os.path.join(case_dir, "base"))
    cfg = LoraConfig(task_type="CAUSAL_LM", target_modules=["q_proj", "lm_head"], modules_to_save=["lm_head"])
    pm, _, _ = captured(get_peft_model, fresh, cfg)
    names = sorted(pm.base_model.targeted_module_names)
    res = {"targeted": len(names), "lm_head_targeted": "lm_head" in names,
           "lm_head_type": type(pm.base_model.model.lm_head).__name__}
    if res != {"targeted": 4, "lm_head_targeted": False, "lm_head_type": "ModulesToSaveWrapper"}:
        raise CheckFailed(f"modules_to_save exclusion: {res}")
    return {"lm_head_in_target_and_modules_to_save": res}


def extra_gpt2(model, tuner, inp, tensors, case_dir):
    lay = tuner.model.transformer.h[0].attn.c_attn
    facts = {"base_class": type(lay.base_layer).__name__, "fan_in_fan_out": lay.fan_in_fan_out,
             "config_fan_in_fan_out": tuner.peft_config["default"].fan_in_fan_out,
             "is_target_conv_1d_layer": lay.is_target_conv_1d_layer,
             "lora_A_shape": list(lay.lora_A["default"].weight.shape),
             "lora_B_shape": list(lay.lora_B["default"].weight.shape),
             "base_weight_shape": list(lay.base_layer.weight.shape)}
    want = {"base_class": "Conv1D", "fan_in_fan_out": True, "config_fan_in_fan_out": True,
            "is_target_conv_1d_layer": True, "lora_A_shape": [4, 32], "lora_B_shape": [96, 4],
            "base_weight_shape": [32, 96]}
    if facts != want:
        raise CheckFailed(f"Conv1D facts {facts}, the notes say {want}")
    # lora_B rows 0:32 / 32:64 / 64:96 are the q / k / v parts of the fused output.
    x = torch.randn(1, 2, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        full = lay(x) - lay.base_layer(x)
        A, Bw, s = lay.lora_A["default"].weight, lay.lora_B["default"].weight, lay.scaling["default"]
        parts = [s * (x @ A.T) @ Bw[i * 32:(i + 1) * 32].T for i in range(3)]
        facts["split_lora_B_rows_vs_fused_max_abs_diff"] = (torch.cat(parts, -1) - full).abs().max().item()
    if facts["split_lora_B_rows_vs_fused_max_abs_diff"] > 1e-6:
        raise CheckFailed(f"fused q|k|v split assumption wrong: {facts}")
    return {"conv1d": facts}


def extra_seq_cls(model, tuner, inp, tensors, case_dir):
    from peft.tuners.tuners_utils import _maybe_include_all_linear_layers
    score = tuner.model.score
    if type(score).__name__ != "ModulesToSaveWrapper":
        raise CheckFailed(f"score is {type(score).__name__}")
    fresh = load_model("LlamaForSequenceClassification", os.path.join(case_dir, "base"))
    res = {}
    for tt in ("SEQ_CLS", None):
        c = _maybe_include_all_linear_layers(LoraConfig(task_type=tt, target_modules="all-linear"), fresh)
        names = sorted(c.target_modules)
        res[str(tt)] = {"n": len(names), "score_included": "score" in names,
                        "non_projection": [n for n in names if not re.search(r"_proj$", n)]}
    want = {"SEQ_CLS": {"n": 28, "score_included": False, "non_projection": []},
            "None": {"n": 29, "score_included": True, "non_projection": ["score"]}}
    if res != want:
        raise CheckFailed(f"all-linear on seq_cls: {res}, the notes say {want}")
    mts = list(tuner.peft_config["default"].modules_to_save)
    if mts != ["classifier", "score", "classifier", "score"]:
        raise CheckFailed(f"reloaded modules_to_save {mts}, the notes say it is duplicated")
    return {"reloaded_modules_to_save": mts, "all_linear_resolution": res}


CASES = {
    "llama_qv": ("llama", causal("llama", "llama_qv", extra_llama_qv, r=4, lora_alpha=8,
                                 target_modules=["q_proj", "v_proj"])),
    "llama_all_linear_rslora": ("llama", causal("llama", "llama_all_linear_rslora", extra_all_linear, r=4,
                                                lora_alpha=16, use_rslora=True, target_modules="all-linear")),
    "llama_layers": ("llama", causal("llama", "llama_layers", r=2, lora_alpha=4, layers_to_transform=[1, 2],
                                     target_modules=["q_proj", "k_proj", "o_proj", "gate_proj", "down_proj"])),
    "llama_modules_to_save": ("llama", causal("llama", "llama_modules_to_save", extra_modules_to_save, r=4,
                                              lora_alpha=8, target_modules=["q_proj"], modules_to_save=["lm_head"])),
    "qwen3_all_linear": ("qwen3", causal("qwen3", "qwen3_all_linear", r=4, lora_alpha=8,
                                         target_modules="all-linear")),
    "gemma2_all_linear": ("gemma2", causal("gemma2", "gemma2_all_linear", r=4, lora_alpha=8,
                                           target_modules="all-linear")),
    "llama_regex": ("llama", causal("llama", "llama_regex", r=4, lora_alpha=8,
                                    target_modules=r".*\.layers\.[02]\.mlp\.(up|down)_proj")),
    "llama_seq_cls": ("llama", lambda d: lora_case(
        d, base="llama_seq_cls", task="seq_cls", notes=notes_for("llama_seq_cls"), checks_extra=extra_seq_cls,
        lora_kw=dict(task_type="SEQ_CLS", lora_dropout=0.0, r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))),
    "gpt2_c_attn": ("gpt2", causal("gpt2", "gpt2_c_attn", extra_gpt2, r=4, lora_alpha=8, target_modules=["c_attn"])),
}


finish_case = finish_with_versions("peft", peft)


def main(argv):
    return run_cases(argv, __doc__.strip().splitlines()[-1], CASES, "lora", finish_case)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
