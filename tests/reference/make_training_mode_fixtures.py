#!/usr/bin/env python3
"""Builds the fixtures of the two training modes beyond adapters: shadow pretraining and projection alignment.

Reads the shadow fixtures written before it (make_shadow_fixtures.py into the same OUT_DIR). Writes
`OUT_DIR/training_modes/<case>/` and `OUT_DIR/training_modes/index.json`.

Both modes come from the upstream ShadowPEFT workflows (scripts next to the package, not in it):
- **shadow pretraining** (`run_shadow_pretraining.py`): next-token training of a shadow causal LM on its own,
  with the input embeddings and the LM head frozen (`get_input_embeddings()` / `get_output_embeddings()`
  requires_grad False; with tied embeddings that is one tensor). Loss: the model's own causal LM loss (shifted CE,
  mean over labels != -100).
- **projection alignment** (`run_lm_head_alignment.py`, class AlignmentTrainer): an
  AutoModelForCausalLMWithHiddenProjection loaded with freeze_backbone / freeze_embed_tokens / freeze_lm_head, so
  only shadow_hidden_projection.weight P trains; the teacher is the small model's own lm_head. Per batch, with
  h = shadow_model(input_ids, attention_mask).last_hidden_state (one backbone pass):
      student = lm_head(P h);  teacher = teacher_lm_head(h) (no grad)
      lm   = alpha < 1 ? CrossEntropy(student[:, :-1], labels[:, 1:]) (mean, ignore -100) : 0
      T    = adaptive ? T0 + (T1 - T0) * global_step / max_steps : temperature   (global_step = steps done)
      mask = labels != -100 (NOT shifted)
      kl   = sum_v kl_div(log_softmax(student / T), softmax(teacher / T)) masked-mean over tokens * T^2
      mse  = mean_v (student - teacher)^2 masked-mean over tokens
      distill = (kl + mse) / 2 if both, else the one enabled
      reg  = regularization_weight * mean((P - P_initial)^2)
      loss = (1 - alpha) * lm + alpha * distill + reg

The optimisation loop is the one of make_training_fixtures.py (its docstring has the exact semantics: AdamW
single-tensor with transformers' decay groups, get_scheduler, clip_grad_norm_, loss / grad_accum per micro-batch;
its helpers are imported). The batches come from its make_micro: row 0 left-padded, labels -100 on pads and on the
first 3 real tokens of every row.

Outputs per case: `batches.safetensors` (`step{S}.micro{M}.{input_ids,attention_mask,labels}`), `after_{N}/`
(save_pretrained of the trained model: a causal LM dir, or the projected model dir), `case.json` with "mode",
"model_dir" (relative to OUT_DIR), "teacher_dir" (alignment), "args" (optimisation), "alignment" (alpha,
temperature, adaptive_temperature, initial_temp, final_temp, regularization_weight, use_kld, use_mse), "losses",
"grad_norms", "learning_rates", "trainable_parameter_names", "components_step0" ({lm, kl, mse, reg, distill,
temperature} of step 0 micro 0, alignment only), "eval" (after training, over the micro-batches of step 0: pretraining
{"model_loss"} = CE sum / labelled tokens; alignment {"projected_loss", "small_model_loss"} the same for student and
teacher logits).

Every case runs in float64 (args.dtype): the models are loaded in float32 and converted, as the C++ side does.

Self-checks: the loss goes down; only the intended parameters change (frozen ones bitwise equal after training).

Usage: make_training_mode_fixtures.py OUT_DIR [CASE ...]
"""
import copy
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_training_fixtures as tf  # noqa: E402  (sets the offline / verbosity environment too)
from fixture_runner import CheckFailed, run_cases  # noqa: E402

import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

from shadow_peft import AutoModelForCausalLMWithHiddenProjection  # noqa: E402

# float64 (see make_training_fixtures.py: trained weights can then be compared tightly on any CPU).
DTYPE = torch.float64

OPT = dict(adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8, per_device_train_batch_size=2, seq_len=12)

SPECS = {
    "pretrain_llama": dict(mode="shadow_pretraining", model="shadow/llama/base", data_seed=2001, learning_rate=3e-3,
                           weight_decay=0.01, max_grad_norm=1.0, lr_scheduler_type="linear", warmup_steps=1,
                           gradient_accumulation_steps=2, max_steps=6),
    "pretrain_qwen3_tied": dict(mode="shadow_pretraining", model="training_modes/qwen3_tied_model", data_seed=2002,
                                learning_rate=3e-3, weight_decay=0.1, max_grad_norm=0.5,
                                lr_scheduler_type="cosine", warmup_steps=0, gradient_accumulation_steps=1,
                                max_steps=6),
    "align_kld": dict(mode="projection_alignment", model="shadow/projected_model/projected",
                      teacher="shadow/projected_model/small", data_seed=2003, learning_rate=1e-2, weight_decay=0.01,
                      max_grad_norm=1.0, lr_scheduler_type="cosine", warmup_steps=1, gradient_accumulation_steps=1,
                      max_steps=8,
                      alignment=dict(alpha=0.5, temperature=2.0, adaptive_temperature=False, initial_temp=3.0,
                                     final_temp=1.0, regularization_weight=0.1, use_kld=True, use_mse=False)),
    "align_kld_mse_adaptive": dict(mode="projection_alignment", model="shadow/projected_model/projected",
                                   teacher="shadow/projected_model/small", data_seed=2004, learning_rate=1e-2,
                                   weight_decay=0.0, max_grad_norm=1.0, lr_scheduler_type="linear", warmup_steps=0,
                                   gradient_accumulation_steps=2, max_steps=6,
                                   alignment=dict(alpha=1.0, temperature=1.0, adaptive_temperature=True,
                                                  initial_temp=3.0, final_temp=1.0, regularization_weight=0.0,
                                                  use_kld=True, use_mse=True)),
}


