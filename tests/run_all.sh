#!/usr/bin/env bash
# The whole test suite: build and run ctest normally, compile the sources for
# other CPUs (tests/cross_march.sh), build and run ctest again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then fuzz the front end for
# DMLC_FUZZ_SECONDS (default 60) under the same sanitizers. Warnings are
# errors here (DMLC_WERROR), not in a user's build.
set -euo pipefail # a failing ctest fails the script through the pipe too
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== build and test"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDMLC_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ctest --test-dir build --output-on-failure -j"$jobs" | tee "$log"

echo "== compile for other CPUs, with gcc and clang, warnings as errors"
tests/cross_march.sh build

echo "== build and test under ASan + UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDMLC_SANITIZE=ON -DDMLC_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
# the native-code corpus (two LLVM builds and links per file) runs in the
# plain build only; the examples' native tests run here too
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE native_corpus | tee -a "$log"

if [ -x tests/fuzz/run_fuzz.sh ] || [ -f tests/fuzz/run_fuzz.sh ]; then
  echo "== fuzz the front end for ${DMLC_FUZZ_SECONDS:-60} s"
  bash tests/fuzz/run_fuzz.sh build-fuzz "${DMLC_FUZZ_SECONDS:-60}"
fi

# one closing line for the whole suite: the tests of both ctest runs
total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$log" |
  awk '{t += $1; f += $2} END {print t - f, f}')
echo "all: ${total% *} passed, ${total#* } failed"
