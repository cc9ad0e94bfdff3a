#!/bin/sh
# Parser round trip: print a program back as DML (`emit source`), parse the
# printed text again, and require (1) the same text on the second print and
# (2) the same syntax tree, positions aside. Catches printer and precedence
# bugs: a lost parenthesis changes the tree.
dmlc=$1
file=$2
tmp=${TMPDIR:-/tmp}/dmlc-rt.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $file: $1"; exit 1; }
"$dmlc" emit source "$file" >"$tmp/once.dml" || fail "emit source failed"
"$dmlc" emit source "$tmp/once.dml" >"$tmp/twice.dml" || fail "the printed text does not parse"
diff -u "$tmp/once.dml" "$tmp/twice.dml" || fail "printing is not stable"
"$dmlc" emit ast "$file" >"$tmp/ast1" || fail "emit ast failed"
"$dmlc" emit ast "$tmp/once.dml" >"$tmp/ast2" || fail "emit ast of the printed text failed"
sed -i 's/ @[0-9]*:[0-9]*//' "$tmp/ast1" "$tmp/ast2"
[ -s "$tmp/ast1" ] || fail "empty syntax tree"
diff -u "$tmp/ast1" "$tmp/ast2" || fail "the printed program parses to a different tree"
exit 0
