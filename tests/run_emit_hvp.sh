#!/bin/sh
# `dmlc emit hvp` prints valid DML: the output passes `dmlc check -Werror`.
dmlc=$1
file=$2
tmp=${TMPDIR:-/tmp}/dmlc-hvp.$$.dml
trap 'rm -f "$tmp"' EXIT
"$dmlc" emit hvp "$file" >"$tmp" || { echo "FAIL: dmlc emit hvp $file"; exit 1; }
grep -q "^fn loss_hvp(" "$tmp" || { echo "FAIL: no fn loss_hvp in the output"; exit 1; }
# the stdlib's functions are inlined, so the text needs no `use`
"$dmlc" check -Werror "$tmp" || { echo "FAIL: the emitted loss_hvp does not check"; cat "$tmp"; exit 1; }
