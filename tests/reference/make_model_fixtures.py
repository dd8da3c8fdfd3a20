#!/usr/bin/env python3
"""Builds the model-parity fixtures for the C++ tests with the real `transformers`.

For every case (a tiny, randomly initialised decoder-only model) this writes `OUT_DIR/models/<case>/`:

- the checkpoint exactly as `save_pretrained` writes it (`config.json`, `model.safetensors`,
  `generation_config.json`). Two cases have no modeling code in the installed `transformers` and are
  written by hand with the same conventions: `llama_hetero` (config written by transformers'
  `PreTrainedConfig.save_pretrained`, weights by `safetensors`) and `decilm` (Nemotron-NAS remote code:
  config as sorted, indented JSON, weights by `safetensors` with metadata `{"format": "pt"}`);
- `reference.safetensors`: for each input set NAME (`single`, `batch_left`, `batch_right`, plus `long`
  where it matters) the tensors `NAME.input_ids`, `NAME.attention_mask`, `NAME.position_ids` (int64,
  `[B, T]`, exactly what was passed to the model) and `NAME.logits` (float32, `[B, T, V]`; bf16 cases
  store the bf16 logits widened to float32). Logits at padded positions are whatever transformers
  produced there; only positions with `attention_mask == 1` are meaningful;
- `case.json`: case name, family, architecture, dtype, comparison tolerances, input names, notes on what
  the case exercises and the outcome of the self-checks run here (reloading the saved directory gives
  the same logits, padded rows equal the unpadded sequence, sliding windows / rope scaling really change
  the result).

`OUT_DIR/models/index.json` is `{"cases": [...], "skipped": {case: reason}}`.

Every reference forward runs on CPU, single-threaded, with eager attention, in float32 unless the case is
bf16, under `torch.no_grad()`, on a fresh copy of the model (dynamic RoPE keeps state between calls). For
stock transformers models the reference model is the saved directory loaded back with `from_pretrained`
(what a user gets); weights are random with std 0.2 (0.15 for decilm) and noisy norm weights/biases so
that every sub-block moves the logits well beyond the tolerance.

Usage: make_model_fixtures.py OUT_DIR [CASE ...]   (no case names: all cases)
"""
import copy
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_runner import CheckFailed, SkipCase, quiet_transformers, run_cases, write_json  # noqa: E402

quiet_transformers()

import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402


SEED = 0
INPUT_SEED = 1234
VOCAB = 128
PAD_ID = 0
FP32_TOL = {"atol": 1e-5, "rtol": 1e-5}
BF16_TOL = {"atol": 1e-1, "rtol": 5e-2}
STD_INPUTS = ["single", "batch_left", "batch_right"]


# ----------------------------------------------------------------------------------------------- inputs

def make_inputs(names, vocab=VOCAB):
    """Input sets shared by all cases. Pad positions hold PAD_ID; real tokens are in [1, vocab)."""
    g = torch.Generator().manual_seed(INPUT_SEED)
    out = {}
    for name in names:
        if name == "single":
            ids = torch.randint(1, vocab, (1, 7), generator=g)
            mask = torch.ones_like(ids)
            pos = torch.arange(7).unsqueeze(0)
        elif name == "long":
            ids = torch.randint(1, vocab, (1, 12), generator=g)
            mask = torch.ones_like(ids)
            pos = torch.arange(12).unsqueeze(0)
        elif name == "batch_left":
            ids = torch.randint(1, vocab, (2, 9), generator=g)
            mask = torch.ones_like(ids)
            mask[0, :3] = 0  # row 0: 3 pad positions on the left
            ids[mask == 0] = PAD_ID
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
        elif name == "batch_right":
            ids = torch.randint(1, vocab, (2, 9), generator=g)
            mask = torch.ones_like(ids)
            mask[1, 5:] = 0  # row 1: 4 pad positions on the right
            ids[mask == 0] = PAD_ID
            pos = torch.arange(9).unsqueeze(0).expand(2, 9).contiguous()
        else:
            raise ValueError(name)
        out[name] = {"input_ids": ids.long(), "attention_mask": mask.long(), "position_ids": pos.long()}
    return out


# ----------------------------------------------------------------------------------------------- helpers

def randomize(model, std):
    """Weights large enough that every sub-block visibly moves the logits (HF's 0.02 init leaves the
    layers' contribution below the 1e-5 tolerance): matrices ~ N(0, std); vectors (norm weights,
    biases, initialised by HF to constants) get N(0, 0.1) noise so `w` vs `1 + w` and biases matter."""
    with torch.no_grad():
        for _, p in model.named_parameters():  # tied parameters are listed once
            if p.ndim >= 2:
                p.normal_(0.0, std)
            else:
                p.add_(torch.randn_like(p) * 0.1)


def max_abs_diff_valid(a, b, mask):
    """Max |a - b| over positions with mask == 1 (a, b: [B, T, V])."""
    m = mask.bool()
    return (a.float()[m] - b.float()[m]).abs().max().item()


def hf_forward(model, inp):
    m = copy.deepcopy(model)  # dynamic RoPE mutates the rotary module; always start from a fresh one
    with torch.no_grad():
        return m(input_ids=inp["input_ids"], attention_mask=inp["attention_mask"],
                 position_ids=inp["position_ids"]).logits


def unpadded_rows_diff(forward, inputs, logits_by_name):
    """Each padded row run alone without padding (positions 0..n-1) vs its row in the batch."""
    worst = 0.0
    for name in ("batch_left", "batch_right"):
        if name not in inputs:
            continue
        inp = inputs[name]
        for b in range(inp["input_ids"].shape[0]):
            keep = inp["attention_mask"][b].bool()
            ids = inp["input_ids"][b][keep].unsqueeze(0)
            n = ids.shape[1]
            alone = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
                     "position_ids": torch.arange(n).unsqueeze(0)}
            got = forward(alone)[0].float()
            ref = logits_by_name[name][b][keep].float()
            worst = max(worst, (got - ref).abs().max().item())
    return worst


def write_reference(case_dir, inputs, logits_by_name, default_position_logits=None):
    tensors = {}
    for name, inp in inputs.items():
        for key in ("input_ids", "attention_mask", "position_ids"):
            tensors[f"{name}.{key}"] = inp[key].contiguous()
        tensors[f"{name}.logits"] = logits_by_name[name].float().contiguous()
        if default_position_logits is not None:
            tensors[f"{name}.logits_default_positions"] = default_position_logits[name].float().contiguous()
    save_file(tensors, os.path.join(case_dir, "reference.safetensors"), metadata={"format": "pt"})


def cls(name):
    c = getattr(transformers, name, None)
    if c is None:
        raise SkipCase(f"transformers {transformers.__version__} has no {name}")
    return c


# ------------------------------------------------------------------------------ generic transformers case

def hf_case(case_dir, *, config_cls, model_cls, config_kwargs, std=0.2, dtype=torch.float32,
            input_names=STD_INPUTS, pad_invariant=True, variants=(), default_positions=False, auto_class=None,
            prepare=None):
    """Builds, saves and runs a stock transformers model. `variants`: (label, mutate(model), input,
    expect) where the logits of the mutated copy on `input` must differ ("differ") from / equal
    ("equal") the reference; used to prove a feature (sliding window, rope scaling) is live.
    `default_positions`: also record `<input>.logits_default_positions`, the logits when the caller
    passes no position_ids and the family derives them itself (OPT: from the attention mask). `prepare(model)`
    sets what `randomize` leaves alone (buffers) before saving."""
    torch.manual_seed(SEED)
    config = cls(config_cls)(**config_kwargs)
    model = cls(model_cls)._from_config(config, attn_implementation="eager")
    randomize(model, std)
    if prepare:
        prepare(model)
    model = model.float().eval()
    if dtype != torch.float32:
        model = model.to(dtype)
    model.save_pretrained(case_dir)

    # The reference is the checkpoint as a user loads it. (For bf16 this matters: from_pretrained keeps the
    # non-persistent rotary inv_freq buffer in fp32, while model.to(bfloat16) would round it to bf16.)
    built = model
    model = (auto_class or transformers.AutoModelForCausalLM).from_pretrained(
        case_dir, attn_implementation="eager", dtype=dtype).eval()
    inputs = make_inputs(input_names, config_kwargs.get("vocab_size", VOCAB))
    logits = {name: hf_forward(model, inp) for name, inp in inputs.items()}

    checks = {}
    if dtype == torch.float32:
        checks["in_memory_vs_reloaded_max_abs_diff"] = max(
            max_abs_diff_valid(hf_forward(built, inp), logits[n], inp["attention_mask"])
            for n, inp in inputs.items())
        if checks["in_memory_vs_reloaded_max_abs_diff"] != 0.0:
            raise CheckFailed("logits of the reloaded checkpoint differ by "
                              f"{checks['in_memory_vs_reloaded_max_abs_diff']}")

    pad_diff = unpadded_rows_diff(lambda inp: hf_forward(model, inp), inputs, logits)
    checks["padded_vs_unpadded_max_abs_diff"] = pad_diff
    if pad_invariant and dtype == torch.float32 and pad_diff > FP32_TOL["atol"]:
        raise CheckFailed(f"padded rows differ from unpadded runs by {pad_diff}")

    for label, mutate, name, expect in variants:
        other = copy.deepcopy(model)
        mutate(other)
        d = max_abs_diff_valid(hf_forward(other, inputs[name]), logits[name], inputs[name]["attention_mask"])
        checks[f"{label}_max_abs_diff_on_{name}"] = d
        if (expect == "differ" and d < 1e-3) or (expect == "equal" and d > FP32_TOL["atol"]):
            raise CheckFailed(f"variant {label} on {name}: diff {d}, expected {expect}")

    if dtype != torch.float32:
        # How far bf16 is from fp32 on the same (bf16-rounded) weights: bounds what two bf16
        # implementations may disagree by.
        f32 = model.float()
        checks["bf16_vs_fp32_same_weights_max_abs_diff"] = max(
            max_abs_diff_valid(hf_forward(f32, inp), logits[n], inp["attention_mask"])
            for n, inp in inputs.items())
        checks["max_abs_logit"] = max(l.float().abs().max().item() for l in logits.values())
        # Two valid bf16 implementations: transformers' own sdpa path vs the eager reference.
        sdpa = transformers.AutoModelForCausalLM.from_pretrained(
            case_dir, attn_implementation="sdpa", dtype=dtype).eval()
        checks["bf16_sdpa_vs_eager_max_abs_diff"] = max(
            max_abs_diff_valid(hf_forward(sdpa, inp), logits[n], inp["attention_mask"])
            for n, inp in inputs.items())

    default_logits = None
    if default_positions:
        with torch.no_grad():
            default_logits = {n: copy.deepcopy(model)(input_ids=inp["input_ids"], attention_mask=inp["attention_mask"]).logits
                              for n, inp in inputs.items()}
    write_reference(case_dir, inputs, logits, default_logits)
    return {"architecture": config.architectures[0], "inputs": list(inputs), "checks": checks,
            "dtype": "bfloat16" if dtype == torch.bfloat16 else "float32"}


LLAMA = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-6, max_position_embeddings=64,
             tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
             bos_token_id=1, eos_token_id=2)


def llama_with(**kw):
    d = dict(LLAMA)
    d.update(kw)
    return d


def set_default_rope(model):
    """Replace the rotary module by an unscaled one (same theta) to measure what scaling changes."""
    cfg = copy.deepcopy(model.config)
    cfg.rope_parameters = {"rope_type": "default", "rope_theta": cfg.rope_parameters["rope_theta"]}
    model.model.rotary_emb = type(model.model.rotary_emb)(config=cfg)


