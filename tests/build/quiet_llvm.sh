#!/bin/sh
# LLVM's own warnings and remarks (a loop it could not vectorise, printed as
# `warning: <unknown>:0:0: loop not vectorized: ...`) are not the user's:
# `dmlc build` of a program that checks clean prints nothing at all, as an
# executable, a library and in f64, at -O2 and -O3.
# usage: quiet_llvm.sh DMLC TOP
dmlc=$1
top=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
for p in layer_norm_relu logsumexp; do
  for opts in "" "--lib" "--dtype f64" "-O3" "-Werror"; do
    # shellcheck disable=SC2086
    "$dmlc" build $opts "$top/tests/build/$p.dml" -o "$tmp/out" >"$tmp/log" 2>&1
    status=$?
    if [ "$status" -ne 0 ] || [ -s "$tmp/log" ]; then
      echo "FAIL: dmlc build $opts $p.dml: status $status, output:"
      cat "$tmp/log"
      failures=$((failures + 1))
    fi
  done
done
[ "$failures" -eq 0 ] || exit 1
echo "ok: dmlc build printed nothing for layer_norm_relu and logsumexp"
