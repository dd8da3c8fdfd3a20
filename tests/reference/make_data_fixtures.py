#!/usr/bin/env python3
"""Dataset files of every kind and the examples the rules of include/shadowpeft/data/dataset.h give.

Writes OUT_DIR/data/*.{jsonl,json,csv} and OUT_DIR/data/cases.json. Each case names a file, a
tokenizer and loader options, and holds either the expected examples (input_ids, labels, class
label, source line) and counts, or the expected error (line and fragments of the message).

The rules are applied here independently of the C++ code: Python's json and csv modules read the
files; token ids come from Python `tokenizers` (Tokenizer.from_file on the same tokenizer.json the
C++ tokenizer reads — transformers 5's LlamaTokenizer re-derives the Mistral pre-tokenizer and
encodes a leading space differently, so it is not the reference for ids); chat templates are
rendered by transformers' `apply_chat_template(tokenize=False)`, and the eos id is transformers'.
Tokenized records are written the way transformers prepares them (the tokenizer's __call__, with and
without padding="max_length"); where they carry no labels, the expected labels are those
DataCollatorForLanguageModeling(mlm=False) gives, at the positions attention_mask keeps.

Usage: make_data_fixtures.py OUT_DIR TOKENIZERS_DIR
"""
import csv
import io
import json
import os
import re
import sys

from tokenizers import Tokenizer
from transformers import AutoTokenizer, DataCollatorForLanguageModeling

IGNORE = -100
ROLES = ("system", "developer", "user", "assistant", "tool")


class BadRecord(Exception):
    pass


class Family:
    def __init__(self, tokenizers_dir, name):
        path = os.path.join(tokenizers_dir, name)
        self.name = name
        self.fast = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
        self.hf = AutoTokenizer.from_pretrained(path)
        self.path = path

    def padding(self, side):
        """For padding and DataCollatorForLanguageModeling: Mistral has no pad token, and transformers
        users then set one (unk here: eos would also turn the "</s>" in TEXTS into padding)."""
        tok = AutoTokenizer.from_pretrained(self.path, padding_side=side)
        if tok.pad_token is None:
            tok.pad_token = tok.unk_token
        return tok

    def encode(self, text, add_special_tokens):
        return self.fast.encode(text, add_special_tokens=add_special_tokens).ids

    def render(self, messages, add_generation_prompt, kwargs):
        if not messages:
            return ""
        return self.hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                           **kwargs)


# ---------------------------------------------------------------- reading files (line of each record)

def read_records(path, label_field):
    """[(line, value or None, error or None)], like src/data/record_reader.cpp."""
    text = open(path, encoding="utf-8-sig", newline="").read()
    if path.endswith(".jsonl"):
        out = []
        for i, line in enumerate(text.split("\n"), start=1):
            if not line.strip(" \t\r\n"):
                continue
            try:
                out.append((i, json.loads(line), None))
            except json.JSONDecodeError as e:
                out.append((i, None, f"invalid JSON: {e}"))
        return out
    if path.endswith(".json"):
        values = json.loads(text)
        lines = ELEMENT_LINES[os.path.basename(path)]
        return [(line, v, None) for line, v in zip(lines, values)]
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    out, start = [], reader.line_num + 1
    for row in reader:
        if row:
            if len(row) != len(header):
                out.append((start, None, "fields"))
            else:
                rec = dict(zip(header, row))
                if label_field in rec and re.fullmatch(r"-?[0-9]+", rec[label_field]):
                    rec[label_field] = int(rec[label_field])
                out.append((start, rec, None))
        start = reader.line_num + 1
    return out


# ---------------------------------------------------------------- the rules

def detect_kind(rec, o):
    if not isinstance(rec, dict):
        return None
    if "input_ids" in rec:
        return "tokenized"
    if o["messages_field"] in rec:
        return "messages"
    if o["prompt_field"] in rec and o["completion_field"] in rec:
        return "prompt_completion"
    if o["text_field"] in rec and o["label_field"] in rec:
        return "classification"
    if o["text_field"] in rec:
        return "text"
    return None


def string_field(rec, field):
    if field not in rec:
        raise BadRecord(f"missing field \"{field}\"")
    if not isinstance(rec[field], str):
        raise BadRecord(f"field \"{field}\" must be a string")
    return rec[field]