def case_llama(d):
    r = hf_case(d, config_cls="LlamaConfig", model_cls="LlamaForCausalLM", config_kwargs=LLAMA)
    r["notes"] = ("LlamaForCausalLM, 2 layers, GQA (4 heads, 2 kv heads), head_dim 8, untied lm_head, "
                  "rms_norm_eps 1e-6, rope_theta 10000 (rope_parameters rope_type 'default').")
    return r


def case_llama_tied(d):
    r = hf_case(d, config_cls="LlamaConfig", model_cls="LlamaForCausalLM",
                config_kwargs=llama_with(tie_word_embeddings=True))
    r["notes"] = ("As 'llama' with tie_word_embeddings=true: model.safetensors has no lm_head.weight; "
                  "logits = final_norm(h) @ model.embed_tokens.weight^T.")
    return r


def case_llama_bf16(d):
    r = hf_case(d, config_cls="LlamaConfig", model_cls="LlamaForCausalLM", config_kwargs=LLAMA,
                dtype=torch.bfloat16)
    r.update(BF16_TOL)
    r["notes"] = ("The 'llama' weights (same seed) saved as BF16 (config dtype 'bfloat16') and run in bf16 "
                  "as from_pretrained(dtype=bfloat16) loads them: parameters bf16, the rotary inv_freq buffer "
                  "stays fp32 (cos/sin computed in fp32, cast to bf16), RMSNorm normalises in fp32 and casts "
                  "back before the weight multiply, eager softmax in fp32 then cast. logits are the bf16 "
                  "logits widened to fp32. Tolerance atol 0.1 / rtol 0.05: with |logit| up to ~4.4 a bf16 "
                  "result is only good to a few bf16 ulps (2^-8 relative, 0.016 at 4), and op order moves it "
                  "by several ulps: transformers' own sdpa path differs from this eager reference by up to "
                  "~0.055 and fp32 on the same weights by ~0.078 (see checks); 2e-2 would reject both.")
    return r


def rope_case(d, rope, notes, extra=None, variants=(), input_names=STD_INPUTS, pad_invariant=True):
    kw = llama_with(rope_parameters=dict(rope, rope_theta=10000.0), **(extra or {}))
    r = hf_case(d, config_cls="LlamaConfig", model_cls="LlamaForCausalLM", config_kwargs=kw,
                variants=variants, input_names=input_names, pad_invariant=pad_invariant)
    r["notes"] = notes
    return r


def case_llama_rope_linear(d):
    return rope_case(
        d, {"rope_type": "linear", "factor": 4.0},
        "Linear RoPE scaling (modeling_rope_utils.py _compute_linear_scaling_rope_parameters): "
        "inv_freq = 1/theta^(2i/d) / factor, factor 4. attention_scaling 1.",
        variants=[("unscaled_rope", set_default_rope, "single", "differ")])


def case_llama_rope_dynamic(d):
    return rope_case(
        d, {"rope_type": "dynamic", "factor": 2.0},
        "Dynamic NTK RoPE, factor 2, max_position_embeddings 8. transformers recomputes inv_freq in the "
        "forward (dynamic_rope_update) when seq_len = max(position_ids over the WHOLE batch) + 1 > "
        "max_position_embeddings: base' = theta * (factor*seq_len/max_pos - (factor-1))^(d/(d-2)). "
        "Applies here to batch_left (seq_len 9: also to row 0, whose own positions only reach 5, so "
        "padded != unpadded for that row), batch_right (9) and long (12); single (seq_len 7) is "
        "unscaled (checks: unscaled_rope diff 0 on single, > 0 on batch_right). The reference runs every "
        "input on a fresh model (the module keeps the grown inv_freq between calls otherwise).",
        extra={"max_position_embeddings": 8},
        input_names=STD_INPUTS + ["long"], pad_invariant=False,
        variants=[("unscaled_rope", set_default_rope, "single", "equal"),
                  ("unscaled_rope", set_default_rope, "batch_right", "differ"),
                  ("unscaled_rope", set_default_rope, "long", "differ")])


def case_llama_rope_llama3(d):
    return rope_case(
        d, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64},
        "Llama-3 RoPE (_compute_llama3_parameters), factor 8, low_freq_factor 1, high_freq_factor 4, "
        "original_max_position_embeddings 64, max_position_embeddings 512. With head_dim 8, theta 1e4 the "
        "wavelengths 2*pi/inv_freq are 6.3 (< 64/4: kept), 62.8 (between: smoothed), 628 and 6283 "
        "(> 64/1: divided by 8), so all three branches are exercised. attention_scaling 1.",
        extra={"max_position_embeddings": 512},
        variants=[("unscaled_rope", set_default_rope, "single", "differ")])


def case_llama_rope_yarn(d):
    return rope_case(
        d, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256},
        "YaRN RoPE (_compute_yarn_parameters), factor 4, original_max_position_embeddings 256, "
        "max_position_embeddings 1024, defaults beta_fast 32, beta_slow 1, truncate true, no "
        "attention_factor/mscale -> attention_factor = 0.1*ln(4)+1 = 1.1386, which multiplies cos AND sin. "
        "With head_dim 8 the correction range is low=floor(0.105)=0, high=ceil(1.61)=2, ramp over 4 "
        "frequencies = [0, .5, 1, 1]: freq 0 extrapolated, 1 blended, 2-3 interpolated (/4).",
        extra={"max_position_embeddings": 1024},
        variants=[("unscaled_rope", set_default_rope, "single", "differ")])


def set_config_attr(**kw):
    def mutate(model):
        for k, v in kw.items():
            setattr(model.config, k, v)
    return mutate


def case_mistral(d):
    kw = dict(LLAMA, sliding_window=4)
    r = hf_case(d, config_cls="MistralConfig", model_cls="MistralForCausalLM", config_kwargs=kw,
                input_names=STD_INPUTS + ["long"],
                variants=[("no_sliding_window", set_config_attr(sliding_window=None), "long", "differ"),
                          ("no_sliding_window", set_config_attr(sliding_window=None), "single", "differ")])
    r["notes"] = ("MistralForCausalLM = Llama + sliding_window 4 on every layer (mask from "
                  "masking_utils.create_sliding_window_causal_mask: query i attends key j iff j <= i and "
                  "j > i - 4, i.e. i - j < 4: the token itself plus 3 previous). Indices are positions in "
                  "the padded [B, T] tensor, not position_ids (identical for contiguous real tokens). "
                  "checks.no_sliding_window_* prove the window changes the logits.")
    return r


QWEN2 = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, rms_norm_eps=1e-6, max_position_embeddings=64, tie_word_embeddings=False,
             rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, bos_token_id=1, eos_token_id=2)


def case_qwen2(d):
    r = hf_case(d, config_cls="Qwen2Config", model_cls="Qwen2ForCausalLM", config_kwargs=QWEN2)
    r["notes"] = ("Qwen2ForCausalLM: Llama layout plus biases on q_proj/k_proj/v_proj (o_proj and MLP "
                  "have none); head_dim = hidden/heads = 8; use_sliding_window false -> layer_types all "
                  "full_attention.")
    return r


def case_qwen2_sliding(d):
    kw = dict(QWEN2, num_hidden_layers=3, use_sliding_window=True, sliding_window=4, max_window_layers=1)
    r = hf_case(d, config_cls="Qwen2Config", model_cls="Qwen2ForCausalLM", config_kwargs=kw,
                input_names=STD_INPUTS + ["long"],
                variants=[("all_full_attention", set_config_attr(layer_types=["full_attention"] * 3),
                           "long", "differ")])
    r["notes"] = ("Qwen2 with use_sliding_window true, sliding_window 4, max_window_layers 1, 3 layers, "
                  "layer_types not given: Qwen2Config.__post_init__ derives layer i = 'sliding_attention' "
                  "iff sliding_window is not None and i >= max_window_layers -> [full, sliding, sliding] "
                  "(saved in config.json). Sliding layers use the i - j < 4 window mask.")
    return r


QWEN3 = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, max_position_embeddings=64,
             tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
             bos_token_id=1, eos_token_id=2)


def case_qwen3(d):
    kw = dict(QWEN3, layer_types=["full_attention", "full_attention"])
    r = hf_case(d, config_cls="Qwen3Config", model_cls="Qwen3ForCausalLM", config_kwargs=kw)
    r["notes"] = ("Qwen3ForCausalLM: head_dim 16 != hidden/heads = 8 (q_proj [64, 32], o_proj [32, 64]); "
                  "per-head RMSNorm q_norm/k_norm (weight [16], eps rms_norm_eps) applied to q and k after "
                  "the projection and BEFORE RoPE; no q/k/v biases (attention_bias false); layer_types all "
                  "full_attention.")
    return r


def case_qwen3_sliding(d):
    types = ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]
    kw = dict(QWEN3, num_hidden_layers=4, use_sliding_window=True, sliding_window=4, max_window_layers=2,
              layer_types=types)
    r = hf_case(d, config_cls="Qwen3Config", model_cls="Qwen3ForCausalLM", config_kwargs=kw,
                input_names=STD_INPUTS + ["long"],
                variants=[("all_full_attention", set_config_attr(layer_types=["full_attention"] * 4),
                           "long", "differ")])
    r["notes"] = ("Qwen3 with explicit layer_types [sliding, full, sliding, full], use_sliding_window true, "
                  "sliding_window 4. max_window_layers 2 would derive [full, full, sliding, sliding]; the "
                  "explicit layer_types wins (the derivation only runs when layer_types is absent), so a "
                  "parser must follow layer_types. Sliding layers: key j visible from query i iff "
                  "j <= i and i - j < 4.")
    return r


def case_gemma(d):
    kw = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=1, head_dim=8, rms_norm_eps=1e-6, max_position_embeddings=64,
              rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, hidden_act="gelu_pytorch_tanh",
              pad_token_id=0, bos_token_id=2, eos_token_id=1)
    r = hf_case(d, config_cls="GemmaConfig", model_cls="GemmaForCausalLM", config_kwargs=kw)
    r["notes"] = ("GemmaForCausalLM, MQA (1 kv head), head_dim 8, tied embeddings (default): "
                  "embeddings multiplied by sqrt(hidden_size) as a tensor cast to the weight dtype; "
                  "GemmaRMSNorm: x.float() * rsqrt(mean(x^2)+eps) * (1 + w.float()), then cast (weights "
                  "stored as offsets around 0); MLP down(gelu_tanh(gate(x)) * up(x)); attention scale "
                  "head_dim^-0.5.")
    return r


def set_layer_attr(name, value):
    """Sets an attribute that attention modules copy from the config at construction."""
    def mutate(model):
        for layer in model.model.layers:
            setattr(layer.self_attn, name, value)
    return mutate