def out_path(rel):
    return os.path.join(tf.OUT["dir"], rel)


def qwen3_tied_model():
    """A tiny Qwen3 with tied embeddings (pretraining freezes the one shared table)."""
    d = out_path("training_modes/qwen3_tied_model")
    if not os.path.isdir(d):
        torch.manual_seed(tf.SEED)
        cfg = transformers.Qwen3Config(vocab_size=128, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                       num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                       max_position_embeddings=64, tie_word_embeddings=True)
        transformers.Qwen3ForCausalLM(cfg).save_pretrained(d)
    return d


def load_model(spec):
    if spec["mode"] == "shadow_pretraining":
        if spec["model"].endswith("qwen3_tied_model"):
            qwen3_tied_model()
        model = AutoModelForCausalLM.from_pretrained(out_path(spec["model"]), attn_implementation=tf.attn_implementation(str(DTYPE).removeprefix("torch.")),
                                                     dtype=torch.float32).to(DTYPE)
        for module in (model.get_input_embeddings(), model.get_output_embeddings()):
            for p in module.parameters():
                p.requires_grad = False
        return model, None
    model = AutoModelForCausalLMWithHiddenProjection.from_pretrained(
        out_path(spec["model"]), attn_implementation=tf.attn_implementation(str(DTYPE).removeprefix("torch.")), dtype=torch.float32, freeze_backbone=True,
        freeze_embed_tokens=True, freeze_lm_head=True).to(DTYPE)
    small = AutoModelForCausalLM.from_pretrained(out_path(spec["teacher"]), attn_implementation=tf.attn_implementation(str(DTYPE).removeprefix("torch.")),
                                                 dtype=torch.float32).to(DTYPE)
    teacher = copy.deepcopy(small.get_output_embeddings()).eval()
    for p in teacher.parameters():
        p.requires_grad = False
    return model, teacher


def alignment_loss(model, teacher, batch, cfg, step, max_steps, initial_projection):
    """AlignmentTrainer.compute_loss (module docstring), returning the total and its parts."""
    labels = batch["labels"]
    hidden = model.shadow_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                use_cache=False, return_dict=True).last_hidden_state
    student = model.lm_head(model.shadow_hidden_projection(hidden))
    with torch.no_grad():
        teacher_logits = teacher(hidden)
    zero = torch.tensor(0.0)
    lm = zero
    if cfg["alpha"] < 1.0:
        lm = F.cross_entropy(student[..., :-1, :].reshape(-1, student.size(-1)), labels[..., 1:].reshape(-1))
    temperature = (cfg["initial_temp"] + (cfg["final_temp"] - cfg["initial_temp"]) * step / max_steps
                   if cfg["adaptive_temperature"] else cfg["temperature"])
    mask = (labels != -100).float()
    kl, mse = zero, zero
    if cfg["use_kld"]:
        per_token = F.kl_div(F.log_softmax(student / temperature, dim=-1), F.softmax(teacher_logits / temperature, dim=-1),
                             reduction="none").sum(dim=-1)
        kl = (per_token * mask).sum() / mask.sum() * temperature ** 2
    if cfg["use_mse"]:
        per_token = F.mse_loss(student, teacher_logits, reduction="none").mean(dim=-1)
        mse = (per_token * mask).sum() / mask.sum()
    distill = (kl + mse) / 2.0 if cfg["use_kld"] and cfg["use_mse"] else (kl if cfg["use_kld"] else mse)
    reg = zero
    if cfg["regularization_weight"] > 0:
        reg = cfg["regularization_weight"] * (model.shadow_hidden_projection.weight - initial_projection).pow(2).mean()
    total = (1 - cfg["alpha"]) * lm + cfg["alpha"] * distill + reg
    parts = {"lm": lm.item(), "kl": kl.item(), "mse": mse.item(), "reg": reg.item(), "distill": distill.item(),
             "temperature": temperature}
    return total, parts