def check_messages(messages):
    if not isinstance(messages, list) or not messages:
        raise BadRecord("messages must be a non-empty list")
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or m["role"] not in ROLES:
            raise BadRecord("bad message or role")
        if m["role"] == "assistant" and "tool_calls" in m and m.get("content") is None:
            continue
        if not isinstance(m.get("content"), (str, list)):
            raise BadRecord("bad content")


def conversation_segments(fam, messages, kwargs):
    full = fam.render(messages, False, kwargs)
    segments, done = [], 0
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = fam.render(messages[:i], True, kwargs)
        with_reply = fam.render(messages[:i + 1], False, kwargs)
        assert with_reply.startswith(before)
        start = 0
        while start < len(before) and start < len(full) and before[start] == full[start]:
            start += 1
        assert start >= done
        reply = with_reply[len(before):]
        rest = full[start:]
        length = next((len(reply) - k for k in range(len(reply)) if rest.startswith(reply[k:])), 0)
        assert length or not reply
        if start > done:
            segments.append((full[done:start], False))
        if length:
            segments.append((full[start:start + length], True))
        done = start + length
    if done < len(full):
        segments.append((full[done:], False))
    return segments


def int_list(rec, field, length=None):
    """input_ids (required), or labels / attention_mask (optional: absent or null; `length` items)."""
    value = rec.get(field)
    if value is None:
        if length is None:
            raise BadRecord(f"missing field \"{field}\"")
        return None
    if not isinstance(value, list) or any(type(x) is not int for x in value):  # bool is not an int here
        raise BadRecord(f"field \"{field}\" must be a list of ints")
    if length is not None and len(value) != length:
        raise BadRecord(f"field \"{field}\" length")
    return value


def build_tokenized(fam, rec, line):
    ids = int_list(rec, "input_ids")
    if not ids:
        raise BadRecord("empty input_ids")
    labels = int_list(rec, "labels", len(ids))
    mask = int_list(rec, "attention_mask", len(ids))
    if mask is not None and any(m not in (0, 1) for m in mask):
        raise BadRecord("attention_mask values")
    keep = [i for i in range(len(ids)) if mask is None or mask[i] == 1]
    if not keep:
        raise BadRecord("no tokens")
    if labels is None:
        # What a transformers Trainer trains a causal LM on: the collator's labels. It also sets -100
        # where a real token equals the pad id, which the C++ rule (labels = ids) does not copy, so
        # the fixtures hold no such token.
        padding = fam.padding("right")
        assert padding.pad_token_id not in [ids[i] for i in keep], "a kept token is the pad token"
        collator = DataCollatorForLanguageModeling(padding, mlm=False, return_tensors="np")
        features = {"input_ids": ids, "attention_mask": mask if mask is not None else [1] * len(ids)}
        labels = collator([features])["labels"][0].tolist()
    is_token = lambda t: t >= 0 and fam.fast.id_to_token(t) is not None  # noqa: E731
    for i in keep:
        if not is_token(ids[i]) or not (labels[i] == IGNORE or is_token(labels[i])):
            raise BadRecord("not a token id")
    return {"input_ids": [ids[i] for i in keep], "labels": [labels[i] for i in keep], "line": line}


def build(fam, kind, rec, o, line):
    if kind == "tokenized":
        return build_tokenized(fam, rec, line)
    ids, labels = [], []

    def add(text, special, loss):
        t = fam.encode(text, special)
        ids.extend(t)
        labels.extend(t if loss else [IGNORE] * len(t))

    if kind == "text":
        add(string_field(rec, o["text_field"]), True, True)
    elif kind == "prompt_completion":
        prompt, completion = string_field(rec, o["prompt_field"]), string_field(rec, o["completion_field"])
        add(prompt, True, False)
        add(completion, False, True)
    elif kind == "messages":
        if o["messages_field"] not in rec:
            raise BadRecord("missing messages")
        check_messages(rec[o["messages_field"]])
        for text, loss in conversation_segments(fam, rec[o["messages_field"]], o["chat_template_kwargs"]):
            add(text, False, loss)
    else:
        text = string_field(rec, o["text_field"])
        if o["label_field"] not in rec:
            raise BadRecord("missing label")
        label = rec[o["label_field"]]
        if isinstance(label, bool) or not isinstance(label, (int, str)):
            raise BadRecord("label type")
        return {"input_ids": fam.encode(text, True), "labels": [], "line": line, "raw_label": label}
    if kind in ("text", "prompt_completion") and o["append_eos"] and fam.hf.eos_token_id is not None:
        ids.append(fam.hf.eos_token_id)
        labels.append(fam.hf.eos_token_id)
    return {"input_ids": ids, "labels": labels, "line": line}


