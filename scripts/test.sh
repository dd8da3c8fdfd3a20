#!/usr/bin/env bash
# Sets up and builds (scripts/setup.sh), then runs the whole test suite through ctest. The first
# ctest step regenerates the reference fixtures with the Python libraries, so every run checks
# parity against them. Extra arguments go to ctest (e.g. -L unit, -R Safetensors).
#   SANITIZE=1  the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan
#               (every report fails its test; LibTorch's own allocations are not leak-checked:
#               scripts/sanitizer/lsan.supp)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${SANITIZE:-0}" = 1 ]; then
  BUILD_DIR=${BUILD_DIR:-build-asan}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:check_initialization_order=1:strict_string_checks=1}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/scripts/sanitizer/lsan.supp:print_suppressions=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
BUILD_DIR=${BUILD_DIR:-build}
exec ctest --test-dir "$BUILD_DIR" --output-on-failure -j"${JOBS:-2}" "$@"
