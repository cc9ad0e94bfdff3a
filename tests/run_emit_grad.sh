#!/bin/sh
# Emitted gradient: `dmlc emit grad FILE` must succeed and print a program
# that is valid DML and checks clean (`dmlc check -Werror`). The program is
# written into an empty temporary folder, so it cannot lean on files next
# to the original (a `use "x.dml"` would have to be inlined).
dmlc=$1
file=$2
tmp=${TMPDIR:-/tmp}/dmlc-eg.$$
mkdir -p "$tmp" || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT PIPE TERM
base=$(basename "$file" .dml)

"$dmlc" emit grad --color never "$file" >"$tmp/${base}_grad.dml" 2>"$tmp/err"
status=$?
if [ "$status" -ne 0 ]; then
  echo "FAIL $file: emit grad exited with status $status"
  cat "$tmp/err"
  exit 1
fi
if [ ! -s "$tmp/${base}_grad.dml" ]; then
  echo "FAIL $file: emit grad printed nothing"
  exit 1
fi
if ! (cd "$tmp" && "$dmlc" check --color never -Werror "${base}_grad.dml") >"$tmp/check" 2>&1; then
  echo "FAIL $file: the emitted gradient program does not check clean"
  cat "$tmp/check"
  echo "--- emitted program:"
  cat "$tmp/${base}_grad.dml"
  exit 1
fi
exit 0
