#!/usr/bin/env bash
# The worked example of docs/pruned-nemotron-h.md: prune a (tiny) Nemotron-H with per_layer_config,
# then heal it with a shadow trained by the CLI, and compare held-out losses.
#   1. make_model.py pretrains a tiny Nemotron-H (blocks M-M-*-M-) on the task's text (transformers);
#   2. prune.py skips the mixers of two Mamba blocks and shrinks two MLPs from 128 to 32 neurons;
#   3. shadowpeft eval measures the original and the pruned model;
#   4. shadowpeft train fits a 2-block shadow to the pruned model (and, as the control, to the
#      original), with the same data, steps and schedule; their held-out losses show what the
#      shadow recovers.
# Usage: run.sh [CLI] [OUT_DIR]   (exits 1 if the shadow does not recover the pruned model's loss)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
CLI=${1:-$ROOT/build/tools/shadowpeft}
OUT=${2:-$ROOT/build/examples/pruned_nemotron_h}
STEPS=${EXAMPLE_STEPS:-150}
PYTHON=${PYTHON:-python3}
rm -rf "$OUT" && mkdir -p "$OUT"

# The task's text: "Write 1952 in words. one thousand nine hundred fifty-two."
"$PYTHON" - "$ROOT/data/demo" "$OUT" <<'PY'
import json, sys
for split in ("train", "eval"):
    with open(f"{sys.argv[1]}/numbers_{split}.jsonl") as f, open(f"{sys.argv[2]}/{split}.jsonl", "w") as out:
        for line in f:
            user, assistant = json.loads(line)["messages"]
            out.write(json.dumps({"text": f"{user['content']} {assistant['content']}."}) + "\n")
PY

echo "== 1. a tiny Nemotron-H pretrained on the task"
"$PYTHON" "$HERE/make_model.py" "$OUT/train.jsonl" "$OUT/original" 300 2> "$OUT/make_model.log"
echo; echo "== 2. pruned through per_layer_config"
"$PYTHON" "$HERE/prune.py" "$OUT/original" "$OUT/pruned"
"$CLI" inspect --model "$OUT/pruned" | sed -n '/^layer/,/^$/p'

echo "== 3. held-out loss of both"
for model in original pruned; do
  "$CLI" eval --model "$OUT/$model" --data "$OUT/eval.jsonl" --json 2>/dev/null > "$OUT/eval_$model.json"
done

echo "== 4. a shadow on each, trained by the CLI ($STEPS steps)"
for model in original pruned; do
  "$CLI" train --model "$OUT/$model" --data "$OUT/train.jsonl" --eval-data "$OUT/eval.jsonl" --output-dir "$OUT/shadow_$model" \
    --max-steps "$STEPS" --batch-size 16 --learning-rate 3e-3 --warmup-steps 10 --logging-steps 50 --save-steps 0 \
    --max-length 32 --num-shadow-layers 2 --alpha 0.5 --dropout 0 --json 2>/dev/null > "$OUT/train_$model.json"
done

"$PYTHON" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
loss = {m: json.load(open(f"{out}/eval_{m}.json"))["eval_base_loss"] for m in ("original", "pruned")}
healed = {m: json.load(open(f"{out}/train_{m}.json"))["after"]["eval_base_shadow_loss"] for m in ("original", "pruned")}
print(f"\n{'held-out loss':<34}{'original':>10}{'pruned':>10}")
print(f"{'the model alone':<34}{loss['original']:>10.3f}{loss['pruned']:>10.3f}")
print(f"{'with a shadow (base_shadow)':<34}{healed['original']:>10.3f}{healed['pruned']:>10.3f}")
gap_before = loss["pruned"] - loss["original"]
gap_after = healed["pruned"] - healed["original"]
print(f"pruning cost {gap_before:+.3f} nats alone, {gap_after:+.3f} with a shadow")
if not healed["pruned"] < loss["pruned"]:
    sys.exit("the shadow did not recover the pruned model's loss")
PY