def case_gemma2(d):
    kw = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
              num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-6, max_position_embeddings=64,
              rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, hidden_activation="gelu_pytorch_tanh",
              query_pre_attn_scalar=16, sliding_window=4, attn_logit_softcapping=1.0, final_logit_softcapping=2.0,
              pad_token_id=0, bos_token_id=2, eos_token_id=1)
    r = hf_case(d, config_cls="Gemma2Config", model_cls="Gemma2ForCausalLM", config_kwargs=kw,
                input_names=STD_INPUTS + ["long"],
                variants=[("no_attn_softcap", set_layer_attr("attn_logit_softcapping", None), "single", "differ"),
                          ("no_final_softcap", set_config_attr(final_logit_softcapping=None), "single", "differ"),
                          ("all_full_attention", set_config_attr(layer_types=["full_attention"] * 4), "long", "differ"),
                          ("query_scale_head_dim", set_layer_attr("scaling", 8 ** -0.5), "single", "differ")])
    r["notes"] = ("Gemma2ForCausalLM, 4 layers, layer_types default [sliding, full, sliding, full] (written to "
                  "config.json), sliding_window 4, GQA (4 heads, 2 kv heads), head_dim 8. Differences from Gemma: "
                  "four (1 + w) RMSNorms per layer (input_layernorm before attention, post_attention_layernorm on "
                  "its output, pre_/post_feedforward_layernorm around the MLP); q·k scaled by "
                  "query_pre_attn_scalar^-0.5 = 16^-0.5 (not head_dim^-0.5); scores soft-capped as "
                  "cap * tanh(scores / cap) before the mask, cap 1.0 (50 in real models: lowered so that the "
                  "variants prove it live); logits soft-capped with cap 2.0 (30 in real models). The variants "
                  "show every feature changes the logits.")
    return r


def set_rope_parameters(rope_parameters):
    """Rebuilds the rotary module from changed RoPE parameters."""
    def mutate(model):
        cfg = copy.deepcopy(model.config)
        cfg.rope_parameters = copy.deepcopy(rope_parameters)
        model.model.rotary_emb = type(model.model.rotary_emb)(config=cfg)
    return mutate


GEMMA3_ROPE = {"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
               "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}}


def case_gemma3(d):
    kw = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
              num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-6, max_position_embeddings=64,
              rope_parameters=copy.deepcopy(GEMMA3_ROPE), hidden_activation="gelu_pytorch_tanh",
              query_pre_attn_scalar=16, sliding_window=4, sliding_window_pattern=2,
              pad_token_id=0, bos_token_id=2, eos_token_id=1)
    same_rope = {"sliding_attention": GEMMA3_ROPE["full_attention"], "full_attention": GEMMA3_ROPE["full_attention"]}
    r = hf_case(d, config_cls="Gemma3TextConfig", model_cls="Gemma3ForCausalLM", config_kwargs=kw,
                input_names=STD_INPUTS + ["long"],
                variants=[("all_full_attention", set_config_attr(layer_types=["full_attention"] * 4), "long", "differ"),
                          ("one_rope_for_both_layer_types", set_rope_parameters(same_rope), "long", "differ"),
                          ("no_qk_norm", set_layer_attr("q_norm", torch.nn.Identity()), "single", "differ")])
    r["notes"] = ("Gemma3ForCausalLM (gemma3_text), 4 layers, layer_types [sliding, full, sliding, full] (from "
                  "sliding_window_pattern 2; real models use 6), sliding_window 4. Gemma 2's layer (four (1 + w) "
                  "RMSNorms, q·k scaled by query_pre_attn_scalar^-0.5 = 0.25) plus q_norm / k_norm ((1 + w) "
                  "RMSNorm over head_dim) and one RoPE per layer type from rope_parameters keyed by layer type: "
                  "sliding layers theta 10000 (default), full layers theta 1e6 with linear scaling factor 8. No "
                  "soft-capping (both caps null). The variants show layer types, the per-type RoPE and the q/k norm "
                  "each change the logits.")
    return r


def case_smollm3(d):
    kw = dict(LLAMA, num_hidden_layers=4, tie_word_embeddings=True, pad_token_id=0)
    r = hf_case(d, config_cls="SmolLM3Config", model_cls="SmolLM3ForCausalLM", config_kwargs=kw,
                variants=[("rope_everywhere", set_layer_attr("use_rope", 1), "single", "differ")])
    r["notes"] = ("SmolLM3ForCausalLM: Llama with tied embeddings and NoPE layers. no_rope_layers (written to "
                  "config.json) = [1, 1, 1, 0] from no_rope_layer_interval 4: layer 3 applies no rotary embedding "
                  "to q and k. The variant turns RoPE on in every layer and changes the logits.")
    return r


def case_olmo2(d):
    kw = dict(LLAMA, pad_token_id=0)
    r = hf_case(d, config_cls="Olmo2Config", model_cls="Olmo2ForCausalLM", config_kwargs=kw,
                variants=[("no_qk_norm", set_layer_attr("q_norm", torch.nn.Identity()), "single", "differ")])
    r["notes"] = ("Olmo2ForCausalLM, 2 layers, GQA (4 heads, 2 kv heads): no norm before the sub-blocks; "
                  "post_attention_layernorm on the attention output and post_feedforward_layernorm on the MLP "
                  "output, each added to the residual after the norm; q_norm / k_norm are RMSNorms over all heads "
                  "at once ([heads * head_dim] = [32] and [kv_heads * head_dim] = [16] weights) applied to the "
                  "projections before the head split and RoPE; Olmo2RMSNorm multiplies the weight in float32 "
                  "before casting back.")
    return r


# Partial rotary 0.5 (rotary dim 4 of head_dim 8: two frequencies) and LongRoPE with a pretraining
# context of 8, so the 12-token input takes the long factors and the 7-token ones the short.
PHI3_ROPE = {"rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 0.5,
             "short_factor": [1.0, 1.5], "long_factor": [2.0, 3.0], "original_max_position_embeddings": 8}


def case_phi3(d):
    kw = dict(LLAMA, rope_parameters=dict(PHI3_ROPE), original_max_position_embeddings=8, pad_token_id=0)
    # LongRoPE picks its factors from the batch's largest position, so a row's logits depend on the
    # rows padded beside it (transformers' behaviour): no padded-vs-unpadded check.
    r = hf_case(d, config_cls="Phi3Config", model_cls="Phi3ForCausalLM", config_kwargs=kw,
                input_names=STD_INPUTS + ["long"], pad_invariant=False,
                variants=[("full_rotary", set_rope_parameters(dict(PHI3_ROPE, partial_rotary_factor=1.0,
                                                                   short_factor=[1.0, 1.5, 1.0, 1.0],
                                                                   long_factor=[2.0, 3.0, 1.0, 1.0])),
                           "single", "differ"),
                          ("short_factors_on_long_input", set_rope_parameters(dict(PHI3_ROPE, long_factor=[1.0, 1.5])),
                           "long", "differ")])
    r["notes"] = ("Phi3ForCausalLM: Llama's layer with fused checkpoint tensors self_attn.qkv_proj ([q; k; v] rows: "
                  "32 + 16 + 16) and mlp.gate_up_proj ([gate; up] rows); partial_rotary_factor 0.5 (the first 4 of 8 "
                  "head dims rotate, the rest pass through); LongRoPE: inv_freq = 1 / (ext * theta^(2i/4)) with "
                  "ext = short_factor while max position + 1 <= original_max_position_embeddings (8), long_factor "
                  "beyond (chosen once per batch from its largest position, so padded batches are not row-independent), and cos/sin scaled by sqrt(1 + ln(64/8) / ln(8)). The 'long' input (12 tokens) uses the "
                  "long factors, the others the short ones; the variants show both and the partial rotary are live.")
    return r


def case_gpt2(d):
    kw = dict(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=1, eos_token_id=1)
    r = hf_case(d, config_cls="GPT2Config", model_cls="GPT2LMHeadModel", config_kwargs=kw)
    r["notes"] = ("GPT2LMHeadModel: learned absolute positions (transformer.wpe, indexed by position_ids), "
                  "pre-LayerNorm blocks (eps 1e-5, with bias), Conv1D weights stored [in, out] "
                  "(y = x @ W + b), fused c_attn [32, 96] split as q|k|v along the output dim, "
                  "gelu_new (tanh approximation), attention scale head_dim^-0.5, final ln_f, lm_head tied "
                  "to transformer.wte (no lm_head.weight in the checkpoint). Tensor names carry the "
                  "'transformer.' prefix as save_pretrained writes them.")
    return r


OPT = dict(vocab_size=VOCAB, hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4,
           max_position_embeddings=64, pad_token_id=PAD_ID, bos_token_id=1, eos_token_id=1)


def case_opt(d):
    r = hf_case(d, config_cls="OPTConfig", model_cls="OPTForCausalLM", config_kwargs=OPT, default_positions=True)
    r["notes"] = ("OPTForCausalLM (125m-style): weights under model.decoder.* (embed_tokens, embed_positions, "
                  "layers.{i}.self_attn.{q,k,v,out}_proj, self_attn_layer_norm, fc1, fc2, final_layer_norm, "
                  "final_layer_norm of the decoder), learned positions read at position_ids + 2, pre-LayerNorm "
                  "blocks (eps 1e-5, with bias), ReLU MLP, biases everywhere, q scaled by head_dim^-0.5 before "
                  "q.k, lm_head tied to embed_tokens. `logits_default_positions`: without position_ids OPT counts "
                  "positions over the real tokens (cumsum(mask) * mask - 1).")
    return r


def case_opt_post_norm(d):
    kw = dict(OPT, do_layer_norm_before=False, word_embed_proj_dim=16)
    r = hf_case(d, config_cls="OPTConfig", model_cls="OPTForCausalLM", config_kwargs=kw, default_positions=True)
    r["notes"] = ("OPTForCausalLM (350m-style): do_layer_norm_before = false, so each block normalises its residual "
                  "sums (h = self_attn_layer_norm(h + attn(h)); h = final_layer_norm(h + mlp(h))) and the decoder "
                  "has no final norm; word_embed_proj_dim 16 < hidden 32: embeddings [128, 16] go through "
                  "project_in [32, 16] before the positions are added, the last hidden state through project_out "
                  "[16, 32], and the tied head reads 16 features.")
    return r


QWEN3_MOE = dict(QWEN3, num_hidden_layers=3, intermediate_size=48, moe_intermediate_size=16, num_experts=4,
                 num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[1])


def case_qwen3_moe(d):
    r = hf_case(d, config_cls="Qwen3MoeConfig", model_cls="Qwen3MoeForCausalLM", config_kwargs=QWEN3_MOE,
                variants=[("top_1", set_moe_attr(top_k=1), "batch_left", "differ"),
                          ("no_renormalisation", set_moe_attr(norm_topk_prob=False), "batch_left", "differ")])
    r["notes"] = ("Qwen3MoeForCausalLM: Qwen3 attention (head_dim 16, per-head q/k RMSNorm); layers 0 and 2 are "
                  "sparse MoE blocks (decoder_sparse_step 1, mlp_only_layers [1]): router mlp.gate [4, 32] (no "
                  "bias), softmax over 4 experts in float32, top-2, renormalised (norm_topk_prob), experts "
                  "SwiGLU of width moe_intermediate_size 16; layer 1 is a dense SwiGLU MLP of intermediate_size 48. "
                  "save_pretrained writes experts one by one (mlp.experts.{e}.{gate,up,down}_proj.weight); "
                  "transformers stacks them into experts.gate_up_proj [4, 32, 32] and experts.down_proj [4, 32, 16].")
    return r


MIXTRAL = dict(LLAMA, num_local_experts=4, num_experts_per_tok=2, sliding_window=4)


def case_mixtral(d):
    r = hf_case(d, config_cls="MixtralConfig", model_cls="MixtralForCausalLM", config_kwargs=MIXTRAL,
                input_names=STD_INPUTS + ["long"],
                variants=[("top_1", set_moe_attr(top_k=1), "batch_left", "differ"),
                          ("no_sliding_window", set_config_attr(sliding_window=None), "long", "differ")])
    r["notes"] = ("MixtralForCausalLM: Mistral attention with sliding_window 4 on every layer; every layer a sparse "
                  "MoE block: router [4, 32], softmax in float32, top-2, always renormalised, experts SwiGLU of width "
                  "intermediate_size 64. Saved as block_sparse_moe.gate and block_sparse_moe.experts.{e}.w1 (gate), "
                  "w3 (up), w2 (down); transformers renames block_sparse_moe to mlp and stacks the experts.")
    return r


