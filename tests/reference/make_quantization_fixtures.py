#!/usr/bin/env python3
"""Builds fixtures for a base whose Linear layers are weight-only int8 (`--quantize int8`).

The quantization is torch's own per-channel symmetric qint8: `PerChannelMinMaxObserver(ch_axis=0,
dtype=torch.qint8, qscheme=torch.per_channel_symmetric)` gives one scale per output row (absmax / 127.5) and
`torch.quantize_per_channel` the int8 rows. The reference model is the transformers model with every quantized
Linear's weight replaced by its dequantization (`.dequantize()`): what a weight-only int8 layer computes, in
float32 or in the dtype the model was loaded in. Mixture-of-experts routers are left as they are (they choose the
experts; llama.cpp keeps them in float too); stacked expert weights are not Linear layers and stay too.

For every case this writes `OUT_DIR/quantization/<case>/`:

- `base/`: the HF model directory, float32 random weights (fixture_models.build_model);
- `reference.safetensors`: the inputs (`input_ids`, `attention_mask`, `position_ids`, `labels`: a left-padded
  [2, 9] batch), and for each dtype D of the case (`float32`, `bfloat16`; the base loaded in D, then quantized):
  `D.int8.<module>` (int8 [out, in]) and `D.scale.<module>` (float32 [out]) for every quantized module,
  `D.logits` (float32 values of the dequantized model's [B, T, V] logits); `D.logits_int8_head`: the same with the
  head's matrix (lm_head, or the tied embeddings as a head only) quantized too; `float32.logits_unquantized`; and
  `float32.generate.greedy`: greedy `generate` (fixture_models.GENERATE_KW) of the float32 dequantized model
  from row 1 of input_ids, prompt included;
- with `lora`: `adapter/`, a peft LoRA (all-linear, trainable weights re-drawn) saved for the float32 base, and
  `lora.loss` / `lora.grad.<saved key>`: one forward with labels and `loss.backward()` of
  `PeftModel.from_pretrained(<dequantized float32 base>, adapter/)`: the gradients run back through the
  quantized layers;
- `case.json`: the quantized module names, the tolerances, and self-checks.

Self-checks (CheckFailed if violated): `quantize_per_channel` agrees with the observer's scales, the
quantized logits differ from the unquantized ones by more than the float32 tolerance (quantization is really
applied) and by less than 0.1 of their scale.

Everything runs on CPU, single-threaded, dropout 0, `torch.manual_seed(0)` at the start of every case.

Usage: make_quantization_fixtures.py OUT_DIR [CASE ...]   (no case names: all cases)
"""
import os
import sys

import torch
from torch.ao.quantization.observer import PerChannelMinMaxObserver

from fixture_runner import CheckFailed, SkipCase, run_cases
from fixture_models import (LLAMA, MIXTRAL, build_model, cls, file_info, finish_with_versions, generate_greedy,
                            greedy_prompt, make_inputs, model_kwargs, redraw_trainable, saved_param_map)
from safetensors.torch import save_file  # noqa: E402

try:
    import peft
    from peft import LoraConfig, PeftModel, get_peft_model
    PEFT_IMPORT_ERROR = None
except Exception as e:  # noqa: BLE001 - recorded as the skip reason
    peft = None
    PEFT_IMPORT_ERROR = repr(e)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
# float32, and bfloat16 where the C++ side converts the int8 rows: the same matrix (q * scale rounded once to the
# dtype) in the same matmuls, so at most summation order differs. bfloat16 through ATen's fused int8 kernel
# (decoding-sized inputs whose in_features are multiples of 16): it applies a bfloat16-rounded scale per row
# after the dot product, the reference rounds each dequantized weight instead; both are bfloat16-accurate
# (2^-9 relative per layer), and through these tiny random models such per-layer errors compound to a few percent
# of the logits. The bound is then bfloat16's own error here: with E the reference's bfloat16 run's distance from
# its float32 run, two bfloat16 computations each that close to float32 are within 2E of each other
# (`bfloat16_fused_kernel`, set per case).
TOLERANCES = {"float32": {"atol": 1e-5, "rtol": 1e-5, "grad_atol": 5e-6, "grad_rtol": 1e-4},
              "bfloat16": {"atol": 3e-2, "rtol": 2e-2}}

# hidden 24 and head_dim 6: in_features 24 and 40 are not multiples of 16, where ATen's fused int8 kernel does
# not apply (the C++ side converts the rows instead).
# Tied embeddings: the int8 head is a copy, the embeddings stay.
LLAMA_ODD = dict(LLAMA, hidden_size=24, intermediate_size=40, head_dim=6, tie_word_embeddings=True)


def is_router(name, model):
    parent_name, _, leaf = name.rpartition(".")
    return leaf in ("gate", "router") and hasattr(model.get_submodule(parent_name), "experts")


def quantize_per_channel(name, w):
    """torch's per-channel symmetric qint8 of a [out, in] matrix: the quantized tensor and its float32 scales."""
    observer = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    observer(w)
    scales, zero_points = observer.calculate_qparams()
    q = torch.quantize_per_channel(w, scales.float(), zero_points, 0, torch.qint8)
    if not torch.equal(q.q_per_channel_scales().float(), scales.float()):
        raise CheckFailed(f"{name}: quantize_per_channel changed the observer's scales")
    return q, scales.float()


