#!/usr/bin/env bash
# Code generation benchmark (not part of the tests: timings are noisy).
# 1. Build time of each example as a shared library at -O2 (median of 5).
# 2. Time of one loss_grad call relative to one loss call for the digits
#    MLP, measured alternately in one process (median of many calls).
# Usage: bench/codegen.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
dmlc=$build/dmlc
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "== build time, dmlc build --lib -O2 (median of 5 runs)"
for e in linreg logreg mlp_digits; do
  times=()
  for i in 1 2 3 4 5; do
    s=$(date +%s.%N)
    "$dmlc" build "examples/$e.dml" --lib -o "$tmp/lib$e.so"
    times+=("$(echo "$(date +%s.%N) - $s" | bc -l)")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
  printf '  %-12s %.3f s\n' "$e" "$median"
done

echo "== loss_grad / loss time, digits MLP (64-64-10), 1 thread"
cc -O2 -o "$tmp/time_model" bench/time_model.c -ldl
for n in 64 256; do
  PARAMS='64,64;64;64,10;10' "$tmp/time_model" "$tmp/libmlp_digits.so" mlp_digits "$n" 2000
done
