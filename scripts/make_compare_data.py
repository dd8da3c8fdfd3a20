#!/usr/bin/env python3
"""Builds data/compare/: a real-text 5-class classification task for bench/compare_methods.py.

Each record is a Debian package's one-line description, labelled with the package's archive section
(games, graphics, mail, science, sound), e.g. {"text": "advanced drum machine/step sequencer",
"label": "sound"}. The text comes from the local apt package index (`apt-cache dumpavail`, Debian 12
"bookworm" main on the machine that made the shipped files), so it needs no network; the descriptions
are written by each package's maintainers and ship with packages under the Debian Free Software
Guidelines. The sample is deterministic for a given index: packages are ordered by the SHA-256 of
their name, descriptions that several packages share are dropped (they would leak between the
splits), and the first --train / --eval per section are kept.

    python3 scripts/make_compare_data.py [--train 120] [--eval 50] [--out data/compare]
"""
import argparse
import hashlib
import json
import pathlib
import subprocess
from collections import Counter

SECTIONS = ("games", "graphics", "mail", "science", "sound")


def stanzas(index_text):
    entry = {}
    for line in index_text.splitlines():
        if not line.strip():
            if entry:
                yield entry
            entry = {}
        elif not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            entry[key] = value.strip()
    if entry:
        yield entry


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=120, help="training records per section")
    parser.add_argument("--eval", type=int, default=50, help="held-out records per section")
    parser.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "data" / "compare"))
    args = parser.parse_args()

    index = subprocess.run(["apt-cache", "dumpavail"], check=True, capture_output=True, text=True).stdout
    packages = {}
    for entry in stanzas(index):
        section = entry.get("Section", "").split("/")[-1]
        text = entry.get("Description", "")
        if section in SECTIONS and len(text.split()) >= 3:
            packages[entry["Package"]] = (section, text)
    shared = Counter(text.lower() for _, text in packages.values())
    by_section = {s: [] for s in SECTIONS}
    for name in sorted(packages, key=lambda n: hashlib.sha256(n.encode()).hexdigest()):
        section, text = packages[name]
        if shared[text.lower()] == 1:
            by_section[section].append(text)
    need = args.train + args.eval
    for section, texts in by_section.items():
        if len(texts) < need:
            raise SystemExit(f"section {section}: {len(texts)} usable descriptions in the apt index, need {need}")

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    splits = {"train": slice(0, args.train), "eval": slice(args.train, need)}
    for split, rows in splits.items():
        # Interleave the sections so every batch of a short run sees all of them.
        records = [{"text": by_section[s][i], "label": s}
                   for i in range(rows.start, rows.stop) for s in SECTIONS]
        path = out / f"debian_sections_{split}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        print(f"{path}: {len(records)} records")


if __name__ == "__main__":
    main()
