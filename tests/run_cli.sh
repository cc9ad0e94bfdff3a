#!/bin/sh
# The command line: help, version, usage errors (exit 2 with a hint of what
# to type), missing files (exit 1 with the reason), emit.
dmlc=$1
top=$2
tmp=${TMPDIR:-/tmp}/dmlc-cli.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
failures=0
# expect STATUS PATTERN -- command...: run, check exit status and that the
# combined output matches the grep pattern
expect() {
  want=$1 pattern=$2
  shift 3
  "$@" >"$tmp/out" 2>&1
  got=$?
  if [ "$got" -ne "$want" ] || ! grep -q -- "$pattern" "$tmp/out"; then
    echo "FAIL: $* -> status $got (want $want), output:"
    cat "$tmp/out"
    echo "(expected to match: $pattern)"
    failures=$((failures + 1))
  fi
}
expect 0 '^usage: dmlc' -- "$dmlc" --help
expect 0 '^dmlc [0-9]' -- "$dmlc" --version
expect 2 '^usage: dmlc' -- "$dmlc"
expect 2 "unknown command \`chekc\`; did you mean \`check\`?" -- "$dmlc" chekc x.dml
expect 2 "unknown option \`--frobnicate\`" -- "$dmlc" check --frobnicate x.dml
expect 2 'check needs at least one file' -- "$dmlc" check
expect 2 'emit needs what to print' -- "$dmlc" emit
expect 2 "cannot emit \`llvm-bc\`" -- "$dmlc" emit llvm-bc "$top/examples/linreg.dml"
expect 2 'emit takes exactly one file' -- "$dmlc" emit ast
expect 2 '--dtype must be f32 or f64' -- "$dmlc" check --dtype f16 "$top/examples/linreg.dml"
expect 1 'error: cannot open /nonexistent/model.dml: No such file or directory' -- "$dmlc" check /nonexistent/model.dml
expect 1 'error: cannot read .*: it is a directory' -- "$dmlc" check "$top/examples"
"$dmlc" check "$top/examples/linreg.dml" "$top/examples/mlp_digits.dml" >"$tmp/out" 2>&1
if [ $? -ne 0 ] || [ -s "$tmp/out" ]; then echo "FAIL: clean files must check silently"; cat "$tmp/out"; failures=$((failures + 1)); fi
expect 0 '^7:1.`param`$' -- "$dmlc" emit tokens "$top/examples/mlp_digits.dml"
expect 0 '^Fn predict @13:1$' -- "$dmlc" emit ast "$top/examples/mlp_digits.dml"
expect 0 '^param W1: f32\[64, H\] = glorot$' -- "$dmlc" emit source "$top/examples/mlp_digits.dml"
# several files: every file is checked, the status says one failed
printf 'loss(x: f32[n]) { sum(x) + y }\n' >"$tmp/bad.dml"
expect 1 'bad.dml:1:28: error: unknown name `y`$' -- "$dmlc" check "$tmp/bad.dml" "$top/examples/linreg.dml"
# -Werror turns warnings into errors
printf 'param w: f32[3] = zeros\nparam v: f32[3] = zeros\nloss(x: f32[n, 3]) { sum(x @ w) }\n' >"$tmp/warn.dml"
expect 0 'warning: param `v` is not used by the loss' -- "$dmlc" check "$tmp/warn.dml"
expect 1 'error: param `v` is not used by the loss' -- "$dmlc" check -Werror "$tmp/warn.dml"
printf 'param w: f32[3] = zeros\nloss(x: f32[n, 3], y: i32[n]) { mean(x @ w) }\n' >"$tmp/warn2.dml"
expect 1 'error: loss input `y` is not used by the loss' -- "$dmlc" check -Werror "$tmp/warn2.dml"
printf 'param w: f32[3] = zeros\nloss(x: f32[n, 3], y: i32[n]) { cross_entropy(softmax(x * w), y) }\n' >"$tmp/warn3.dml"
expect 1 'error: `cross_entropy` applies softmax to its first argument itself' -- "$dmlc" check -Werror "$tmp/warn3.dml"
printf 'param w: f32[3] = zeros\nloss(x: f32[n, 3]) { mean(x) }\n' >"$tmp/warn4.dml"
expect 1 'error: the loss uses none of the params' -- "$dmlc" check -Werror "$tmp/warn4.dml"
# colour only when asked (stderr is not a terminal here)
expect 1 '\[1;31merror' -- "$dmlc" check --color always "$tmp/bad.dml"
"$dmlc" check "$tmp/bad.dml" 2>"$tmp/plain"
if grep -q "$(printf '\033')" "$tmp/plain"; then echo "FAIL: colour codes when not on a terminal"; failures=$((failures + 1)); fi
# the reversed loop of an RNN multiplies by transpose(Wh) stored once before
# it (simplify.c hoists it, schedule.c stores it), not by a BLAS transpose
# flag on every step
"$dmlc" emit loops "$top/examples/rnn_digits.dml" >"$tmp/loops" 2>&1
if ! sed -n '/^schedule loss_grad/,$p' "$tmp/loops" |
  awk '/= for,/ { loops++ } /call TRANSPOSE : f32\[64,64\]/ && loops == 1 { ok = 1 } END { exit !ok }'; then
  echo "FAIL: no transpose stored between rnn_digits' loops:"; cat "$tmp/loops"; failures=$((failures + 1))
fi
# the images' rows img[:, t] are read in place by the product (BLAS's
# leading dimension), in the encoder and in the reversed loop
expect 0 'view INDEX : f32\[n,8\] -> rows of %' -- "$dmlc" emit loops "$top/examples/rnn_digits.dml"
# the reversed loop reads the saved states as blocks of the stack, not copies
expect 0 'view INDEX : f32\[n,64\] -> block of %' -- "$dmlc" emit loops "$top/examples/rnn_digits.dml"
# the stack of saved states starts as zeros written straight into the
# loop's buffer, and reverse mode's last row is written into that buffer
# after the loop (two updates in place: in the loop and after it)
"$dmlc" emit loops "$top/examples/rnn_digits.dml" | sed -n '/^schedule loss_grad/,$p' >"$tmp/loops"
if ! grep -A3 -- '= for, body' "$tmp/loops" | grep -q -- '^      %[0-9]* = FILL : f32\[9,n,64\]$' ||
  [ "$(grep -c -- 'call UPDATE : f32\[9,n,64\] -> in place of' "$tmp/loops")" != 2 ]; then
  echo "FAIL: rnn_digits' stack is filled in a slot or copied:"; cat "$tmp/loops"; failures=$((failures + 1))
fi
# a function named `error` would clash with the library's M_error
printf 'param w: f32 = ones\nfn error(x: f32) -> f32 { x * w }\nloss(x: f32) { error(x) }\n' >"$tmp/clash.dml"
expect 1 'error: a function named `error` would clash with a generated entry point' -- "$dmlc" build "$tmp/clash.dml" --lib -o "$tmp/libclash.so"
# DMLC_STDLIB chooses the stdlib folder
expect 1 'unknown module `nn`' -- env DMLC_STDLIB="$tmp" "$dmlc" check "$top/examples/mlp_digits.dml"
if [ "$failures" -ne 0 ]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