def shifted_ce_sum(logits, labels):
    flat = logits[:, :-1].reshape(-1, logits.size(-1))
    target = labels[:, 1:].reshape(-1)
    return F.cross_entropy(flat, target, reduction="sum").item(), (target != -100).sum().item()


def evaluate(model, teacher, spec, micro):
    sums, tokens = {}, 0
    model.eval()
    with torch.no_grad():
        for batch in micro:
            if spec["mode"] == "shadow_pretraining":
                logits = {"model": model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits}
            else:
                hidden = model.shadow_model(input_ids=batch["input_ids"],
                                            attention_mask=batch["attention_mask"]).last_hidden_state
                logits = {"projected": model.lm_head(model.shadow_hidden_projection(hidden)),
                          "small_model": teacher(hidden)}
            for name, lg in logits.items():
                s, n = shifted_ce_sum(lg, batch["labels"])
                sums[name] = sums.get(name, 0.0) + s
            tokens += n
    model.train()
    return {f"{name}_loss": s / tokens for name, s in sums.items()}


def mode_case(name):
    spec = SPECS[name]

    def fn(d):
        torch.manual_seed(tf.SEED)
        model, teacher = load_model(spec)
        model.train()
        params, decay, no_decay = tf.param_groups(model)
        frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
        vocab = model.config.vocab_size
        ga, steps = spec["gradient_accumulation_steps"], spec["max_steps"]
        g = torch.Generator().manual_seed(spec["data_seed"])
        data = [tf.make_micro(g, {"task": "causal_lm"}, 2, vocab) for _ in range(2 * ga)]
        batches = [[data[(s * ga + m) % len(data)] for m in range(ga)] for s in range(steps)]
        opt = torch.optim.AdamW([{"params": [p for _, p in decay], "weight_decay": spec["weight_decay"]},
                                 {"params": [p for _, p in no_decay], "weight_decay": 0.0}],
                                lr=spec["learning_rate"], betas=(OPT["adam_beta1"], OPT["adam_beta2"]),
                                eps=OPT["adam_epsilon"])
        sched = transformers.get_scheduler(spec["lr_scheduler_type"], opt, num_warmup_steps=spec["warmup_steps"],
                                           num_training_steps=steps)
        cfg = spec.get("alignment")
        initial_projection = (model.shadow_hidden_projection.weight.detach().clone()
                              if spec["mode"] == "projection_alignment" else None)
        losses, norms, lrs, components = [], [], [], None
        for step, micro in enumerate(batches):
            micro_losses = []
            for m, batch in enumerate(micro):
                if spec["mode"] == "shadow_pretraining":
                    loss = model(**batch).loss
                else:
                    loss, parts = alignment_loss(model, teacher, batch, cfg, step, steps, initial_projection)
                    if step == 0 and m == 0:
                        components = parts
                (loss / ga).backward()
                micro_losses.append(loss.detach())
            norm = torch.nn.utils.clip_grad_norm_([p for _, p in params], spec["max_grad_norm"])
            lrs.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            losses.append(torch.stack(micro_losses).mean().item())
            norms.append(norm.item())
        if not sum(losses[-2:]) < sum(losses[:2]):
            raise CheckFailed(f"the loss did not go down: {losses}")
        for n, p in model.named_parameters():
            if n in frozen_before and not torch.equal(p, frozen_before[n]):
                raise CheckFailed(f"frozen parameter {n} changed")
        model.save_pretrained(os.path.join(d, f"after_{steps}"))
        tensors = {}
        for s, micro in enumerate(batches):
            for m, batch in enumerate(micro):
                for k, v in batch.items():
                    tensors[f"step{s}.micro{m}.{k}"] = v.clone()
        save_file(tensors, os.path.join(d, "batches.safetensors"), metadata={"format": "pt"})
        args = {k: spec[k] for k in ("learning_rate", "weight_decay", "max_grad_norm", "lr_scheduler_type",
                                     "warmup_steps", "gradient_accumulation_steps", "max_steps")}
        args.update({k: OPT[k] for k in ("adam_beta1", "adam_beta2", "adam_epsilon")})
        args["dtype"] = str(DTYPE).removeprefix("torch.")
        info = {"mode": spec["mode"], "model_dir": spec["model"], "args": args, "losses": losses, "grad_norms": norms,
                "learning_rates": lrs, "trainable_parameter_names": [n for n, _ in params],
                "decay_parameter_names": [n for n, _ in decay], "eval": evaluate(model, teacher, spec, batches[0]),
                "after_dir": f"after_{steps}", "data_seed": spec["data_seed"]}
        if cfg is not None:
            info.update({"teacher_dir": spec["teacher"], "alignment": cfg, "components_step0": components})
        return info
    return fn


CASES = {name: (SPECS[name]["mode"], mode_case(name)) for name in SPECS}


def main(argv):
    if len(argv) >= 2 and argv[1] not in ("-h", "--help"):
        tf.OUT["dir"] = argv[1]
    return run_cases(argv, __doc__.strip().splitlines()[-1], CASES, "training_modes", tf.finish_case)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
