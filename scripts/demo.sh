#!/usr/bin/env bash
# The README's first command, until training lands (issue 7): builds shadowpeft, has the Python
# shadow-peft package make a tiny Llama base with a ShadowPEFT adapter, then with the C++ tool
# inspects the base, scores tokens with the adapter in both inference modes, and exports the shadow
# as a standalone model that runs without the base.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
DEMO_DIR="$BUILD_DIR/demo"
CLI="$BUILD_DIR/tools/shadowpeft"
echo "== making a tiny Llama base and a ShadowPEFT adapter with the Python packages (random weights)"
python3 tests/reference/make_shadow_fixtures.py "$DEMO_DIR" llama >/dev/null
CASE="$DEMO_DIR/shadow/llama"

echo; echo "== shadowpeft inspect $CASE/base"
"$CLI" inspect "$CASE/base" | sed -n '1,30p'

for mode in base_shadow shadow_only; do
  echo; echo "== shadowpeft logits --adapter $CASE/adapter --mode $mode"
  "$CLI" logits --model "$CASE/base" --adapter "$CASE/adapter" --mode "$mode" \
    --ids-file "$CASE/reference.safetensors" --out "$DEMO_DIR/logits_$mode.safetensors"
done
python3 - "$DEMO_DIR" "$CASE" <<'PY'
import sys
from safetensors.torch import load_file
demo, case = sys.argv[1], sys.argv[2]
ref = load_file(f"{case}/reference.safetensors")
valid = ref["attention_mask"].bool()
for mode, key in (("base_shadow", "logits"), ("shadow_only", "shadow_only.logits")):
    ours = load_file(f"{demo}/logits_{mode}.safetensors")["logits"]
    print(f"{mode:<12} max |shadowpeft - shadow-peft (Python)| = {(ours[valid] - ref[key][valid]).abs().max():.2e}")
PY

echo; echo "== shadowpeft export-shadow (the shadow alone, as a Hugging Face model)"
"$CLI" export-shadow --model "$CASE/base" --adapter "$CASE/adapter" --out "$DEMO_DIR/exported_shadow"
"$CLI" inspect "$DEMO_DIR/exported_shadow" | sed -n '/^layer/,/^$/p'
"$CLI" logits --model "$DEMO_DIR/exported_shadow" --input-ids 1,2,3,4 --out "$DEMO_DIR/exported_logits.safetensors"
