#!/usr/bin/env python3
"""Reference fixtures for the C++ tokenizer: ids, tokens and decoded text from Python `tokenizers`.

For each of the real tokenizers in SHARED_TOKENIZERS (qwen3, gpt4o, deepseek_v3, mistral7b) and for
small tokenizers built here with `tokenizers` itself (WordPiece, Unigram, WordLevel, BPE with subword affixes or
ignore_merges, every Split behavior with and without invert, Digits / Punctuation / Whitespace /
Metaspace pre-tokenizers, normalizer sequences, added tokens with lstrip / rstrip / single_word /
normalized), writes OUT_DIR/<name>/expected.json:
  {"tokenizer": path of tokenizer.json, "dir": tokenizer directory or null,
   "cases": [{"text", "ids", "tokens", "ids_no_special", "offsets", "offsets_no_special" (UTF-8 byte offsets),
              "decoded", "decoded_skip", "decoded_each" (some)}],
   "batch": [{"options": {...}, "texts": [...], "ids": [[...]], "attention_mask": [[...]]}]}
and OUT_DIR/index.json listing the names.

Usage: make_tokenizer_fixtures.py OUT_DIR SHARED_TOKENIZERS
"""
import json
import os
import random
import sys
import time

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

REAL = ["qwen3", "gpt4o", "deepseek_v3", "mistral7b"]

CORPUS = [
    "",
    " ",
    "Hello world",
    "Hello, world! How are you doing today?",
    "  leading and trailing spaces  ",
    "multiple     spaces\tand\ttabs\t\tand\n\nnewlines\r\nwindows\r\n line",
    "\n\n\n",
    "\t",
    "  \n  \n",
    "trailing newline\n",
    "I'm sure you'll see they've done it, we'd say it's 'quoted' and he's DON'T WON'T I'LL",
    "Numbers: 0 1 12 123 1234 12345 123456789 3.14159 -42 1,000,000 2024-01-15 0x1F 1e-9",
    "٣٤٥ ۱۲۳ १२३ ๑๒๓ Ⅻ ½ ²³",
    "def foo(x):\n    return x ** 2  # square\n\nclass Bar:\n\tpass\n",
    "int main() { std::vector<int> v{1, 2, 3}; for (auto& x : v) x += 1; return 0; }",
    "if (a != b && c <= d || e >= f) { x->y = z[0]; } // comment /* block */",
    "https://example.com/path?query=1&other=two#frag user@mail.org",
    "Emoji: 😀 😃 👍🏽 🎉🎉🎉 ❤️ 🇫🇷 🇯🇵",
    "ZWJ: 👨‍👩‍👧‍👦 👩🏽‍💻 🏳️‍🌈 🧑‍🤝‍🧑",
    "中文测试：你好，世界！这是一个句子。",
    "日本語のテキスト、カタカナとひらがな。漢字も。",
    "한국어 텍스트입니다.",
    "العربية: مرحبا بالعالم، كيف حالك؟",
    "हिन्दी: नमस्ते दुनिया, आप कैसे हैं?",
    "ภาษาไทย: สวัสดีชาวโลก",
    "Ελληνικά: Γειά σου Κόσμε ΣΊΣΥΦΟΣ",
    "Русский текст: Привет, мир! ЁЛКА ёлка",
    "Combining: e\u0301 a\u0300 n\u0303 o\u0308 A\u030a \u1e9b\u0323",
    "NFD: Cafe\u0301 na\u0131\u0308ve re\u0301sume\u0301 \u00c5ngstr\u00f6m \u212b",
    "Ligatures and compat: \ufb01ne \ufb02ow \u2460 \uff21\uff22\uff23 \u3000 \u2126 \u00b5",
    "Turkish İstanbul ıi and ß ẞ ǅ",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "<s>inside</s> words<s>glued</s>",
    "a<s>b <s> c</s>d <unk> [CLS] [SEP] [MASK]",
    "<|endoftext|><|endoftext|> text <|endofprompt|>",
    "<｜begin▁of▁sentence｜>hi<｜end▁of▁sentence｜>",
    "< |im_start| > <|im_start <im_start|> <<|im_end|>>",
    "special_word and special_words, special_word.",
    "Supercalifragilisticexpialidocious " * 3,
    "a" * 300,
    "abcdefghij" * 40,
    "🙂" * 50,
    "x" + " " * 100 + "y",
    "mixed   \t \n  whitespace \u00a0nbsp\u2003em\u3000ideographic",
    "zero\u200bwidth\u200cjoiner\u200dchars\ufeffbom",
    "Control \x01\x02 chars \x7f",
    "Replacement \ufffd char and private \ue000 use",
    "CamelCaseWords andSnake_case_words and kebab-case-words",
    "UPPERCASE lowercase MiXeD CaSe",
    "Punctuation!!! ??? ... --- ;;; ::: ''' \"\"\" ((( ))) [[[ ]]] {{{ }}}",
    "$100.00 €50 £30 ¥1000 ₹500 ¢ ‰ ° ± × ÷",
    "Quotes “smart” ‘single’ «guillemets» „low“",
    "Math: ∑ ∫ √ ∞ ≈ ≠ ≤ ≥ ∀ ∃ ∈ ∉ ⊂ ⊃ ∪ ∩",
    "Tab\tseparated\tvalues\n1\t2\t3",
    "line1\rline2\r\rline3",
    "   ",
    "?",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE",
    "He said: 'I'd've done it.'",
    "The quick brown fox jumps over the lazy dog.",
    "the the the the the the the the",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.",
    "SELECT * FROM users WHERE id = 42 AND name LIKE '%smith%';",
    '{"key": "value", "list": [1, 2, 3], "nested": {"a": null, "b": true}}',
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "2+2=4 and 10/3≈3.33 and x^2-y^2=(x-y)(x+y)",
    "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ １２３",
    "Mixed中文and English混合text",
    "Dates 12/31/1999, times 23:59:59.999, versions v1.2.3-rc.4",
    "🇺🇸🇬🇧 flags and keycaps 1️⃣ #️⃣ and skin tones 👋🏻👋🏼👋🏽👋🏾👋🏿",
    "Tamil தமிழ் Bengali বাংলা Georgian ქართული Armenian Հայերեն",
    "Hebrew עברית with niqqud שָׁלוֹם",
    "Devanagari conjuncts क्ष त्र ज्ञ श्र",
    "Thai with tones: ก่ ก้ ก๊ ก๋ น้ำ",
    "Vietnamese: Tiếng Việt có dấu",
    "a\u0300\u0301\u0302\u0303\u0304 stacked marks",
    "\u0000null byte inside",
    "end with space ",
    " start with space",
    "\n starts with newline",
]


