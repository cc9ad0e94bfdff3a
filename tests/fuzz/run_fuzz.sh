#!/bin/sh
# run_fuzz.sh - build the libFuzzer target and fuzz the front end.
#
# usage: tests/fuzz/run_fuzz.sh [BUILD_DIR] [SECONDS]
#   BUILD_DIR  build folder for the fuzzing build (default: build-fuzz, made
#              next to the source tree; it is separate from the normal build
#              because the whole front end is compiled with clang, coverage
#              instrumentation and ASan/UBSan)
#   SECONDS    how long to fuzz (default 60)
#
# environment:
#   FUZZ_JOBS     parallel fuzzing processes (default 1). With more than one,
#                 libFuzzer's -fork mode is used and it keeps going after a
#                 crash, so one run can collect several findings.
#   FUZZ_OUT      folder for crash/timeout/oom reproducers (default
#                 BUILD_DIR/fuzz-artifacts); emptied at the start of each run
#   FUZZ_CORPUS   corpus folder to fuzz in and to keep (default: a fresh temp
#                 copy of tests/fuzz/corpus, deleted at the end). The
#                 repository's seed corpus is never modified.
#   FUZZ_ARGS     extra libFuzzer arguments
#   FUZZ_NO_BUILD set to 1 to skip configuring and building
#
# The exit status is 0 when the fuzzer found nothing, 1 on any finding
# (crash, sanitizer report, timeout, out-of-memory, leak), 2 on a setup
# failure. Reproducers are listed at the end; replay one with
#   BUILD_DIR/fuzz_front FILE
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-$src/build-fuzz}
seconds=${2:-60}
jobs=${FUZZ_JOBS:-1}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
out=${FUZZ_OUT:-$build/fuzz-artifacts}

die() { echo "run_fuzz.sh: $*" >&2; exit 2; }

case $seconds in ''|*[!0-9]*) die "SECONDS must be a whole number, not '$seconds'" ;; esac
case $jobs in ''|*[!0-9]*|0) die "FUZZ_JOBS must be a positive number, not '$jobs'" ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dmlc-fuzz.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
  command -v clang >/dev/null || die "clang not found: apt-get install clang-14"
  CC=clang cmake -S "$src" -B "$build" -DDMLC_FUZZ=ON -DDMLC_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log" >&2; die "cmake configure failed"; }
  # The fuzzing build must really be a clang build: a folder configured
  # earlier with gcc keeps its compiler.
  grep -q '^CMAKE_C_COMPILER:.*clang' "$build/CMakeCache.txt" ||
    die "$build was configured with another compiler; remove it or pick another folder"
  cmake --build "$build" --target fuzz_front -j "$(nproc 2>/dev/null || echo 2)" || die "build failed"
fi
fuzzer=$build/fuzz_front
[ -x "$fuzzer" ] || die "$fuzzer not built"

rm -rf "$out"
mkdir -p "$out" || die "cannot create $out"
if [ -n "${FUZZ_CORPUS:-}" ]; then
  corpus=$FUZZ_CORPUS
  mkdir -p "$corpus"
else
  corpus=$tmp/corpus
  mkdir -p "$corpus"
fi
cp "$here"/corpus/* "$corpus"/ 2>/dev/null

set -- -dict="$here/dml.dict" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
  -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/"
if [ "$jobs" -gt 1 ]; then
  # fork mode: crashes, timeouts and OOMs are written to $out and fuzzing
  # goes on; the exit status is decided from the artifacts below.
  set -- "$@" -fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1
fi
echo "fuzzing $fuzzer for ${seconds}s with $jobs job(s); corpus $corpus; findings go to $out"
# UBSan: stop at the first report so it becomes a finding with a reproducer.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
  "$fuzzer" "$@" ${FUZZ_ARGS:-} "$corpus" 2>&1 | tee "$tmp/log"
status=$?
# the fuzzer's status, not tee's
if grep -q -e '^==[0-9]*==ERROR' -e 'runtime error:' -e 'ALARM: working on the last Unit' \
    -e '^==[0-9]*== ERROR: libFuzzer' -e 'out-of-memory' "$tmp/log"; then
  status=1
fi
cp "$tmp/log" "$out/fuzz.log"

findings=$(find "$out" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' -o -name 'slow-unit-*' \) | sort)
echo
if [ -n "$findings" ]; then
  echo "FINDINGS ($(echo "$findings" | wc -l)); log in $out/fuzz.log:"
  echo "$findings" | sed 's/^/  /'
  echo "replay one with: $fuzzer FILE"
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "the fuzzer reported a problem without writing a reproducer; see $out/fuzz.log"
  exit 1
fi
echo "no findings"
exit 0