DEFAULTS = {"kind": "auto", "max_length": 1024, "append_eos": True, "text_field": "text", "prompt_field": "prompt",
            "completion_field": "completion", "messages_field": "messages", "label_field": "label",
            "label_names": [], "skip_bad_records": False, "packing": False, "packing_strategy": "bfd",
            "chat_template_kwargs": {}}


def expected_dataset(fam, path, options):
    o = {**DEFAULTS, **options}
    stats = {"records": 0, "bad_records": 0, "truncated": 0, "dropped_no_loss": 0}
    records = read_records(path, o["label_field"])
    stats["records"] = len(records)
    kind = None if o["kind"] == "auto" else o["kind"]
    examples = []
    for line, rec, error in records:
        try:
            if error:
                raise BadRecord(error)
            if kind is None:
                kind = detect_kind(rec, o)
                if kind is None:
                    raise BadRecord("kind")
            if not isinstance(rec, dict):
                raise BadRecord("not an object")
            examples.append(build(fam, kind, rec, o, line))
        except BadRecord:
            assert o["skip_bad_records"], f"{path}:{line} is bad but the case does not skip"
            stats["bad_records"] += 1
    label_names = []
    if kind == "classification":
        names = list(o["label_names"]) or sorted({e["raw_label"] for e in examples if isinstance(e["raw_label"], str)},
                                                 key=lambda s: s.encode("utf-8"))
        for e in examples:
            raw = e.pop("raw_label")
            e["class_label"] = names.index(raw) if isinstance(raw, str) else raw
        label_names = names
    if o["packing"]:
        # The reference rule here is the wrapped strategy (concatenate, cut); bfd is tested in C++
        # against the unpacked model's results.
        if o["packing_strategy"] != "wrapped":
            raise ValueError("the data fixtures cover packing_strategy wrapped only")
        ids = [(t, l, e["line"]) for e in examples for t, l in zip(e["input_ids"], e["labels"])]
        blocks = []
        for s in range(0, len(ids), o["max_length"]):
            chunk = ids[s:s + o["max_length"]]
            block = {"input_ids": [c[0] for c in chunk], "labels": [c[1] for c in chunk], "line": chunk[0][2]}
            if any(l != IGNORE for l in block["labels"]):
                blocks.append(block)
            else:
                stats["dropped_no_loss"] += 1
        examples = blocks
    else:
        kept = []
        for e in examples:
            if len(e["input_ids"]) > o["max_length"]:
                stats["truncated"] += 1
                e["input_ids"] = e["input_ids"][:o["max_length"]]
                e["labels"] = e["labels"][:o["max_length"]]
            if "class_label" in e or any(l != IGNORE for l in e["labels"]):
                kept.append(e)
            else:
                stats["dropped_no_loss"] += 1
        examples = kept
    return {"kind": kind, "examples": examples, "label_names": label_names, "stats": stats}


# ---------------------------------------------------------------- the files

TEXTS = [
    "Hello world",
    " leading space and trailing space ",
    "héllo wörld — ünïcödé, 日本語のテキスト, emoji 🎉🚀",
    "Line one\nLine two\n\nLine four\twith a tab",
    "",
    "Numbers 12345 and 3.14159, symbols <>&\"' and code: def f(x): return x**2",
    "<|im_start|> and </s> written as text",
]

PROMPT_COMPLETIONS = [
    {"prompt": "Translate to French: cheese", "completion": " fromage"},
    {"prompt": "Q: What is 2+2?\nA:", "completion": " 4"},
    {"prompt": "Écris un haïku sur la mer.\n", "completion": "Vagues sous la lune,\nle sel chante en silence —\nla nuit se retire."},
    {"prompt": "", "completion": "An empty prompt still trains on the completion."},
    {"prompt": "A prompt that is long enough to fill the whole window on its own, " * 3, "completion": " lost"},
]

