#!/bin/sh
# Golden output: run a dmlc command from the source tree and compare its
# standard output exactly with a file. Usage: run_golden.sh EXPECTED -- CMD...
want=$1
shift 2
tmp=${TMPDIR:-/tmp}/dmlc-golden.$$
trap 'rm -f "$tmp"' EXIT
"$@" >"$tmp" || { echo "FAIL: $* exited with status $?"; exit 1; }
if ! diff -u "$want" "$tmp"; then
  echo "FAIL: output of $* differs from $want (- expected, + actual)"
  exit 1
fi
