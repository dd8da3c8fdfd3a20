#!/usr/bin/env python3
"""Builds parity fixtures for the C++ tests with Hugging Face `peft`'s own SHADOW tuner (`peft.ShadowConfig`).

This is the upstream-peft counterpart of make_shadow_fixtures.py (which uses the `shadow_peft` package): the
adapter format is peft's (`adapter_config.json` + `adapter_model.safetensors`) and the model is a `PeftModel`.

For every case this writes `OUT_DIR/peft/<case>/`:

- `base/`: the base HF model directory (tiny, random weights: matrices N(0, 0.2), vectors +N(0, 0.1)), written
  by `save_pretrained` BEFORE the model is wrapped (wrapping turns the targeted decoder blocks into
  `ShadowLayer`s, which renames the base's state_dict keys to `...layers.<i>.base_layer...`);
- `adapter/`: what `PeftModel.save_pretrained` writes (`adapter_config.json`, `adapter_model.safetensors`) for
  `get_peft_model(base, ShadowConfig(...))`. Before saving, every trainable parameter is re-drawn (matrices
  N(0, 0.2), vectors += N(0, 0.1); the trainable copy of a `modules_to_save` module, e.g. lm_head or score,
  += N(0, 0.05)): peft zero-initialises `shadow_up`, so an untrained adapter would be a no-op;
- `reference.safetensors` (all tensors float32 or int64, contiguous):
    inputs `input_ids`, `attention_mask`, `position_ids`, `labels` (exactly what was passed);
    outputs of `PeftModel.from_pretrained(<base/ loaded fresh>, adapter/, is_trainable=True).eval()`:
    `logits` ([B,T,V] or [B,num_labels]), `loss` (task loss + auxiliary_loss_weight * shadow loss) and
    `shadow_loss` (unweighted, `model.base_model.last_shadow_loss`) of one forward with input_ids,
    attention_mask, position_ids and labels; `grad.<key>` for every `<key>` of adapter_model.safetensors: the
    gradient of the parameter that key is saved from after `loss.backward()` of that forward (a parameter whose
    grad is None gets zeros and is listed in case.json `grad_none`); `base.logits` (inside
    `model.disable_adapter()`); `shadow_only.logits` / `shadow_only.loss` of `model.base_model.unload_shadow()`
    on the same inputs and labels; causal-LM cases only: `generate.base_shadow` / `generate.shadow_only`
    ([1, P+6] int64): greedy `generate(max_new_tokens=6, do_sample=False)` from the prompt = row 1 of input_ids
    (no padding, P = 9, attention mask all ones) with the PeftModel (KV cache = peft's ShadowCache) and with
    the detached shadow model. EOS is disabled (`eos_token_id=[]`), so exactly 6 tokens are generated; both
    sequences are self-checked against an uncached greedy loop (full re-forward per step);
- `case.json`: the ShadowConfig kwargs, the `adapter_config.json` peft wrote (target_modules sorted: peft
  stores a set, so the file's list order is arbitrary), the exact `print_trainable_parameters()` stdout,
  `trainable_params` / `all_params` (`get_nb_trainable_parameters()`), the saved keys with dtype and shape in
  file (data offset) order, `param_names` (saved key -> in-memory parameter name), `wrapped_blocks` (module
  names of the ShadowLayers, in order), `grad_none`, tolerances (atol/rtol for outputs, grad_atol/grad_rtol for
  grads), `task` ("causal_lm" / "seq_cls"), the base `architecture`, self-check results, any warnings/stdout
  peft printed, and `notes` on semantics the C++ side must replicate (each one verified by a self-check below).

Self-checks (CheckFailed if violated): the reloaded model reproduces the in-memory one exactly; a manual
re-implementation of the shadow decoder loop (Eq. 2-7, exact-erf GELU, driven by the captured per-block
arguments of the real forward) reproduces the final hidden states; `loss == task_loss + w * shadow_loss`;
`shadow_loss == shadow_only.loss` and equals the loss recomputed by hand from `head(projection(backbone(x)))`;
`base.logits` equals the plain base model; cached generation equals uncached greedy argmax.

`OUT_DIR/peft/index.json` is `{"cases": [...], "skipped": {case: reason}}`.

Everything runs on CPU, single-threaded, float32, eager attention, shadow_dropout 0.0, `torch.manual_seed(0)`
at the start of every case. Exit status 0 on success (skipped cases allowed), 1 if a case failed.

Usage: make_peft_fixtures.py OUT_DIR [CASE ...]   (no case names: all cases)
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_runner import CheckFailed, SkipCase, run_cases  # noqa: E402
from fixture_models import (  # noqa: E402  (imported first: it sets the transformers environment)
    B, GEMMA2, GENERATION, GPT2, LLAMA, NUM_LABELS, PAD_ID, QWEN3, T, TOL, adapter_vs_base, base_and_inputs, check,
    build_model, cls, finish_with_versions, generate_greedy, greedy_prompt, greedy_uncached, model_kwargs, peft_round_trip,
    saved_grads, shifted_ce,
)

from safetensors.torch import save_file  # noqa: E402

try:
    import peft  # noqa: E402
    from peft.tuners.shadow import ShadowCarrier, ShadowConfig, ShadowLayer  # noqa: E402
except ImportError as e:  # pragma: no cover - peft too old / missing: every case is skipped
    peft = None
    PEFT_IMPORT_ERROR = str(e)


# ------------------------------------------------------------------------------------------- base models

BASES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", LLAMA),
    "llama_tied": ("LlamaConfig", "LlamaForCausalLM", dict(LLAMA, tie_word_embeddings=True)),
    "llama_seq_cls": ("LlamaConfig", "LlamaForSequenceClassification",
                      dict(LLAMA, num_labels=NUM_LABELS, pad_token_id=PAD_ID)),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", QWEN3),
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", GPT2),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", GEMMA2),
}


# ------------------------------------------------------------------------------------------ peft helpers

def decoder_layers(hf_model):
    """The decoder-block ModuleList of the HF model (what peft's _get_backbone/_get_decoder_layers find)."""
    for attr in ("model", "transformer"):
        bb = getattr(hf_model, attr, None)
        if bb is not None:
            for la in ("layers", "h"):
                if isinstance(getattr(bb, la, None), torch.nn.ModuleList):
                    return getattr(bb, la)
    raise CheckFailed("no decoder layers found")


def manual_seed_state(tuner, inp):
    """s^(0) recomputed by hand: backbone(inputs_embeds = base input embeddings(ids)) when embeddings are shared,
    else backbone(input_ids); then the projection (Identity when the widths match)."""
    bb = tuner.shadow_backbone["default"]
    kw = dict(attention_mask=inp["attention_mask"], position_ids=inp["position_ids"], use_cache=False,
              return_dict=True)
    if tuner._shadow_share_embeddings["default"]:
        emb = tuner.model.get_input_embeddings()(inp["input_ids"])
        h = bb(inputs_embeds=emb, **kw).last_hidden_state
    else:
        h = bb(input_ids=inp["input_ids"], **kw).last_hidden_state
    return tuner.shadow_projection["default"](h)


def manual_decoder_check(model, inp, s0):
    """Re-implements the shadow decoder loop with explicit tensor ops and compares the final hidden states with
    those of the real forward (no labels). The per-block arguments (masks, rotary embeddings, ...) are captured
    from the real forward, so the check isolates peft's part:
        inject  (Eq. 2-4): x = h + alpha * ((h - s) @ W_down^T) @ W_up^T     -> block input
        update  (Eq. 5-7): t = L2(gelu_erf(L1(h_out))), g = sigmoid(G2(gelu_erf(G1(h_out))))
                           s = (1 - g) * s + g * t
    Unwrapped blocks run plain; the final state is the base h (the last s is discarded)."""
    F = torch.nn.functional
    hf = model.base_model.model
    layers = decoder_layers(hf)
    rec, handles = {}, []

    def inner(layer):
        return layer.base_layer if isinstance(layer, ShadowLayer) else layer

    def pre(i):
        def hook(mod, args, kwargs):
            rec[i] = (args[1:], {k: v for k, v in kwargs.items() if k != "hidden_states"})
        return hook

    def entry(mod, args, kwargs):
        h = args[0] if args else kwargs["hidden_states"]
        rec["h0"] = h.hidden if isinstance(h, ShadowCarrier) else h

    def exit_(mod, args, kwargs, out):
        rec["hL"] = out[0] if isinstance(out, tuple) else out

    for i, layer in enumerate(layers):
        handles.append(inner(layer).register_forward_pre_hook(pre(i), with_kwargs=True))
    handles.append(layers[0].register_forward_pre_hook(entry, with_kwargs=True))
    handles.append(layers[-1].register_forward_hook(exit_, with_kwargs=True))
    try:
        with torch.no_grad():
            model(**model_kwargs(inp, with_labels=False), use_cache=False)
    finally:
        for h in handles:
            h.remove()

    def mlp(seq, x):
        return F.linear(F.gelu(F.linear(x, seq[0].weight, seq[0].bias)), seq[2].weight, seq[2].bias)

    with torch.no_grad():
        h, s = rec["h0"], s0
        for i, layer in enumerate(layers):
            args, kwargs = rec[i]
            if isinstance(layer, ShadowLayer):
                alpha = layer.shadow_alpha["default"]
                d = (h - s) @ layer.shadow_down["default"].weight.T @ layer.shadow_up["default"].weight.T
                out = layer.base_layer(h + alpha * d, *args, **kwargs)
                h = out[0] if isinstance(out, tuple) else out
                t = mlp(layer.shadow_update_transform["default"], h)
                g = torch.sigmoid(mlp(layer.shadow_update_gate["default"], h))
                s = (1 - g) * s + g * t
            else:
                out = layer(h, *args, **kwargs)
                h = out[0] if isinstance(out, tuple) else out
    return (h - rec["hL"]).abs().max().item()


# --------------------------------------------------------------------------------------------- the case

def backbone_config_diff(tuner):
    """The shadow backbone's config entries that differ from the base model's (the adapter files do not store the
    backbone config: the C++ side derives it from base config + ShadowConfig overrides)."""
    base_cfg = tuner.model.config.to_dict()
    sh = tuner.shadow_backbone["default"].config.to_dict()
    skip = {"architectures", "id2label", "label2id", "num_labels", "problem_type", "transformers_version"}
    return {k: v for k, v in sorted(sh.items()) if k not in skip and base_cfg.get(k) != v}


def peft_case(case_dir, *, base, task, shadow_kw, notes, wrapped_expected, checks_extra=None):
    if peft is None:
        raise SkipCase(f"peft SHADOW tuner unavailable: {PEFT_IMPORT_ERROR}")
    config_cls, model_cls, base_kw = BASES[base]
    adapter_dir = os.path.join(case_dir, "adapter")
    hf, inp, base_dir, plain_logits = base_and_inputs(case_dir, config_cls, model_cls, base_kw, task)
    mask = inp["attention_mask"]
    checks = {}

    # Wrap, make the adapter non-trivial, save; the reference is everything loaded back from disk.
    cfg = ShadowConfig(**shadow_kw)
    # peft saves a pretrained backbone whole, its frozen embeddings included.
    frozen_ok = () if cfg.shadow_model == "mirror" else ("shadow_backbone.default.embed_tokens",)
    rt = peft_round_trip(hf, cfg, model_cls, base_dir, adapter_dir, inp, frozen_ok)
    model = rt.model
    tuner = model.base_model

    # Forward with labels + backward.
    out = model(**model_kwargs(inp))
    shadow_loss = tuner.last_shadow_loss
    if shadow_loss is None:
        raise CheckFailed("no shadow loss was computed")
    grads, grad_none = saved_grads(out, rt)
    logits, loss = out.logits.detach(), out.loss.detach()
    base_logits = adapter_vs_base(rt, inp, logits, loss, plain_logits, checks, "shadow_vs_base_logits_max_abs_diff")

    # Standalone shadow model.
    det = tuner.unload_shadow()
    det.eval()
    with torch.no_grad():
        so = det(**model_kwargs(inp))
    so_logits, so_loss = so.logits.detach(), so.loss.detach()

    # Loss decomposition and the shadow head, recomputed by hand.
    w = cfg.auxiliary_loss_weight
    with torch.no_grad():
        s0 = manual_seed_state(tuner, inp)
        if task == "causal_lm":
            head = tuner.model.get_output_embeddings()  # a ModulesToSaveWrapper (active copy) when lm_head is saved
            task_loss = shifted_ce(logits, inp["labels"])
            shadow_logits = head(s0)
        else:
            head = tuner.shadow_head["default"]
            idx = (mask * torch.arange(T)).argmax(-1)
            checks["shadow_pool_indices"] = idx.tolist()
            task_loss = torch.nn.functional.cross_entropy(logits, inp["labels"])
            shadow_logits = head(s0[torch.arange(B), idx])
        check(checks, "loss_formula_max_abs_diff", (task_loss + w * shadow_loss - loss).abs().item())
        check(checks, "shadow_loss_vs_shadow_only_loss_abs_diff", (shadow_loss - so_loss).abs().item())
        check(checks, "shadow_only_logits_recomputed_max_abs_diff", (shadow_logits - so_logits).abs().max().item())
        if task == "causal_lm":
            check(checks, "shadow_loss_recomputed_abs_diff", (shifted_ce(shadow_logits, inp["labels"])
                                                              - shadow_loss).abs().item())
    check(checks, "manual_decoder_loop_final_hidden_max_abs_diff", manual_decoder_check(model, inp, s0))

    tensors = {**{k: v.contiguous() for k, v in inp.items()},
               "logits": logits.contiguous(), "loss": loss.reshape(()).contiguous(),
               "shadow_loss": shadow_loss.reshape(()).contiguous(), **grads,
               "base.logits": base_logits.contiguous(),
               "shadow_only.logits": so_logits.contiguous(), "shadow_only.loss": so_loss.reshape(()).contiguous()}

    generation = None
    if task == "causal_lm":
        prompt, ones = greedy_prompt(inp)
        g_bs = generate_greedy(model, prompt, ones)
        g_so = generate_greedy(det, prompt, ones)
        ref_bs = greedy_uncached(model, prompt)
        ref_so = greedy_uncached(det, prompt)
        checks["generate_cached_equals_uncached"] = {"base_shadow": torch.equal(g_bs, ref_bs),
                                                     "shadow_only": torch.equal(g_so, ref_so)}
        if not all(checks["generate_cached_equals_uncached"].values()):
            raise CheckFailed(f"cached vs uncached greedy differ: {g_bs.tolist()} vs {ref_bs.tolist()}; "
                              f"{g_so.tolist()} vs {ref_so.tolist()}")
        tensors["generate.base_shadow"] = g_bs.contiguous()
        tensors["generate.shadow_only"] = g_so.contiguous()
        generation = GENERATION

    if checks_extra is not None:
        checks.update(checks_extra(model, tuner, inp, tensors))

    save_file(tensors, os.path.join(case_dir, "reference.safetensors"), metadata={"format": "pt"})

    adapter_config = rt.adapter_config
    if isinstance(adapter_config.get("target_modules"), list):
        adapter_config["target_modules"] = sorted(adapter_config["target_modules"])
    wrapped = [n for n, m in tuner.model.named_modules() if isinstance(m, ShadowLayer)]
    if wrapped != wrapped_expected:
        raise CheckFailed(f"wrapped blocks {wrapped}, the notes say {wrapped_expected}")
    return {"task": task, "architecture": cls(model_cls).__name__, "shadow_config": shadow_kw,
            "adapter_config": adapter_config, **rt.info, "wrapped_blocks": wrapped,
            "shadow_shares_base_embeddings": tuner._shadow_share_embeddings["default"],
            "shadow_backbone_class": type(tuner.shadow_backbone["default"]).__name__,
            "shadow_backbone_config_vs_base": backbone_config_diff(tuner),
            "shadow_projection": type(tuner.shadow_projection["default"]).__name__,
            "grad_none": grad_none, **TOL, "checks": checks, "generation": generation,
            "python_output": rt.python_output, "notes": notes}


# ------------------------------------------------------------------------------------------------ notes

COMMON_NOTES = (
    "peft SHADOW (peft/tuners/shadow). Default target_modules = every block of the decoder ModuleList "
    "(`model.layers.<i>` / `transformer.h.<i>`), block 0 included; the targeted blocks become ShadowLayer wrappers "
    "(base weights then live under `...<i>.base_layer.`). s^(0) = shadow_projection(shadow_backbone(x)"
    ".last_hidden_state) (post final norm of the backbone); the backbone is `<base backbone class>(deepcopy(config))` "
    "with num_hidden_layers = shadow_num_hidden_layers or 1 and the other shadow_* overrides; with "
    "share_embeddings (default) and equal widths its `embed_tokens` is deleted and it is fed inputs_embeds = "
    "base get_input_embeddings()(input_ids) (for Gemma the scaled embedding module, so the scale is applied "
    "once), together with the same attention_mask and position_ids the base receives. The projection is "
    "nn.Identity (no saved key) when widths match, else Linear(shadow_hidden, base_hidden, bias=False). "
    "The carrier enters at the FIRST wrapped block with s = s^(0). Per wrapped block: x = h + alpha * "
    "W_up(W_down(dropout(h - s))) (Linears without bias); h = block(x); t = T2(GELU(T1(h))); "
    "g = sigmoid(G2(GELU(G1(h)))); "
    "s = (1 - g) * s + g * t; T1/G1: Linear(d, update_hidden_size or r) with bias, T2/G2: Linear(.., d) with bias; "
    "GELU = torch.nn.GELU() default (exact erf, NOT tanh). After the LAST wrapped block only h continues (final "
    "norm + head); the last s is discarded, so that block's shadow_update_transform/gate get no gradient "
    "(grad None -> listed in grad_none). Blocks that are not wrapped run plain and do not touch s. "
    "Auxiliary loss (only when labels are passed and the adapter is enabled): computed on s^(0) (NOT the final "
    "state) -- causal LM: shifted CE (ignore_index -100, mean over valid targets) of base get_output_embeddings()"
    "(s^(0)) (the frozen lm_head, or the trainable modules_to_save copy if lm_head is saved; never soft-capped); "
    "loss = task loss + auxiliary_loss_weight (0.05) * shadow loss; `last_shadow_loss` is the unweighted detached "
    "value. unload_shadow() returns DetachedShadowModel = head(projection(backbone(x))) with the same head and the "
    "same shifted CE, so shadow_only.loss == shadow_loss. Saved keys: peft prefixes everything with "
    "`base_model.model.` (per-block: `base_model.model.<block path>.shadow_{down,up}.default.weight`, "
    "`...shadow_update_{transform,gate}.default.{0,2}.{weight,bias}`) or `base_model.` for tuner-level modules "
    "(`base_model.shadow_backbone.default.<backbone state_dict key>`, `base_model.shadow_projection.default.weight`, "
    "`base_model.shadow_head.default.weight`): the adapter name is canonicalised to `default` and KEPT in the key "
    "(unlike LoRA). modules_to_save copies are saved under the original module name (`base_model.model.lm_head."
    "weight` for param `base_model.model.lm_head.modules_to_save.default.weight`). adapter_config.json "
    "target_modules is a set serialised as a list in arbitrary order. Generation (use_cache): peft packs a "
    "ShadowCache(base, shadow) so the shadow backbone advances token by token with its own KV cache; the result "
    "equals uncached greedy decoding (checked)."
)

ALL4 = [f"model.layers.{i}" for i in range(4)]

CASE_NOTES = {
    "llama": "modules_to_save=['lm_head']: the trainable copy (`base_model.model.lm_head.weight` in the file) "
             "replaces lm_head for the base logits AND is the head of the shadow loss / shadow_only model "
             "(get_output_embeddings() returns the ModulesToSaveWrapper; checked by recomputing the shadow loss). "
             "shadow_intermediate_size=24 only changes the backbone MLP width.",
    "llama_subset": "layers_to_transform=[1, 2], layers_pattern='layers' is IGNORED: with target_modules=None peft "
                    "first fills target_modules with the exact names of all blocks ({'model.layers.0', ..., "
                    "'model.layers.3'}), and check_target_module_exists returns True on an exact name match before it "
                    "ever looks at layers_to_transform (which is only consulted for suffix matches, and its regex "
                    "`(?:^|.*?\\.)layers\\.(\\d+)\\.` needs a '.' after the index, which a block name does not "
                    "have). So all 4 blocks are wrapped (checked) although adapter_config.json says "
                    "layers_to_transform [1, 2]; a loader must wrap exactly the blocks named in target_modules. "
                    "update_hidden_size=6 sets the T/G hidden width; shadow_num_hidden_layers=2 gives a 2-layer "
                    "backbone; shadow_alpha=0.3 is the injection scale. See llama_target_subset for a real subset. "
                    "(Also verified by hand: suffix targets ['layers.1', 'layers.2'] + layers_to_transform=[1] match "
                    "nothing and raise NoMatchingPeftModuleError; layers_to_transform alone wraps all blocks.)",
    "llama_target_subset": "target_modules=['model.layers.1', 'model.layers.2'] (plus update_hidden_size=6, "
                           "shadow_num_hidden_layers=2, shadow_alpha=0.3): only blocks 1 and 2 are ShadowLayers. "
                           "Blocks 0 and 3 run plain; the carrier (h, s^(0)) enters at block 1 with h = block 0's "
                           "output; after block 2 only h continues into block 3, so block 2's update MLPs get no "
                           "gradient. A target entry matches a module name exactly or as a '.'-separated suffix.",
    "llama_projected": "shadow_hidden_size=16, shadow_num_attention_heads=2, shadow_intermediate_size=32: peft only "
                       "overrides hidden_size/num_attention_heads/intermediate_size in a deepcopy of the base "
                       "config; head_dim stays the explicit 8 and num_key_value_heads stays 2 (q/k/v/o_proj all "
                       "16x16). Widths differ, so embeddings are NOT shared: the backbone keeps its own embed_tokens "
                       "[128, 16] (trainable, saved) and is called with input_ids; shadow_projection.default is "
                       "Linear(16, 32, bias=False) (saved as base_model.shadow_projection.default.weight).",
    "llama_pretrained_shadow": "shadow_model=<dir of a 2-layer LlamaForCausalLM, hidden 16>: the backbone is "
                               "AutoModel.from_pretrained(dir) (its `model.` weights; the LM head is not used), with "
                               "its own embed_tokens, which peft freezes (requires_grad False, so not counted as "
                               "trainable). Widths differ: shadow_projection.default is a fresh Linear(16, 32, "
                               "bias=False), nn.Linear's default init.",
    "qwen3": "Qwen3: the backbone config's layer_types is truncated to the backbone depth (1) by "
             "_normalize_layer_config (padded with its last entry if shorter; max_window_layers clamped).",
    "gpt2": "GPT-2: blocks are `transformer.h.<i>` (saved keys base_model.model.transformer.h.<i>.shadow_*). The "
            "mirror backbone is GPT2Model; _remove_embed_tokens only deletes an attribute named `embed_tokens`, so "
            "the backbone's own `wte` [128, 32] is KEPT, trainable, counted and saved but unused (inputs_embeds are "
            "shared): it is in grad_none. The backbone's own `wpe` (positions from position_ids) and `ln_f` are "
            "used. The base lm_head is tied to the base wte and frozen; the shadow loss uses it.",
    "gemma2": "Gemma 2: the sqrt(hidden) embedding scale lives inside Gemma2TextScaledWordEmbedding, so the shared "
              "inputs_embeds are already scaled and the backbone (fed inputs_embeds) does not scale again. Final "
              "logit soft-capping (3.0) is applied to the base_shadow logits (Gemma2ForCausalLM.forward) but NOT to "
              "the shadow head: shadow_only.logits and the shadow loss use the raw tied lm_head output (checked: "
              "|shadow_only.logits| exceeds the cap). Backbone layer_types truncated to the first entry.",
    "llama_seq_cls": "SEQ_CLS: PeftModelForSequenceClassification adds ['classifier', 'score'] to modules_to_save, "
                     "so `score` gets a trainable copy, saved as `base_model.model.score.weight` (param "
                     "base_model.model.score.modules_to_save.default.weight); the tuner ALSO deep-copies the base "
                     "score into `shadow_head.default` (trainable, saved as `base_model.shadow_head.default.weight`; "
                     "at save time it is independent of the score copy). Task loss: LlamaForSequenceClassification "
                     "(pool at the last token with input_ids != pad_token_id, CE). Shadow loss: pool s^(0) at the last "
                     "attention_mask==1 position ((mask * arange(T)).argmax(-1)), shadow_head, CE (MSE if "
                     "num_labels == 1, BCE-with-logits for float labels). unload_shadow() (is_classification) uses the "
                     "same pooling, head and loss. No generation.",
    "llama_tied_lm_head": "tie_word_embeddings=True with modules_to_save=['lm_head']: peft accepts it, warning "
                          "(UserWarning, at get_peft_model and at from_pretrained) 'Model has "
                          "`tie_word_embeddings=True` and a tied layer is part of the adapter, but no implementation "
                          "exists to tie the adapters. ...'. lm_head becomes a ModulesToSaveWrapper whose "
                          "original_module still shares its weight "
                          "with embed_tokens (frozen), while the trainable copy is an independent tensor (checked: not "
                          "the embedding tensor, and after the re-draw not equal to it). Saved: "
                          "`base_model.model.lm_head.weight` (the copy); embed_tokens is not saved. So after loading, "
                          "input embeddings = base tied matrix, output head = the saved copy (effectively untied); the "
                          "shadow loss uses the copy.",
}


def notes_for(case):
    return {"common": COMMON_NOTES, "case": CASE_NOTES[case]}


# ------------------------------------------------------------------------------------------------ cases

def causal(base, case, wrapped=ALL4, **over):
    kw = dict(task_type="CAUSAL_LM", r=4, shadow_dropout=0.0, **over)
    return lambda d: peft_case(d, base=base, task="causal_lm", shadow_kw=kw, notes=notes_for(case),
                               wrapped_expected=wrapped)


def case_gemma2(d):
    def extra(model, tuner, inp, tensors):
        cap = model.base_model.model.config.final_logit_softcapping
        so_max = tensors["shadow_only.logits"].abs().max().item()
        bs_max = tensors["logits"].abs().max().item()
        if not (bs_max <= cap and so_max > cap):
            raise CheckFailed(f"soft-capping assumption wrong: base_shadow max {bs_max}, shadow_only max {so_max}")
        return {"final_logit_softcapping": cap, "logits_abs_max": bs_max, "shadow_only_logits_abs_max": so_max}
    kw = dict(task_type="CAUSAL_LM", r=4, shadow_dropout=0.0)
    return peft_case(d, base="gemma2", task="causal_lm", shadow_kw=kw, notes=notes_for("gemma2"),
                     wrapped_expected=ALL4, checks_extra=extra)


def case_seq_cls(d):
    def extra(model, tuner, inp, tensors):
        score = tuner.model.score
        if type(score).__name__ != "ModulesToSaveWrapper" or score.modules_to_save["default"] is tuner.shadow_head[
                "default"]:
            raise CheckFailed("score is not a ModulesToSaveWrapper independent of shadow_head")
        return {"modules_to_save": sorted(model.peft_config["default"].modules_to_save)}
    kw = dict(task_type="SEQ_CLS", r=4, shadow_dropout=0.0)
    return peft_case(d, base="llama_seq_cls", task="seq_cls", shadow_kw=kw, notes=notes_for("llama_seq_cls"),
                     wrapped_expected=ALL4, checks_extra=extra)


def case_tied(d):
    def extra(model, tuner, inp, tensors):
        hf = tuner.model
        emb = hf.get_input_embeddings().weight
        lm = hf.lm_head
        copy_w = lm.modules_to_save["default"].weight
        tied = {"lm_head_type": type(lm).__name__,
                "copy_is_embed_tokens": copy_w is emb,
                "original_is_embed_tokens": lm.original_module.weight is emb,
                "copy_equals_embed_tokens": torch.equal(copy_w, emb),
                "embed_tokens_requires_grad": emb.requires_grad,
                "config_tie_word_embeddings": getattr(hf.config, "tie_word_embeddings", None)}
        expected = {"lm_head_type": "ModulesToSaveWrapper", "copy_is_embed_tokens": False,
                    "original_is_embed_tokens": True, "copy_equals_embed_tokens": False,
                    "embed_tokens_requires_grad": False, "config_tie_word_embeddings": True}
        if tied != expected:
            raise CheckFailed(f"tied lm_head: {tied}, the notes say {expected}")
        return {"tied": tied}
    kw = dict(task_type="CAUSAL_LM", r=4, shadow_dropout=0.0, modules_to_save=["lm_head"])
    return peft_case(d, base="llama_tied", task="causal_lm", shadow_kw=kw, notes=notes_for("llama_tied_lm_head"),
                     wrapped_expected=ALL4, checks_extra=extra)


def case_pretrained(d):
    # A small pretrained model of the base's family but narrower, saved next to the base: peft loads its
    # backbone with AutoModel.from_pretrained(shadow_model) (the test passes the same directory).
    torch.manual_seed(5)
    shadow_dir = os.path.abspath(os.path.join(d, "shadow_model"))
    build_model("LlamaConfig", "LlamaForCausalLM", dict(LLAMA, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                                                        num_attention_heads=2, num_key_value_heads=1)
                ).save_pretrained(shadow_dir)
    kw = dict(task_type="CAUSAL_LM", r=4, shadow_dropout=0.0, shadow_model=shadow_dir)
    return peft_case(d, base="llama", task="causal_lm", shadow_kw=kw, notes=notes_for("llama_pretrained_shadow"),
                     wrapped_expected=ALL4)


SUBSET_KW = dict(update_hidden_size=6, shadow_num_hidden_layers=2, shadow_alpha=0.3)

CASES = {
    "llama": ("llama", causal("llama", "llama", shadow_intermediate_size=24, modules_to_save=["lm_head"])),
    "llama_subset": ("llama", causal("llama", "llama_subset", layers_to_transform=[1, 2], layers_pattern="layers",
                                     **SUBSET_KW)),
    "llama_target_subset": ("llama", causal("llama", "llama_target_subset", wrapped=ALL4[1:3],
                                            target_modules=ALL4[1:3], **SUBSET_KW)),
    "llama_projected": ("llama", causal("llama", "llama_projected", shadow_hidden_size=16,
                                        shadow_num_attention_heads=2, shadow_intermediate_size=32)),
    "llama_pretrained_shadow": ("llama", case_pretrained),
    "qwen3": ("qwen3", causal("qwen3", "qwen3")),
    "gpt2": ("gpt2", causal("gpt2", "gpt2", wrapped=[f"transformer.h.{i}" for i in range(4)])),
    "gemma2": ("gemma2", case_gemma2),
    "llama_seq_cls": ("llama", case_seq_cls),
    "llama_tied_lm_head": ("llama", case_tied),
}


finish_case = finish_with_versions("peft", peft)


def main(argv):
    return run_cases(argv, __doc__.strip().splitlines()[-1], CASES, "peft", finish_case)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
