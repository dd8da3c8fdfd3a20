#!/usr/bin/env python3
"""Checks, with Python `safetensors` and `transformers`, the files the C++ tests wrote (ForPython.*).

- from_cpp/all_dtypes.safetensors: every tensor bit-identical to Python's original, same metadata.
- from_cpp/tiny_llama_sharded: a sharded checkpoint that transformers loads into the same weights.
- peft_from_cpp/<case>/ (only when the directory exists): a base model and a peft SHADOW adapter written by C++
  load with `peft.PeftModel.from_pretrained` and give the logits (and shadow-only logits) C++ computed.

Usage: verify_cpp_outputs.py FIXTURES_DIR      (exit status 0 when everything matches)
"""
import os
import sys

import torch
from safetensors import safe_open


def as_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8)


# Families transformers can run by itself; llama_hetero (per-layer modeling is not in transformers
# 5.23) and decilm (remote code) are checked by reloading in C++ instead.
TRANSFORMERS_NATIVE = {"llama", "llama_tied", "llama_rope_linear", "llama_rope_dynamic", "llama_rope_llama3",
                       "llama_rope_yarn", "llama_bf16", "mistral", "qwen2", "qwen2_sliding", "qwen3",
                       "qwen3_sliding", "gemma", "gpt2", "qwen3_moe", "mixtral", "gpt_oss", "gpt_oss_mxfp4",
                       # multimodal: C++ saves the language model as a causal LM of its text family
                       "qwen3_vl", "qwen3_vl_moe", "mistral3", "llama4", "llama4_multimodal", "nemotron_h"}


def check_saved_models(root):
    """Models saved by C++ save_pretrained load in transformers and give the reference logits."""
    import json

    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    failures = []
    saved = os.path.join(root, "from_cpp", "models")
    built = json.load(open(os.path.join(root, "models", "index.json")))["cases"]
    checked = 0
    for name in sorted(set(built) & TRANSFORMERS_NATIVE):
        if not os.path.isdir(os.path.join(saved, name)):
            failures.append(f"{name}: the C++ side did not save this model")
            continue
        checked += 1
        case = json.load(open(os.path.join(root, "models", name, "case.json")))
        ref = load_file(os.path.join(root, "models", name, "reference.safetensors"))
        model = AutoModelForCausalLM.from_pretrained(os.path.join(saved, name), attn_implementation="eager").eval()
        for inp in case["inputs"]:
            with torch.no_grad():
                logits = model(input_ids=ref[f"{inp}.input_ids"], attention_mask=ref[f"{inp}.attention_mask"],
                               position_ids=ref[f"{inp}.position_ids"]).logits.float()
            valid = ref[f"{inp}.attention_mask"].bool()
            diff = (logits[valid] - ref[f"{inp}.logits"][valid]).abs().max().item()
            if diff > case["atol"] + case["rtol"] * ref[f"{inp}.logits"][valid].abs().max().item():
                failures.append(f"{name}/{inp}: transformers on the C++-saved model differs by {diff:.3e}")
    print(f"transformers loaded {checked} models saved by C++")
    return failures


def check_exported_shadows(root):
    """Shadows exported by C++ load in transformers and give shadow-peft's shadow_only logits."""
    import json

    import shadow_peft  # noqa: F401  registers causal_lm_with_hidden_projection with AutoModelForCausalLM

    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    failures = []
    exported = os.path.join(root, "from_cpp", "exported_shadows")
    names = sorted(os.listdir(exported)) if os.path.isdir(exported) else []
    if not names:
        failures.append("the C++ side exported no shadow")
    for name in names:
        case = json.load(open(os.path.join(root, "shadow", name, "case.json")))
        ref = load_file(os.path.join(root, "shadow", name, "reference.safetensors"))
        model = AutoModelForCausalLM.from_pretrained(os.path.join(exported, name), attn_implementation="eager").eval()
        with torch.no_grad():
            logits = model(input_ids=ref["input_ids"], attention_mask=ref["attention_mask"],
                           position_ids=ref["position_ids"]).logits.float()
        valid = ref["attention_mask"].bool()
        expected = ref["shadow_only.logits"]
        # An exported model is a plain causal LM of its family, which soft-caps its logits where the family
        # does (Gemma 2); shadow_only scores with shadow_lm_head, an uncapped nn.Linear.
        cap = getattr(model.config, "final_logit_softcapping", None)
        if cap is not None:
            expected = torch.tanh(expected / cap) * cap
        diff = (logits[valid] - expected[valid]).abs().max().item()
        if diff > case["atol"] + case["rtol"] * expected[valid].abs().max().item():
            failures.append(f"{name}: transformers on the C++-exported shadow differs by {diff:.3e}")
    print(f"transformers loaded {len(names)} shadows exported by C++")
    return failures


