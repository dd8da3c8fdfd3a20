#!/usr/bin/env python3
"""Builds fixtures for a float32 adapter beside a bfloat16 or float16 base, with Hugging Face `peft`.

peft's answer to a base loaded in half precision is `autocast_adapter_dtype` (on by default): the adapter weights
that live in a tuner layer (LoRA's lora_A / lora_B, SHADOW's injection and update) are upcast to float32, the
base's activations are cast to them and the result back to the base's dtype. SHADOW's backbone, projection and
head take the base's dtype (peft's `_create_and_replace` moves them there). These fixtures pin that behaviour.

For every case this writes `OUT_DIR/mixed_precision/<case>/`:

- `base/`: the base HF model directory (tiny Llama, random float32 weights: matrices N(0, 0.2), vectors +N(0, 0.1));
- `adapter/`: `save_pretrained` of a float32 peft adapter whose trainable parameters were re-drawn (lora_B and the
  injection's up projection start at zero, which would hide the adapter);
- `reference.safetensors`: the inputs (`input_ids`, `attention_mask`, `position_ids`, `labels`, a left-padded
  [2, 9] batch) and, for each dtype D of the case (`bfloat16`, `float16`) and `float32`:
  `D.logits` (float32 values of the [B, T, V] logits), `D.loss`, and `D.grad.<key>` for every key of
  adapter_model.safetensors (float32: the gradient of the parameter that key is saved from, after `loss.backward()`
  of one forward with labels): `PeftModel.from_pretrained(<base/ loaded with dtype=D>, adapter/,
  is_trainable=True).eval()`, SDPA attention (as the C++ side), with the shadow backbone's RoPE frequencies kept
  in float32 (see keep_rope_frequencies_exact: peft rounds them to the base's dtype, the C++ side does not);
- `case.json`: the dtypes, `param_dtypes` ({D: {saved key: dtype of its parameter after loading}}), the tolerances
  and self-checks.

Self-checks (CheckFailed if violated): every LoRA / injection / update weight is float32 after loading in D, the
base's weights are D; the float32 run differs from the D run by more than the D tolerance would hide (the dtype is
really used) and by less than 0.1 of the logits' scale (the D run is a faithful approximation).

Everything runs on CPU, single-threaded, dropout 0, `torch.manual_seed(0)` at the start of every case.

Usage: make_mixed_precision_fixtures.py OUT_DIR [CASE ...]   (no case names: all cases)
"""
import json
import os
import sys

import torch

from fixture_runner import CheckFailed, SkipCase, run_cases
from fixture_models import (LLAMA, build_model, cls, file_info, finish_with_versions, make_inputs, model_kwargs,
                            redraw_trainable, saved_param_map)
from safetensors.torch import save_file  # noqa: E402

try:
    import peft
    from peft import LoraConfig, PeftModel, ShadowConfig, get_peft_model
    PEFT_IMPORT_ERROR = None
except Exception as e:  # noqa: BLE001 - recorded as the skip reason
    peft = None
    PEFT_IMPORT_ERROR = repr(e)

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
# The C++ side runs the same ATen kernels in the same order for the forward: logits agree to the bit (allowed:
# about one rounding in D, bf16 2^-8 / fp16 2^-11 relative, of O(1) logits). The training loss and gradients
# take another route (logits only at labelled rows, in chunks: models/chunked_loss.h), so the backward's
# half-precision matmuls sum in another order: a few roundings in D of O(1) gradients.
TOLERANCES = {"bfloat16": {"atol": 2e-2, "rtol": 1e-2, "grad_atol": 4e-2, "grad_rtol": 4e-2},
              "float16": {"atol": 4e-3, "rtol": 2e-3, "grad_atol": 1e-2, "grad_rtol": 1e-2},
              "float32": {"atol": 1e-5, "rtol": 1e-5, "grad_atol": 5e-6, "grad_rtol": 1e-4}}


def load_base(base_dir, dtype):
    return cls("LlamaForCausalLM").from_pretrained(base_dir, attn_implementation="sdpa", dtype=dtype).eval()


def keep_rope_frequencies_exact(model, base):
    """peft moves SHADOW's backbone to the base's dtype with `module.to(dtype)`, which also rounds the backbone's
    RoPE inverse frequencies (a float32 buffer in transformers, kept so by from_pretrained) to bfloat16: a phase
    error that grows with the position (about position * 2^-9 radians). The C++ side keeps them exact, so the
    fixture puts the base's float32 frequencies back (same config, same values)."""
    rope = base.model.rotary_emb
    restored = 0
    for module in model.modules():
        if module is rope or not hasattr(module, "inv_freq") or module.inv_freq.dtype == torch.float32:
            continue
        module.inv_freq = rope.inv_freq.clone()
        if hasattr(module, "original_inv_freq"):
            module.original_inv_freq = rope.original_inv_freq.clone()
        restored += 1
    return restored


