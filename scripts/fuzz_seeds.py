#!/usr/bin/env python3
"""Seed inputs for the libFuzzer targets in fuzz/, made with the reference libraries: small
tokenizers of every model kind (`tokenizers`), the chat templates of the real tokenizers, configs of
every family (`transformers`), safetensors files of every dtype (`safetensors`), an adapter config
and data records of every kind.

Usage: fuzz_seeds.py OUT_DIR TOKENIZERS_DIR
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

TEXTS = ["Write 4821 in words.", "four thousand eight hundred twenty-one", "héllo wörld — 你好 🙂", "a\tb\nc  d",
         "The quick brown fox jumps over the lazy dog 12345."]


def put(out, target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def tokenizers_seeds(out):
    kinds = {
        "bpe": (models.BPE(unk_token="[UNK]"), trainers.BpeTrainer(vocab_size=80, special_tokens=["[UNK]", "<s>", "</s>"]),
                pre_tokenizers.Whitespace()),
        "byte_bpe": (models.BPE(), trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
                     pre_tokenizers.ByteLevel(add_prefix_space=False)),
        "wordlevel": (models.WordLevel(unk_token="[UNK]"), trainers.WordLevelTrainer(special_tokens=["[UNK]"]),
                      pre_tokenizers.Whitespace()),
        "wordpiece": (models.WordPiece(unk_token="[UNK]"), trainers.WordPieceTrainer(vocab_size=80, special_tokens=["[UNK]", "[CLS]", "[SEP]"]),
                      pre_tokenizers.Whitespace()),
        "unigram": (models.Unigram(), trainers.UnigramTrainer(vocab_size=120, special_tokens=["<unk>"], unk_token="<unk>"),
                    pre_tokenizers.Metaspace()),
    }
    for name, (model, trainer, pre) in kinds.items():
        tok = Tokenizer(model)
        tok.pre_tokenizer = pre
        if name == "byte_bpe":
            tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(TEXTS * 3, trainer)
        if name == "wordpiece":
            tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                               special_tokens=[("[CLS]", tok.token_to_id("[CLS]")),
                                                                               ("[SEP]", tok.token_to_id("[SEP]"))])
        put(out, "tokenizer_json", f"{name}.json", tok.to_str())


def chat_template_seeds(out, tokenizers_dir):
    for name in sorted(os.listdir(tokenizers_dir)):
        path = os.path.join(tokenizers_dir, name, "tokenizer_config.json")
        if not os.path.exists(path):
            continue
        template = json.load(open(path)).get("chat_template")
        if isinstance(template, list):
            template = template[0]["template"]
        if template:
            put(out, "chat_template", f"{name}.jinja", template)
    put(out, "chat_template", "small.jinja",
        "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] | trim }}{% if not loop.last %}\n{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
    put(out, "chat_template", "with_messages",
        "{{ messages | tojson }}\0" + json.dumps([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]))


def config_seeds(out):
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 vocab_size=100)
    for name, cls, extra in [("llama_plain", transformers.LlamaConfig, {}),
                             ("llama", transformers.LlamaConfig, {"rope_scaling": {"rope_type": "llama3", "factor": 8.0,
                                                                                   "original_max_position_embeddings": 64}}),
                             ("mistral", transformers.MistralConfig, {"sliding_window": 4}),
                             ("qwen2", transformers.Qwen2Config, {}), ("qwen3", transformers.Qwen3Config, {}),
                             ("qwen3_moe", transformers.Qwen3MoeConfig, {"num_experts": 4, "num_experts_per_tok": 2}),
                             ("gemma2", transformers.Gemma2Config, {}), ("gemma3", transformers.Gemma3TextConfig, {}),
                             ("mixtral", transformers.MixtralConfig, {"num_local_experts": 4}),
                             ("gpt2", transformers.GPT2Config, {"n_embd": 32, "n_layer": 2, "n_head": 4}),
                             ("opt", transformers.OPTConfig, {"ffn_dim": 64}),
                             ("gpt_oss", transformers.GptOssConfig, {"num_local_experts": 4}),
                             ("nemotron_h", transformers.NemotronHConfig, {"hybrid_override_pattern": "M*-E"})]:
        try:
            config = cls(**small, **extra)
        except Exception:  # a family whose config takes other names
            continue
        put(out, "model_config", f"{name}.json", config.to_json_string())
    put(out, "adapter_config", "shadow_config.json", json.dumps(
        {"peft_type": "SHADOW", "num_shadow_layers": 1, "injection_hidden_size": 16, "gate_hidden_size": 10, "alpha": 0.1,
         "dropout": 0.1, "shadow_intermediate_size": None, "modules_to_save": ["lm_head"], "base_model_name_or_path": "x"}))


def safetensors_seeds(out):
    torch.manual_seed(0)
    tensors = {f"t.{str(dtype).split('.')[-1]}": torch.randn(2, 3).to(dtype)
               for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64)}
    tensors["i64"] = torch.arange(4)
    tensors["u8"] = torch.arange(5, dtype=torch.uint8)
    tensors["scalar"] = torch.tensor(1.5)
    tensors["empty"] = torch.zeros(0, 3)
    put(out, "safetensors", "all_dtypes.safetensors", save(tensors, metadata={"format": "pt"}))
    put(out, "safetensors", "one.safetensors", save({"w": torch.ones(1)}))


def data_seeds(out):
    rows = {
        "text": [{"text": t} for t in TEXTS],
        "prompt": [{"prompt": "Write 7 in words.", "completion": "seven"}],
        "messages": [{"messages": [{"role": "user", "content": "Write 7."}, {"role": "assistant", "content": "seven"}]}],
        "class": [{"text": "good", "label": 1}, {"text": "bad", "label": "neg"}],
    }
    for name, records in rows.items():
        put(out, "records", f"{name}.jsonl", b"\x00" + "\n".join(json.dumps(r) for r in records).encode())
        put(out, "records", f"{name}.json", b"\x01" + json.dumps(records).encode())
    put(out, "records", "class.csv", b"\x02text,label\n\"a, quoted\"\"text\",1\nplain,0\n")
    for i, text in enumerate(TEXTS):
        put(out, "tokenizer_encode", f"text{i}", text)


def main(out, tokenizers_dir):
    tokenizers_seeds(out)
    chat_template_seeds(out, tokenizers_dir)
    config_seeds(out)
    safetensors_seeds(out)
    data_seeds(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
