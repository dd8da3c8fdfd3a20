#!/usr/bin/env bash
# The README's first command: builds shadowpeft, makes a tiny Llama checkpoint with transformers
# (single file and sharded), and inspects both with `shadowpeft inspect`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
DEMO_DIR="$BUILD_DIR/demo"
python3 tests/reference/make_fixtures.py "$DEMO_DIR" >/dev/null 2>&1
echo
echo "== shadowpeft inspect $DEMO_DIR/tiny_llama"
"$BUILD_DIR/tools/shadowpeft" inspect "$DEMO_DIR/tiny_llama"
echo
echo "== shadowpeft inspect $DEMO_DIR/tiny_llama_sharded (first lines)"
"$BUILD_DIR/tools/shadowpeft" inspect "$DEMO_DIR/tiny_llama_sharded" | head -12