# Characters the random lines are drawn from: every class the pre-tokenizer regexes distinguish
# (letters of each case, marks, digits of several scripts, punctuation, symbols, every kind of
# whitespace, controls), plus pieces of special tokens.
FUZZ_POOL = (list("aAzZ09 _-'\"!?.,;:/\\()[]{}<>|#$%&*+=~^`@") + [" ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u2003", "\u3000",
             "\u200b", "\u200d", "\ufe0f", "\u0301", "\u0308", "\u093f", "\u0e48", "\u0663", "\u0967", "\u2167", "\u00bd",
             "\u00e9", "\u00c9", "\u0130", "\u0131", "\u00df", "\u01c5", "\u03a3", "\u03c3", "\u4e2d", "\u6587", "\u3042",
             "\u30a2", "\uac00", "\u0645", "\u05d0", "\u0915", "\u0e01", "\U0001f600", "\U0001f44d", "\U0001f3fd",
             "\U0001f1eb", "\u2764", "\u20ac", "\u2211", "\uff21", "\ufb01", "\u2126", "\u0000", "\u0007", "\u007f",
             "\ufffd", "<s>", "</s>", "<|im_start|>", "<|endoftext|>", "[MASK]", "special_word", "\u2581", "##", "'s", "'LL"])


def corpus(n_random=400):
    lines = list(CORPUS)
    # Mixed lines made from pieces of the others, so spans cross categories.
    for i in range(0, len(CORPUS) - 3, 3):
        lines.append(CORPUS[i] + " " + CORPUS[i + 1][:20] + "\n" + CORPUS[i + 2][-15:])
    rng = random.Random(0)
    for _ in range(n_random):
        lines.append("".join(rng.choice(FUZZ_POOL) for _ in range(rng.randint(1, 40))))
    return lines


def byte_offsets(text, offsets):
    """Python's character offsets as UTF-8 byte offsets (what the C++ Encoding reports)."""
    at = [0]
    for c in text:
        at.append(at[-1] + len(c.encode("utf-8")))
    return [[at[b], at[e]] for b, e in offsets]


