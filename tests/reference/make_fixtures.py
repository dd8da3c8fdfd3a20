#!/usr/bin/env python3
"""Builds the reference fixtures for the C++ tests with the real Python libraries.

Everything the C++ tests compare against is produced here, on every test run, by `transformers` and
`safetensors` themselves: tiny random checkpoints (single file and sharded), safetensors files holding
every dtype together with the raw bytes of each tensor, a catalog of malformed files together with
the verdict of Python `safetensors` on each, and JSON written by Python's `json.dumps`.

Usage: make_fixtures.py OUT_DIR
"""
import json
import os
import struct
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

SEED = 0


def tiny_llama(out_dir):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(SEED)
    config = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(os.path.join(out_dir, "tiny_llama"))
    model.save_pretrained(os.path.join(out_dir, "tiny_llama_sharded"), max_shard_size="20KB")
    tensors = {name: {"shape": list(t.shape), "dtype": SAFETENSORS_DTYPE[t.dtype]}
               for name, t in model.state_dict().items()}
    expected = {"num_parameters": model.num_parameters(), "architectures": config.architectures,
                "tensors": tensors}
    with open(os.path.join(out_dir, "tiny_llama.expected.json"), "w") as f:
        json.dump(expected, f, indent=2)


SAFETENSORS_DTYPE = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


# torch dtype → how to make interesting values (special floats, full bit patterns for fp8)
def all_dtype_tensors():
    g = torch.Generator().manual_seed(SEED)
    specials = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-40, 65504.0])
    t = {}
    for name, dt in [("f64", torch.float64), ("f32", torch.float32), ("f16", torch.float16),
                     ("bf16", torch.bfloat16)]:
        t[name] = torch.cat([torch.randn(29, generator=g), specials]).to(dt).reshape(4, 9)
    for name, dt in [("f8_e4m3", torch.float8_e4m3fn), ("f8_e5m2", torch.float8_e5m2)]:
        t[name] = torch.arange(256, dtype=torch.uint8).view(dt).reshape(16, 16)
    for name, dt, lo, hi in [("i64", torch.int64, -2**62, 2**62), ("i32", torch.int32, -2**31, 2**31 - 1),
                             ("i16", torch.int16, -2**15, 2**15 - 1), ("i8", torch.int8, -128, 127),
                             ("u8", torch.uint8, 0, 255)]:
        t[name] = torch.randint(lo, hi, (3, 5), generator=g, dtype=torch.int64).to(dt)
    for name, dt in [("u16", torch.uint16), ("u32", torch.uint32), ("u64", torch.uint64)]:
        t[name] = torch.randint(0, 2**15, (7,), generator=g, dtype=torch.int64).to(dt)
    t["bool"] = torch.randint(0, 2, (2, 3, 4), generator=g).bool()
    t["scalar"] = torch.tensor(3.25, dtype=torch.float32)
    t["empty"] = torch.zeros(0, 5, dtype=torch.float32)
    t["odd_len_u8"] = torch.arange(3, dtype=torch.uint8)  # leaves the next tensor misaligned
    t["z_after_odd_f32"] = torch.randn(3, generator=g)
    return t


def dtype_files(out_dir):
    d = os.path.join(out_dir, "safetensors")
    os.makedirs(os.path.join(d, "raw"), exist_ok=True)
    tensors = all_dtype_tensors()
    metadata = {"format": "pt", "note": "h\u00e9llo \u2713", "empty": ""}
    save_file(tensors, os.path.join(d, "all_dtypes.safetensors"), metadata=metadata)
    manifest = {}
    with safe_open(os.path.join(d, "all_dtypes.safetensors"), "pt") as f:
        for name in f.keys():
            x = f.get_tensor(name)
            raw = x.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            with open(os.path.join(d, "raw", name + ".bin"), "wb") as out:
                out.write(raw)
            manifest[name] = {"dtype": str(x.dtype).removeprefix("torch."), "shape": list(x.shape)}
    with open(os.path.join(d, "manifest.json"), "w") as out:
        json.dump({"tensors": manifest, "metadata": metadata}, out, indent=2, sort_keys=True)


def header_file(header, data=b"", pad=True):
    """A safetensors file from a header given as text or bytes (padded to 8 bytes like the writer)."""
    h = header.encode() if isinstance(header, str) else header
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def hdr(**tensors):
    return json.dumps(tensors)


