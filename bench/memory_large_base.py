#!/usr/bin/env python3
"""Will a shadow on an 8B base fit? Peak memory to train a 1-layer shadow on a Qwen3-8B-shaped base, per base dtype.

A Qwen3-8B checkpoint is 16 GB in bfloat16, beyond what this benchmark may download or hold twice. Its geometry is
public (hidden 4096, 36 layers, MLP 12288, 32 query / 8 key-value heads of 128, vocabulary 151,936, untied head),
so this script writes bases of that geometry with only a few layers (random bfloat16 weights, generated locally,
once, in --work), trains a 1-layer implicit shadow on each with `shadowpeft train` (batch 1 x --seq-len tokens,
--steps steps, AdamW) and measures the peak resident set size (ru_maxrss from wait4), model loading included.

Every decoder layer has the same shapes, so peak memory is affine in the layer count: the difference between two
layer counts gives the memory per base layer (its weights in the base dtype plus the activations kept for the
backward pass, which flows through every base layer), and the peak at 36 layers is extrapolated from the larger run:
    peak(36) = peak(L2) + (36 - L2) * (peak(L2) - peak(L1)) / (L2 - L1).
What does not depend on the layer count (embeddings, head, the shadow's layer and its optimizer state, the
runtime) is in the intercept. With --python, the same runs use shadow-peft (its ShadowForCausalLM over
transformers' model, the textbook AdamW loop; the whole model in the base dtype, since the package cannot pair a
float32 shadow with a half-precision base).

Usage: memory_large_base.py [--build build] [--work DIR] [--tokenizer DIR] [--layers 2,4]
       [--dtypes float32,bfloat16,int8] [--seq-len 256] [--steps 1] [--threads 2] [--python] [--out results.json]
"""
import argparse
import json
import os
import sys

from measure import run_measured

# The base's dtype as `shadowpeft train` flags; int8: weight-only int8 Linear layers computing in bfloat16.
BASE_FLAGS = {"float32": ["--base-dtype", "float32"], "bfloat16": ["--base-dtype", "bfloat16"],
              "float16": ["--base-dtype", "float16"], "int8": ["--base-dtype", "bfloat16", "--quantize", "int8"]}

QWEN3_8B = dict(hidden_size=4096, intermediate_size=12288, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                vocab_size=151936, num_hidden_layers=36, max_position_embeddings=40960, rms_norm_eps=1e-6,
                rope_theta=1000000.0, tie_word_embeddings=False, attention_bias=False, hidden_act="silu",
                bos_token_id=151643, eos_token_id=151645, model_type="qwen3", architectures=["Qwen3ForCausalLM"],
                torch_dtype="bfloat16")

