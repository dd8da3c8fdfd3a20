#!/usr/bin/env python3
"""Writes the demo task bundled in data/demo/: chat conversations that ask for a number in words.

    user:      Write 4821 in words.
    assistant: four thousand eight hundred twenty-one

The numbers are drawn with a fixed seed; train and eval numbers do not overlap. The task is easy to
check and a 135M model does it badly before fine-tuning, so the demo shows a clear change in loss
and in the generated text. Usage: make_demo_data.py [OUT_DIR] (default: data/demo next to this repo).
"""
import json
import os
import random
import sys

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def below_thousand(n):
    words = []
    if n >= 100:
        words += [ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(TENS[n // 10] + ("-" + ONES[n % 10] if n % 10 else ""))
    elif n > 0 or not words:
        words.append(ONES[n])
    return " ".join(words)


def in_words(n):
    if n < 1000:
        return below_thousand(n)
    thousands, rest = divmod(n, 1000)
    return below_thousand(thousands) + " thousand" + (" " + below_thousand(rest) if rest else "")


def record(n):
    return {"messages": [{"role": "user", "content": f"Write {n} in words."},
                         {"role": "assistant", "content": in_words(n)}]}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "demo")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(2026)
    numbers = rng.sample(range(1, 10000), 520)
    splits = {"numbers_train.jsonl": numbers[:480], "numbers_eval.jsonl": numbers[480:]}
    for name, values in splits.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            for n in values:
                f.write(json.dumps(record(n), ensure_ascii=False) + "\n")
        print(f"wrote {len(values)} records to {os.path.join(out, name)}")


if __name__ == "__main__":
    main()