def run(base_dir, adapter_dir, dtype, inp, keys):
    base = load_base(base_dir, dtype)
    model = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True).eval()
    restored = keep_rope_frequencies_exact(model, base)
    out = model(**model_kwargs(inp))
    out.loss.backward()
    params = {k: param for k, (_, param) in saved_param_map(model, keys).items()}
    grads = {k: (p.grad if p.grad is not None else torch.zeros_like(p)).detach().float().contiguous()
             for k, p in params.items()}
    dtypes = {k: str(p.dtype).replace("torch.", "") for k, p in params.items()}
    base_dtypes = {str(p.dtype).replace("torch.", "") for p in base.parameters() if not p.requires_grad}
    return (out.logits.detach().float().contiguous(), out.loss.detach().float().reshape(()), grads, dtypes, base_dtypes,
            restored)


def mixed_case(case_dir, adapter_config, dtypes, float32_adapter_keys):
    if peft is None:
        raise SkipCase(f"peft unavailable: {PEFT_IMPORT_ERROR}")
    torch.manual_seed(0)
    inp = make_inputs("causal_lm")
    base_dir, adapter_dir = os.path.join(case_dir, "base"), os.path.join(case_dir, "adapter")
    base = build_model("LlamaConfig", "LlamaForCausalLM", LLAMA)
    base.save_pretrained(base_dir)
    fresh = get_peft_model(base, adapter_config)
    redraw_trainable(fresh)
    fresh.save_pretrained(adapter_dir)
    keys = [k["key"] for k in file_info(os.path.join(adapter_dir, "adapter_model.safetensors"))["keys"]]

    tensors = {k: v.contiguous() for k, v in inp.items()}
    checks, param_dtypes = {}, {}
    logits32, _, grads32, _, _, _ = run(base_dir, adapter_dir, torch.float32, inp, keys)
    for name in list(dtypes) + ["float32"]:
        logits, loss, grads, dts, base_dts, restored = run(base_dir, adapter_dir, DTYPES[name], inp, keys)
        checks[f"{name}_rope_buffers_restored_to_float32"] = restored
        tensors[f"{name}.logits"], tensors[f"{name}.loss"] = logits, loss
        for k, g in grads.items():
            tensors[f"{name}.grad.{k}"] = g
        param_dtypes[name] = dts
        if base_dts != {name}:
            raise CheckFailed(f"{name}: base weights in {base_dts}")
        upcast = {k: dts[k] for k in keys if float32_adapter_keys(k)}
        if name != "float32" and set(upcast.values()) != {"float32"}:
            raise CheckFailed(f"{name}: adapter layer weights not upcast to float32: {upcast}")
        if name == "float32":
            continue
        valid = inp["attention_mask"].bool()
        diff = (logits - logits32)[valid].abs().max().item()
        scale = logits32[valid].abs().max().item()
        checks[f"{name}_vs_float32_logits_max_abs_diff"] = diff
        checks["float32_logits_max_abs"] = scale
        if not (TOLERANCES[name]["atol"] / 4 < diff < 0.1 * scale):
            raise CheckFailed(f"{name} vs float32 logits differ by {diff} (scale {scale})")
        checks[f"{name}_vs_float32_grad_max_abs_diff"] = max((grads[k] - grads32[k]).abs().max().item() for k in keys)

    save_file(tensors, os.path.join(case_dir, "reference.safetensors"))
    return {"dtypes": list(dtypes), "adapter_config": json.load(open(os.path.join(adapter_dir, "adapter_config.json"))),
            "param_dtypes": param_dtypes, "saved_keys": keys, "tolerances": TOLERANCES, "checks": checks,
            "attention": "sdpa"}


def lora_case(case_dir):
    config = LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear")
    return mixed_case(case_dir, config, ["bfloat16", "float16"], lambda k: ".lora_" in k)


def shadow_case(case_dir):
    if not hasattr(peft, "ShadowConfig"):
        raise SkipCase("this peft has no SHADOW tuner")
    config = ShadowConfig(task_type="CAUSAL_LM", r=4, shadow_dropout=0.0)
    return mixed_case(case_dir, config, ["bfloat16"],
                      lambda k: "shadow_down" in k or "shadow_up" in k or "shadow_update" in k)


CASES = {
    "llama_lora": ("llama", lora_case),
    "llama_shadow": ("llama", shadow_case),
}

finish_case = finish_with_versions("peft", peft)


def main(argv):
    return run_cases(argv, __doc__.strip().splitlines()[-1], CASES, "mixed_precision", finish_case)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
