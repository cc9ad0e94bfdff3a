#!/usr/bin/env bash
# Compile the compiler and the runtime for CPUs other than this one, with gcc
# and clang and the project's warnings as errors. A user's -march=native can
# change what the preprocessor and the optimiser see (FLT_EVAL_METHOD is 16
# with AVX512-FP16, say); compiling is enough to catch that, running is not
# needed. Usage: tests/cross_march.sh BUILD_DIR (for the generated parser,
# lexer and config header).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ -f "$build/gen/parser.c" ] || { echo "cross_march: build $build first (no $build/gen/parser.c)"; exit 1; }
marches="x86-64 x86-64-v3 x86-64-v4 sapphirerapids znver3 alderlake"
compilers="gcc clang"
blas=$(pkg-config --cflags openblas | xargs) # trimmed: xargs -L joins a line ending in a blank to the next
llvm=$(llvm-config-16 --includedir 2>/dev/null || echo /usr/lib/llvm-16/include)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# what CMake defines on the command line for the compiler's sources
printf '#define DMLC_VERSION "x"\n#define DMLC_STDLIB_DIR "x"\n' >"$out/defs.h"

# One line per compilation: compiler, -march, source, its include flags.
jobs() {
  for cc in $compilers; do
    command -v "$cc" >/dev/null || { echo "cross_march: $cc not found" >&2; exit 1; }
    for m in $marches; do
      for f in runtime/*.c; do echo "$cc $m $f -Iruntime $blas"; done
      for f in compiler/*.c compiler/*/*.c "$build"/gen/lexer.c "$build"/gen/parser.c; do
        echo "$cc $m $f -Icompiler -Iruntime -I$build/gen -I$llvm -include $out/defs.h"
      done
    done
  done
}

# Generated code keeps the exemption the CMake build gives it.
compile_one() {
  local cc=$1 m=$2 f=$3; shift 3
  local extra=""
  case $f in */gen/parser.c) extra="-Wno-unused-but-set-variable";; esac
  case $cc in clang) extra="$extra -Wno-pass-failed";; esac
  local log="$out/$(echo "$cc-$m-$f" | tr '/' '_').log"
  if ! $cc -std=gnu11 -march="$m" -O2 -fopenmp-simd -fno-math-errno -Wall -Wextra -Werror \
         -Wno-unused-parameter $extra "$@" -c -o /dev/null "$f" >"$log" 2>&1; then
    echo "FAIL: $cc -march=$m $f"; sed 's/^/    /' "$log" | head -20
    return 1
  fi
}
export -f compile_one
export out

n=$(jobs | wc -l)
if jobs | xargs -P "$(nproc)" -L 1 bash -c 'compile_one "$@"' _; then
  echo "cross_march: $n compilations ($compilers; $marches) warning-free"
else
  echo "cross_march: some targets do not compile warning-free"; exit 1
fi
