#!/bin/sh
# The executable's gradcheck over 10 seeds (f32; logreg_newton is f64) for
# one model (an example, or a model of tests/train/gradcheck/ that uses
# stdlib layers):
# a correct gradient gets a conclusive "all gradients agree" (status 0) at
# 9 or more seeds and never FAILED (status 1; status 3, inconclusive, is
# allowed for the rest); the same model with a gradient planted 3% wrong
# (the loss's last expression l becomes l + 0.03 * (l - stop_gradient(l)):
# the same value, every gradient 1.03 times too large) FAILS at every seed.
# Usage: run_gradcheck_sweep.sh DMLC TOP NAME
set -u
dmlc=$1
top=$2
name=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/dmlc-gcsweep.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL ($name): $*"
  exit 1
}

src=$top/examples/$name.dml
[ -f "$src" ] || src=$top/tests/train/gradcheck/$name.dml
[ -f "$src" ] || fail "no model $name"
# the planted copy sits beside the original, so that its data paths hold
planted=$(dirname "$src")/.planted_$$_$name.dml
trap 'rm -rf "$work" "$planted"' EXIT
awk '/^loss\(/ { inloss = 1 }
  inloss && /^}/ { print "    let planted_l = " last; print "    planted_l + 0.03 * (planted_l - stop_gradient(planted_l))"; inloss = 0 }
  inloss && NF { if (have) print last_raw; last = $0; sub(/^ +/, "", last); last_raw = $0; have = 1; next }
  { if (!inloss) print }' "$src" >"$planted"
grep -q 'stop_gradient(planted_l)' "$planted" || fail "could not plant a wrong gradient in $src"
"$dmlc" build "$src" -o "$work/model" 2>"$work/build.err" || { cat "$work/build.err"; fail "dmlc build $src"; }
"$dmlc" build "$planted" -o "$work/planted" 2>"$work/build.err" || { cat "$work/build.err"; fail "dmlc build (planted)"; }

oks=0
for seed in 1 2 3 4 5 6 7 8 9 10; do
  "$work/model" gradcheck --seed "$seed" >"$work/out" 2>&1
  status=$?
  case $status in
  0) grep -Eq "^all gradients agree \(tolerance 1e-0[26]\)" "$work/out" || { cat "$work/out"; fail "status 0 without agreement"; }
     oks=$((oks + 1)) ;;
  3) grep -q "inconclusive" "$work/out" || { cat "$work/out"; fail "status 3 without an inconclusive param"; }
     echo "seed $seed: inconclusive"; grep 'inconclusive' "$work/out" ;;
  *) cat "$work/out"; fail "gradcheck --seed $seed of a correct gradient exited with $status" ;;
  esac
  "$work/planted" gradcheck --seed "$seed" >"$work/out" 2>&1
  status=$?
  [ "$status" = 1 ] && grep -Eq "FAILED \(tolerance 1e-0[26]\)$" "$work/out" ||
    { cat "$work/out"; fail "gradcheck --seed $seed of a gradient planted 3% wrong exited with $status"; }
done
echo "$name: $oks of 10 seeds conclusively ok; the planted wrong gradient failed at all 10"
[ "$oks" -ge 9 ] || fail "only $oks of 10 seeds conclusively ok"
exit 0