CONVERSATIONS = [
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"}],
    [{"role": "system", "content": "You are a terse assistant."},
     {"role": "user", "content": "Capital of France?"},
     {"role": "assistant", "content": "Paris."},
     {"role": "user", "content": "And of Japan?"},
     {"role": "assistant", "content": "Tokyo (東京)."}],
    [{"role": "user", "content": "Think, then answer: 3*7?"},
     {"role": "assistant", "content": "21", "reasoning_content": "3 times 7 is 21."}],
    [{"role": "system", "content": "Be kind."},
     {"role": "user", "content": "One"}, {"role": "assistant", "content": "Uno"},
     {"role": "user", "content": "Two"}, {"role": "assistant", "content": "Dos"},
     {"role": "user", "content": "Three"}, {"role": "assistant", "content": "Tres"},
     {"role": "user", "content": "A question left unanswered"}],
    [{"role": "user", "content": "What's the weather in Paris?"},
     {"role": "assistant", "content": "",
      "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
     {"role": "tool", "content": "{\"temp_c\": 18}"},
     {"role": "assistant", "content": "It is 18 °C in Paris."}],
]

CLASSIFICATION = [
    {"text": "I loved this film", "label": "positive"},
    {"text": "Terrible, never again", "label": "negative"},
    {"text": "It was fine, I guess", "label": "neutral"},
    {"text": "Absolutely wonderful ✨", "label": "positive"},
]

# CSV fields with every quoting case of RFC 4180.
CSV_TEXTS = [
    "plain field",
    "a field, with commas, inside",
    "a field with \"doubled\" quotes",
    "a field\nspanning\r\nthree lines",
    "ünïcödé and 中文, \"mixed\"",
    "",
]

ELEMENT_LINES = {}


def write_jsonl(path, lines):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("".join(line + "\n" for line in lines))


def write_json_list(path, values):
    """One element per group of lines, so that the line each element starts on is known."""
    parts, lines, line = [], [], 2
    for v in values:
        text = json.dumps(v, ensure_ascii=False, indent=2)
        lines.append(line)
        parts.append(text)
        line += text.count("\n") + 1
    ELEMENT_LINES[os.path.basename(path)] = lines
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("[\n" + ",\n".join(parts) + "\n]\n")


def write_csv(path, header, rows, line_terminator="\n", bom=False):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=line_terminator)
    w.writerow(header)
    w.writerows(rows)
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        f.write(buf.getvalue())


def dumps(v):
    return json.dumps(v, ensure_ascii=False)


def tokenized_records(fam):
    """Rows of a tokenized Hugging Face dataset, prepared as transformers users prepare them."""
    hf = fam.hf
    prompt, completion = PROMPT_COMPLETIONS[1]["prompt"], PROMPT_COMPLETIONS[1]["completion"]
    p_ids = hf(prompt)["input_ids"]
    c_ids = hf(completion, add_special_tokens=False)["input_ids"]
    plain = hf(TEXTS[2])
    right = fam.padding("right")(TEXTS[3], padding="max_length", max_length=len(hf(TEXTS[3])["input_ids"]) + 5)
    left = fam.padding("left")(TEXTS[0], padding="max_length", max_length=len(hf(TEXTS[0])["input_ids"]) + 3)
    return [
        # datasets.map(tokenize) without remove_columns keeps "text": the ids still decide the kind.
        {"text": TEXTS[0], "input_ids": hf(TEXTS[0])["input_ids"], "attention_mask": hf(TEXTS[0])["attention_mask"]},
        {"input_ids": p_ids + c_ids, "labels": [IGNORE] * len(p_ids) + c_ids},   # loss on the completion
        {"input_ids": plain["input_ids"]},                                        # no labels, no mask
        {"input_ids": right["input_ids"], "attention_mask": right["attention_mask"]},  # right padding
        {"input_ids": left["input_ids"], "attention_mask": left["attention_mask"]},    # left padding
        {"input_ids": p_ids, "labels": [IGNORE] * len(p_ids)},                   # no loss token: dropped
        # Padding already labelled -100, as a pre-collated dataset holds it.
        {"input_ids": right["input_ids"],
         "labels": [t if m else IGNORE for t, m in zip(right["input_ids"], right["attention_mask"])],
         "attention_mask": right["attention_mask"], "token_type_ids": [0] * len(right["input_ids"])},
        {"input_ids": hf(TEXTS[6])["input_ids"], "labels": None, "attention_mask": None},  # null = absent
    ]