def case(tok, text, each):
    with_special = tok.encode(text, add_special_tokens=True)
    no_special = tok.encode(text, add_special_tokens=False)
    out = {"text": text, "ids": with_special.ids, "tokens": with_special.tokens, "ids_no_special": no_special.ids,
           "offsets": byte_offsets(text, with_special.offsets),
           "offsets_no_special": byte_offsets(text, no_special.offsets),
           "decoded": tok.decode(with_special.ids, skip_special_tokens=False),
           "decoded_skip": tok.decode(with_special.ids, skip_special_tokens=True)}
    if each:  # one id at a time, as streaming generation decodes (partial UTF-8 becomes U+FFFD)
        out["decoded_each"] = [tok.decode([i], skip_special_tokens=False) for i in with_special.ids]
    return out


def batch_case(tok, texts, direction, pad_id, pad_token, max_length):
    tok = Tokenizer.from_str(tok.to_str())
    tok.enable_padding(direction=direction, pad_id=pad_id, pad_token=pad_token)
    if max_length:
        tok.enable_truncation(max_length=max_length)
    encs = tok.encode_batch(texts)
    return {"options": {"padding_side": direction, "pad_id": pad_id, "max_length": max_length}, "texts": texts,
            "ids": [e.ids for e in encs], "attention_mask": [e.attention_mask for e in encs],
            "tokens": [e.tokens for e in encs]}


BATCH_TEXTS = ["Hello world", "A much longer sentence that will need truncation for sure, yes.", "", "short"]


def write(out_dir, name, tok, tokenizer_path, tokenizer_dir, batch=(), n_random=400):
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    if tokenizer_path is None:
        tokenizer_path = os.path.join(d, "tokenizer.json")
        tok.save(tokenizer_path)
        tok = Tokenizer.from_file(tokenizer_path)  # what C++ reads is what we test against
    expected = {"tokenizer": os.path.abspath(tokenizer_path), "dir": tokenizer_dir and os.path.abspath(tokenizer_dir),
                "vocab_size": tok.get_vocab_size(with_added_tokens=True),
                "cases": [case(tok, t, i < len(CORPUS)) for i, t in enumerate(corpus(n_random))], "batch": list(batch)}
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(expected, f, ensure_ascii=False)
    return name


def train_corpus():
    return corpus() * 3 + ["the quick brown fox", "hello world", "tokenization is fun", "unbelievable reconstruction"] * 20


def byte_level_base():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
                                  special_tokens=["<pad>", "<s>", "</s>"])
    tok.train_from_iterator(train_corpus(), trainer)
    return tok


def with_pre(base, pre):
    tok = Tokenizer.from_str(base.to_str())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    return tok


