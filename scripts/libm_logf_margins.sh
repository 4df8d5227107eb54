#!/usr/bin/env bash
# Regenerates csrc/pullback/backend/cpu/libm_logf_margins.h (see libm_logf_margins.cpp) from
# both of glibc's logf variants: the FMA one this CPU picks and the SSE2 one (forced through
# GLIBC_TUNABLES). About a minute.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# No contraction: the double steps must round as random.cpp's kernels round them.
g++ -std=c++17 -O2 -ffp-contract=off -I"$root/csrc" "$root/scripts/libm_logf_margins.cpp" \
  -o "$tmp/margins" -lm
"$tmp/margins" scan >"$tmp/default" &
GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA "$tmp/margins" scan >"$tmp/sse2"
wait
"$tmp/margins" header "$tmp/default" "$tmp/sse2" >"$root/csrc/pullback/backend/cpu/libm_logf_margins.h"
echo "wrote csrc/pullback/backend/cpu/libm_logf_margins.h"