# name → (file bytes, substrings the C++ error message must contain besides the file name)
MALFORMED = {
    "empty_file": (b"", ["0 bytes", "too short"]),
    "short_file": (b"\x08\x00\x00", ["3 bytes", "too short"]),
    "header_len_beyond_file": (struct.pack("<Q", 1000) + b'{"a":1}', ["header length 1000", "truncated"]),
    "header_len_absurd": (struct.pack("<Q", 2**62) + b"{}" + b" " * 6, ["header length", "limit"]),
    "header_not_brace": (header_file("[1, 2]"), ["does not start with '{'"]),
    "invalid_json": (header_file('{"a": {"dtype": "F32", '), ["invalid JSON header"]),
    "invalid_utf8": (header_file(b'{"\xff\xfe": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}',
                                 b"\0" * 4), ["invalid JSON header"]),
    "entry_not_object": (header_file(hdr(a=[1, 2])), ["tensor 'a'", "must be an object"]),
    "missing_dtype": (header_file('{"a": {"shape": [1], "data_offsets": [0, 4]}}', b"\0" * 4),
                      ["tensor 'a'", "missing field 'dtype'"]),
    "missing_offsets": (header_file('{"a": {"dtype": "F32", "shape": [1]}}', b"\0" * 4),
                        ["tensor 'a'", "missing field 'data_offsets'"]),
    "unknown_dtype": (header_file(hdr(a=entry("F7", [1], 0, 4)), b"\0" * 4),
                      ["tensor 'a'", "unknown dtype 'F7'", "supported"]),
    "negative_dim": (header_file(hdr(a=entry("F32", [-1], 0, 4)), b"\0" * 4),
                     ["tensor 'a'", "non-negative integers"]),
    "shape_not_array": (header_file(hdr(a=entry("F32", 4, 0, 16)), b"\0" * 16),
                        ["tensor 'a'", "'shape' must be an array"]),
    "offsets_wrong_arity": (header_file('{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}',
                                        b"\0" * 4), ["tensor 'a'", "two non-negative integers"]),
    "offsets_reversed": (header_file(hdr(a=entry("U8", [0], 8, 4)), b"\0" * 8),
                         ["tensor 'a'", "end before they begin"]),
    "size_mismatch": (header_file(hdr(a=entry("F32", [2, 2], 0, 12)), b"\0" * 12),
                      ["tensor 'a'", "needs 16 bytes", "span 12"]),
    "shape_overflow": (header_file(hdr(a=entry("F32", [2**40, 2**40, 2**40], 0, 4)), b"\0" * 4),
                       ["tensor 'a'", "overflows"]),
    "truncated_data": (header_file(hdr(a=entry("F32", [4], 0, 16)), b"\0" * 8),
                       ["tensor 'a'", "beyond the data section of 8 bytes"]),
    "overlap": (header_file(hdr(a=entry("F32", [2], 0, 8), b=entry("F32", [2], 4, 12)), b"\0" * 12),
                ["tensor 'b'", "overlaps tensor 'a'"]),
    "gap": (header_file(hdr(a=entry("F32", [1], 0, 4), b=entry("F32", [1], 8, 12)), b"\0" * 12),
            ["tensor 'b'", "unused gap"]),
    "trailing_bytes": (header_file(hdr(a=entry("F32", [1], 0, 4)), b"\0" * 8), ["4 trailing bytes"]),
    "duplicate_name": (header_file('{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
                                   '"a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}', b"\0" * 2),
                       ["tensor 'a'", "more than once"]),
    "metadata_not_string": (header_file('{"__metadata__": {"format": 1}}'),
                            ["__metadata__", "'format'", "must be a string"]),
}


def malformed_files(out_dir):
    d = os.path.join(out_dir, "malformed")
    os.makedirs(d, exist_ok=True)
    catalog = []
    for name, (content, expect) in MALFORMED.items():
        path = os.path.join(d, name + ".safetensors")
        with open(path, "wb") as f:
            f.write(content)
        try:
            with safe_open(path, "pt") as f:
                for k in f.keys():
                    f.get_tensor(k)
            python_error = None
        except Exception as e:  # noqa: BLE001 - we record whatever the reference says
            python_error = f"{type(e).__name__}: {e}"
        catalog.append({"file": name + ".safetensors", "expect": expect, "python_error": python_error})
    with open(os.path.join(d, "catalog.json"), "w") as f:
        json.dump(catalog, f, indent=2)


def json_samples(out_dir):
    d = os.path.join(out_dir, "json")
    os.makedirs(d, exist_ok=True)
    sample = {
        "zeta": 1, "alpha": [1, 2.5, -0.0, 1e-06, 1e16, 1e15, 123456789.125, 3.0e-5, 0.1],
        "nested": {"b": {}, "a": [], "c": [{"x": None, "y": True, "z": False}]},
        "text": "quote\" backslash\\ tab\t newline\n ctrl\x01 del\x7f \u00e9 \u4e2d \U0001F600",
        "rope_theta": 10000.0, "rms_norm_eps": 1e-05, "big": 2**53 + 1, "neg": -7,
        "architectures": ["LlamaForCausalLM"],
    }
    with open(os.path.join(d, "input.json"), "w") as f:
        json.dump(sample, f, ensure_ascii=False)
    for name, kw in {"indent2": {"indent": 2}, "indent2_sorted": {"indent": 2, "sort_keys": True},
                     "compact": {}}.items():
        with open(os.path.join(d, name + ".json"), "w") as f:
            f.write(json.dumps(sample, **kw) + "\n")


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    tiny_llama(out_dir)
    dtype_files(out_dir)
    malformed_files(out_dir)
    json_samples(out_dir)


if __name__ == "__main__":
    main()
