#!/usr/bin/env bash
# Incremental developer build: scripts/dev.sh [BUILD_DIR] [ninja targets...]
# Builds the library, the Python module and the gtest binary in BUILD_DIR (default build/dev)
# and assembles BUILD_DIR/py/pullback, so that `PYTHONPATH=BUILD_DIR/py python` imports it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/dev}
shift || true
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPULLBACK_BUILD_PYTHON=ON -DPULLBACK_BUILD_TESTS=ON >/dev/null
fi
ninja -C "$build" "$@"
rm -rf "$build/py"
mkdir -p "$build/py"
cp -rs "$root/python/pullback" "$build/py/"
cp "$build"/_core*.so "$build/py/pullback/" 2>/dev/null || true