def quantize_(model):
    """Replaces every quantized Linear's weight by its dequantization; returns {module name: (int8, scales)}."""
    out = {}
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, torch.nn.Linear) or not name.startswith("model.") or is_router(name, model):
                continue
            q, scales = quantize_per_channel(name, module.weight.float())
            module.weight.copy_(q.dequantize().to(module.weight.dtype))
            out[name] = (q.int_repr().contiguous(), scales.contiguous())
    return out


def logits_with_int8_head(model, inp):
    """The quantized model's logits with its head's matrix (lm_head or the tied embeddings) quantized too: the
    final hidden states times the dequantized head, in the model's dtype (the embeddings stay as they are)."""
    with torch.no_grad():
        hidden = model(**model_kwargs(inp, with_labels=False), output_hidden_states=True).hidden_states[-1]
        w = model.get_output_embeddings().weight
        q, _ = quantize_per_channel("head", w.float())
        return torch.nn.functional.linear(hidden, q.dequantize().to(w.dtype)).float()


def load(model_cls, base_dir, dtype):
    return cls(model_cls).from_pretrained(base_dir, attn_implementation="sdpa", dtype=dtype).eval()


def quantization_case(case_dir, config_cls, model_cls, kwargs, lora=False):
    torch.manual_seed(0)
    inp = make_inputs("causal_lm")
    base_dir = os.path.join(case_dir, "base")
    build_model(config_cls, model_cls, kwargs).save_pretrained(base_dir)
    tensors = {k: v.contiguous() for k, v in inp.items()}
    valid = inp["attention_mask"].bool()
    checks, modules = {}, None
    with torch.no_grad():
        plain = load(model_cls, base_dir, torch.float32)(**model_kwargs(inp, with_labels=False)).logits.float()
    tensors["float32.logits_unquantized"] = plain.contiguous()
    for name, dtype in DTYPES.items():
        model = load(model_cls, base_dir, dtype)
        quantized = quantize_(model)
        modules = sorted(quantized)
        for module, (q, s) in quantized.items():
            tensors[f"{name}.int8.{module}"], tensors[f"{name}.scale.{module}"] = q, s
        with torch.no_grad():
            logits = model(**model_kwargs(inp, with_labels=False)).logits.float()
        tensors[f"{name}.logits"] = logits.contiguous()
        tensors[f"{name}.logits_int8_head"] = logits_with_int8_head(model, inp).contiguous()
        if name == "float32":
            tensors["float32.generate.greedy"] = generate_greedy(model, *greedy_prompt(inp)).contiguous()
        diff, scale = (logits - plain)[valid].abs().max().item(), plain[valid].abs().max().item()
        checks[f"{name}_quantized_vs_float32_logits_max_abs_diff"] = diff
        checks["float32_logits_max_abs"] = scale
        if name == "float32" and not (TOLERANCES["float32"]["atol"] * 10 < diff < 0.1 * scale):
            raise CheckFailed(f"quantized vs unquantized logits differ by {diff} (scale {scale})")
    if lora:
        if peft is None:
            raise SkipCase(f"peft unavailable: {PEFT_IMPORT_ERROR}")
        adapter_dir = os.path.join(case_dir, "adapter")
        fresh = get_peft_model(load(model_cls, base_dir, torch.float32),
                               LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, lora_dropout=0.0,
                                          target_modules="all-linear"))
        redraw_trainable(fresh)
        fresh.save_pretrained(adapter_dir)
        keys = [k["key"] for k in file_info(os.path.join(adapter_dir, "adapter_model.safetensors"))["keys"]]
        base = load(model_cls, base_dir, torch.float32)
        quantize_(base)
        model = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True).eval()
        out = model(**model_kwargs(inp))
        out.loss.backward()
        tensors["lora.loss"] = out.loss.detach().float().reshape(())
        for k, (_, p) in saved_param_map(model, keys).items():
            tensors[f"lora.grad.{k}"] = p.grad.detach().float().contiguous()
    bf16_error = (tensors["bfloat16.logits"] - tensors["float32.logits"])[valid].abs().max().item()
    checks["bfloat16_vs_float32_logits_max_abs_diff"] = bf16_error
    tolerances = dict(TOLERANCES, bfloat16_fused_kernel={"atol": 2 * bf16_error, "rtol": 0.0})
    save_file(tensors, os.path.join(case_dir, "reference.safetensors"))
    return {"dtypes": list(DTYPES), "quantized_modules": modules, "lora": lora, "tolerances": tolerances,
            "checks": checks, "attention": "sdpa"}


CASES = {
    # LoRA on the quantized base: gradients through int8 layers; in_features multiples of 16 (fused kernel).
    "llama": ("llama", lambda d: quantization_case(d, "LlamaConfig", "LlamaForCausalLM", LLAMA, lora=True)),
    "llama_odd_widths_tied": ("llama", lambda d: quantization_case(d, "LlamaConfig", "LlamaForCausalLM", LLAMA_ODD)),
    # A router stays as it is; attention projections are quantized, stacked experts are not Linear layers.
    "mixtral": ("mixtral", lambda d: quantization_case(d, "MixtralConfig", "MixtralForCausalLM", MIXTRAL)),
}

finish_case = finish_with_versions("peft", peft)


def main(argv):
    return run_cases(argv, __doc__.strip().splitlines()[-1], CASES, "quantization", finish_case)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
