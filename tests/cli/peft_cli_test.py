#!/usr/bin/env python3
"""peft SHADOW adapters through the CLI, both ways, checked with the installed peft:

- an adapter peft trained and saved: `logits` (base_shadow and shadow_only) equal peft's, `generate`
  equals peft's greedy generate(), and the command says which adapter format it found;
- `export-shadow` writes peft's unload_shadow() model as a directory transformers loads, same logits;
- `train --adapter <peft adapter>` continues it; the result loads in PeftModel.from_pretrained and its
  logits equal `logits --adapter` on the result (peft -> us -> peft);
- `train --method peft-shadow` trains a fresh adapter (flags mapped onto peft's ShadowConfig) that peft
  loads; the parameter count `train` prints equals peft's print_trainable_parameters for that config;
- `eval --adapter <peft adapter>` reports base / base_shadow / shadow_only;
- a seq_cls adapter (`--task seq_cls --method peft-shadow`) trains and loads in
  PeftModel.from_pretrained(AutoModelForSequenceClassification) with equal logits;
- LoRA: peft's adapter gives peft's logits and generation here, `merge` writes peft's merged model,
  `train --method lora` writes an adapter peft loads (and prints peft's parameter count), `eval` reports it;
- an int8 base (`--quantize int8`): LoRA trains over it; `merge` into it and `--quantize` with a task that
  trains the model itself are one-line errors;
- `--config` carries the method and its config fields (a flag overrides them; an unknown key is an error);
- a --method that disagrees with --adapter, and an unsupported peft type, are one-line errors.

Usage: peft_cli_test.py CLI WORK_DIR TOKENIZER_DIR
"""
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys

import torch
import transformers
from peft import LoraConfig, PeftModel, ShadowConfig, get_peft_model
from safetensors.torch import load_file, save_file

transformers.utils.logging.set_verbosity_error()
torch.set_num_threads(1)
FAILURES = []
ATOL = 1e-5


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        FAILURES.append(what)


def run(cli, *args, expect=0):
    r = subprocess.run([cli, *args], capture_output=True, text=True)
    if r.returncode != expect:
        print(f"$ shadowpeft {' '.join(args)}\n-> {r.returncode}\n{r.stdout}\n{r.stderr}", flush=True)
    return r


def make_base(work, tokenizer_dir, task="causal_lm"):
    model_dir = os.path.join(work, f"tiny_{task}")
    config = transformers.LlamaConfig(vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                      tie_word_embeddings=False, pad_token_id=0, num_labels=3)
    torch.manual_seed(0)
    cls = transformers.LlamaForCausalLM if task == "causal_lm" else transformers.LlamaForSequenceClassification
    cls(config).save_pretrained(model_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, name), model_dir)
    return model_dir


def write_data(work):
    text = os.path.join(work, "train.jsonl")
    with open(text, "w") as f:
        for i in range(24):
            f.write(json.dumps({"text": f"Record {i}: {i * 37 % 1000} plus {i} makes {i * 37 % 1000 + i}."}) + "\n")
    labelled = os.path.join(work, "cls.jsonl")
    with open(labelled, "w") as f:
        for i in range(24):
            f.write(json.dumps({"text": f"item {i} is {['small', 'medium', 'large'][i % 3]}", "label": i % 3}) + "\n")
    return text, labelled


def load_peft(base_dir, adapter_dir, task="causal_lm"):
    cls = transformers.AutoModelForCausalLM if task == "causal_lm" else transformers.AutoModelForSequenceClassification
    base = cls.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager")
    return PeftModel.from_pretrained(base, adapter_dir).eval()


def cli_logits(cli, work, model_dir, adapter, ids, mode="base_shadow"):
    ids_file = os.path.join(work, "ids.safetensors")
    save_file({"input_ids": ids}, ids_file)
    out = os.path.join(work, f"logits_{mode}.safetensors")
    r = run(cli, "logits", "--model", model_dir, "--adapter", adapter, "--mode", mode, "--ids-file", ids_file, "--out", out)
    return r, (load_file(out)["logits"] if r.returncode == 0 else None)


def max_diff(a, b):
    return (a.float() - b.float()).abs().max().item()


