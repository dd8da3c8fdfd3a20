#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang with ASan + UBSan) in build-fuzz, seeds each corpus
# from the test fixtures, the bundled data and the real tokenizers in ../shared/tokenizers, runs
# every target for SECONDS seconds, and prints executions, exec/s and coverage per target.
# Findings (crash-*, leak-*, timeout-*, oom-*) land in build-fuzz/artifacts/<target>/; the script
# then exits 1. Copy a finding to fuzz/regressions/<target>/ once fixed: ctest replays those.
#   scripts/fuzz.sh [SECONDS per target, default 60] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(chat_template tokenizer_json tokenizer_encode records safetensors model_config adapter_config)
BUILD_DIR=${BUILD_DIR:-build-fuzz}
PYTHON=${PYTHON:-python3}

log() { printf '\033[1m[fuzz]\033[0m %s\n' "$*" >&2; }

command -v clang++ >/dev/null || { log "clang++ is missing: apt-get install clang libclang-rt-dev"; exit 1; }
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime CCACHE_BASEDIR="$PWD"
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  log "configuring $BUILD_DIR (clang, libFuzzer, ASan + UBSan)"
  CXX=clang++ cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHADOWPEFT_FUZZ=ON -DSHADOWPEFT_BUILD_TESTS=OFF \
    -DSHADOWPEFT_BUILD_BENCH=OFF -DPython3_EXECUTABLE="$(command -v "$PYTHON")" "${launcher[@]}" >/dev/null
fi
targets=(); for t in "${TARGETS[@]}"; do targets+=(--target "fuzz_$t"); done
log "building ${TARGETS[*]}"
if ! cmake --build "$BUILD_DIR" -j"${JOBS:-2}" "${targets[@]}" >"$BUILD_DIR/build.log" 2>&1; then
  grep -E 'error|Error' "$BUILD_DIR/build.log" | head -20 >&2
  log "build failed (whole log: $BUILD_DIR/build.log)"
  exit 1
fi

# Seeds: files that exist in this checkout (fixtures appear once the test suite has run).
seed() {  # seed TARGET FILE...
  local dir="$BUILD_DIR/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp -f "$f" "$dir/$(echo "$f" | tr '/' '_')" || true; done
}
"$PYTHON" scripts/fuzz_seeds.py "$BUILD_DIR/seeds" ../shared/tokenizers
for t in "${TARGETS[@]}"; do mkdir -p "$BUILD_DIR/corpus/$t"; cp -f "$BUILD_DIR/seeds/$t"/* "$BUILD_DIR/corpus/$t/" 2>/dev/null || true; done
seed safetensors $(find build/fixtures -name '*.safetensors' -size -64k 2>/dev/null | head -200)
seed model_config $(find build/fixtures -name config.json 2>/dev/null | head -300)
seed adapter_config $(find build/fixtures \( -name shadow_config.json -o -name adapter_config.json \) 2>/dev/null | head -150)

dict_of() { case $1 in chat_template) echo fuzz/dicts/jinja.dict ;; *) echo fuzz/dicts/json.dict ;; esac; }
max_len_of() { case $1 in tokenizer_json) echo 65536 ;; records|safetensors|chat_template) echo 16384 ;; *) echo 4096 ;; esac; }

printf '%-18s %12s %10s %8s %8s %s\n' target executions exec/s cov ft result
total=0; failed=0
for t in "${TARGETS[@]}"; do
  artifacts="$BUILD_DIR/artifacts/$t/"; rm -rf "$artifacts"; mkdir -p "$artifacts"
  regressions=(); [ -d "fuzz/regressions/$t" ] && regressions=("fuzz/regressions/$t")
  logf="$BUILD_DIR/fuzz-$t.log"
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$BUILD_DIR/fuzz/fuzz_$t" "$BUILD_DIR/corpus/$t" "${regressions[@]}" -max_total_time="$SECONDS_PER_TARGET" \
    -dict="$(dict_of "$t")" -max_len="$(max_len_of "$t")" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$artifacts" >"$logf" 2>&1
  status=$?
  set -e
  stat() { grep -oP "$1" "$logf" | tail -1 || true; }
  runs=$(stat 'stat::number_of_executed_units:\s*\K[0-9]+')
  speed=$(stat 'stat::average_exec_per_sec:\s*\K[0-9]+')
  cov=$(stat '\bcov: \K[0-9]+')
  ft=$(stat '\bft: \K[0-9]+')
  result=ok; if [ "$status" != 0 ] || ls "$artifacts" | grep -q .; then result="FINDING (see $logf, $artifacts)"; failed=1; fi
  printf '%-18s %12s %10s %8s %8s %s\n' "$t" "${runs:-0}" "${speed:-0}" "${cov:-?}" "${ft:-?}" "$result"
  total=$((total + ${runs:-0}))
done
printf '%-18s %12s\n' total "$total"
exit $failed
