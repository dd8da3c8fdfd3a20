#!/usr/bin/env python3
"""Renders chat templates with transformers' own machinery, for the C++ renderer to match byte for byte.

Three kinds of case, all written to OUT_DIR/cases.json:
- "apply": a conversation through `tokenizer.apply_chat_template(..., tokenize=False)` (the real Qwen3
  and DeepSeek-V3 tokenizers from TOKENIZERS_DIR), or through `render_jinja_template` for the public
  template styles written below; C++ calls `apply_chat_template` with the same options.
- "render": a synthetic template rendered by transformers' compiled Jinja environment with a given
  context; C++ calls `ChatTemplate::render`.
- either kind may record the error transformers raised instead of an output.

Usage: make_chat_template_fixtures.py OUT_DIR TOKENIZERS_DIR
"""
import json
import os
import sys
import time

from transformers import AutoTokenizer
from transformers.utils.chat_template_utils import _compile_jinja_template, render_jinja_template

# The case data lives next to the C++ tests that consume it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "chat_template"))
from chat_template_cases import (REAL_CONVERSATIONS, STYLE_CASES, STYLE_CONVERSATIONS, SYNTHETIC_CASES,
                                 TOOL_CONVERSATIONS, TOOL_STYLE_CASES, TIME_TOOL, WEATHER_TOOL)


def outcome(fn):
    try:
        return {"expected": fn()}
    except Exception as e:  # noqa: BLE001 - the error is the expected result
        return {"error": {"type": type(e).__name__, "message": str(e)}}


def real_cases(tokenizers_dir):
    cases = []
    for family in ("qwen3", "deepseek_v3"):
        tok = AutoTokenizer.from_pretrained(os.path.join(tokenizers_dir, family))
        special = dict(tok.special_tokens_map)
        for conv_name, (messages, variants) in REAL_CONVERSATIONS.items():
            for variant in variants:
                opts = {"add_generation_prompt": False, **variant}
                kwargs = dict(opts)
                name = f"{family}/{conv_name}" + "".join(f"/{k}={v}" for k, v in variant.items() if k != "tools")
                if "tools" in variant:
                    name += "/tools"
                case = {"name": name, "kind": "apply", "template": tok.chat_template, "messages": messages,
                        "options": {**opts, "special_tokens": special}}
                case.update(outcome(lambda: tok.apply_chat_template(messages, tokenize=False, **kwargs)))
                cases.append(case)
    return cases


def style_cases():
    cases = []
    for style, (template, special) in STYLE_CASES.items():
        for conv_name, messages in STYLE_CONVERSATIONS.items():
            for agp in (False, True):
                case = {"name": f"style/{style}/{conv_name}/add_generation_prompt={agp}", "kind": "apply",
                        "template": template, "messages": messages,
                        "options": {"add_generation_prompt": agp, "special_tokens": special}}
                case.update(outcome(lambda: render_jinja_template(
                    [messages], chat_template=template, add_generation_prompt=agp, **special)[0][0]))
                cases.append(case)
    tools = [WEATHER_TOOL, TIME_TOOL]
    for style, (template, special) in TOOL_STYLE_CASES.items():
        for conv_name, messages in TOOL_CONVERSATIONS.items():
            for agp in (False, True):
                case = {"name": f"style/{style}/{conv_name}/add_generation_prompt={agp}", "kind": "apply",
                        "template": template, "messages": messages,
                        "options": {"add_generation_prompt": agp, "tools": tools, "special_tokens": special}}
                case.update(outcome(lambda: render_jinja_template(
                    [messages], chat_template=template, tools=tools, add_generation_prompt=agp, **special)[0][0]))
                cases.append(case)
    return cases


def synthetic_cases():
    cases = []
    for name, template, context in SYNTHETIC_CASES:
        case = {"name": f"synthetic/{name}", "kind": "render", "template": template, "context": context}
        case.update(outcome(lambda: _compile_jinja_template(template).render(**context)))
        cases.append(case)
    return cases


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    t0 = time.time()
    cases = real_cases(argv[2]) + style_cases() + synthetic_cases()
    names = [c["name"] for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SystemExit(f"duplicate case names: {sorted(duplicates)}")
    os.makedirs(argv[1], exist_ok=True)
    with open(os.path.join(argv[1], "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    errors = sum("error" in c for c in cases)
    print(f"{len(cases)} chat template cases ({errors} expecting an error) in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