PYTHON_WORKER = r"""
import json, sys, time, torch
from transformers import AutoModelForCausalLM
from shadow_peft import ShadowConfig, ShadowForCausalLM, get_shadow_model
model_dir, seq, steps, threads, dtype = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
dtype = getattr(torch, dtype)
torch.set_num_threads(threads)
torch.manual_seed(0)
base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
model = ShadowForCausalLM(get_shadow_model(base, ShadowConfig(num_shadow_layers=1)), shadow_loss_weight=0.05).to(dtype)
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
g = torch.Generator().manual_seed(0)
start = time.perf_counter()
for _ in range(steps):
    ids = torch.randint(0, base.config.vocab_size, (1, seq), generator=g)
    loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def write_base(directory, layers):
    """A Qwen3-8B-shaped base with `layers` layers and random bfloat16 weights (N(0, 0.02)), unless present."""
    if os.path.exists(os.path.join(directory, "model.safetensors")):
        return
    import torch
    from safetensors.torch import save_file
    os.makedirs(directory, exist_ok=True)
    c = dict(QWEN3_8B, num_hidden_layers=layers)
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    q, kv = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    g = torch.Generator().manual_seed(0)

    def rand(*shape):
        return (torch.randn(*shape, generator=g) * 0.02).to(torch.bfloat16)

    tensors = {"model.embed_tokens.weight": rand(v, h), "lm_head.weight": rand(v, h),
               "model.norm.weight": torch.ones(h, dtype=torch.bfloat16)}
    for n in range(layers):
        p = f"model.layers.{n}."
        tensors.update({p + "self_attn.q_proj.weight": rand(q, h), p + "self_attn.k_proj.weight": rand(kv, h),
                        p + "self_attn.v_proj.weight": rand(kv, h), p + "self_attn.o_proj.weight": rand(h, q),
                        p + "self_attn.q_norm.weight": torch.ones(c["head_dim"], dtype=torch.bfloat16),
                        p + "self_attn.k_norm.weight": torch.ones(c["head_dim"], dtype=torch.bfloat16),
                        p + "mlp.gate_proj.weight": rand(i, h), p + "mlp.up_proj.weight": rand(i, h),
                        p + "mlp.down_proj.weight": rand(h, i),
                        p + "input_layernorm.weight": torch.ones(h, dtype=torch.bfloat16),
                        p + "post_attention_layernorm.weight": torch.ones(h, dtype=torch.bfloat16)})
    save_file(tensors, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(c, f, indent=2)


def write_corpus(path, tokens):
    with open(path, "w") as f:
        for n in range(max(4, tokens // 200)):
            f.write(json.dumps({"text": " ".join(f"word{(n * 7 + k) % 997}" for k in range(300))}) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/shadowpeft/bench/qwen3_8b_shaped"))
    ap.add_argument("--layers", default="2,4")
    ap.add_argument("--dtypes", default="float32,bfloat16,int8", help=f"of {', '.join(BASE_FLAGS)}")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokenizer", default=os.path.expanduser("~/.cache/shadowpeft/models/smollm2-135m-instruct"),
                    help="any tokenizer whose ids fit the vocabulary (the text is filler): the demo model's")
    ap.add_argument("--python", action="store_true", help="also measure shadow-peft (Python)")
    ap.add_argument("--out")
    a = ap.parse_args()
    layers = [int(x) for x in a.layers.split(",")]
    if len(layers) != 2 or layers[0] >= layers[1]:
        sys.exit("--layers: two increasing layer counts, e.g. 2,4")
    dtypes = a.dtypes.split(",")
    cli = os.path.join(a.build, "tools", "shadowpeft")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    corpus = os.path.join(a.work, "corpus.jsonl")
    os.makedirs(a.work, exist_ok=True)
    write_corpus(corpus, a.seq_len * a.steps * 4)
    for n in layers:
        write_base(os.path.join(a.work, f"layers{n}"), n)

    python_dtypes = [d for d in dtypes if d != "int8"]  # the package has no int8 base
    sides = [("shadowpeft", dtypes)] + ([("shadow-peft (Python)", python_dtypes)] if a.python else [])
    results = {}
    for side, side_dtypes in sides:
        for dtype in side_dtypes:
            peaks = []
            for n in layers:
                model = os.path.join(a.work, f"layers{n}")
                if side == "shadowpeft":
                    cmd = [cli, "train", "--model", model, "--tokenizer", a.tokenizer, "--data", corpus, "--packing", "--packing-strategy", "wrapped", "--max-length", str(a.seq_len),
                           "--batch-size", "1", "--max-steps", str(a.steps), "--num-shadow-layers", "1",
                           *BASE_FLAGS[dtype], "--save-steps", "0", "--logging-steps", str(a.steps),
                           "--output-dir", os.path.join(a.work, "out"), "--quiet"]
                else:
                    cmd = [sys.executable, "-c", PYTHON_WORKER, model, str(a.seq_len), str(a.steps), str(a.threads), dtype]
                peaks.append(run_measured(cmd, env)[1])
                print(f"{side:22} {dtype:9} {n} layers: peak RSS {peaks[-1] / 1024:.2f} GiB", flush=True)
            per_layer = (peaks[1] - peaks[0]) / (layers[1] - layers[0])
            at_36 = peaks[1] + (36 - layers[1]) * per_layer
            results[f"{side} {dtype}"] = {"peak_mib": dict(zip(map(str, layers), peaks)), "per_layer_mib": per_layer,
                                          "extrapolated_36_layers_mib": at_36}
    print(f"\nQwen3-8B-shaped base, 1-layer shadow, batch 1 x {a.seq_len} tokens, {a.threads} threads")
    print(f"{'':34}" + "".join(f"{f'{n} layers':>12}" for n in layers) + f"{'per layer':>12}{'36 layers':>12}")
    for name, r in results.items():
        print(f"{name:34}" + "".join(f"{r['peak_mib'][str(n)] / 1024:>10.2f} G" for n in layers)
              + f"{r['per_layer_mib'] / 1024:>10.2f} G{r['extrapolated_36_layers_mib'] / 1024:>10.1f} G")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"args": vars(a), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