def check_exported_hybrid_shadow(root):
    """A shadow on a Nemotron-H base (no Python package wraps one), exported by C++, loads in transformers
    as a NemotronHForCausalLM of the shadow's blocks and gives the shadow-only logits C++ computed."""
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    d = os.path.join(root, "from_cpp", "exported_hybrid_shadow")
    if not os.path.isdir(d):
        return ["the C++ side exported no hybrid shadow"]
    expected = load_file(os.path.join(d, "expected.safetensors"))
    model = AutoModelForCausalLM.from_pretrained(os.path.join(d, "model"), attn_implementation="eager").eval()
    failures = []
    if type(model).__name__ != "NemotronHForCausalLM" or len(model.model.layers) != 2:
        failures.append(f"exported hybrid shadow loads as {type(model).__name__} with {len(model.model.layers)} blocks")
    with torch.no_grad():
        logits = model(input_ids=expected["input_ids"], attention_mask=expected["attention_mask"],
                       position_ids=expected["position_ids"]).logits.float()
    valid = expected["attention_mask"].bool()
    diff = (logits[valid] - expected["logits"][valid]).abs().max().item()
    if diff > 1e-5 + 1e-5 * expected["logits"][valid].abs().max().item():
        failures.append(f"exported hybrid shadow: transformers' logits differ by {diff:.3e}")
    print(f"transformers loaded the hybrid shadow exported by C++ (max abs diff {diff:.3e})")
    return failures


def check_fresh_adapter(root):
    """An adapter created in C++ loads with shadow-peft and gives the logits C++ computed."""
    from safetensors.torch import load_file
    from shadow_peft import ShadowForCausalLM
    from transformers import AutoModelForCausalLM

    d = os.path.join(root, "from_cpp", "fresh_adapter")
    if not os.path.isdir(d):
        return ["the C++ side wrote no fresh adapter"]
    ref = load_file(os.path.join(root, "shadow", "qwen3", "reference.safetensors"))
    expected = load_file(os.path.join(d, "expected.safetensors"))
    base = AutoModelForCausalLM.from_pretrained(os.path.join(root, "shadow", "qwen3", "base"),
                                                attn_implementation="eager")
    model = ShadowForCausalLM.from_pretrained(base, os.path.join(d, "adapter")).eval()
    with torch.no_grad():
        out = model(input_ids=ref["input_ids"], attention_mask=ref["attention_mask"],
                    position_ids=ref["position_ids"], labels=ref["labels"])
    valid = ref["attention_mask"].bool()
    failures = []
    for name, got in (("logits", out.logits), ("shadow_logits", out.shadow_logits)):
        diff = (got[valid] - expected[name][valid]).abs().max().item()
        if diff > 1e-5:
            failures.append(f"fresh C++ adapter: shadow-peft {name} differ by {diff:.3e}")
    if abs(out.loss.item() - expected["loss"].item()) > 1e-5:
        failures.append(f"fresh C++ adapter: loss {out.loss.item()} vs {expected['loss'].item()}")
    print("shadow-peft loaded the adapter created in C++")
    return failures


