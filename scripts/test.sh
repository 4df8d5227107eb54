#!/usr/bin/env bash
# Installs what the tests need, builds and installs pullback with its gtest suite, and runs
# pytest and ctest. README's test command; CI runs it through .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/include/gtest/gtest.h ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libgtest-dev ccache >/dev/null
fi
python -m pip install -q "scikit-build-core>=0.10" "nanobind>=2.0" cmake ninja scipy-openblas32 numpy pytest hypothesis ml_dtypes scipy safetensors \
  scikit-learn tqdm matplotlib  # the last three run examples/train_digits.py (test_examples.py)
# Without build isolation the gtest binary links the installed OpenBLAS, which outlives the build.
python -m pip install -q --no-build-isolation . \
  -Cbuild-dir=build/test -Ccmake.define.PULLBACK_BUILD_TESTS=ON
python -m pytest tests/python -q
ctest --test-dir build/test --output-on-failure
