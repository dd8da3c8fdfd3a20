#!/usr/bin/env bash
# Runs the whole suite once per CPU kernel path that ATen, oneMKL and oneDNN can take, so that a
# tolerance which holds only on this machine's kernels shows up here and not on the next machine
# (an AMD CPU gets other MKL code paths than an Intel one; AVX-512, AVX2 and SSE4.2 ATen kernels
# round differently). The Python reference and the C++ tests run under the same setting, as they do
# on any one machine. Extra arguments go to ctest (e.g. -R Training).
#   KERNELS  which settings to run (default: "native avx2 sse"):
#     native  what the CPU supports (AVX-512 / AMX here)
#     avx2    ATen AVX2 kernels, oneMKL AVX2 paths, oneDNN up to AVX2
#     sse     ATen's non-vectorised kernels, oneMKL SSE4.2, oneDNN SSE4.1
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
status=0
for kernels in ${KERNELS:-native avx2 sse}; do
  case "$kernels" in
    native) settings=() ;;
    avx2) settings=(ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2) ;;
    sse) settings=(ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41) ;;
    *) echo "unknown kernel setting '$kernels' (expected native, avx2 or sse)" >&2; exit 2 ;;
  esac
  printf '\033[1m[kernels: %s]\033[0m %s\n' "$kernels" "${settings[*]:-}" >&2
  # ctest's summary: the pass count, and any failed or skipped test by name.
  env "${settings[@]}" ctest --test-dir "$BUILD_DIR" -j"${JOBS:-2}" "$@" |
    grep -E 'tests passed|^[[:space:]]+[0-9]+ - .*\((Failed|Skipped|Not Run|Timeout)\)' || status=1
done
[ "$status" = 0 ] && echo "every kernel setting passed" >&2
exit $status