def check_peft_from_cpp(root, subdir="peft_from_cpp", method="SHADOW"):
    """Adapters written by C++ in Hugging Face peft's formats (SHADOW in peft_from_cpp/, LORA in
    lora_from_cpp/) load with peft and give the C++ outputs.

    Skipped when FIXTURES_DIR/<subdir>/ does not exist. Every subdirectory <case> holding `base/` (an HF model
    directory), `adapter/` (adapter_config.json + adapter_model.safetensors) and `expected.safetensors` is checked:
    `expected` holds `input_ids`, `attention_mask`, `logits` ([B, T, V] causal LM or [B, C] sequence
    classification), optionally `position_ids` (passed when present) and `shadow_only.logits` (compared with
    `model.base_model.unload_shadow()`). The base class (AutoModelForCausalLM / AutoModelForSequenceClassification)
    follows adapter_config.json `task_type`. Positions with attention_mask == 0 are not compared for [B, T, V].
    """
    import json

    from safetensors.torch import load_file

    d = os.path.join(root, subdir)
    if not os.path.isdir(d):
        print(f"{subdir}/ absent: skipped the peft {method} adapter check")
        return []
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    atol = 1e-5
    failures, checked = [], 0
    for name in sorted(os.listdir(d)):
        case = os.path.join(d, name)
        if not all(os.path.exists(os.path.join(case, f)) for f in ("base", "adapter", "expected.safetensors")):
            continue
        task_type = json.load(open(os.path.join(case, "adapter", "adapter_config.json"))).get("task_type")
        auto = AutoModelForSequenceClassification if task_type == "SEQ_CLS" else AutoModelForCausalLM
        base = auto.from_pretrained(os.path.join(case, "base"), attn_implementation="eager", dtype=torch.float32)
        model = PeftModel.from_pretrained(base, os.path.join(case, "adapter")).eval()
        expected = load_file(os.path.join(case, "expected.safetensors"))
        kwargs = {k: expected[k] for k in ("input_ids", "attention_mask", "position_ids") if k in expected}
        valid = expected["attention_mask"].bool()

        def diff(got, want):
            got, want = got.float(), want.float()
            if got.shape != want.shape:
                return float("inf")
            if got.ndim == 3:
                got, want = got[valid], want[valid]
            return (got - want).abs().max().item()

        with torch.no_grad():
            got = {"logits": model(**kwargs).logits}
            if "shadow_only.logits" in expected:
                got["shadow_only.logits"] = model.base_model.unload_shadow().eval()(**kwargs).logits
        for key, value in got.items():
            dv = diff(value, expected[key])
            if not dv <= atol:
                failures.append(f"{subdir}/{name}: peft's {key} {list(value.shape)} differ from C++'s "
                                f"{list(expected[key].shape)} by {dv:.3e}")
        checked += 1
    print(f"peft loaded {checked} {method} adapters written by C++")
    return failures


def main():
    root = sys.argv[1]
    failures = []
    orig_path = os.path.join(root, "safetensors", "all_dtypes.safetensors")
    ours_path = os.path.join(root, "from_cpp", "all_dtypes.safetensors")
    with safe_open(orig_path, "pt") as orig, safe_open(ours_path, "pt") as ours:
        if orig.metadata() != ours.metadata():
            failures.append(f"metadata differs: {ours.metadata()} vs {orig.metadata()}")
        if sorted(orig.keys()) != sorted(ours.keys()):
            failures.append(f"tensor names differ: {sorted(ours.keys())} vs {sorted(orig.keys())}")
        for name in orig.keys():
            a, b = orig.get_tensor(name), ours.get_tensor(name)
            if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(as_bytes(a), as_bytes(b)):
                failures.append(f"{name}: {b.dtype}{list(b.shape)} differs from {a.dtype}{list(a.shape)}")

    from transformers import AutoModelForCausalLM

    ref = AutoModelForCausalLM.from_pretrained(os.path.join(root, "tiny_llama"))
    ours = AutoModelForCausalLM.from_pretrained(os.path.join(root, "from_cpp", "tiny_llama_sharded"))
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    for name, t in ref_sd.items():
        if name not in our_sd or not torch.equal(t, our_sd[name]):
            failures.append(f"transformers loaded a different {name} from the C++ sharded save")

    failures += check_saved_models(root)
    failures += check_exported_shadows(root)
    failures += check_fresh_adapter(root)
    failures += check_exported_hybrid_shadow(root)
    failures += check_peft_from_cpp(root)
    failures += check_peft_from_cpp(root, "lora_from_cpp", "LORA")

    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} mismatches in files written by C++")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