def peft_adapter(work, model_dir, config=None, name="peft_adapter"):
    """An adapter trained by peft itself (a few SGD steps, so nothing is at its initial value)."""
    base = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    torch.manual_seed(1)
    config = config or ShadowConfig(task_type="CAUSAL_LM", r=4, shadow_dropout=0.0, modules_to_save=["lm_head"])
    model = get_peft_model(base, config)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    ids = torch.randint(3, 32000, (2, 12), generator=torch.Generator().manual_seed(2))
    for _ in range(3):
        optimizer.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
    out = os.path.join(work, name)
    model.save_pretrained(out)
    return out


def main():
    cli, work, tokenizer_dir = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    model_dir = make_base(work, tokenizer_dir)
    text, labelled = write_data(work)
    ids = torch.randint(3, 32000, (1, 10), generator=torch.Generator().manual_seed(3))

    # 1. peft -> us: logits in both modes, generation.
    adapter = peft_adapter(work, model_dir)
    model = load_peft(model_dir, adapter)
    with torch.no_grad():
        want = model(input_ids=ids).logits
        detached = model.base_model.unload_shadow()
        want_shadow = detached(input_ids=ids).logits
        want_tokens = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8,
                                     do_sample=False, eos_token_id=[], pad_token_id=0)[0, ids.shape[1]:].tolist()
    r, got = cli_logits(cli, work, model_dir, adapter, ids)
    check(r.returncode == 0 and "peft SHADOW adapter" in r.stderr, "logits says it found a peft SHADOW adapter")
    check(got is not None and max_diff(got, want) <= ATOL, f"logits base_shadow equal peft's ({max_diff(got, want):.2e})")
    r, got = cli_logits(cli, work, model_dir, adapter, ids, "shadow_only")
    check(got is not None and max_diff(got, want_shadow) <= ATOL,
          f"logits shadow_only equal unload_shadow()'s ({max_diff(got, want_shadow):.2e})")
    r = run(cli, "generate", "--model", model_dir, "--adapter", adapter, "--input-ids", ",".join(map(str, ids[0].tolist())),
            "--max-new-tokens", "8", "--json")
    got_tokens = json.loads(r.stdout)["results"][0]["tokens"] if r.returncode == 0 else None
    check(got_tokens == want_tokens, f"generate equals peft's greedy generate ({got_tokens} vs {want_tokens})")

    exported = os.path.join(work, "exported")
    r = run(cli, "export-shadow", "--model", model_dir, "--adapter", adapter, "--out", exported)
    if r.returncode == 0:
        standalone = transformers.AutoModelForCausalLM.from_pretrained(exported, dtype=torch.float32).eval()
        with torch.no_grad():
            got = standalone(input_ids=ids).logits
    check(r.returncode == 0 and max_diff(got, want_shadow) <= ATOL,
          "export-shadow writes unload_shadow() as a model transformers loads, with its logits")

    # 2. peft -> us -> peft: continue training, load the result in peft.
    continued = os.path.join(work, "continued")
    r = run(cli, "train", "--model", model_dir, "--adapter", adapter, "--data", text, "--max-steps", "3", "--batch-size", "4",
            "--learning-rate", "1e-3", "--output-dir", continued)
    check(r.returncode == 0 and os.path.exists(os.path.join(continued, "adapter_config.json")),
          "train --adapter <peft adapter> writes peft's files")
    if r.returncode == 0:
        with torch.no_grad():
            want = load_peft(model_dir, continued)(input_ids=ids).logits
        _, got = cli_logits(cli, work, model_dir, continued, ids)
        check(got is not None and max_diff(got, want) <= ATOL,
              f"the continued adapter's logits in peft equal ours ({max_diff(got, want):.2e})")
        before = load_file(os.path.join(adapter, "adapter_model.safetensors"))
        after = load_file(os.path.join(continued, "adapter_model.safetensors"))
        check(before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before),
              "continuing training changed the adapter and kept its tensors")

    # 3. A fresh peft-shadow adapter from the CLI flags; the parameter count train prints is peft's.
    fresh = os.path.join(work, "fresh")
    r = run(cli, "train", "--model", model_dir, "--method", "peft-shadow", "--r", "6", "--update-hidden-size", "5",
            "--num-shadow-layers", "2", "--alpha", "0.2", "--dropout", "0.1", "--data", text, "--max-steps", "2",
            "--batch-size", "4", "--output-dir", fresh)
    check(r.returncode == 0, "train --method peft-shadow")
    if r.returncode == 0:
        config = json.load(open(os.path.join(fresh, "adapter_config.json")))
        check((config["peft_type"], config["r"], config["update_hidden_size"], config["shadow_num_hidden_layers"],
               config["shadow_alpha"], config["shadow_dropout"]) == ("SHADOW", 6, 5, 2, 0.2, 0.1),
              "the flags land in adapter_config.json under peft's names")
        base = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            get_peft_model(base, ShadowConfig(task_type="CAUSAL_LM", r=6, update_hidden_size=5, shadow_num_hidden_layers=2,
                                              shadow_alpha=0.2, shadow_dropout=0.1)).print_trainable_parameters()
        check(buf.getvalue().strip() in r.stderr, f"train prints peft's parameter count ({buf.getvalue().strip()})")
        with torch.no_grad():
            want = load_peft(model_dir, fresh)(input_ids=ids).logits
        _, got = cli_logits(cli, work, model_dir, fresh, ids)
        check(got is not None and max_diff(got, want) <= ATOL, f"the fresh adapter loads in peft ({max_diff(got, want):.2e})")
    r = run(cli, "eval", "--model", model_dir, "--adapter", adapter, "--data", text, "--json")
    metrics = json.loads(r.stdout) if r.returncode == 0 else {}
    check(all(f"eval_{m}_loss" in metrics for m in ("base", "base_shadow", "shadow_only")),
          "eval --adapter <peft adapter> reports base, base_shadow and shadow_only")

    # 4. Sequence classification.
    cls_dir = make_base(work, tokenizer_dir, "seq_cls")
    cls_out = os.path.join(work, "cls")
    r = run(cli, "train", "--model", cls_dir, "--task", "seq_cls", "--method", "peft-shadow", "--data", labelled,
            "--max-steps", "2", "--batch-size", "4", "--output-dir", cls_out)
    check(r.returncode == 0, "train --task seq_cls --method peft-shadow")
    if r.returncode == 0:
        peft_cls = load_peft(cls_dir, cls_out, "seq_cls")
        saved = load_file(os.path.join(cls_out, "adapter_model.safetensors"))
        check("base_model.model.score.weight" in saved and "base_model.shadow_head.default.weight" in saved,
              "a seq_cls adapter saves the score copy and the shadow head under peft's names")
        r = run(cli, "eval", "--model", cls_dir, "--task", "seq_cls", "--adapter", cls_out, "--data", labelled, "--json")
        metrics = json.loads(r.stdout) if r.returncode == 0 else {}
        tokenizer = transformers.AutoTokenizer.from_pretrained(cls_dir)
        rows = [json.loads(line) for line in open(labelled)]
        correct = 0
        with torch.no_grad():
            for row in rows:
                enc = tokenizer(row["text"], return_tensors="pt")
                correct += int(peft_cls(**enc).logits.argmax(-1).item() == row["label"])
        check(abs(metrics.get("eval_base_shadow_accuracy", -1) - correct / len(rows)) < 1e-9,
              f"seq_cls accuracy in eval equals peft's ({metrics.get('eval_base_shadow_accuracy')} vs {correct / len(rows)})")

    # 5. LoRA, both ways: peft's adapter here, ours in peft, merged models in transformers.
    lora_adapter = peft_adapter(work, model_dir, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=16,
                                                            target_modules="all-linear"), "peft_lora")
    model = load_peft(model_dir, lora_adapter)
    with torch.no_grad():
        want = model(input_ids=ids).logits
        want_tokens = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8,
                                     do_sample=False, eos_token_id=[], pad_token_id=0)[0, ids.shape[1]:].tolist()
        want_merged = load_peft(model_dir, lora_adapter).merge_and_unload()(input_ids=ids).logits
    r, got = cli_logits(cli, work, model_dir, lora_adapter, ids)
    check(r.returncode == 0 and "peft LORA adapter" in r.stderr and max_diff(got, want) <= ATOL,
          f"logits with peft's LoRA adapter equal peft's ({max_diff(got, want) if got is not None else 'n/a'})")
    r = run(cli, "generate", "--model", model_dir, "--adapter", lora_adapter, "--input-ids", ",".join(map(str, ids[0].tolist())),
            "--max-new-tokens", "8", "--json")
    got_tokens = json.loads(r.stdout)["results"][0]["tokens"] if r.returncode == 0 else None
    check(got_tokens == want_tokens, f"generate with LoRA equals peft's ({got_tokens} vs {want_tokens})")
    merged = os.path.join(work, "merged")
    r = run(cli, "merge", "--model", model_dir, "--adapter", lora_adapter, "--out", merged)
    if r.returncode == 0:
        with torch.no_grad():
            got = transformers.AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)(input_ids=ids).logits
    check(r.returncode == 0 and max_diff(got, want_merged) <= ATOL,
          "merge writes peft's merge_and_unload() model as a directory transformers loads")
    fresh_lora = os.path.join(work, "fresh_lora")
    r = run(cli, "train", "--model", model_dir, "--method", "lora", "--r", "4", "--lora-alpha", "16", "--target-modules",
            "q_proj", "v_proj", "--data", text, "--max-steps", "2", "--batch-size", "4", "--learning-rate", "1e-3",
            "--output-dir", fresh_lora)
    check(r.returncode == 0, "train --method lora")
    if r.returncode == 0:
        base = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=16,
                                            target_modules=["q_proj", "v_proj"])).print_trainable_parameters()
        check(buf.getvalue().strip() in r.stderr, f"train --method lora prints peft's count ({buf.getvalue().strip()})")
        with torch.no_grad():
            want = load_peft(model_dir, fresh_lora)(input_ids=ids).logits
        _, got = cli_logits(cli, work, model_dir, fresh_lora, ids)
        check(got is not None and max_diff(got, want) <= ATOL, f"a LoRA adapter trained here loads in peft ({max_diff(got, want):.2e})")
    r = run(cli, "eval", "--model", model_dir, "--adapter", lora_adapter, "--data", text, "--json")
    metrics = json.loads(r.stdout) if r.returncode == 0 else {}
    check("eval_lora_loss" in metrics and "eval_base_loss" in metrics, "eval --adapter <LoRA> reports lora and base")
    r = run(cli, "generate", "--model", model_dir, "--adapter", lora_adapter, "--mode", "shadow_only", "--input-ids", "1,2",
            expect=1)
    check(r.returncode == 1 and "no shadow" in r.stderr, "--mode shadow_only with a LoRA adapter is a one-line error")
    r = run(cli, "merge", "--model", model_dir, "--adapter", adapter, "--out", os.path.join(work, "m2"), expect=1)
    check(r.returncode == 1 and "cannot be merged" in r.stderr, "merge refuses a shadow adapter")
    # An int8 base (--quantize int8): LoRA trains over it; merging into int8 rows is a one-line error.
    int8_lora = os.path.join(work, "int8_lora")
    r = run(cli, "train", "--model", model_dir, "--method", "lora", "--r", "4", "--data", text, "--max-steps", "2",
            "--batch-size", "4", "--learning-rate", "1e-3", "--quantize", "int8", "--output-dir", int8_lora)
    check(r.returncode == 0 and os.path.exists(os.path.join(int8_lora, "adapter_model.safetensors")),
          f"train --method lora --quantize int8 ({r.stderr.strip().splitlines()[-1:]})")
    r = run(cli, "merge", "--model", model_dir, "--adapter", lora_adapter, "--quantize", "int8", "--out",
            os.path.join(work, "m3"), expect=1)
    last = r.stderr.strip().splitlines()[-1:] or [""]
    check(r.returncode == 1 and last[0].startswith("error: merge:") and "int8-quantized" in last[0] and
          r.stderr.count("error") == 1, "merge into an int8 base is a one-line error")
    r = run(cli, "train", "--model", model_dir, "--task", "shadow_pretraining", "--data", text, "--max-steps", "1",
            "--quantize", "int8", "--output-dir", os.path.join(work, "x8"), expect=1)
    check(r.returncode == 1 and "applies to a frozen base" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          "--quantize with a task that trains the model itself is a one-line error")

    # 6. The method and its hyper-parameters in --config (the method's own config fields), flags on top.
    def train_with_config(name, config, *flags, expect=0):
        path = os.path.join(work, f"{name}.json")
        json.dump(config, open(path, "w"))
        return run(cli, "train", "--model", model_dir, "--config", path, "--data", text, "--max-steps", "1",
                   "--batch-size", "4", "--output-dir", os.path.join(work, name), *flags, expect=expect)

    r = train_with_config("config_lora", {"learning_rate": 1e-3, "method": "lora", "adapter_config": {
        "r": 4, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "use_rslora": True}}, "--r", "2")
    config = json.load(open(os.path.join(work, "config_lora", "adapter_config.json"))) if r.returncode == 0 else {}
    check((config.get("peft_type"), config.get("r"), config.get("lora_alpha"), sorted(config.get("target_modules") or []),
           config.get("use_rslora")) == ("LORA", 2, 16, ["q_proj", "v_proj"], True),
          "--config carries the LoRA method and config; a flag (--r) overrides it")
    r = train_with_config("config_peft_shadow", {"method": "peft-shadow", "shadow_loss_weight": 0.3,
                                                 "adapter_config": {"r": 3, "shadow_alpha": 0.5}})
    config = json.load(open(os.path.join(work, "config_peft_shadow", "adapter_config.json"))) if r.returncode == 0 else {}
    check((config.get("peft_type"), config.get("r"), config.get("shadow_alpha"), config.get("auxiliary_loss_weight")) ==
          ("SHADOW", 3, 0.5, 0.3), "--config carries the peft-shadow method, its config and shadow_loss_weight")
    r = train_with_config("config_shadow", {"method": "shadow", "adapter_config": {"injection_hidden_size": 5, "alpha": 0.4}})
    config = json.load(open(os.path.join(work, "config_shadow", "shadow_config.json"))) if r.returncode == 0 else {}
    check((config.get("injection_hidden_size"), config.get("alpha")) == (5, 0.4),
          "--config carries shadow-peft's config fields")
    r = train_with_config("config_shadow_default", {"method": "shadow"})
    config = json.load(open(os.path.join(work, "config_shadow_default", "shadow_config.json"))) if r.returncode == 0 else {}
    check(config.get("alpha") == 0.5, "a fresh shadow's alpha defaults to 0.5 (README: Choosing a method)")
    r = train_with_config("config_typo", {"method": "lora", "adapter_config": {"rank": 4}}, expect=1)
    check(r.returncode == 1 and "unknown key 'rank'" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          "an unknown key in --config's adapter_config is a one-line error naming it")

    # 7. Errors.
    r = run(cli, "train", "--model", model_dir, "--adapter", adapter, "--method", "shadow", "--data", text,
            "--max-steps", "1", "--output-dir", os.path.join(work, "x"), expect=1)
    check(r.returncode == 1 and "peft SHADOW adapter" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          "a --method that disagrees with --adapter is a one-line error")
    r = run(cli, "train", "--model", model_dir, "--adapter", adapter, "--r", "4", "--data", text, "--max-steps", "1",
            "--output-dir", os.path.join(work, "x"), expect=1)
    check(r.returncode == 1 and "brings its own config" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          "a fresh adapter's shape flag with --adapter is a one-line error")
    ia3 = os.path.join(work, "ia3")
    os.makedirs(ia3)
    json.dump({"peft_type": "IA3"}, open(os.path.join(ia3, "adapter_config.json"), "w"))
    r = run(cli, "logits", "--model", model_dir, "--adapter", ia3, "--input-ids", "1,2,3", "--out",
            os.path.join(work, "l.safetensors"), expect=1)
    check(r.returncode == 1 and "IA3" in r.stderr, "an unsupported peft type is a one-line error naming it")

    print(f"{len(FAILURES)} failures" if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