GPT_OSS = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=16, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, head_dim=8, num_local_experts=4, num_experts_per_tok=2, sliding_window=4,
               max_position_embeddings=64, rms_norm_eps=1e-5, swiglu_limit=1.5, bos_token_id=1, eos_token_id=2,
               pad_token_id=0,
               rope_parameters={"rope_type": "yarn", "rope_theta": 150000.0, "factor": 4.0, "beta_fast": 32.0,
                                "beta_slow": 1.0, "truncate": False, "original_max_position_embeddings": 16})


def drop_sinks(model):
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.sinks.fill_(-1e4)


def case_gpt_oss(d):
    r = hf_case(d, config_cls="GptOssConfig", model_cls="GptOssForCausalLM", config_kwargs=GPT_OSS,
                input_names=STD_INPUTS + ["long"],
                variants=[("top_1", set_moe_attr(top_k=1), "batch_left", "differ"),
                          ("no_sinks", drop_sinks, "batch_left", "differ"),
                          ("all_full_attention", set_config_attr(layer_types=["full_attention"] * 2), "long", "differ")])
    r["notes"] = ("GptOssForCausalLM: layer_types [sliding (window 4), full]; q/k/v/o with biases; self_attn.sinks "
                  "[4]: a learned logit per head concatenated to each row of scores before the softmax (max "
                  "subtracted, softmax in the scores' dtype) and dropped after it; YaRN RoPE (factor 4, original "
                  "context 16, truncate false) with the half-split rotation; RMSNorm weight multiplied in float32; "
                  "every layer MoE: router mlp.router with bias [4, 32] + [4], top-2 of the logits then softmax over "
                  "those 2; experts with biases, gate_up_proj [4, 32, 32] stored [E, H, 2I] with gate/up interleaved "
                  "column by column (gate = [..., ::2], up = [..., 1::2]), down_proj [4, 16, 32] stored [E, I, H]; "
                  "clamped SwiGLU: gate <= limit, |up| <= limit (swiglu_limit 1.5 so the clamps bite), "
                  "(up + 1) * gate * sigmoid(1.702 * gate).")
    return r


def case_gpt_oss_mxfp4(d):
    """A checkpoint whose experts are stored in MXFP4, as OpenAI released gpt-oss; transformers dequantizes it
    (Mxfp4Config(dequantize=True) on CPU). Blocks are random nibbles, scales exponents around 2^-3."""
    torch.manual_seed(SEED)
    kw = dict(GPT_OSS, intermediate_size=32)  # whole groups of 32 along every quantized dimension
    config = cls("GptOssConfig")(**kw)
    model = cls("GptOssForCausalLM")._from_config(config, attn_implementation="eager")
    randomize(model, 0.2)
    model = model.float().eval()
    model.save_pretrained(d)
    path = os.path.join(d, "model.safetensors")
    with safe_open(path, "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    g = torch.Generator().manual_seed(7)
    h, i, e = kw["hidden_size"], kw["intermediate_size"], kw["num_local_experts"]
    for layer in range(kw["num_hidden_layers"]):
        for proj, rows, cols in (("gate_up_proj", 2 * i, h), ("down_proj", h, i)):
            name = f"model.layers.{layer}.mlp.experts.{proj}"
            del tensors[name]
            # [E, rows, groups of 32 values, 16 bytes]; the dequantized tensor is [E, cols, rows].
            tensors[name + "_blocks"] = torch.randint(0, 256, (e, rows, cols // 32, 16), generator=g, dtype=torch.uint8)
            tensors[name + "_scales"] = torch.randint(124, 127, (e, rows, cols // 32), generator=g, dtype=torch.uint8)
    save_file(tensors, path, metadata={"format": "pt"})
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    cfg["quantization_config"] = {"quant_method": "mxfp4", "modules_to_not_convert": [
        "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    ref = transformers.AutoModelForCausalLM.from_pretrained(
        d, attn_implementation="eager", dtype=torch.float32,
        quantization_config=transformers.Mxfp4Config(dequantize=True)).eval()
    inputs = make_inputs(STD_INPUTS)
    logits = {name: hf_forward(ref, inp) for name, inp in inputs.items()}
    write_reference(d, inputs, logits)
    w = ref.model.layers[0].mlp.experts.gate_up_proj
    return {"architecture": "GptOssForCausalLM", "inputs": list(inputs), "dtype": "float32",
            "checks": {"dequantized_gate_up_shape": list(w.shape), "dequantized_abs_max": w.abs().max().item()},
            "notes": "gpt_oss weights with the experts stored as MXFP4 (mlp.experts.{gate_up,down}_proj_blocks uint8 "
                     "[E, R, G, 16] and _scales uint8 [E, R, G], 32 fp4 values per group scaled by 2^(scale - 127), "
                     "low nibble first) and quantization_config.quant_method mxfp4; reference = transformers "
                     "loading it with Mxfp4Config(dequantize=True) in float32."}


LLAMA4 = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=16, intermediate_size_mlp=48, num_hidden_layers=4,
              num_attention_heads=4, num_key_value_heads=2, head_dim=8, num_local_experts=4, num_experts_per_tok=1,
              interleave_moe_layer_step=2, attention_chunk_size=4, no_rope_layer_interval=2, floor_scale=2,
              attn_scale=0.5, rms_norm_eps=1e-5, max_position_embeddings=64, bos_token_id=1, eos_token_id=2,
              pad_token_id=0, rope_parameters={"rope_type": "default", "rope_theta": 500000.0})


def set_llama4_attention(**kw):
    """Changes attention attributes the Llama 4 attention modules copy from the config."""
    def mutate(model):
        for layer in model.model.layers:
            for k, v in kw.items():
                setattr(layer.self_attn, k, v)
    return mutate


def case_llama4(d):
    # Temperature tuning reads the query's index in the padded sequence, not its position id: a left-padded
    # row differs from the same tokens unpadded (transformers' behaviour, reproduced, not a padding bug).
    r = hf_case(d, config_cls="Llama4TextConfig", model_cls="Llama4ForCausalLM", config_kwargs=LLAMA4,
                input_names=STD_INPUTS + ["long"], pad_invariant=False,
                variants=[("no_chunks", set_config_attr(layer_types=["full_attention"] * 4), "long", "differ"),
                          ("no_temperature_tuning", set_llama4_attention(attn_temperature_tuning=False), "long",
                           "differ"),
                          ("top_1_of_2_experts_weights_1", set_moe_attr(top_k=2), "batch_left", "differ")])
    r["notes"] = ("Llama4ForCausalLM (text): layers 0 and 2 rotate (RoPE on interleaved pairs as complex numbers, in "
                  "float32), then L2-normalise q and k per head (use_qk_norm, no weights), and attend within chunks of 4 "
                  "tokens counted from each row's first real token (chunked_attention); layers 1 and 3 are NoPE "
                  "(no_rope_layer_interval 2) with full causal attention and attention temperature tuning (q scaled by "
                  "log1p(floor((i + 1) / 2)) * 0.5 + 1, i the query's index in the padded sequence). Layers 1 and 3 are "
                  "MoE (interleave_moe_layer_step 2): router feed_forward.router [4, 32], sigmoid of the top-1 logit "
                  "scaling the expert's INPUT, experts gate_up_proj [4, 32, 32] held [E, H, 2I] (gate half, then up), "
                  "down_proj [4, 16, 32], plus feed_forward.shared_expert (width 16); layers 0 and 2 dense of "
                  "intermediate_size_mlp 48.")
    return r


def case_llama4_multimodal(d):
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=16,
                  patch_size=4, vision_output_dim=32, projector_input_dim=32, projector_output_dim=32)
    text = {k: v for k, v in LLAMA4.items() if k not in ("bos_token_id", "eos_token_id", "pad_token_id")}
    kw = dict(text_config=text, vision_config=vision, tie_word_embeddings=False)
    r = hf_case(d, config_cls="Llama4Config", model_cls="Llama4ForConditionalGeneration", config_kwargs=kw,
                input_names=STD_INPUTS + ["long"], pad_invariant=False,
                auto_class=cls("Llama4ForConditionalGeneration"))
    r["notes"] = ("Llama4ForConditionalGeneration, text only: the llama4 case's language model as language_model "
                  "(language_model.model.*, language_model.lm_head, with feed_forward.* and the x @ W expert stacks "
                  "inside), beside vision_model.* and multi_modal_projector.* that text never reaches.")
    return r


VISION_QWEN3_VL = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32,
                       deepstack_visual_indexes=[0], patch_size=4, spatial_merge_size=2, temporal_patch_size=2)


def case_qwen3_vl(d):
    text = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, max_position_embeddings=64,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 2, 2],
                                 "mrope_interleaved": True})
    kw = dict(text_config=text, vision_config=VISION_QWEN3_VL, tie_word_embeddings=False)
    r = hf_case(d, config_cls="Qwen3VLConfig", model_cls="Qwen3VLForConditionalGeneration", config_kwargs=kw,
                auto_class=cls("Qwen3VLForConditionalGeneration"))
    r["notes"] = ("Qwen3VLForConditionalGeneration, text only: the language model (Qwen3: head_dim 16, per-head q/k "
                  "norms) under model.language_model.*, lm_head at the top, a 1-block vision encoder under "
                  "model.visual.* that text never reaches; interleaved MRoPE (mrope_section [4, 2, 2]) with the "
                  "2-D position_ids expanded to equal time/height/width streams, i.e. plain 1-D RoPE; "
                  "tie_word_embeddings read from the top-level config.")
    return r


def case_qwen3_vl_moe(d):
    text = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, moe_intermediate_size=8, num_experts=4,
                num_experts_per_tok=2, mlp_only_layers=[1], num_hidden_layers=3, num_attention_heads=4,
                num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, max_position_embeddings=64,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 2, 2],
                                 "mrope_interleaved": True})
    kw = dict(text_config=text, vision_config=VISION_QWEN3_VL, tie_word_embeddings=False)
    auto = cls("Qwen3VLMoeForConditionalGeneration")
    r = hf_case(d, config_cls="Qwen3VLMoeConfig", model_cls="Qwen3VLMoeForConditionalGeneration", config_kwargs=kw,
                auto_class=auto)
    # Released checkpoints store the expert stacks transposed ([E, H, 2I], [E, I, H]); transformers transposes
    # a stack whose shape is not its module's. Store them that way and check transformers reads the same model.
    path = os.path.join(d, "model.safetensors")
    with safe_open(path, "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for k in list(tensors):
        if ".mlp.experts." in k:
            tensors[k] = tensors[k].transpose(1, 2).contiguous()
    save_file(tensors, path, metadata={"format": "pt"})
    ref = load_file(os.path.join(d, "reference.safetensors"))
    again = auto.from_pretrained(d, attn_implementation="eager", dtype=torch.float32).eval()
    inp = {k: ref["batch_left." + k] for k in ("input_ids", "attention_mask", "position_ids")}
    diff = max_abs_diff_valid(hf_forward(again, inp), ref["batch_left.logits"], inp["attention_mask"])
    if diff != 0.0:
        raise CheckFailed(f"transposed expert stacks load differently in transformers: {diff}")
    r["checks"]["transposed_experts_reloaded_max_abs_diff"] = diff
    r["notes"] = ("Qwen3VLMoeForConditionalGeneration, text only: a Qwen3-MoE language model (layers 0 and 2 MoE with 4 "
                  "experts of width 8, top-2, always renormalised; layer 1 dense via mlp_only_layers) under "
                  "model.language_model.*, vision encoder under model.visual.*. The expert stacks are stored "
                  "transposed as in released checkpoints (gate_up_proj [4, 32, 16] = [E, H, 2I], down_proj [4, 8, 32]); "
                  "transformers transposes them to its modules' [E, 2I, H] / [E, H, I] on load.")
    return r


def case_mistral3(d):
    text = dict(LLAMA, model_type="mistral", sliding_window=4, head_dim=8)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, head_dim=8,
                  image_size=16, patch_size=4)
    kw = dict(text_config=text, vision_config=vision, tie_word_embeddings=False, spatial_merge_size=2)
    r = hf_case(d, config_cls="Mistral3Config", model_cls="Mistral3ForConditionalGeneration", config_kwargs=kw,
                input_names=STD_INPUTS + ["long"], auto_class=cls("Mistral3ForConditionalGeneration"))
    r["notes"] = ("Mistral3ForConditionalGeneration (Mistral-Small-3.x), text only: a Mistral language model "
                  "(sliding_window 4) under model.language_model.*, lm_head at the top, a Pixtral vision tower "
                  "(model.vision_tower.*) and model.multi_modal_projector.* that text never reaches; "
                  "tie_word_embeddings false at the top level (Mistral3Config's default is true).")
    return r