def write_files(d, fams):
    write_jsonl(f"{d}/text.jsonl", [dumps({"text": t, "meta": i}) for i, t in enumerate(TEXTS[:3])] + ["", "  "] +
                [dumps({"text": t}) for t in TEXTS[3:]])
    write_jsonl(f"{d}/prompt_completion.jsonl", [dumps(r) for r in PROMPT_COMPLETIONS])
    write_jsonl(f"{d}/messages.jsonl", [dumps({"messages": c}) for c in CONVERSATIONS])
    write_jsonl(f"{d}/messages_no_reasoning.jsonl", [dumps({"messages": c}) for i, c in enumerate(CONVERSATIONS) if i != 2])
    write_json_list(f"{d}/messages.json", [{"messages": c, "id": i} for i, c in enumerate(CONVERSATIONS[:3])])
    write_json_list(f"{d}/prompt_completion.json", PROMPT_COMPLETIONS[:3])
    write_jsonl(f"{d}/custom_fields.jsonl", [dumps({"question": r["prompt"], "answer": r["completion"]})
                                              for r in PROMPT_COMPLETIONS[:3]])
    write_csv(f"{d}/text.csv", ["id", "text"], [[str(i), t] for i, t in enumerate(CSV_TEXTS)])
    write_csv(f"{d}/text_crlf_bom.csv", ["text", "id"], [[t, str(i)] for i, t in enumerate(CSV_TEXTS)],
              line_terminator="\r\n", bom=True)
    write_csv(f"{d}/prompt_completion.csv", ["prompt", "completion"],
              [[r["prompt"], r["completion"]] for r in PROMPT_COMPLETIONS[:4]] + [["Say \"hi\",\nplease", " \"hi\""]])
    write_jsonl(f"{d}/classification.jsonl", [dumps(r) for r in CLASSIFICATION])
    write_csv(f"{d}/classification.csv", ["text", "label"],
              [[r["text"], r["label"]] for r in CLASSIFICATION] + [["Quoted, \"good\"\nreview", "positive"]])
    write_csv(f"{d}/classification_int.csv", ["label", "text"],
              [["1", "good"], ["0", "bad"], ["2", "so-so, \"meh\""], ["1", "great"]])
    write_jsonl(f"{d}/packing.jsonl", [dumps({"text": t}) for t in TEXTS])
    write_jsonl(f"{d}/packing_pc.jsonl", [dumps(r) for r in PROMPT_COMPLETIONS])
    # Bad records, each on a known line (the line numbers are asserted in the error cases below).
    write_jsonl(f"{d}/bad_mixed.jsonl", [
        dumps({"prompt": "good one", "completion": " yes"}),                           # 1
        '{"prompt": "broken json", "completion": ',                                    # 2 invalid JSON
        "",                                                                            # 3 blank
        dumps({"prompt": "no completion"}),                                            # 4 missing field
        dumps({"prompt": 42, "completion": "x"}),                                      # 5 wrong type
        dumps(["not", "an", "object"]),                                                # 6 not an object
        dumps({"prompt": "good two", "completion": " also yes"}),                      # 7
    ])
    write_jsonl(f"{d}/bad_missing.jsonl", [dumps({"prompt": "p", "completion": "c"}), "",
                                           dumps({"prompt": "no completion", "answer": "a"})])  # line 3
    write_jsonl(f"{d}/bad_messages.jsonl", [
        dumps({"messages": CONVERSATIONS[0]}),                                                    # 1
        dumps({"messages": [{"role": "robot", "content": "beep"}, {"role": "assistant", "content": "x"}]}),  # 2
        dumps({"messages": [{"role": "user", "content": 7}, {"role": "assistant", "content": "x"}]}),  # 3
        dumps({"messages": "not a list"}),                                                        # 4
        dumps({"messages": CONVERSATIONS[1]}),                                                    # 5
    ])
    with open(f"{d}/bad_json_list.json", "w") as f:
        f.write('[\n  {"text": "a"},\n  {"text": "b"},\n  {"text": "c" "d"}\n]\n')  # line 4
    with open(f"{d}/bad_unclosed.csv", "w", newline="") as f:
        f.write('text,label\nfine,1\n"also fine\nacross lines",0\n"never closed,1\nmore,0\n')  # record on line 5
    with open(f"{d}/bad_field_count.csv", "w", newline="") as f:
        f.write('prompt,completion\n"a, b",c\n"multi\nline",x,extra\nok,fine\n')  # record on line 3
    write_jsonl(f"{d}/unknown_keys.jsonl", [dumps({"question": "q", "answer": "a"})])
    write_jsonl(f"{d}/bad_label.jsonl", [dumps({"text": "a", "label": "pos"}), dumps({"text": "b", "label": 1.5})])
    for name, fam in fams.items():
        rows = tokenized_records(fam)
        write_jsonl(f"{d}/tokenized_{name}.jsonl", [dumps(r) for r in rows])
        write_json_list(f"{d}/tokenized_{name}.json", rows)
    good = {"input_ids": [9707, 1879], "attention_mask": [1, 1]}
    write_jsonl(f"{d}/bad_tokenized.jsonl", [
        dumps(good),                                                       # 1
        dumps({"input_ids": []}),                                          # 2 empty
        dumps({"input_ids": [9707, 2.5]}),                                 # 3 float
        dumps({"input_ids": [9707, -3]}),                                  # 4 negative
        dumps({"input_ids": [9707, 151669]}),                              # 5 past Qwen3's vocabulary
        dumps({"input_ids": [9707, 1879, 0], "labels": [9707, 1879]}),     # 6 length
        dumps({"input_ids": [9707, 1879], "labels": [-100, -5]}),          # 7 label
        dumps({"input_ids": [9707, 1879], "attention_mask": [1, 2]}),      # 8 mask value
        dumps({"input_ids": [9707, 1879], "attention_mask": [0, 0]}),      # 9 all padding
        dumps({"input_ids": "9707 1879"}),                                 # 10 not a list
        dumps({"text": "no ids"}),                                         # 11 missing field
        dumps({"input_ids": [9707, True]}),                                # 12 bool
        dumps({"input_ids": [151669, 9707], "attention_mask": [0, 1]}),    # 13 padding is not checked
    ])
    write_jsonl(f"{d}/bad_tokenized_vocab.jsonl", [dumps(good), "", dumps({"input_ids": [9707, 151669]})])  # line 3
    write_json_list(f"{d}/bad_tokenized_labels.json", [good, {"input_ids": [9707, 1879, 0], "labels": [9707, 1879]}])


