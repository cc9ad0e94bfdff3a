#!/bin/sh
# Build the digits MLP as a shared library with its header, compile a C
# program against the header, run it.
set -e
dmlc=$1
top=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$dmlc" build "$top/examples/mlp_digits.dml" --lib -o "$tmp/libmlp_digits.so"
test -f "$tmp/mlp_digits.h"
cc -std=c11 -Wall -Werror ${DMLC_TEST_CFLAGS:-} -I"$tmp" -o "$tmp/use_mlp" "$top/tests/lib/use_mlp.c" -L"$tmp" -lmlp_digits -lm
LD_LIBRARY_PATH="$tmp" "$tmp/use_mlp"