def set_moe_attr(**kw):
    """Changes routing attributes on every router (top_k, norm_topk_prob)."""
    def mutate(model):
        for m in model.modules():
            for k, v in kw.items():
                if hasattr(m, k) and hasattr(m, "weight") and m.__class__.__name__.endswith("Router"):
                    setattr(m, k, v)
    return mutate


NEMOTRON_H = dict(vocab_size=VOCAB, hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                  layers_block_type=["linear_attention", "full_attention", "mlp", "linear_attention", "moe"],
                  intermediate_size=48, mamba_num_heads=4, mamba_head_dim=8, n_groups=2, ssm_state_size=8,
                  conv_kernel=4, chunk_size=4, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                  moe_shared_expert_intermediate_size=24, n_group=2, topk_group=1, routed_scaling_factor=2.5,
                  max_position_embeddings=64, layer_norm_epsilon=1e-5, bos_token_id=1, eos_token_id=2,
                  pad_token_id=0)


def randomize_score_correction(model):
    """The router's e_score_correction_bias is a buffer (zeros at init): large enough to change the choice."""
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "e_score_correction_bias"):
                m.e_score_correction_bias.copy_(torch.randn_like(m.e_score_correction_bias) * 0.5)


def set_mamba_attr(**kw):
    def mutate(model):
        for m in model.modules():
            if m.__class__.__name__.endswith("Mamba2Mixer"):
                for k, v in kw.items():
                    setattr(m, k, v)
    return mutate


def zero_score_correction(model):
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "e_score_correction_bias"):
                m.e_score_correction_bias.zero_()


def case_nemotron_h(d):
    r = hf_case(d, config_cls="NemotronHConfig", model_cls="NemotronHForCausalLM", config_kwargs=NEMOTRON_H,
                input_names=STD_INPUTS + ["long"], prepare=randomize_score_correction,
                variants=[("top_1", set_moe_attr(top_k=1), "batch_left", "differ"),
                          ("no_score_correction", zero_score_correction, "long", "differ"),
                          ("chunk_size_16", set_mamba_attr(chunk_size=16), "long", "equal"),
                          ("no_dt_clamp", set_mamba_attr(time_step_limit=(0.0, float("inf"))), "long", "differ")])
    r["notes"] = ("NemotronHForCausalLM, blocks [mamba, attention, mlp, mamba, moe] (layers_block_type), each "
                  "h += mixer(norm(h)). Mamba-2 mixer: 4 heads of 8, 2 groups, state 8, conv kernel 4, chunk_size 4 "
                  "so that 7-12 tokens span several chunks of the scan (a chunk size of 16 gives equal logits); "
                  "dt clamped below at time_step_min 0.001 in the scan (it bites here: without the clamp the logits "
                  "differ), which transformers' one-token step does not do; gated RMSNorm per group. Attention without positions "
                  "(4 heads, 2 KV heads). ReLU² MLP of 48. MoE: 4 non-gated ReLU² experts of 16 in 2 groups, "
                  "sigmoid router with a random e_score_correction_bias (0.5 std) that changes the choice, "
                  "topk_group 1, top-2 renormalised, times routed_scaling_factor 2.5, plus a shared ReLU² expert of "
                  "24. Saved under backbone.* with experts one by one.")
    return r


# -------------------------------------------------------------------------------------- nemotron_h_hetero

NEMOTRON_H_HETERO = dict(NEMOTRON_H, layers_block_type=["linear_attention", "linear_attention", "full_attention", "mlp",
                                                        "linear_attention", "moe", "mlp"],
                         moe_latent_size=16, time_step_min=1e-9)
NEMOTRON_H_HETERO_LAYERS = {
    0: {"mamba_num_heads": 2},                             # a narrower Mamba mixer (2 heads of 8)
    1: {"skip": ["mixer"]},                                # a pruned Mamba block
    2: {"num_key_value_heads": 4},                         # attention with more KV heads
    3: {"intermediate_size": 24},                          # a shrunk MLP
    4: {"skip": ["mixer"]},                                # another pruned Mamba block
    5: {"n_routed_experts": 6, "moe_intermediate_size": 8},  # 6 narrower experts in 2 groups of 3
    6: {"intermediate_size": 16},                          # another shrunk MLP
}


class SkippedNemotronHBlock(nn.Module):
    """A Nemotron-H block whose mixer is skipped: its norm and mixer are gone and h is unchanged."""
    block_type = "mlp"  # NemotronHModel passes no mask to it

    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states


def build_nemotron_h_hetero(het_cfg):
    """NemotronHForCausalLM whose block i is NemotronHBlock(config.per_layer_config[i], i), or the identity where
    the mixer is skipped; NemotronHModel.forward runs it unchanged (it has no per-layer masks)."""
    from transformers.models.nemotron_h.modeling_nemotron_h import NemotronHBlock

    het_cfg._attn_implementation = "eager"
    glob = het_cfg.to_dict()
    glob.pop("per_layer_config", None)
    model = cls("NemotronHForCausalLM")._from_config(type(het_cfg).from_dict(glob), attn_implementation="eager")
    for i in range(het_cfg.num_hidden_layers):
        lc = het_cfg.per_layer_config[i]
        if "mixer" in lc.skip:
            model.model.layers[i] = SkippedNemotronHBlock()
            continue
        # Its own init is complete (the model's _init_weights would size A_log by the global head count):
        # norms are ones, the mixer sets A_log / D / dt_bias, and randomize() draws every matrix.
        model.model.layers[i] = NemotronHBlock(lc, i)
    return model.float().eval()


def case_nemotron_h_hetero(d):
    import tempfile

    torch.manual_seed(SEED)
    het_cfg = cls("NemotronHConfig")(**NEMOTRON_H_HETERO, per_layer_config=copy.deepcopy(NEMOTRON_H_HETERO_LAYERS))
    model = build_nemotron_h_hetero(het_cfg)
    randomize(model, 0.2)
    randomize_score_correction(model)
    het_cfg.architectures = ["NemotronHForCausalLM"]
    het_cfg.dtype = torch.float32
    het_cfg.save_pretrained(d)
    # The weights as save_pretrained writes them (backbone.*, experts one by one), the config with per_layer_config.
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        with safe_open(os.path.join(tmp, "model.safetensors"), "pt") as f:
            saved = {k: f.get_tensor(k) for k in f.keys()}
    save_file(saved, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    inputs = make_inputs(STD_INPUTS + ["long"])
    logits = {n: hf_forward(model, inp) for n, inp in inputs.items()}
    checks = {}
    model2 = build_nemotron_h_hetero(transformers.AutoConfig.from_pretrained(d))
    model2.load_state_dict(model.state_dict(), strict=True)
    checks["reload_max_abs_diff"] = max(max_abs_diff_valid(hf_forward(model2, inp), logits[n], inp["attention_mask"])
                                        for n, inp in inputs.items())
    if checks["reload_max_abs_diff"] != 0.0:
        raise CheckFailed("reloaded nemotron_h_hetero differs")
    checks["padded_vs_unpadded_max_abs_diff"] = unpadded_rows_diff(lambda inp: hf_forward(model, inp), inputs, logits)
    if checks["padded_vs_unpadded_max_abs_diff"] > FP32_TOL["atol"]:
        raise CheckFailed("padded rows differ from unpadded runs")
    layers = model.model.layers
    checks["shapes"] = {"mamba_in_proj_0": list(layers[0].mixer.in_proj.weight.shape),
                        "mlp_up_3": list(layers[3].mixer.up_proj.weight.shape),
                        "experts_up_5": list(layers[5].mixer.experts.up_proj.shape),
                        "kv_2": list(layers[2].mixer.k_proj.weight.shape)}
    expected = {"mamba_in_proj_0": [16 + 16 + 32 + 2, 32], "mlp_up_3": [24, 32], "experts_up_5": [6, 8, 16],
                "kv_2": [32, 32]}
    if checks["shapes"] != expected:
        raise CheckFailed(f"per-layer shapes not applied: {checks['shapes']}")
    write_reference(d, inputs, logits)
    return {"architecture": "NemotronHForCausalLM", "inputs": list(inputs), "checks": checks, "dtype": "float32",
            "notes": "Heterogeneous Nemotron-H (per_layer_config) over blocks [mamba, mamba, attention, mlp, mamba, moe, "
                     "mlp]: block 0's Mamba mixer has 2 heads instead of 4, blocks 1 and 4 skip their mixer (the block "
                     "is the identity: no norm, no tensors), block 2 has 4 KV heads, blocks 3 and 6 have MLPs of 24 and "
                     "16 instead of 48, block 5 has 6 experts of width 8 (2 groups of 3) working in a latent width of "
                     "16 (moe_latent_size: fc1_latent_proj / fc2_latent_proj). time_step_min 1e-9 so that the scan and the "
                     "one-token step compute the same dt. Each block is transformers' NemotronHBlock built from the "
                     "resolved per-layer config; NemotronHModel.forward runs them."}


# ------------------------------------------------------------------------------------ layer-wise runner

def layerwise_logits(model, inp, layer_masks):
    """LlamaModel.forward with one mask per layer: embed -> rotary -> layers -> norm -> lm_head.
    layer_masks[i]: None (causal), a sliding window (int), or ("chunk", size) for chunked attention."""
    from transformers.masking_utils import (create_causal_mask, create_chunked_causal_mask,
                                            create_sliding_window_causal_mask)

    inner = model.model
    with torch.no_grad():
        h = inner.embed_tokens(inp["input_ids"])
        pe = inner.rotary_emb(h, position_ids=inp["position_ids"])
        cache = {}
        for i, layer in enumerate(inner.layers):
            window = layer_masks[i]
            if window not in cache:
                cfg = copy.copy(model.config)
                fn = create_causal_mask
                if isinstance(window, tuple):
                    cfg.attention_chunk_size = window[1]
                    fn = create_chunked_causal_mask
                elif window is not None:
                    cfg.sliding_window = window
                    fn = create_sliding_window_causal_mask
                cache[window] = fn(config=cfg, inputs_embeds=h, attention_mask=inp["attention_mask"],
                                   past_key_values=None, position_ids=inp["position_ids"])
            h = layer(h, attention_mask=cache[window], position_embeddings=pe,
                      position_ids=inp["position_ids"])
        h = inner.norm(h)
        return model.lm_head(h)


class SkippedNorm(nn.Module):
    """transformers' skip replacement for a norm: returns hidden_states unchanged; no weights."""

    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states


class SkippedAttention(nn.Module):
    """transformers' skip replacement for self_attn: (zeros_like(hidden_states), None); no weights."""

    def forward(self, hidden_states, *args, **kwargs):
        return torch.zeros_like(hidden_states), None


class SkippedMLP(nn.Module):
    """transformers' skip replacement for the MLP: zeros_like(x); no weights."""

    def forward(self, x, *args, **kwargs):
        return torch.zeros_like(x)


# ------------------------------------------------------------------------------------------ llama_hetero

HETERO_GLOBAL = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=5,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-6,
                     max_position_embeddings=64, tie_word_embeddings=False,
                     rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                     bos_token_id=1, eos_token_id=2, sliding_window=None)