def cases(fams, d):
    q, m = fams["qwen3"], fams["mistral7b"]
    out = []

    def ok(name, fam, file, options=None):
        options = options or {}
        out.append({"name": name, "tokenizer": fam.name, "file": file, "options": options,
                    "expected": expected_dataset(fam, os.path.join(d, file), options)})

    def error(name, fam, file, line, fragments, options=None):
        out.append({"name": name, "tokenizer": fam.name, "file": file, "options": options or {},
                    "error": {"line": line, "fragments": fragments}})

    for fam in (q, m):
        ok(f"{fam.name}/text", fam, "text.jsonl")
        ok(f"{fam.name}/text_no_eos", fam, "text.jsonl", {"append_eos": False})
        ok(f"{fam.name}/text_truncated", fam, "text.jsonl", {"max_length": 6})
        ok(f"{fam.name}/prompt_completion", fam, "prompt_completion.jsonl")
        ok(f"{fam.name}/prompt_completion_truncated", fam, "prompt_completion.jsonl", {"max_length": 12})
        ok(f"{fam.name}/prompt_completion_json", fam, "prompt_completion.json")
        ok(f"{fam.name}/prompt_completion_csv", fam, "prompt_completion.csv")
        ok(f"{fam.name}/text_csv", fam, "text.csv")
        ok(f"{fam.name}/text_csv_crlf_bom", fam, "text_crlf_bom.csv")
        ok(f"{fam.name}/packing", fam, "packing.jsonl", {"packing": True, "packing_strategy": "wrapped", "max_length": 16})
        ok(f"{fam.name}/packing_prompt_completion", fam, "packing_pc.jsonl", {"packing": True, "packing_strategy": "wrapped", "max_length": 8})
    ok("qwen3/custom_fields", q, "custom_fields.jsonl",
       {"prompt_field": "question", "completion_field": "answer"})
    ok("qwen3/forced_text_kind", q, "prompt_completion.jsonl", {"kind": "text", "text_field": "prompt"})
    ok("qwen3/messages", q, "messages.jsonl")
    ok("qwen3/messages_json", q, "messages.json")
    ok("qwen3/messages_no_thinking", q, "messages_no_reasoning.jsonl", {"chat_template_kwargs": {"enable_thinking": False}})
    ok("qwen3/messages_truncated", q, "messages.jsonl", {"max_length": 24})
    ok("qwen3/messages_packing", q, "messages.jsonl", {"packing": True, "packing_strategy": "wrapped", "max_length": 32})
    ok("qwen3/classification", q, "classification.jsonl")
    ok("qwen3/classification_csv", q, "classification.csv")
    ok("qwen3/classification_label_names", q, "classification.csv",
       {"label_names": ["negative", "neutral", "positive"][::-1]})
    ok("mistral7b/classification_int_csv", m, "classification_int.csv")
    ok("qwen3/skip_bad_records", q, "bad_mixed.jsonl", {"skip_bad_records": True})
    ok("qwen3/skip_bad_messages", q, "bad_messages.jsonl", {"skip_bad_records": True})
    ok("qwen3/skip_bad_unclosed_csv", q, "bad_unclosed.csv", {"skip_bad_records": True, "kind": "text"})
    ok("qwen3/skip_bad_field_count_csv", q, "bad_field_count.csv", {"skip_bad_records": True})

    error("invalid_json_line", q, "bad_mixed.jsonl", 2, ["invalid JSON"])
    error("missing_field_line", q, "bad_missing.jsonl", 3, ["missing field \"completion\"", "prompt, answer"])
    error("unknown_role_line", q, "bad_messages.jsonl", 2, ["messages[0].role", "\"robot\"", "expected one of"])
    error("json_list_syntax_line", q, "bad_json_list.json", 4, ["invalid JSON"])
    error("csv_unclosed_quote_line", q, "bad_unclosed.csv", 5, ["never closed"], {"kind": "text"})
    error("csv_field_count_line", q, "bad_field_count.csv", 3, ["expected 2 fields", "got 3"])
    error("undetectable_kind", q, "unknown_keys.jsonl", 1, ["cannot tell the record kind", "question, answer"])
    # With enable_thinking=false Qwen3's generation prompt holds an empty think block, which a reply
    # with reasoning_content does not extend.
    error("template_prefix_mismatch", q, "messages.jsonl", 3,
          ["chat template \"default\"", "assistant message 1", "does not start with"],
          {"chat_template_kwargs": {"enable_thinking": False}})
    error("label_wrong_type", q, "bad_label.jsonl", 2, ["field \"label\" must be an int or a string", "number"])

    for fam in (q, m):
        ok(f"{fam.name}/tokenized", fam, f"tokenized_{fam.name}.jsonl")
        ok(f"{fam.name}/tokenized_json", fam, f"tokenized_{fam.name}.json")
    ok("qwen3/tokenized_truncated", q, "tokenized_qwen3.jsonl", {"max_length": 4})
    ok("qwen3/tokenized_packing", q, "tokenized_qwen3.jsonl", {"packing": True, "packing_strategy": "wrapped", "max_length": 8})
    ok("qwen3/tokenized_forced", q, "tokenized_qwen3.jsonl", {"kind": "tokenized", "append_eos": True})
    ok("qwen3/skip_bad_tokenized", q, "bad_tokenized.jsonl", {"skip_bad_records": True})
    error("tokenized_past_vocabulary", q, "bad_tokenized_vocab.jsonl", 3,
          ["input_ids[1] = 151669 is not a token id", "< 151669"])
    error("tokenized_labels_length", q, "bad_tokenized_labels.json", ELEMENT_LINES["bad_tokenized_labels.json"][1],
          ["field \"labels\" has 2 items, but \"input_ids\" has 3"])
    return out


def main():
    out_dir, tokenizers_dir = sys.argv[1], sys.argv[2]
    d = os.path.join(out_dir, "data")
    os.makedirs(d, exist_ok=True)
    fams = {name: Family(tokenizers_dir, name) for name in ("qwen3", "mistral7b")}
    write_files(d, fams)
    all_cases = cases(fams, d)
    tmp = os.path.join(d, "cases.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"data_dir": d, "tokenizers_dir": os.path.abspath(tokenizers_dir), "cases": all_cases}, f,
                  ensure_ascii=False, indent=1)
    os.replace(tmp, os.path.join(d, "cases.json"))
    print(f"wrote {len(all_cases)} data cases to {d}")


if __name__ == "__main__":
    main()
