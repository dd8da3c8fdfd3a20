#!/usr/bin/env python3
"""The stand-in for a real checkpoint in the worked example: a tiny Nemotron-H (Mamba, MLP and one
attention block in Nemotron Nano's pattern) pretrained on the task's text by transformers and
PyTorch, with a byte-level BPE tokenizer trained on the same text by `tokenizers`.

Usage: make_model.py TRAIN_JSONL OUT_DIR [STEPS]   (records {"text": ...})
"""
import json
import sys

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

BLOCKS = ["linear_attention", "mlp", "linear_attention", "mlp", "full_attention", "mlp", "linear_attention", "mlp"]
SPECIAL = ["<pad>", "<s>", "</s>"]


def train_tokenizer(texts):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=320, special_tokens=SPECIAL,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    # Every example starts with <s> and ends with </s>, as the tokenizer adds them.
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    return tok


def main(train_jsonl, out_dir, steps=400):
    texts = [json.loads(line)["text"] for line in open(train_jsonl)]
    tok = train_tokenizer(texts)
    config = transformers.NemotronHConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=64, layers_block_type=BLOCKS, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, intermediate_size=128, mamba_num_heads=4, mamba_head_dim=16, n_groups=2,
        ssm_state_size=16, conv_kernel=4, chunk_size=16, max_position_embeddings=256, pad_token_id=0, bos_token_id=1,
        eos_token_id=2, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = transformers.NemotronHForCausalLM(config).train()
    ids = [tok.encode(t).ids for t in texts]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    for step in range(int(steps)):
        batch = [ids[i] for i in torch.randint(len(ids), (32,), generator=g).tolist()]
        width = max(map(len, batch))
        input_ids = torch.tensor([b + [0] * (width - len(b)) for b in batch])
        mask = (torch.arange(width)[None, :] < torch.tensor([len(b) for b in batch])[:, None]).long()
        labels = input_ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            print(f"pretraining step {step + 1}: loss {loss.item():.3f}", flush=True)
    model.eval().save_pretrained(out_dir)
    tok.save(f"{out_dir}/tokenizer.json")
    with open(f"{out_dir}/tokenizer_config.json", "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                   "pad_token": "<pad>", "model_max_length": 256}, f, indent=2)
    print(f"{out_dir}: NemotronHForCausalLM, blocks {config.hybrid_override_pattern}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, vocabulary {config.vocab_size}")


if __name__ == "__main__":
    main(*sys.argv[1:])