HETERO_LAYERS = {
    0: {"sliding_window": 3},
    1: {"num_key_value_heads": 4, "intermediate_size": 48},
    2: {"skip": ["attention"]},
    3: {"skip": ["mlp"], "sliding_window": 5},
    4: {"skip": ["attention", "mlp"]},
}


def build_layerwise(het_cfg, model_cls, layer_cls, mask_of, skip_mlp=None):
    """`model_cls` whose layer i is layer_cls(config.per_layer_config[i], i), skipped sub-blocks replaced the
    way transformers' heterogeneity modeling spec does it (their norm and module become no-ops without
    weights; `skip_mlp(layer)` where a family's MLP is not layer.mlp returning a tensor). Returns (model,
    [mask_of(i, per-layer config)] for layerwise_logits)."""
    het_cfg._attn_implementation = "eager"
    # Homogeneous config with the global values (embeddings, final norm, rotary, lm_head).
    glob = het_cfg.to_dict()
    glob.pop("per_layer_config", None)
    model = cls(model_cls)._from_config(type(het_cfg).from_dict(glob), attn_implementation="eager")
    masks = []
    for i in range(het_cfg.num_hidden_layers):
        lc = het_cfg.per_layer_config[i]
        layer = layer_cls(lc, i)
        # A layer built outside from_config holds torch.empty parameters (GPT-OSS's sinks); initialise it
        # as the model initialises its own, so that no fixture depends on uninitialised memory.
        layer.apply(model._init_weights)
        if "attention" in lc.skip:
            layer.input_layernorm = SkippedNorm()
            layer.self_attn = SkippedAttention()
        if "mlp" in lc.skip:
            layer.post_attention_layernorm = SkippedNorm()
            if skip_mlp:
                skip_mlp(layer)
            else:
                layer.mlp = SkippedMLP()
        model.model.layers[i] = layer
        masks.append(mask_of(i, lc))
    return model.float().eval(), masks


def build_hetero(het_cfg):
    """LlamaForCausalLM built layer by layer from LlamaDecoderLayer; masks: each layer's sliding window."""
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    return build_layerwise(het_cfg, "LlamaForCausalLM", LlamaDecoderLayer,
                           lambda i, lc: getattr(lc, "sliding_window", None))


def check_flags_form():
    """Does the installed transformers accept the v1 `skip_attention`/`skip_mlp` flags in config.json?
    Writes the llama_hetero config with the flag form to a temporary directory and loads it."""
    import tempfile

    with tempfile.TemporaryDirectory() as probe:
        cls("LlamaConfig")(**HETERO_GLOBAL, per_layer_config=copy.deepcopy(HETERO_LAYERS)).save_pretrained(probe)
        path = os.path.join(probe, "config.json")
        d = json.load(open(path))
        d["per_layer_config"] = {"0": {"sliding_window": 3},
                                 "1": {"num_key_value_heads": 4, "intermediate_size": 48},
                                 "2": {"skip_attention": True}, "3": {"skip_mlp": True, "sliding_window": 5},
                                 "4": {"skip_attention": True, "skip_mlp": True}}
        write_json(path, d)
        try:
            cfg = transformers.AutoConfig.from_pretrained(probe)
        except Exception as e:  # noqa: BLE001 - the message is the answer
            return False, f"{type(e).__name__}: {' '.join(str(e).split())}"
        skips = [list(cfg.per_layer_config[i].skip) for i in range(cfg.num_hidden_layers)]
        if skips[2] == ["attention"] and skips[4] == ["attention", "mlp"]:
            return True, "accepted"
        return False, f"loaded but flags are not interpreted as skips (per-layer skip lists {skips})"


def case_llama_hetero_flags(d):
    ok, why = check_flags_form()
    if not ok:
        raise SkipCase(f"transformers {transformers.__version__} rejects the skip_attention/skip_mlp flag "
                       "form of per_layer_config when loading config.json (the v2 API only knows "
                       "\"skip\": [...]; any other key is a generic per-layer attribute that needs a global "
                       f"value): {why}")
    raise SkipCase("the flag form loads, but this script has no case for it yet")


def hetero_run(case_dir, het_cfg, notes):
    torch.manual_seed(SEED)
    model, windows = build_hetero(het_cfg)
    randomize(model, 0.2)

    het_cfg.architectures = ["LlamaForCausalLM"]
    het_cfg.dtype = torch.float32
    het_cfg.save_pretrained(case_dir)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              os.path.join(case_dir, "model.safetensors"), metadata={"format": "pt"})

    inputs = make_inputs(STD_INPUTS + ["long"])

    def fwd(m, w, inp):
        return layerwise_logits(m, inp, w)

    logits = {n: fwd(model, windows, inp) for n, inp in inputs.items()}
    checks = {}

    # The runner itself reproduces LlamaForCausalLM.forward on a homogeneous model.
    torch.manual_seed(SEED)
    plain = cls("LlamaForCausalLM")._from_config(cls("LlamaConfig")(**LLAMA), attn_implementation="eager")
    randomize(plain, 0.2)
    plain.eval()
    checks["runner_vs_LlamaForCausalLM_max_abs_diff"] = max(
        max_abs_diff_valid(layerwise_logits(plain, inp, [None, None]), hf_forward(plain, inp),
                           inp["attention_mask"]) for inp in inputs.values())
    if checks["runner_vs_LlamaForCausalLM_max_abs_diff"] != 0.0:
        raise CheckFailed("layer-wise runner does not reproduce LlamaForCausalLM")

    # Reload: config through AutoConfig (the per_layer_config round trip), weights strictly.
    cfg2 = transformers.AutoConfig.from_pretrained(case_dir)
    model2, windows2 = build_hetero(cfg2)
    with safe_open(os.path.join(case_dir, "model.safetensors"), "pt") as f:
        sd = {k: f.get_tensor(k) for k in f.keys()}
    model2.load_state_dict(sd, strict=True)
    checks["reload_max_abs_diff"] = max(
        max_abs_diff_valid(fwd(model2, windows2, inp), logits[n], inp["attention_mask"])
        for n, inp in inputs.items())
    if checks["reload_max_abs_diff"] != 0.0 or windows2 != windows:
        raise CheckFailed("reloaded llama_hetero differs")

    checks["padded_vs_unpadded_max_abs_diff"] = unpadded_rows_diff(lambda inp: fwd(model, windows, inp),
                                                                   inputs, logits)
    if checks["padded_vs_unpadded_max_abs_diff"] > FP32_TOL["atol"]:
        raise CheckFailed("padded rows differ from unpadded runs")
    d = max_abs_diff_valid(fwd(model, [None] * len(windows), inputs["long"]), logits["long"],
                           inputs["long"]["attention_mask"])
    checks["no_sliding_windows_max_abs_diff_on_long"] = d
    if d < 1e-3:
        raise CheckFailed("per-layer sliding windows do not change the logits")

    write_reference(case_dir, inputs, logits)
    return {"architecture": "LlamaForCausalLM", "inputs": list(inputs), "checks": checks, "dtype": "float32",
            "notes": notes}


# ------------------------------------------------------------------------------------- qwen3_moe_hetero

MOE_HETERO_LAYERS = {
    0: {"num_experts": 2, "num_experts_per_tok": 1},  # pruned experts, top-1
    1: {"moe_intermediate_size": 8},                  # narrower experts
    2: {"intermediate_size": 24},                     # a dense layer (mlp_only_layers) of its own width
    3: {"skip": ["mlp"]},                             # no MLP at all
}


def per_expert_file_tensors(state):
    """A stacked-experts state dict as save_pretrained writes Qwen3-MoE files: one tensor per expert."""
    out = {}
    for k, v in state.items():
        if k.endswith(".mlp.experts.gate_up_proj"):
            prefix = k[: -len("gate_up_proj")]
            for e in range(v.shape[0]):
                gate, up = v[e].chunk(2, dim=0)
                out[f"{prefix}{e}.gate_proj.weight"] = gate.contiguous()
                out[f"{prefix}{e}.up_proj.weight"] = up.contiguous()
        elif k.endswith(".mlp.experts.down_proj"):
            prefix = k[: -len("down_proj")]
            for e in range(v.shape[0]):
                out[f"{prefix}{e}.down_proj.weight"] = v[e].contiguous()
        else:
            out[k] = v.contiguous()
    return out


def build_moe_hetero(het_cfg):
    """Qwen3MoeForCausalLM built layer by layer from Qwen3MoeDecoderLayer; no sliding windows."""
    from transformers.models.qwen3_moe.modeling_qwen3_moe import Qwen3MoeDecoderLayer

    return build_layerwise(het_cfg, "Qwen3MoeForCausalLM", Qwen3MoeDecoderLayer, lambda i, lc: None)[0]


def case_qwen3_moe_hetero(d):
    torch.manual_seed(SEED)
    het_cfg = cls("Qwen3MoeConfig")(**dict(QWEN3_MOE, num_hidden_layers=4, mlp_only_layers=[2]),
                                     per_layer_config=copy.deepcopy(MOE_HETERO_LAYERS))
    model = build_moe_hetero(het_cfg)
    randomize(model, 0.2)
    het_cfg.architectures = ["Qwen3MoeForCausalLM"]
    het_cfg.dtype = torch.float32
    het_cfg.save_pretrained(d)
    save_file(per_expert_file_tensors(model.state_dict()), os.path.join(d, "model.safetensors"),
              metadata={"format": "pt"})
    inputs = make_inputs(STD_INPUTS)
    windows = [None] * het_cfg.num_hidden_layers
    logits = {n: layerwise_logits(model, inp, windows) for n, inp in inputs.items()}
    checks = {}
    # Reload: config through AutoConfig, the layers rebuilt from it, transformers' own stacked weights.
    model2 = build_moe_hetero(transformers.AutoConfig.from_pretrained(d))
    model2.load_state_dict(model.state_dict(), strict=True)
    checks["reload_max_abs_diff"] = max(
        max_abs_diff_valid(layerwise_logits(model2, inp, windows), logits[n], inp["attention_mask"])
        for n, inp in inputs.items())
    if checks["reload_max_abs_diff"] != 0.0:
        raise CheckFailed("reloaded qwen3_moe_hetero differs")
    shapes = {i: list(model.model.layers[i].mlp.experts.gate_up_proj.shape) for i in (0, 1)}
    if shapes != {0: [2, 32, 32], 1: [4, 16, 32]}:
        raise CheckFailed(f"per-layer expert shapes not applied: {shapes}")
    checks["expert_gate_up_shapes"] = shapes
    checks["padded_vs_unpadded_max_abs_diff"] = unpadded_rows_diff(
        lambda inp: layerwise_logits(model, inp, windows), inputs, logits)
    write_reference(d, inputs, logits)
    return {"architecture": "Qwen3MoeForCausalLM", "inputs": list(inputs), "checks": checks, "dtype": "float32",
            "notes": "Heterogeneous Qwen3-MoE (per_layer_config): layer 0 keeps 2 of the 4 experts (pruned) with top-1 "
                     "routing, layer 1 has experts of width 8 instead of 16, layer 2 is dense (mlp_only_layers) with "
                     "intermediate_size 24, layer 3 skips its MLP (no post_attention_layernorm, no weights). transformers "
                     "has no heterogeneous Qwen3-MoE model class: each layer is Qwen3MoeDecoderLayer built from the "
                     "resolved per-layer config, run layer by layer; weights saved one tensor per expert as "
                     "save_pretrained writes Qwen3-MoE."}


