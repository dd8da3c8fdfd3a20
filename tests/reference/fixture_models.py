"""What the adapter fixture scripts (make_shadow_fixtures.py, make_peft_fixtures.py, make_lora_fixtures.py) share.

The inputs (a left-padded [2, 9] batch, right-padded too for seq_cls), the tiny random base models of every family
(config kwargs, `build_model`, `load_model`), stdout/warning capture, safetensors header readers, tolerances and,
for the two peft scripts, the round trip get_peft_model -> re-drawn adapter -> save -> PeftModel.from_pretrained
with its gradients and generation checks. Importing it sets the transformers environment (offline, errors only),
so a script imports it before transformers.
"""
import contextlib
import io
import json
import os
import struct
import types
import warnings

import torch

from fixture_runner import CheckFailed, SkipCase, quiet_transformers

quiet_transformers()

import transformers  # noqa: E402


SEED = 0
INPUT_SEED = 1234
VOCAB = 128
PAD_ID = 0
B, T = 2, 9
LEFT_PAD = 3      # row 0 left-padded by 3
RIGHT_PAD = 2     # seq_cls only: row 1 right-padded by 2
NUM_LABELS = 3
GEN_NEW = 6
BASE_STD = 0.2
ADAPTER_STD = 0.2
MODULES_TO_SAVE_NOISE = 0.05
FP32_TOL = {"atol": 1e-5, "rtol": 1e-5}
GRAD_TOL = {"grad_atol": 5e-6, "grad_rtol": 1e-4}
TOL = {**FP32_TOL, **GRAD_TOL}
CHECK_TOL = 1e-5


# ----------------------------------------------------------------------------------------------- helpers

def cls(name):
    c = getattr(transformers, name, None)
    if c is None:
        raise SkipCase(f"transformers {transformers.__version__} has no {name}")
    return c


def captured_stdout(fn, *a, **kw):
    """Runs fn; returns (result, stdout text). Warnings are left alone."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        r = fn(*a, **kw)
    return r, buf.getvalue()


def captured(fn, *a, **kw):
    """Runs fn; returns (result, stdout text, [warning messages]) (Future/DeprecationWarnings dropped)."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r, out = captured_stdout(fn, *a, **kw)
    return r, out, [f"{x.category.__name__}: {x.message}" for x in w
                    if not issubclass(x.category, (FutureWarning, DeprecationWarning))]


def randomize(model, std=BASE_STD):
    """Matrices ~ N(0, std); vectors (norm weights, biases) get N(0, 0.1) noise (same as the model fixtures:
    HF's 0.02 init would leave every sub-block's contribution near the tolerance)."""
    with torch.no_grad():
        for _, p in model.named_parameters():  # tied parameters are listed once
            if p.ndim >= 2:
                p.normal_(0.0, std)
            else:
                p.add_(torch.randn_like(p) * 0.1)


def make_inputs(task):
    g = torch.Generator().manual_seed(INPUT_SEED)
    ids = torch.randint(1, VOCAB, (B, T), generator=g)
    mask = torch.ones_like(ids)
    mask[0, :LEFT_PAD] = 0
    if task == "seq_cls":
        mask[1, T - RIGHT_PAD:] = 0
    ids[mask == 0] = PAD_ID
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    if task == "seq_cls":
        labels = torch.tensor([2, 0], dtype=torch.long)
    else:
        labels = ids.clone()
        labels[mask == 0] = -100
        # The first real token of a left-padded row is also ignored: with the shift, its loss term would read
        # the logits at the last PAD position, i.e. a query row whose keys are all masked. HF's eager output
        # there is implementation-defined (additive finfo.min everywhere -> uniform attention over all T keys,
        # future ones included), and no other implementation should have to copy that.
        for b in range(B):
            if mask[b, 0] == 0:
                first = int(mask[b].nonzero()[0])
                labels[b, first] = -100
    return {"input_ids": ids.long(), "attention_mask": mask.long(), "position_ids": pos.long(),
            "labels": labels.long()}


