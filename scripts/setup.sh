#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks and builds shadowpeft. Idempotent: a second run only
# rebuilds what changed. Used by the README commands and by .ci/run.
#   BUILD_DIR   build directory (default: build)
#   BUILD_TYPE  CMake build type (default: Release)
#   SANITIZE=1  build with AddressSanitizer + UndefinedBehaviorSanitizer (default build dir: build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."
SANITIZE=${SANITIZE:-0}
if [ "$SANITIZE" = 1 ]; then BUILD_DIR=${BUILD_DIR:-build-asan}; else BUILD_DIR=${BUILD_DIR:-build}; fi
BUILD_TYPE=${BUILD_TYPE:-Release}

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# Debian packages: compiler, CMake, ccache and the -dev libraries (JSON, PCRE2, CLI11, GoogleTest,
# Google Benchmark, gloo's headers, which c10d's ProcessGroupGloo.hpp includes but the torch
# wheel does not ship, and gperftools' tcmalloc, the command-line tool's allocator). {fmt} comes
# header-only with LibTorch (see cmake/ShadowpeftTorch.cmake).
APT_PACKAGES=(g++ cmake make pkg-config ccache nlohmann-json3-dev libpcre2-dev libcli11-dev
              libgtest-dev libgmock-dev libbenchmark-dev libutf8proc-dev libgloo-dev libcpp-httplib-dev
              libgoogle-perftools-dev)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python side: torch (LibTorch for the build) and the reference oracle, pinned in one file.
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" - <<'PY' 2>/dev/null; then
import importlib.metadata as md, re, sys
for line in open("requirements/reference.txt"):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    installed = md.version(name)
    if version and installed.split("+")[0] != version:
        sys.exit(1)
PY
  log "installing Python packages from requirements/reference.txt (torch is large: this takes minutes once)"
  "$PYTHON" -m pip install -q --disable-pip-version-check -r requirements/reference.txt
fi

export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
# Paths below the checkout hash relative, so a fresh clone elsewhere (as CI makes) reuses the cache.
export CCACHE_BASEDIR="$PWD"
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  log "configuring $BUILD_DIR ($BUILD_TYPE)"
  sanitize=(); [ "$SANITIZE" = 1 ] && sanitize=(-DSHADOWPEFT_SANITIZE=ON -DSHADOWPEFT_BUILD_BENCH=OFF)
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DPython3_EXECUTABLE="$(command -v "$PYTHON")" \
        "${launcher[@]}" "${sanitize[@]}" >/dev/null
fi
log "building (first build: several minutes on 2 cores; later builds are incremental)"
set +e
cmake --build "$BUILD_DIR" -j"${JOBS:-2}" 2>&1 | grep -vE '^\[ *[0-9]+%\] (Building|Linking|Built)'
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { log "build failed"; exit 1; }
log "built $BUILD_DIR/tools/shadowpeft"