# --------------------------------------------------------------------------------------- gpt_oss_hetero

GPT_OSS_HETERO_LAYERS = {
    0: {"num_local_experts": 2, "num_experts_per_tok": 1},  # pruned experts
    1: {"intermediate_size": 8},                            # narrower experts
    2: {"skip": ["mlp"], "sliding_window": 3},              # attention only, a sliding layer with its own window
    3: {"num_key_value_heads": 4},                          # more KV heads
}


class SkippedRouterMLP(nn.Module):
    """The skipped MLP of a GPT-OSS layer, which unpacks (output, router scores): zeros, no weights."""

    def forward(self, x, *args, **kwargs):
        return torch.zeros_like(x), None


def build_gpt_oss_hetero(het_cfg):
    """GptOssForCausalLM built layer by layer from GptOssDecoderLayer; masks: the sliding_attention layers of
    layer_types slide, by their own sliding_window where per_layer_config sets one."""
    from transformers.models.gpt_oss.modeling_gpt_oss import GptOssDecoderLayer

    def window(i, lc):
        own = GPT_OSS_HETERO_LAYERS.get(i, {}).get("sliding_window")
        sliding = het_cfg.layer_types[i] == "sliding_attention"
        return (own if own is not None else GPT_OSS["sliding_window"]) if sliding else None

    def skip_mlp(layer):
        layer.mlp = SkippedRouterMLP()

    return build_layerwise(het_cfg, "GptOssForCausalLM", GptOssDecoderLayer, window, skip_mlp)


def hetero_layerwise_case(d, *, config_cls, model_cls, global_kw, layers, build, plain_masks, experts_of, shapes_at,
                          expected_shapes, checks_key, notes):
    """A heterogeneous model (per_layer_config `layers` over `global_kw`) built by `build`, saved as transformers
    saves its state dict, with reference logits from layerwise_logits. Checks that the runner reproduces
    `model_cls` on the homogeneous config (masks from `plain_masks(config)`), that reloading through AutoConfig
    gives the same model and masks, and that the per-layer expert shapes took effect."""
    torch.manual_seed(SEED)
    het_cfg = cls(config_cls)(**global_kw, per_layer_config=copy.deepcopy(layers))
    model, masks = build(het_cfg)
    randomize(model, 0.2)
    het_cfg.architectures = [model_cls]
    het_cfg.dtype = torch.float32
    het_cfg.save_pretrained(d)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(d, "model.safetensors"),
              metadata={"format": "pt"})
    inputs = make_inputs(STD_INPUTS + ["long"])
    logits = {n: layerwise_logits(model, inp, masks) for n, inp in inputs.items()}
    checks = {checks_key: [list(m) if isinstance(m, tuple) else m for m in masks]}
    torch.manual_seed(SEED)
    plain = cls(model_cls)._from_config(cls(config_cls)(**global_kw), attn_implementation="eager")
    randomize(plain, 0.2)
    plain.eval()
    runner_key = f"runner_vs_{model_cls}_max_abs_diff"
    checks[runner_key] = max(
        max_abs_diff_valid(layerwise_logits(plain, inp, plain_masks(plain.config)), hf_forward(plain, inp),
                           inp["attention_mask"]) for inp in inputs.values())
    if checks[runner_key] > 1e-6:
        raise CheckFailed(f"layer-wise runner does not reproduce {model_cls}")
    model2, masks2 = build(transformers.AutoConfig.from_pretrained(d))
    model2.load_state_dict(model.state_dict(), strict=True)
    checks["reload_max_abs_diff"] = max(
        max_abs_diff_valid(layerwise_logits(model2, inp, masks2), logits[n], inp["attention_mask"])
        for n, inp in inputs.items())
    if checks["reload_max_abs_diff"] != 0.0 or masks2 != masks:
        raise CheckFailed(f"reloaded {os.path.basename(d)} differs")
    shapes = [list(experts_of(model.model.layers[i]).gate_up_proj.shape) for i in shapes_at]
    if shapes != expected_shapes:
        raise CheckFailed(f"per-layer expert shapes not applied: {shapes}")
    checks["expert_gate_up_shapes"] = shapes
    write_reference(d, inputs, logits)
    return {"architecture": model_cls, "inputs": list(inputs), "checks": checks, "dtype": "float32", "notes": notes}


def case_gpt_oss_hetero(d):
    return hetero_layerwise_case(
        d, config_cls="GptOssConfig", model_cls="GptOssForCausalLM", global_kw=dict(GPT_OSS, num_hidden_layers=4),
        layers=GPT_OSS_HETERO_LAYERS, build=build_gpt_oss_hetero,
        plain_masks=lambda c: [GPT_OSS["sliding_window"] if t == "sliding_attention" else None for t in c.layer_types],
        experts_of=lambda layer: layer.mlp.experts, shapes_at=(0, 1), expected_shapes=[[2, 32, 32], [4, 32, 16]],
        checks_key="windows",
        notes="Heterogeneous GPT-OSS (per_layer_config) over layer_types [sliding 4, full, sliding 4, full]: layer 0 "
              "keeps 2 of 4 experts with top-1, layer 1 has experts of width 8, layer 2 skips its MLP and slides "
              "with a window of 3, layer 3 has 4 KV heads. Each layer is transformers' GptOssDecoderLayer built "
              "from the resolved per-layer config, run layer by layer with the window each resolves to (sinks, "
              "YaRN and the clamped SwiGLU as in the gpt_oss case).")


# ----------------------------------------------------------------------------------------- llama4_hetero

LLAMA4_HETERO_LAYERS = {
    0: {"attention_chunk_size": 3},                        # a chunk of its own on a RoPE layer
    1: {"num_local_experts": 2},                           # pruned experts (with the shared expert)
    2: {"skip": ["mlp"]},                                  # attention only
    3: {"intermediate_size": 8, "num_key_value_heads": 4},  # narrower experts, more KV heads
}


class SkippedLlama4FeedForward(nn.Module):
    """transformers' skip replacement for Llama 4's feed_forward: zeros_like(x); no weights."""

    def forward(self, x, *args, **kwargs):
        return torch.zeros_like(x)


def build_llama4_hetero(het_cfg):
    """Llama4ForCausalLM built layer by layer from Llama4TextDecoderLayer; masks: ("chunk", size) on the
    chunked_attention layers (each layer's own chunk where per_layer_config sets one), None on the others."""
    from transformers.models.llama4.modeling_llama4 import Llama4TextDecoderLayer

    def mask(i, lc):
        chunk = LLAMA4_HETERO_LAYERS.get(i, {}).get("attention_chunk_size", LLAMA4["attention_chunk_size"])
        return ("chunk", chunk) if het_cfg.layer_types[i] == "chunked_attention" else None

    def skip_mlp(layer):
        layer.feed_forward = SkippedLlama4FeedForward()
        layer.is_moe_layer = False

    return build_layerwise(het_cfg, "Llama4ForCausalLM", Llama4TextDecoderLayer, mask, skip_mlp)


def case_llama4_hetero(d):
    return hetero_layerwise_case(
        d, config_cls="Llama4TextConfig", model_cls="Llama4ForCausalLM", global_kw=LLAMA4, layers=LLAMA4_HETERO_LAYERS,
        build=build_llama4_hetero,
        plain_masks=lambda c: [("chunk", LLAMA4["attention_chunk_size"]) if t == "chunked_attention" else None
                               for t in c.layer_types],
        experts_of=lambda layer: layer.feed_forward.experts, shapes_at=(1, 3), expected_shapes=[[2, 32, 32], [4, 32, 16]],
        checks_key="masks",
        notes="Heterogeneous Llama 4 text (per_layer_config) over the llama4 case: layer 0 (RoPE) attends in chunks "
              "of 3 instead of 4, layer 1 keeps 2 of its 4 experts, layer 2 skips its feed_forward, layer 3 has "
              "experts of width 8 and 4 KV heads. Each layer is transformers' Llama4TextDecoderLayer built from the "
              "resolved per-layer config, run layer by layer with each layer's chunked or causal mask.")


def case_llama_hetero(d):
    try:
        het_cfg = cls("LlamaConfig")(**HETERO_GLOBAL, per_layer_config=copy.deepcopy(HETERO_LAYERS))
    except TypeError as e:
        raise SkipCase(f"LlamaConfig does not accept per_layer_config: {e}")
    if not getattr(het_cfg, "is_heterogeneous", False):
        raise SkipCase("per_layer_config accepted but config is not heterogeneous")
    notes = (
        "transformers per-layer config (v2 API, integrations/heterogeneity/configuration_utils.py), 5 layers. "
        "Global: num_key_value_heads 2, intermediate_size 64, sliding_window null. Layer 0: sliding_window 3; "
        "layer 1: num_key_value_heads 4, intermediate_size 48 (full attention); layer 2: skip attention; "
        "layer 3: skip mlp + sliding_window 5; layer 4: skip attention and mlp. Resolution: layer value else "
        "global. The installed transformers has only the config half: LlamaForCausalLM(config) raises "
        "AmbiguousGlobalPerLayerAttributeError, so the reference builds layer i as "
        "LlamaDecoderLayer(config.per_layer_config[i], i) and applies transformers' skip spec: skipped "
        "attention = input_layernorm -> identity and self_attn -> zeros (h + 0), skipped mlp = "
        "post_attention_layernorm -> identity and mlp -> zeros; skipped sub-blocks have no tensors (not even "
        "the norm). Each layer gets its own mask (masks keyed by layer index in the heterogeneity spec): "
        "create_sliding_window_causal_mask with that layer's window (key j visible from query i iff j <= i "
        "and i - j < w) or create_causal_mask. Embeddings/final norm/rotary from the global config.")
    return hetero_run(d, het_cfg, notes)


# ------------------------------------------------------------------------------------------------ decilm

def ffn_mult_to_intermediate_size(ffn_mult, n_embd):
    n = int(2 * ffn_mult * n_embd / 3)
    return n if n % 256 == 0 else n + 256 - n % 256


def attn_block(n_heads_in_group=None, no_op=False, replace_with_linear=False):
    return {"n_heads_in_group": n_heads_in_group, "no_op": no_op, "num_sink_tokens": None,
            "replace_with_linear": replace_with_linear, "sparsify": None, "unshifted_sink": False,
            "use_prefill_window_in_sink_attention": False, "window_length": None}


def ffn_block(ffn_mult=None, no_op=False, replace_with_linear=False):
    return {"ffn_mult": ffn_mult, "no_op": no_op, "replace_with_linear": replace_with_linear, "sparsify": None}


