#!/usr/bin/env bash
# Sets up and builds (scripts/setup.sh), then runs the whole test suite through ctest. The first
# ctest step regenerates the reference fixtures with the Python libraries, so every run checks
# parity against them. Extra arguments go to ctest (e.g. -L unit, -R Safetensors).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
exec ctest --test-dir "$BUILD_DIR" --output-on-failure -j"${JOBS:-2}" "$@"
