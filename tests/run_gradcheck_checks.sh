#!/bin/sh
# `dmlc gradcheck` never passes what it could not check: a gradient, a
# Hessian-vector product or their symmetry that is not finite fails (status
# 1) naming the value; the program's own types are printed (the check runs
# in f64 and says so); a loss with no usable point names the op whose kink
# every draw met, or says the loss was not finite, with what to try; only
# kinks that the params move count.
dmlc=$1
tmp=${TMPDIR:-/tmp}/dmlc-gcchecks.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
failures=0
# expect STATUS -- FILE [OPTIONS]: gradcheck exits with STATUS; then each
# `has PATTERN` line must match a line of its output, `lacks PATTERN` none
run() {
  want=$1
  shift 2
  "$dmlc" gradcheck --color never "$@" >"$tmp/out" 2>&1
  got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: dmlc gradcheck $* -> status $got (want $want):"
    cat "$tmp/out"
    failures=$((failures + 1))
  fi
}
has() {
  if ! grep -Eq -- "$1" "$tmp/out"; then
    echo "FAIL: no line matches: $1"
    cat "$tmp/out"
    failures=$((failures + 1))
  fi
}
lacks() {
  if grep -Eq -- "$1" "$tmp/out"; then
    echo "FAIL: a line matches: $1"
    cat "$tmp/out"
    failures=$((failures + 1))
  fi
}

# a gradient that is infinite where the loss is finite: sqrt at 0
cat >"$tmp/inf.dml" <<'EOF2'
param w: f32[3]
param s: f32
loss(x: f32[n, 3]) { mean(x @ w) * s + sum(sqrt(w - stop_gradient(w))) }
EOF2
run 1 -- "$tmp/inf.dml"
has '^gradcheck .*inf.dml: seed 1, n = 3; loss [0-9.e+-]+ \(evaluated in f64\)$'
has '^  w          f32\[3\] .* worst relative error inf  FAIL at \[0\]: loss_grad inf \(not finite\), finite differences [0-9.e+-]+$'
has '^  s          f32  .* worst relative error [0-9.]+e-[0-9]+$'
lacks '^ok'

# the types printed are the program's: f32 and f64 params side by side
cat >"$tmp/types.dml" <<'EOF2'
param a: f32[2, 3]
param b: f64[3]
loss(x: f64[n, 2]) { sum(tanh(x @ a) * b) }
EOF2
run 0 -- "$tmp/types.dml"
has '^  a          f32\[2,3\] '
has '^  b          f64\[3\] '
has '^ok: 2 gradients match'

# a Hessian-vector product that is not finite (d2/ds2 of d^1.5 at d = 0),
# and so their symmetry
cat >"$tmp/hvp.dml" <<'EOF2'
param w: f64[2]
param s: f64
loss(x: f64[n, 2]) { mean(tanh(x @ w)) + (s - stop_gradient(s)) ^ 1.5 }
EOF2
run 1 -- --hvp "$tmp/hvp.dml"
has '^ok: 2 gradients match'
has '^  H v s          f64              worst relative error inf  FAIL: loss_hvp -?(inf|nan) \(not finite\), differences of loss_grad 0$'
has '^  symmetry: u.Hv -?(inf|nan), v.Hu -?(inf|nan), relative difference -?nan  FAIL \(not finite\)$'
lacks '^ok: Hessian'

# a kink every draw meets: the op, its place, and what to do
cat >"$tmp/kink.dml" <<'EOF2'
param w: f32[3]
loss(x: f32[n, 3]) {
    sum(abs(x @ w - stop_gradient(x @ w))) + mean(x @ w)
}
EOF2
run 1 -- "$tmp/kink.dml"
has '^.*kink.dml:3:9: error: gradcheck: no random point found where the loss is finite and away from kinks: at 100 of 100 points drawn, `abs` here came within 1e-4 of its kink \(its argument near 0\)$'
has '^hint: a kink that every draw meets is there by construction .* otherwise try another --seed, or other sizes with --dim NAME=SIZE$'

# kinks that no param moves do not count: relu, a comparison and maximum of
# inputs alone stay where they are whatever the step (each was reported as
# the kink every draw met), and a kink the loss never reads does not reach it
cat >"$tmp/inputs.dml" <<'EOF2'
param w: f32[3]
loss(x: f32[n, 3]) {
    let unused = relu(x @ w - x @ w)
    sum(relu(x - x)) + mean(select(x >= x, tanh(x * w), x * w)) + sum(maximum(x, x) * w)
}
EOF2
run 0 -- "$tmp/inputs.dml"
has '^  w          f32\[3\] .* worst relative error [0-9.]+e-[0-9]+$'
has '^ok: 1 gradient matches'
# but in a loop a kink of values that a param moves still counts
cat >"$tmp/loop.dml" <<'EOF2'
param w: f32[3]
loss(x: f32[n, 3]) {
    var h = x * w
    var k = x
    for t in 0..3 { k = relu(h - h) + k; h = tanh(h) }
    mean(h) + mean(k)
}
EOF2
run 1 -- "$tmp/loop.dml"
has '^.*loop.dml:5:25: error: gradcheck: no random point found where the loss is finite and away from kinks: at 100 of 100 points drawn, `relu` here came within 1e-4 of its kink \(its argument near 0\)$'

# a loss that is never finite
cat >"$tmp/nan.dml" <<'EOF2'
param w: f32[3]
loss(x: f32[n, 3]) { sum(log(x @ w - x @ w - 1.0)) }
EOF2
run 1 -- "$tmp/nan.dml"
has 'nan.dml:2:22: error: gradcheck: no random point found where the loss is finite and away from kinks: the loss was not finite at 100 of 100 points drawn$'
has '^hint: inputs and params are drawn from normal distributions'

if [ "$failures" -ne 0 ]; then
  echo "$failures gradcheck check(s) failed"
  exit 1
fi
echo "all gradcheck checks passed"