DECILM_CONFIG = {
    "architectures": ["DeciLMForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "auto_map": {"AutoConfig": "configuration_decilm.DeciLMConfig",
                 "AutoModelForCausalLM": "modeling_decilm.DeciLMForCausalLM"},
    "block_configs": [
        {"attention": attn_block(n_heads_in_group=2), "ffn": ffn_block(ffn_mult=2.625)},        # kv 2, 256
        {"attention": attn_block(no_op=True), "ffn": ffn_block(ffn_mult=7.5)},                  # -, 512
        {"attention": attn_block(n_heads_in_group=4), "ffn": ffn_block(replace_with_linear=True)},  # kv 1, lin
        {"attention": attn_block(replace_with_linear=True), "ffn": ffn_block(ffn_mult=6.0)},    # lin, 256
        {"attention": attn_block(n_heads_in_group=1), "ffn": ffn_block(no_op=True)},            # kv 4, -
    ],
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": 64,
    "initializer_range": 0.02,
    "intermediate_size": None,
    "max_position_embeddings": 512,
    "mlp_bias": False,
    "model_type": "nemotron-nas",
    "num_attention_heads": 4,
    "num_hidden_layers": 5,
    "num_key_value_heads": None,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 64, "rope_type": "llama3"},
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
    "use_cache": True,
    "vocab_size": VOCAB,
}


class DeciLMLinearAttention(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.linear_attn = nn.Linear(hidden, hidden, bias=False)

    def forward(self, x):
        return self.linear_attn(x)


class DeciLMLinearMLP(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.linear_mlp = nn.Linear(hidden, hidden, bias=False)

    def forward(self, x):
        return self.linear_mlp(x)


class DeciLMDecoderLayer(nn.Module):
    """DeciLM block from transformers Llama pieces; modules of no-op sub-blocks do not exist."""

    def __init__(self, base_cfg, block, layer_idx):
        from transformers.models.llama.modeling_llama import LlamaAttention, LlamaMLP, LlamaRMSNorm

        super().__init__()
        self.attn_kind = "none" if block["attention"]["no_op"] else (
            "linear" if block["attention"]["replace_with_linear"] else "attention")
        self.ffn_kind = "none" if block["ffn"]["no_op"] else (
            "linear" if block["ffn"]["replace_with_linear"] else "mlp")
        h, eps = base_cfg.hidden_size, base_cfg.rms_norm_eps
        cfg = copy.deepcopy(base_cfg)
        if self.attn_kind == "attention":
            cfg.num_key_value_heads = base_cfg.num_attention_heads // block["attention"]["n_heads_in_group"]
        if self.ffn_kind == "mlp":
            cfg.intermediate_size = ffn_mult_to_intermediate_size(block["ffn"]["ffn_mult"], h)
        self.block_cfg = cfg
        if self.attn_kind != "none":
            self.input_layernorm = LlamaRMSNorm(h, eps=eps)
            self.self_attn = LlamaAttention(cfg, layer_idx) if self.attn_kind == "attention" \
                else DeciLMLinearAttention(h)
        if self.ffn_kind != "none":
            self.post_attention_layernorm = LlamaRMSNorm(h, eps=eps)
            self.mlp = LlamaMLP(cfg) if self.ffn_kind == "mlp" else DeciLMLinearMLP(h)

    def forward(self, hidden_states, attention_mask=None, position_embeddings=None, **kwargs):
        if self.attn_kind == "attention":
            out, _ = self.self_attn(self.input_layernorm(hidden_states), position_embeddings=position_embeddings,
                                    attention_mask=attention_mask)
            hidden_states = hidden_states + out
        elif self.attn_kind == "linear":
            hidden_states = hidden_states + self.self_attn(self.input_layernorm(hidden_states))
        if self.ffn_kind != "none":
            hidden_states = hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))
        return hidden_states


def build_decilm(cfg_dict):
    """Llama skeleton (embeddings, rotary, final norm, lm_head) from the DeciLM config's global fields
    (legacy rope_theta/rope_scaling keys are converted by LlamaConfig), layers from block_configs."""
    n_heads = cfg_dict["num_attention_heads"]
    base = cls("LlamaConfig")(
        vocab_size=cfg_dict["vocab_size"], hidden_size=cfg_dict["hidden_size"],
        num_hidden_layers=cfg_dict["num_hidden_layers"], num_attention_heads=n_heads,
        num_key_value_heads=n_heads, intermediate_size=256, hidden_act=cfg_dict["hidden_act"],
        rms_norm_eps=cfg_dict["rms_norm_eps"], max_position_embeddings=cfg_dict["max_position_embeddings"],
        rope_theta=cfg_dict["rope_theta"], rope_scaling=copy.deepcopy(cfg_dict["rope_scaling"]),  # mutated
        attention_bias=cfg_dict["attention_bias"], mlp_bias=cfg_dict["mlp_bias"],
        tie_word_embeddings=cfg_dict["tie_word_embeddings"], bos_token_id=cfg_dict["bos_token_id"],
        eos_token_id=cfg_dict["eos_token_id"])
    model = cls("LlamaForCausalLM")._from_config(base, attn_implementation="eager")
    for i, block in enumerate(cfg_dict["block_configs"]):
        model.model.layers[i] = DeciLMDecoderLayer(model.config, block, i)
    return model.float().eval()


def case_decilm(d):
    torch.manual_seed(SEED)
    cfg_dict = copy.deepcopy(DECILM_CONFIG)
    model = build_decilm(cfg_dict)
    randomize(model, 0.15)
    write_json(os.path.join(d, "config.json"), cfg_dict)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              os.path.join(d, "model.safetensors"), metadata={"format": "pt"})

    inputs = make_inputs(STD_INPUTS)
    windows = [None] * cfg_dict["num_hidden_layers"]
    logits = {n: layerwise_logits(model, inp, windows) for n, inp in inputs.items()}

    checks = {}
    model2 = build_decilm(json.load(open(os.path.join(d, "config.json"))))
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as f:
        model2.load_state_dict({k: f.get_tensor(k) for k in f.keys()}, strict=True)
    checks["reload_max_abs_diff"] = max(
        max_abs_diff_valid(layerwise_logits(model2, inp, windows), logits[n], inp["attention_mask"])
        for n, inp in inputs.items())
    if checks["reload_max_abs_diff"] != 0.0:
        raise CheckFailed("reloaded decilm differs")
    checks["padded_vs_unpadded_max_abs_diff"] = unpadded_rows_diff(
        lambda inp: layerwise_logits(model, inp, windows), inputs, logits)
    if checks["padded_vs_unpadded_max_abs_diff"] > FP32_TOL["atol"]:
        raise CheckFailed("padded rows differ from unpadded runs")
    checks["per_block"] = [
        {"attention": layer.attn_kind, "ffn": layer.ffn_kind,
         "num_key_value_heads": layer.block_cfg.num_key_value_heads if layer.attn_kind == "attention" else None,
         "intermediate_size": layer.block_cfg.intermediate_size if layer.ffn_kind == "mlp" else None}
        for layer in model.model.layers]

    write_reference(d, inputs, logits)
    notes = (
        "Nemotron-NAS / DeciLM (model_type 'nemotron-nas', remote code not available): reference built from "
        "transformers Llama pieces following /work/shared/reference/puzzletron.md section 4 (same as the "
        "NeMo-AutoModel/vLLM/mlx-lm ports). Per block: attention no_op -> no input_layernorm, no self_attn, "
        "h unchanged; attention replace_with_linear -> h = h + linear_attn(input_layernorm(h)) "
        "(self_attn.linear_attn.weight [H, H], no bias, no RoPE); normal attention -> h = h + "
        "attn(input_layernorm(h)) with num_key_value_heads = num_attention_heads // n_heads_in_group. Then "
        "ffn no_op -> no post_attention_layernorm, no mlp, h unchanged; replace_with_linear -> h = h + "
        "linear_mlp(post_attention_layernorm(h)) (mlp.linear_mlp.weight [H, H]); normal -> SwiGLU with "
        "intermediate_size = round_up_256(int(2 * ffn_mult * hidden / 3)). Blocks: 0 attn(kv 2) + ffn 2.625 "
        "-> 256 (112 rounded up); 1 attn no_op + ffn 7.5 -> 512 (320 rounded up); 2 attn(kv 1) + linear ffn; "
        "3 linear attn + ffn 6.0 -> 256 (exact multiple); 4 attn(kv 4) + ffn no_op. hidden 64, 4 heads, "
        "head_dim 16 (= hidden/heads; no head_dim key). RoPE from the legacy top-level keys rope_theta + "
        "rope_scaling (llama3, factor 8, original_max_position_embeddings 64), as real Nemotron-NAS configs "
        "carry them. Final model.norm and untied lm_head as Llama.")
    return {"architecture": "DeciLMForCausalLM", "inputs": list(inputs), "checks": checks, "dtype": "float32",
            "notes": notes}


# ------------------------------------------------------------------------------------------------ driver

CASES = {
    "llama": ("llama", case_llama),
    "llama_tied": ("llama", case_llama_tied),
    "llama_rope_linear": ("llama", case_llama_rope_linear),
    "llama_rope_dynamic": ("llama", case_llama_rope_dynamic),
    "llama_rope_llama3": ("llama", case_llama_rope_llama3),
    "llama_rope_yarn": ("llama", case_llama_rope_yarn),
    "llama_bf16": ("llama", case_llama_bf16),
    "mistral": ("mistral", case_mistral),
    "qwen2": ("qwen2", case_qwen2),
    "qwen2_sliding": ("qwen2", case_qwen2_sliding),
    "qwen3": ("qwen3", case_qwen3),
    "qwen3_sliding": ("qwen3", case_qwen3_sliding),
    "gemma": ("gemma", case_gemma),
    "gemma2": ("gemma2", case_gemma2),
    "gemma3": ("gemma3_text", case_gemma3),
    "smollm3": ("smollm3", case_smollm3),
    "olmo2": ("olmo2", case_olmo2),
    "phi3": ("phi3", case_phi3),
    "gpt2": ("gpt2", case_gpt2),
    "opt": ("opt", case_opt),
    "opt_post_norm": ("opt", case_opt_post_norm),
    "qwen3_moe": ("qwen3_moe", case_qwen3_moe),
    "mixtral": ("mixtral", case_mixtral),
    "gpt_oss": ("gpt_oss", case_gpt_oss),
    "gpt_oss_mxfp4": ("gpt_oss", case_gpt_oss_mxfp4),
    "qwen3_vl": ("qwen3_vl", case_qwen3_vl),
    "mistral3": ("mistral3", case_mistral3),
    "qwen3_vl_moe": ("qwen3_vl_moe", case_qwen3_vl_moe),
    "llama4": ("llama4_text", case_llama4),
    "llama4_multimodal": ("llama4", case_llama4_multimodal),
    "llama_hetero": ("llama", case_llama_hetero),
    "qwen3_moe_hetero": ("qwen3_moe", case_qwen3_moe_hetero),
    "gpt_oss_hetero": ("gpt_oss", case_gpt_oss_hetero),
    "llama4_hetero": ("llama4_text", case_llama4_hetero),
    "llama_hetero_flags": ("llama", case_llama_hetero_flags),
    "decilm": ("nemotron-nas", case_decilm),
    "nemotron_h": ("nemotron_h", case_nemotron_h),
    "nemotron_h_hetero": ("nemotron_h", case_nemotron_h_hetero),
}


def finish_case(name, family, info):
    tol = {k: info.pop(k) for k in ("atol", "rtol") if k in info} or dict(FP32_TOL)
    return {**info, **tol}


def main(argv):
    return run_cases(argv, __doc__.strip().splitlines()[-1], CASES, "models", finish_case)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