def model_kwargs(inp, with_labels=True):
    kw = {k: inp[k] for k in ("input_ids", "attention_mask", "position_ids")}
    if with_labels:
        kw["labels"] = inp["labels"]
    return kw


def valid_diff(a, b, mask):
    """max |a - b| over positions with mask == 1 (a, b: [B, T, V]); for [B, C] all entries."""
    if a.ndim == 2:
        return (a.float() - b.float()).abs().max().item()
    m = mask.bool()
    return (a.float()[m] - b.float()[m]).abs().max().item()


def shifted_ce(logits, labels):
    V = logits.shape[-1]
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                                             ignore_index=-100)


def check(checks, name, value, limit=CHECK_TOL):
    checks[name] = value
    if not value <= limit:
        raise CheckFailed(f"{name} = {value} > {limit}")


def safetensors_header(path):
    """The JSON header of a safetensors file, as text."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = f.read(n).decode("utf-8")
    return hdr


def file_info(path):
    """Keys in file (data offset) order with dtype and shape, plus the header metadata, of a safetensors file:
    {"metadata": ..., "keys": [{"key", "dtype", "shape"}, ...]}."""
    hdr = json.loads(safetensors_header(path))
    meta = hdr.pop("__metadata__", None)
    keys = sorted(hdr, key=lambda k: hdr[k]["data_offsets"][0])
    return {"metadata": meta,
            "keys": [{"key": k, "dtype": hdr[k]["dtype"], "shape": hdr[k]["shape"]} for k in keys]}


def file_tensors(path):
    """file_info as {"metadata": ..., "keys_in_data_order": [key, ...], "tensors": {key: {"dtype", "shape"}}}."""
    info = file_info(path)
    return {"metadata": info["metadata"], "keys_in_data_order": [e["key"] for e in info["keys"]],
            "tensors": {e["key"]: {"dtype": e["dtype"], "shape": e["shape"]} for e in info["keys"]}}


# ------------------------------------------------------------------------------------------- base models

LLAMA = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-6, max_position_embeddings=64,
             tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
             attention_dropout=0.0, bos_token_id=1, eos_token_id=2)
QWEN2 = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, rms_norm_eps=1e-6, max_position_embeddings=64, tie_word_embeddings=False,
             rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, attention_dropout=0.0,
             bos_token_id=1, eos_token_id=2)
QWEN3 = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-6, max_position_embeddings=64,
             tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
             layer_types=["full_attention"] * 4, attention_dropout=0.0, bos_token_id=1, eos_token_id=2)
MISTRAL = dict(LLAMA, sliding_window=4)
QWEN3_MOE = dict({k: v for k, v in QWEN3.items() if k != "layer_types"}, intermediate_size=48,
                 moe_intermediate_size=16, num_experts=4, num_experts_per_tok=2, norm_topk_prob=True,
                 mlp_only_layers=[1])
MIXTRAL = dict(LLAMA, num_local_experts=4, num_experts_per_tok=2, sliding_window=4)
LLAMA4 = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=16, intermediate_size_mlp=48, num_hidden_layers=4,
              num_attention_heads=4, num_key_value_heads=2, head_dim=8, num_local_experts=4, num_experts_per_tok=1,
              interleave_moe_layer_step=2, attention_chunk_size=4, no_rope_layer_interval=2, floor_scale=2,
              attn_scale=0.5, rms_norm_eps=1e-5, max_position_embeddings=64, attention_dropout=0.0,
              bos_token_id=1, eos_token_id=2, pad_token_id=0,
              rope_parameters={"rope_type": "default", "rope_theta": 500000.0})
GPT_OSS = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=16, num_hidden_layers=4, num_attention_heads=4,
               num_key_value_heads=2, head_dim=8, num_local_experts=4, num_experts_per_tok=2, sliding_window=4,
               max_position_embeddings=64, rms_norm_eps=1e-5, swiglu_limit=1.5, attention_dropout=0.0,
               bos_token_id=1, eos_token_id=2, pad_token_id=0,
               rope_parameters={"rope_type": "yarn", "rope_theta": 150000.0, "factor": 4.0, "beta_fast": 32.0,
                                "beta_slow": 1.0, "truncate": False, "original_max_position_embeddings": 16})
GEMMA = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=1, head_dim=8, rms_norm_eps=1e-6, max_position_embeddings=64,
             rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, hidden_act="gelu_pytorch_tanh",
             attention_dropout=0.0, pad_token_id=0, bos_token_id=2, eos_token_id=1)
GEMMA2 = dict(GEMMA, num_key_value_heads=2, hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=16,
              sliding_window=4, attn_logit_softcapping=5.0, final_logit_softcapping=3.0)
GEMMA3 = dict(GEMMA, num_key_value_heads=2, hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=16,
              sliding_window=4, sliding_window_pattern=2,
              rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                               "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0}})
SMOLLM3 = dict(LLAMA, tie_word_embeddings=True, no_rope_layers=[0, 1, 1, 0], pad_token_id=0)
OLMO2 = dict(LLAMA, pad_token_id=0)
PHI3 = dict(LLAMA, pad_token_id=0, original_max_position_embeddings=8,
            rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 0.5,
                             "short_factor": [1.0, 1.5], "long_factor": [2.0, 3.0],
                             "original_max_position_embeddings": 8})
GPT2 = dict(vocab_size=VOCAB, n_embd=32, n_layer=4, n_head=4, n_positions=64, resid_pdrop=0.0, embd_pdrop=0.0,
            attn_pdrop=0.0, bos_token_id=1, eos_token_id=1)
OPT = dict(vocab_size=VOCAB, hidden_size=32, ffn_dim=64, num_hidden_layers=4, num_attention_heads=4,
           max_position_embeddings=64, dropout=0.0, attention_dropout=0.0, pad_token_id=0, bos_token_id=1,
           eos_token_id=2)

# family: (config class, causal-LM class, config kwargs)
FAMILY_MODELS = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", LLAMA),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", QWEN2),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", QWEN3),
    "mistral": ("MistralConfig", "MistralForCausalLM", MISTRAL),
    "gemma": ("GemmaConfig", "GemmaForCausalLM", GEMMA),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", GEMMA2),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM", GEMMA3),
    "smollm3": ("SmolLM3Config", "SmolLM3ForCausalLM", SMOLLM3),
    "olmo2": ("Olmo2Config", "Olmo2ForCausalLM", OLMO2),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", PHI3),
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", GPT2),
    "opt": ("OPTConfig", "OPTForCausalLM", OPT),
    "qwen3_moe": ("Qwen3MoeConfig", "Qwen3MoeForCausalLM", QWEN3_MOE),
    "mixtral": ("MixtralConfig", "MixtralForCausalLM", MIXTRAL),
    "gpt_oss": ("GptOssConfig", "GptOssForCausalLM", GPT_OSS),
    "llama4": ("Llama4TextConfig", "Llama4ForCausalLM", LLAMA4),
}


def build_model(config_cls, model_cls, kwargs, std=BASE_STD):
    config = cls(config_cls)(**kwargs)
    model = cls(model_cls)._from_config(config, attn_implementation="eager")
    randomize(model, std)
    return model.float().eval()


def load_model(model_cls, d, attn="eager"):
    return cls(model_cls).from_pretrained(d, attn_implementation=attn, dtype=torch.float32).eval()


def base_and_inputs(case_dir, config_cls, model_cls, base_kw, task):
    """torch.manual_seed(SEED), the inputs for `task`, the base model built and saved to case_dir/base/. Returns
    (in-memory base model, inputs, base dir, logits without labels of base/ loaded back)."""
    torch.manual_seed(SEED)
    base_dir = os.path.join(case_dir, "base")
    inp = make_inputs(task)
    hf = build_model(config_cls, model_cls, base_kw)
    hf.save_pretrained(base_dir)
    with torch.no_grad():
        plain_logits = load_model(model_cls, base_dir)(**model_kwargs(inp, with_labels=False)).logits
    return hf, inp, base_dir, plain_logits


def finish_with_versions(package, module):
    """A run_cases `finish` that adds {"versions": {package, transformers, torch}} to every case.json."""
    def finish(name, family, info):
        versions = {package: getattr(module, "__version__", "?"), "transformers": transformers.__version__,
                    "torch": torch.__version__}
        return {"versions": versions, **info}
    return finish


# ----------------------------------------------------------------------- peft adapters (peft / lora scripts)

GENERATE_KW = dict(max_new_tokens=GEN_NEW, do_sample=False, eos_token_id=[], pad_token_id=PAD_ID)
GENERATION = {"prompt": "input_ids[1:2]", "attention_mask": "ones", **GENERATE_KW}


def redraw_trainable(model):
    """Every trainable parameter of the PeftModel re-drawn: a modules_to_save copy += N(0, 0.05) (it starts as a
    copy of the base module); other matrices (e.g. lora_A / lora_B) ~ N(0, 0.2); vectors += N(0, 0.1)."""
    with torch.no_grad():
        for n, p in model.named_parameters():
            if not p.requires_grad:
                continue
            if ".modules_to_save." in n:
                p.add_(torch.randn_like(p) * MODULES_TO_SAVE_NOISE)
            elif p.ndim >= 2:
                p.normal_(0.0, ADAPTER_STD)
            else:
                p.add_(torch.randn_like(p) * 0.1)


def saved_param_map(model, saved_keys, frozen_ok=()):
    """{saved key: (param name, param)}: each tensor peft's state-dict extraction returns for a saved key is the
    parameter itself (same storage), so match by data pointer. Every trainable parameter must be covered exactly
    once, and nothing else but frozen parameters whose name contains one of `frozen_ok`."""
    from peft import get_peft_model_state_dict
    sd = get_peft_model_state_dict(model)
    by_ptr = {}
    for n, p in model.named_parameters():
        by_ptr.setdefault((p.data_ptr(), tuple(p.shape)), (n, p))
    out = {}
    for k in saved_keys:
        t = sd[k]
        hit = by_ptr.get((t.data_ptr(), tuple(t.shape)))
        if hit is None:
            raise CheckFailed(f"saved key {k} is not a parameter of the model")
        out[k] = hit
    covered = {id(p) for _, p in out.values()}
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in covered]
    frozen = [n for n, p in out.values() if not p.requires_grad and not any(part in n for part in frozen_ok)]
    if missing or frozen or len(covered) != len(out):
        raise CheckFailed(f"saved keys vs trainable parameters: not saved {missing}, saved but frozen {frozen}")
    return out


def peft_round_trip(hf, cfg, model_cls, base_dir, adapter_dir, inp, frozen_ok=()):
    """get_peft_model(hf, cfg), every trainable parameter re-drawn, eval, saved to adapter_dir/, then loaded back:
    PeftModel.from_pretrained(<base_dir loaded fresh>, adapter_dir, is_trainable=True).eval(). Returns a namespace:
    fresh (the saved model), out_mem (its forward with labels), model (the reloaded one), adapter_config (as peft
    wrote it), saved_keys (file order), pmap (saved_param_map), info (case.json entries) and python_output."""
    from peft import PeftModel, get_peft_model
    fresh, wrap_stdout, wrap_warnings = captured(get_peft_model, hf, cfg)
    _, print_fresh, _ = captured(fresh.print_trainable_parameters)
    redraw_trainable(fresh)
    fresh.eval()
    _, save_stdout, save_warnings = captured(fresh.save_pretrained, adapter_dir)
    with torch.no_grad():
        out_mem = fresh(**model_kwargs(inp))

    loaded, load_stdout, load_warnings = captured(PeftModel.from_pretrained, load_model(model_cls, base_dir),
                                                  adapter_dir, is_trainable=True)
    model = loaded.eval()
    _, print_text, _ = captured(model.print_trainable_parameters)
    if print_text != print_fresh:
        raise CheckFailed(f"print_trainable_parameters differs after reload: {print_fresh!r} vs {print_text!r}")
    trainable_params, all_params = model.get_nb_trainable_parameters()
    file = file_info(os.path.join(adapter_dir, "adapter_model.safetensors"))
    saved_keys = [k["key"] for k in file["keys"]]
    pmap = saved_param_map(model, saved_keys, frozen_ok)
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        adapter_config = json.load(f)
    info = {"print_trainable_parameters": print_text, "trainable_params": trainable_params, "all_params": all_params,
            "saved_keys": file["keys"], "adapter_metadata": file["metadata"],
            "param_names": {k: pmap[k][0] for k in saved_keys}}
    python_output = {"get_peft_model": {"stdout": wrap_stdout, "warnings": wrap_warnings},
                     "save_pretrained": {"stdout": save_stdout, "warnings": save_warnings},
                     "from_pretrained": {"stdout": load_stdout, "warnings": load_warnings}}
    return types.SimpleNamespace(fresh=fresh, out_mem=out_mem, model=model, adapter_config=adapter_config,
                                 saved_keys=saved_keys, pmap=pmap, info=info, python_output=python_output)


def saved_grads(out, rt):
    """out.loss.backward(); returns ({"grad.<key>": grad} for every saved key of the round trip rt, [keys whose
    parameter got no grad: stored as zeros])."""
    out.loss.backward()
    grads, grad_none = {}, []
    for k in rt.saved_keys:
        p = rt.pmap[k][1]
        if p.grad is None:
            grad_none.append(k)
            grads[f"grad.{k}"] = torch.zeros_like(p).detach().contiguous()
        else:
            grads[f"grad.{k}"] = p.grad.detach().clone().contiguous()
    return grads, grad_none


def adapter_vs_base(rt, inp, logits, loss, plain_logits, checks, moved_key):
    """Checks the reloaded model against the saved one (exactly) and, inside disable_adapter(), against the plain
    base (exactly); the adapter must move the logits by more than 1e-2 (checks[moved_key]). Returns base.logits."""
    model, out_mem = rt.model, rt.out_mem
    check(checks, "in_memory_vs_reloaded_max_abs_diff",
          max((out_mem.logits - logits).abs().max().item(), (out_mem.loss - loss).abs().item()), 0.0)
    with torch.no_grad(), model.disable_adapter():
        base_logits = model(**model_kwargs(inp, with_labels=False)).logits.detach()
    check(checks, "disable_adapter_vs_plain_base_max_abs_diff", (base_logits - plain_logits).abs().max().item(), 0.0)
    checks[moved_key] = valid_diff(logits, base_logits, inp["attention_mask"])
    if checks[moved_key] <= 1e-2:
        raise CheckFailed("the adapter does not change the base logits by more than 1e-2")
    return base_logits


def greedy_prompt(inp):
    """The generation prompt: row 1 of input_ids (no padding) and an all-ones attention mask."""
    prompt = inp["input_ids"][1:2].clone()
    return prompt, torch.ones_like(prompt)


def generate_greedy(model, prompt, ones):
    """model.generate with GENERATE_KW (EOS disabled): exactly GEN_NEW new tokens, or CheckFailed."""
    with torch.no_grad():
        g = model.generate(input_ids=prompt, attention_mask=ones, **GENERATE_KW)
    if g.shape != (1, T + GEN_NEW):
        raise CheckFailed(f"generation stopped early: {tuple(g.shape)}")
    return g


def greedy_uncached(model, prompt, n=GEN_NEW):
    """Greedy argmax decoding without a KV cache (the whole sequence re-run every step)."""
    seq = prompt
    for _ in range(n):
        with torch.no_grad():
            logits = model(input_ids=seq, attention_mask=torch.ones_like(seq), use_cache=False).logits
        seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    return seq