def tiny_tokenizers():
    out = {}
    base = byte_level_base()
    out["bytelevel_gpt2"] = base
    t = Tokenizer.from_str(base.to_str())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    t.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    out["bytelevel_prefix_template"] = t
    data = json.loads(base.to_str())
    data["model"]["ignore_merges"] = True
    out["bpe_ignore_merges"] = Tokenizer.from_str(json.dumps(data))

    pattern = Regex(r"\s+|[,.!?]")
    for behavior in ["removed", "isolated", "merged_with_previous", "merged_with_next", "contiguous"]:
        for invert in (False, True):
            out[f"split_{behavior}{'_invert' if invert else ''}"] = with_pre(
                base, pre_tokenizers.Split(pattern, behavior=behavior, invert=invert))
    out["split_string"] = with_pre(base, pre_tokenizers.Split(" ", behavior="merged_with_next"))
    out["digits_individual"] = with_pre(base, pre_tokenizers.Digits(individual_digits=True))
    out["digits_grouped"] = with_pre(base, pre_tokenizers.Digits(individual_digits=False))
    out["punctuation"] = with_pre(base, pre_tokenizers.Punctuation())
    out["punctuation_next"] = with_pre(base, pre_tokenizers.Punctuation(behavior="merged_with_next"))
    out["whitespace"] = with_pre(base, pre_tokenizers.Whitespace())
    out["whitespace_split"] = with_pre(base, pre_tokenizers.WhitespaceSplit())
    out["bert_pre"] = with_pre(base, pre_tokenizers.BertPreTokenizer())
    out["metaspace_bytes"] = with_pre(base, pre_tokenizers.Metaspace(prepend_scheme="first", split=True))

    norms = {
        "norm_nfd_lower_strip": normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.Strip()]),
        "norm_nfkc_replace": normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "),
                                                   normalizers.Replace("a", "A"), normalizers.Prepend("^")]),
        "norm_nfkd_strip_accents": normalizers.Sequence([normalizers.NFKD(), normalizers.StripAccents(),
                                                         normalizers.Strip(left=True, right=False)]),
        "norm_nfc_bert": normalizers.Sequence([normalizers.NFC(), normalizers.BertNormalizer(lowercase=True)]),
    }
    for name, n in norms.items():
        t = Tokenizer.from_str(base.to_str())
        t.normalizer = n
        out[name] = t

    t = Tokenizer.from_str(base.to_str())
    t.normalizer = normalizers.Lowercase()
    t.add_tokens([AddedToken("special_word", single_word=True), AddedToken(" lstrip_tok", lstrip=True),
                  AddedToken("rstrip_tok", rstrip=True), AddedToken("<both>", lstrip=True, rstrip=True, special=True),
                  AddedToken("NORMED", normalized=True), AddedToken("RAW", normalized=False),
                  AddedToken("<s>", special=True), AddedToken("[MASK]", special=True, lstrip=True)])
    t.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    out["added_tokens"] = t

    # WordPiece, as BERT uses it.
    wp = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wp.normalizer = normalizers.BertNormalizer(lowercase=True)
    wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wp.train_from_iterator(train_corpus(), trainers.WordPieceTrainer(vocab_size=800, show_progress=False,
                                                                    special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]))
    wp.post_processor = processors.BertProcessing(("[SEP]", wp.token_to_id("[SEP]")), ("[CLS]", wp.token_to_id("[CLS]")))
    wp.decoder = decoders.WordPiece()
    out["wordpiece_bert"] = wp

    # BPE with subword affixes (whitespace words, no byte level: unknown characters become unk).
    bpe = Tokenizer(models.BPE(unk_token="<unk>", continuing_subword_prefix="##", end_of_word_suffix="</w>"))
    bpe.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    bpe.train_from_iterator(train_corpus(), trainers.BpeTrainer(vocab_size=700, show_progress=False, special_tokens=["<unk>"],
                                                               continuing_subword_prefix="##", end_of_word_suffix="</w>"))
    bpe.decoder = decoders.BPEDecoder(suffix="</w>")
    out["bpe_affixes_unk"] = bpe
    data = json.loads(bpe.to_str())
    data["model"]["fuse_unk"] = True
    out["bpe_affixes_fuse_unk"] = Tokenizer.from_str(json.dumps(data))

    # WordLevel over lowercased whitespace words.
    wl = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    wl.normalizer = normalizers.Lowercase()
    wl.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    wl.train_from_iterator(train_corpus(), trainers.WordLevelTrainer(vocab_size=300, show_progress=False, special_tokens=["[UNK]"]))
    out["wordlevel"] = wl

    # Unigram with Metaspace, as SentencePiece models are converted.
    uni = Tokenizer(models.Unigram())
    uni.normalizer = normalizers.NFKC()
    uni.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    uni.train_from_iterator(train_corpus(), trainers.UnigramTrainer(vocab_size=400, show_progress=False, unk_token="<unk>",
                                                                   special_tokens=["<unk>", "<s>", "</s>"]))
    uni.decoder = decoders.Metaspace(prepend_scheme="first")
    uni.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    out["unigram_metaspace"] = uni
    data = json.loads(uni.to_str())
    data["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": False}
    data["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": False}
    out["unigram_metaspace_nosplit"] = Tokenizer.from_str(json.dumps(data))
    return out


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir, shared = argv[1], argv[2]
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.time()
    names = []
    for name in REAL:
        path = os.path.join(shared, name, "tokenizer.json")
        tok = Tokenizer.from_file(path)
        batch = []
        if name == "qwen3":
            batch = [batch_case(tok, BATCH_TEXTS, "left", 151643, "<|endoftext|>", 8),
                     batch_case(tok, BATCH_TEXTS, "right", 151643, "<|endoftext|>", None)]
        if name == "mistral7b":
            batch = [batch_case(tok, BATCH_TEXTS, "right", 2, "</s>", 6), batch_case(tok, BATCH_TEXTS, "left", 0, "<unk>", 3)]
        names.append(write(out_dir, name, tok, path, os.path.join(shared, name), batch))
    for name, tok in tiny_tokenizers().items():
        names.append(write(out_dir, name, tok, None, None, n_random=120))  # the real ones get 400
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump({"tokenizers": names}, f, indent=1)
    print(f"{len(names)} tokenizers, {len(corpus())} / {len(corpus(120))} lines (real / small), in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
