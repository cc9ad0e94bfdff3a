#!/bin/sh
# End-to-end tests of model executables: build an example with dmlc, train
# it on its real data, and check what comes out (accuracy reached, files
# written, exact error messages). Usage: run_train.sh DMLC TOP CASE
set -u
dmlc=$1
top=$2
case_name=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/dmlc-train.XXXXXX")
trap 'rm -rf "$work"' EXIT
export DMLC_CACHE="$work/cache"

fail() {
  echo "FAIL ($case_name): $*"
  exit 1
}

build() { # build NAME [dmlc options]: examples/NAME.dml -> $work/NAME
  name=$1
  shift
  "$dmlc" build "$top/examples/$name.dml" -o "$work/$name" "$@" || fail "dmlc build $name $*"
}

# expect STATUS PATTERN -- CMD...: CMD exits with STATUS and its stdout+stderr match PATTERN (grep -E)
expect() {
  want=$1
  pattern=$2
  shift 3
  "$@" >"$work/out" 2>&1
  got=$?
  [ "$got" = "$want" ] || { cat "$work/out"; fail "$* exited with $got, not $want"; }
  grep -Eq -- "$pattern" "$work/out" || { cat "$work/out"; fail "output of $* does not match: $pattern"; }
}

# last_metric LOG.csv: the validation metric of the last epoch
last_metric() { tail -n 1 "$1" | cut -d, -f4; }

at_least() { # at_least VALUE MIN WHAT
  awk -v v="$1" -v m="$2" 'BEGIN { exit !(v + 0 >= m + 0) }' || fail "$3 is $1, below $2"
  echo "$3: $1 (>= $2)"
}

at_most() {
  awk -v v="$1" -v m="$2" 'BEGIN { exit !(v + 0 <= m + 0) }' || fail "$3 is $1, above $2"
  echo "$3: $1 (<= $2)"
}

# f64_values CKPT N: the last N values of a safetensors checkpoint of f64s, one a line
# (the trained params come last: for logreg_l1, w then b)
f64_values() { tail -c $(($2 * 8)) "$1" | od -An -v -t f8 | tr -s ' ' '\n' | grep -v '^$'; }

# l1_objective EXE CKPT: loss + 0.05 * sum |w| over logreg_l1's 31 values (f64 build) at CKPT,
# computed apart from the minimisers: the loss on the full training set is iteration 0 of an
# lbfgs run without the penalty, the L1 term is summed here from the file
l1_objective() {
  "$1" train --quiet --optimizer lbfgs --l1 0 --max-iters 1 --load "$2" --log "$work/objective.csv" ||
    fail "loss at $2"
  loss=$(sed -n 2p "$work/objective.csv" | cut -d, -f2)
  f64_values "$2" 31 | awk -v loss="$loss" '{ s += $1 < 0 ? -$1 : $1 } END { printf "%.15g\n", loss + 0.05 * s }'
}

# patch_meta IN KEY VALUE OUT: a copy of checkpoint IN with metadata KEY set to VALUE
# (the header rewritten, its length with it)
le8() { # the 8 little-endian bytes of $1
  n=$1 s=''
  for i in 1 2 3 4 5 6 7 8; do s="$s\\$(printf %03o $((n & 255)))"; n=$((n >> 8)); done
  printf "$s"
}
header_len() { od -An -t u8 -N 8 "$1" | tr -d ' '; }
patch_meta() {
  len=$(header_len "$1")
  header=$(tail -c +9 "$1" | head -c "$len" | sed "s/ *\$//; s/\"$2\":\"[^\"]*\"/\"$2\":\"$3\"/")
  while [ $((${#header} % 8)) -ne 0 ]; do header="$header "; done
  { le8 ${#header}; printf %s "$header"; tail -c +$((9 + len)) "$1"; } >"$4"
}

# dead_pid: the id of a process that has exited
dead_pid() {
  sh -c 'exit 0' &
  pid=$!
  wait $pid
  echo $pid
}

case $case_name in
mlp_accuracy)
  build mlp_digits
  "$work/mlp_digits" train --log "$work/log.csv" --plot "$work/curves.svg" --save "$work/mlp.safetensors" >"$work/out" ||
    fail "training failed: $(cat "$work/out")"
  [ "$(head -n 1 "$work/log.csv")" = "epoch,train_loss,val_loss,val_metric,seconds" ] || fail "log header"
  [ "$(wc -l <"$work/log.csv")" -eq 32 ] || fail "the log should have the initial params and 30 epochs"
  [ "$(sed -n 2p "$work/log.csv" | cut -d, -f1-2)" = "0,nan" ] || fail "the log's first row is epoch 0, untrained"
  at_least "$(last_metric "$work/log.csv")" 0.96 "mlp_digits validation accuracy"
  grep -q '<svg' "$work/curves.svg" && grep -q 'validation loss' "$work/curves.svg" || fail "no plot"
  # eval on the same validation split gives the logged accuracy
  acc=$(awk -F, 'END { printf "%.2f%%", 100 * $4 }' "$work/log.csv")
  expect 0 "validation: 359 examples .* accuracy $acc" -- "$work/mlp_digits" eval --load "$work/mlp.safetensors"
  # predict: one class per example, in 0..9
  "$work/mlp_digits" predict --load "$work/mlp.safetensors" --data "$top/examples/data/digits.csv" >"$work/pred" ||
    fail "predict failed"
  [ "$(wc -l <"$work/pred")" -eq 1797 ] || fail "predict should print 1797 lines"
  grep -Eqv '^[0-9]$' "$work/pred" && fail "predict printed something other than classes"
  right=$(cut -d, -f65 "$top/examples/data/digits.csv" | paste -d' ' - "$work/pred" | awk '$1 == $2' | wc -l)
  at_least "$right" 1720 "correct predictions of 1797 (train and validation)"
  ;;
logreg_accuracy)
  build logreg
  "$work/logreg" train --quiet --log "$work/log.csv" || fail "training failed"
  at_least "$(last_metric "$work/log.csv")" 0.96 "logreg validation accuracy"
  ;;
linreg_rmse)
  build linreg
  "$work/linreg" train --quiet --log "$work/log.csv" || fail "training failed"
  first=$(sed -n 2p "$work/log.csv" | cut -d, -f4)
  at_most "$(last_metric "$work/log.csv")" 60 "linreg validation rmse (epoch 1: $first)"
  ;;
cnn_accuracy)
  build cnn_digits
  "$work/cnn_digits" train --quiet --log "$work/log.csv" || fail "training failed"
  at_least "$(last_metric "$work/log.csv")" 0.98 "cnn_digits validation accuracy"
  ;;
sines_prediction)
  # the next-value predictor: validation loss falls at least tenfold from the initial params
  build rnn_sines
  "$work/rnn_sines" train --quiet --log "$work/log.csv" || fail "training failed"
  start=$(sed -n 2p "$work/log.csv" | cut -d, -f3)
  end=$(tail -n 1 "$work/log.csv" | cut -d, -f3)
  ratio=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", a / b }')
  at_least "$ratio" 10 "rnn_sines validation loss drop (from $start to $end)"
  ;;
newton)
  # Newton's method on logistic regression: gradient norm below 1e-8 within
  # 10 iterations, converging quadratically; newton_cg and lbfgs get there too
  build logreg_newton
  "$work/logreg_newton" train --log "$work/log.csv" >"$work/out" || fail "newton failed: $(cat "$work/out")"
  grep -Eq "^converged after ([1-9]|10) iterations: gradient norm [0-9.e+-]+ <= [0-9.e+-]+ \(tol 1e-08 \* max\(1, \|w\|\)\)$" "$work/out" ||
    fail "newton did not converge within 10 iterations: $(tail -n 2 "$work/out")"
  [ "$(head -n 1 "$work/log.csv")" = "epoch,train_loss,val_loss,val_metric,seconds,grad_norm" ] || fail "log header"
  # the order of convergence from the last three steps: log(g4/g3) / log(g3/g2), 2 for Newton
  order=$(tail -n 3 "$work/log.csv" | cut -d, -f6 | tr '\n' ' ' | awk '{ printf "%.2f", log($3 / $2) / log($2 / $1) }')
  at_least "$order" 1.6 "newton's order of convergence (gradient norms $(tail -n 3 "$work/log.csv" | cut -d, -f6 | tr '\n' ' '))"
  at_least "$(last_metric "$work/log.csv")" 0.96 "logreg_newton validation accuracy"
  for o in newton_cg lbfgs; do
    expect 0 "^converged after [0-9]+ iterations" -- "$work/logreg_newton" train --optimizer $o --max-iters 200
  done
  expect 0 "iteration  1 " -- "$work/logreg_newton" train --optimizer lbfgs --max-iters 1
  # bench with a second-order optimizer times loss_grad alone, and says so
  expect 0 "ms per loss_grad call .* loss_grad only \(newton iterates on the full batch\)" \
    -- "$work/logreg_newton" bench --steps 5
  expect 0 "ms per training step .* at batch 32, sgd, " -- "$work/logreg_newton" bench --steps 5 --optimizer sgd
  # with an L1 penalty, newton and newton_cg refuse to start; lbfgs takes it (OWL-QN)
  for o in newton newton_cg; do
    expect 1 "^error: $o cannot train with \`l1\` \(0.05\): the L1 penalty is not differentiable at 0; use lbfgs, which handles it by OWL-QN, or a first-order optimizer such as sgd$" \
      -- "$work/logreg_newton" train --optimizer $o --l1 0.05
    [ "$(wc -l <"$work/out")" -eq 1 ] || fail "$o with l1 printed more than its error: $(cat "$work/out")"
  done
  expect 0 "^l1 0.01: [0-9]+ of 31 trained values are exactly zero$" -- "$work/logreg_newton" train --optimizer lbfgs --l1 0.01
  # the Hessian at the optimum: 31 x 31, symmetric, positive diagonal
  "$work/logreg_newton" train --quiet --save "$work/opt.st" || fail "save"
  "$work/logreg_newton" hessian --load "$work/opt.st" >"$work/H.csv" || fail "hessian"
  awk -F, '{ for (j = 1; j <= NF; j++) h[NR, j] = $j; if (NF != 31) bad = 1 }
    END { if (NR != 31) bad = 1
          for (i = 1; i <= 31; i++) { if (h[i, i] <= 0) bad = 1
            for (j = 1; j <= 31; j++) { d = h[i, j] - h[j, i]; if (d > 1e-12 || d < -1e-12) bad = 1 } }
          exit bad }' "$work/H.csv" || fail "the Hessian is not a symmetric 31 x 31 matrix with a positive diagonal"
  ;;
newton_quadratic)
  # least squares is quadratic: one Newton step lands on the minimum
  cat >"$work/lsq.dml" <<'EOF'
param w: f64[10] = zeros
param b: f64     = zeros
fn predict(x: f64[n, 10]) -> f64[n] { x @ w + b }
loss(x: f64[n, 10], y: f64[n]) { mse(predict(x), y) + 1e-2 * l2(w) }
train {
    data        = csv("DATA", delimiter = " ", x = cols(0, 10), y = col(10))
    standardize = true
    optimizer   = newton
}
EOF
  sed -i "s|DATA|$top/examples/data/diabetes.csv|" "$work/lsq.dml"
  "$dmlc" build "$work/lsq.dml" -o "$work/lsq" || fail "build lsq"
  expect 0 "^converged after 1 iteration: gradient norm" -- "$work/lsq" train
  ;;
flush_subnormals)
  # w starts subnormal and gets no gradient (relu(w - 1) is flat there), so
  # SGD leaves it as it is unless the executable's own arithmetic flushes
  # subnormals to zero (MXCSR's FTZ and DAZ, runtime/main.c): then it is 0
  seq 1 8 | awk '{ print $1, 2 * $1 }' >"$work/line.csv"
  cat >"$work/ftz.dml" <<EOF
param a: f32 = zeros
param w: f32 = constant(1e-40)
loss(x: f32[n, 1], y: f32[n]) { mse(x @ reshape(a, 1), y) + relu(w - 1) }
train {
    data      = csv("$work/line.csv", delimiter = " ", x = cols(0, 1), y = col(1))
    optimizer = sgd(lr = 0.01)
    epochs    = 2
    batch     = 4
}
EOF
  "$dmlc" build "$work/ftz.dml" -o "$work/ftz" || fail "build ftz"
  "$work/ftz" train --quiet --save "$work/ftz.st" || fail "training failed"
  # w is the last param: the last 4 bytes of the checkpoint
  w=$(tail -c 4 "$work/ftz.st" | od -An -t x4 | tr -d ' ')
  [ "$w" = 00000000 ] || [ "$w" = 80000000 ] || fail "the subnormal w is $w after training, not 0"
  echo "a subnormal param is 0 after training"
  ;;
lbfgs_least_squares)
  # linear least squares of the diabetes data in f64: lbfgs stops, well
  # before max_iters, when the loss stops changing (it took steps of 1e-9
  # until iteration 500), at the loss of the closed-form optimum (the
  # normal equations, solved by ols.awk); newton and newton_cg say why
  # they stop too
  cat >"$work/lsq.dml" <<'EOF'
param w: f64[10] = zeros
param b: f64     = zeros
fn predict(x: f64[n, 10]) -> f64[n] { x @ w + b }
loss(x: f64[n, 10], y: f64[n]) { mse(predict(x), y) }
train {
    data        = csv("DATA", delimiter = " ", x = cols(0, 10), y = col(10))
    standardize = true
    optimizer   = newton
}
EOF
  sed -i "s|DATA|$top/examples/data/diabetes.csv|" "$work/lsq.dml"
  "$dmlc" build "$work/lsq.dml" -o "$work/lsq" || fail "build lsq"
  ols=$(awk -f "$top/tests/train/ols.awk" "$top/examples/data/diabetes.csv")
  for o in lbfgs newton newton_cg; do
    expect 0 "^converged after [0-9]+ iterations?: (relative loss change [0-9.e+-]+ <= 2.22e-15 \(ftol\); gradient norm [0-9.e+-]+|gradient norm [0-9.e+-]+ <= [0-9.e+-]+ \(tol 1e-08 \* max\(1, \|w\|\)\))$" \
      -- "$work/lsq" train --optimizer $o --log "$work/$o.csv"
    iters=$(sed -n 's/^converged after \([0-9]*\) iterations\{0,1\}: .*/\1/p' "$work/out")
    at_most "$iters" 100 "$o's iterations on least squares"
    got=$(tail -n 1 "$work/$o.csv" | cut -d, -f2)
    rel=$(awk -v a="$got" -v b="$ols" 'BEGIN { d = (a - b) / b; printf "%.3g\n", d < 0 ? -d : d }')
    at_most "$rel" 1e-12 "$o's loss $got against the closed-form optimum's $ols, relative difference"
  done
  # max_iters is a stop, not a convergence, and says so
  expect 0 "^stopped after 3 iterations: max_iters reached; gradient norm [0-9.e+-]+, tolerance [0-9.e+-]+; relative loss change [0-9.e+-]+, ftol 2.22e-15$" \
    -- "$work/lsq" train --optimizer lbfgs --max-iters 3
  # the same least squares on the raw data: a Hessian whose condition number is 5e7. lbfgs
  # with a backtracking search (its first step shrunk to 7.6e-6, no step could ever grow) was
  # still at loss 2907.17, 1.7e-2 above the optimum, when max_iters stopped it at 500; with the
  # strong Wolfe search it converges in 27 (18 to 37 when only the rounding of the sums
  # changes). At the optimum the last search may find no lower value, which is a stop too
  sed 's/standardize = true/standardize = false/' "$work/lsq.dml" >"$work/raw.dml"
  "$dmlc" build "$work/raw.dml" -o "$work/raw" || fail "build raw.dml"
  expect 0 "^(converged after [0-9]+ iterations: (relative loss change|gradient norm)|stopped after [0-9]+ iterations: no step decreases the loss any more)" \
    -- "$work/raw" train --optimizer lbfgs --log "$work/raw.csv"
  iters=$(sed -n 's/^[a-z]* after \([0-9]*\) iterations: .*/\1/p' "$work/out")
  at_most "$iters" 100 "lbfgs's iterations on least squares of the raw data"
  got=$(tail -n 1 "$work/raw.csv" | cut -d, -f2)
  rel=$(awk -v a="$got" -v b="$ols" 'BEGIN { d = (a - b) / b; printf "%.3g\n", d < 0 ? -d : d }')
  at_most "$rel" 1e-10 "lbfgs's loss $got on the raw data against the closed-form optimum's $ols, relative difference"
  ;;
l1_sparsity)
  build logreg_l1
  "$work/logreg_l1" train --log "$work/log.csv" --save "$work/l1.st" >"$work/out" || fail "training failed"
  zeros=$(sed -n 's/^l1 0.05: \([0-9]*\) of 31 trained values are exactly zero$/\1/p' "$work/out")
  at_least "${zeros:-0}" 8 "exact zeros among logreg_l1's 31 weights"
  at_least "$(last_metric "$work/log.csv")" 0.95 "logreg_l1 validation accuracy"
  # without the penalty, none
  "$work/logreg_l1" train --l1 0 --quiet --save "$work/dense.st" || fail "dense run"
  # lbfgs minimises the same loss + 0.05 * sum |w| (bias included) by OWL-QN, in f64 so that the
  # pseudo-gradient norm reaches 1e-8; its minimum has 25 exact zeros (every zero's |gradient|
  # is at least 8e-4 below l1, so the count does not hang on rounding)
  "$dmlc" build "$top/examples/logreg_l1.dml" --dtype f64 -o "$work/l1_f64" || fail "dmlc build logreg_l1 --dtype f64"
  "$work/l1_f64" train --optimizer lbfgs --log "$work/owl.csv" --save "$work/owl.st" >"$work/out" ||
    fail "lbfgs with l1 failed: $(cat "$work/out")"
  grep -q "full batch, lbfgs with l1 0.05 (OWL-QN), 31 params, pseudo-gradient norm tolerance 1e-08 \* max(1, |w|), relative objective change tolerance 2.22e-15$" "$work/out" ||
    fail "no OWL-QN header: $(head -n 1 "$work/out")"
  grep -Eq "^converged after [0-9]+ iterations: pseudo-gradient norm [0-9.e+-]+ <= [0-9.e+-]+ \(tol 1e-08 \* max\(1, \|w\|\)\)$" "$work/out" ||
    fail "OWL-QN did not converge: $(tail -n 3 "$work/out")"
  at_most "$(tail -n 1 "$work/owl.csv" | cut -d, -f6)" 2e-8 "OWL-QN's last pseudo-gradient norm (log; 1e-8 * |w|, |w| about 1.8)"
  zeros=$(sed -n 's/^l1 0.05: \([0-9]*\) of 31 trained values are exactly zero$/\1/p' "$work/out")
  [ "$zeros" = 25 ] || fail "OWL-QN left ${zeros:-no count of} exact zeros among 31, not 25"
  [ "$(f64_values "$work/owl.st" 31 | awk '$1 == 0' | wc -l)" -eq 25 ] || fail "the checkpoint has not 25 zeros"
  # the objective never rises from one iteration to the next (Armijo on loss + l1 |w|)
  awk -F, 'NR > 2 && $2 > prev + 1e-12 { exit 1 } { prev = $2 }' "$work/owl.csv" ||
    fail "OWL-QN's objective rose: $(cut -d, -f1,2 "$work/owl.csv" | tr '\n' ' ')"
  # optimality, checked by other code: one full-batch proximal gradient step (sgd, lr 1, its soft
  # threshold) from a minimum of loss + l1 |w| stays there, zeros included
  "$work/l1_f64" train --quiet --optimizer sgd --lr 1 --batch 100000 --epochs 1 --load "$work/owl.st" \
    --save "$work/prox.st" || fail "proximal step"
  f64_values "$work/owl.st" 31 >"$work/a"
  f64_values "$work/prox.st" 31 >"$work/b"
  moved=$(paste "$work/a" "$work/b" | awk '{ d = $1 - $2; d = d < 0 ? -d : d; m = d > m ? d : m
    if (($1 == 0) != ($2 == 0)) z++ } END { printf "%.3g\n", z ? 1 : m }')
  at_most "$moved" 1e-7 "largest change of a proximal gradient step from OWL-QN's minimum (1 if a zero changed)"
  # the objective it reaches: its own log's last one, and no higher than prox-SGD's after 50 epochs
  owl=$(l1_objective "$work/l1_f64" "$work/owl.st")
  logged=$(tail -n 1 "$work/owl.csv" | cut -d, -f2)
  awk -v a="$owl" -v b="$logged" 'BEGIN { d = a - b; exit !(d < 1e-12 && d > -1e-12) }' ||
    fail "the log's last objective $logged is not loss + l1 |w| = $owl"
  "$work/l1_f64" train --quiet --save "$work/sgd.st" || fail "sgd in f64"
  sgd=$(l1_objective "$work/l1_f64" "$work/sgd.st")
  at_most "$owl" "$(awk -v s="$sgd" 'BEGIN { printf "%.15g", s + 1e-9 }')" "OWL-QN's objective (prox-SGD's: $sgd)"
  ;;
rnn_accuracy)
  build rnn_digits
  "$work/rnn_digits" train --quiet --log "$work/log.csv" || fail "training failed"
  at_least "$(last_metric "$work/log.csv")" 0.95 "rnn_digits validation accuracy"
  ;;
resume)
  # 4 epochs straight == 2 epochs, then resumed to 4: the same bytes
  build mlp_digits
  "$work/mlp_digits" train --quiet --epochs 4 --save "$work/a.st" || fail "train 4"
  "$work/mlp_digits" train --quiet --epochs 2 --save "$work/b.st" || fail "train 2"
  "$work/mlp_digits" train --quiet --epochs 4 --resume "$work/b.st" --save "$work/c.st" || fail "resume"
  cmp "$work/a.st" "$work/c.st" || fail "a resumed run differs from an uninterrupted one"
  # and a different seed gives different params
  "$work/mlp_digits" train --quiet --epochs 4 --seed 2 --save "$work/d.st" || fail "seed 2"
  cmp -s "$work/a.st" "$work/d.st" && fail "seeds 1 and 2 gave the same params"
  # --load starts from saved params with a fresh optimizer: one more epoch lowers the loss
  "$work/mlp_digits" train --quiet --epochs 1 --load "$work/a.st" --log "$work/l.csv" || fail "load"
  "$work/mlp_digits" train --quiet --epochs 5 --log "$work/m.csv" || fail "train 5"
  expect 0 'epoch 4/4' -- "$work/mlp_digits" train --epochs 4 --resume "$work/b.st"
  echo "resumed run identical"
  ;;
determinism)
  build mlp_digits
  "$work/mlp_digits" train --quiet --epochs 3 --save "$work/a.st" --log "$work/a.csv" || fail "run 1"
  "$work/mlp_digits" train --quiet --epochs 3 --save "$work/b.st" --log "$work/b.csv" || fail "run 2"
  cmp "$work/a.st" "$work/b.st" || fail "two runs with the same seed differ"
  cut -d, -f1-4 "$work/a.csv" >"$work/a4"
  cut -d, -f1-4 "$work/b.csv" >"$work/b4"
  cmp "$work/a4" "$work/b4" || fail "the logs differ"
  ;;
checkpoint_errors)
  build mlp_digits
  build logreg
  "$work/mlp_digits" train --quiet --epochs 1 --save "$work/a.st" || fail "train"
  size=$(wc -c <"$work/a.st")
  head -c $((size - 7)) "$work/a.st" >"$work/trunc.st"
  expect 1 "^$work/trunc.st: error: truncated checkpoint: the tensors need [0-9]+ bytes of data but the file has [0-9]+$" \
    -- "$work/mlp_digits" eval --load "$work/trunc.st"
  head -c 5 "$work/a.st" >"$work/tiny.st"
  expect 1 "truncated checkpoint: the file has 5 bytes, fewer than the 8 of the header size" \
    -- "$work/mlp_digits" eval --load "$work/tiny.st"
  printf 'garbage that is not a checkpoint at all' >"$work/junk.st"
  expect 1 "^$work/junk.st: error: " -- "$work/mlp_digits" eval --load "$work/junk.st"
  expect 1 "^error: cannot read $work/none.st: No such file or directory" \
    -- "$work/mlp_digits" eval --load "$work/none.st"
  # a checkpoint of another model: the shape mismatch names the param and its declaration
  "$work/logreg" train --quiet --epochs 1 --save "$work/lr.st" || fail "logreg"
  expect 1 "no tensor \`W1\`|\`W1\`" -- "$work/mlp_digits" eval --load "$work/lr.st"
  # a half-written save leaves the old file: saving into a missing folder fails cleanly
  expect 1 "^error: cannot write $work/no/dir.st: No such file or directory" \
    -- "$work/mlp_digits" train --quiet --epochs 1 --save "$work/no/dir.st"
  [ -z "$(ls "$work" | grep tmp)" ] || fail "a temporary file was left behind"
  ;;
data_errors)
  build mlp_digits
  d="$top/examples/data/digits.csv"
  head -n 5 "$d" >"$work/short.csv"
  sed -n 6p "$d" | cut -d, -f1-64 >>"$work/short.csv"
  expect 1 "^$work/short.csv:6:[0-9]+: error: " -- "$work/mlp_digits" train --data "$work/short.csv"
  head -n 3 "$d" >"$work/nan.csv"
  sed -n 4p "$d" | sed 's/^[0-9]*,/abc,/' >>"$work/nan.csv"
  expect 1 "^$work/nan.csv:4:1: error: \`abc\` is not a number" -- "$work/mlp_digits" train --data "$work/nan.csv"
  head -n 3 "$d" >"$work/label.csv"
  sed -n 4p "$d" | sed 's/,[0-9]*$/,10/' >>"$work/label.csv"
  expect 1 "^$work/label.csv:4:[0-9]+: error: label 10 is out of range 0..9 for \`y\`" \
    -- "$work/mlp_digits" train --data "$work/label.csv"
  expect 1 "^$work/missing.csv: error: cannot open: No such file or directory" \
    -- "$work/mlp_digits" train --data "$work/missing.csv"
  cut -d, -f1-30 "$d" >"$work/narrow.csv"
  expect 1 "^$work/narrow.csv:1(:[0-9]+)?: error: column 63 is selected for \`x\` but the row has only 30 fields" -- "$work/mlp_digits" train --data "$work/narrow.csv"
  ;;
nan_stop)
  build linreg
  expect 1 "^$top/examples/linreg.dml:[0-9]+:[0-9]+: error: the loss became (inf|nan) at epoch [0-9]+, batch [0-9]+" \
    -- "$work/linreg" train --lr 10 --no-standardize
  ;;
cli)
  build mlp_digits
  expect 2 "unknown command \`trian\`" -- "$work/mlp_digits" trian
  expect 2 "unknown option \`--epoks\`" -- "$work/mlp_digits" train --epoks 3
  expect 2 "\-\-epochs expects a positive integer, not \`0\`" -- "$work/mlp_digits" train --epochs 0
  expect 2 "\-\-lr expects a positive number, not \`x\`" -- "$work/mlp_digits" train --lr x
  expect 2 "unknown optimizer \`adamm\`" -- "$work/mlp_digits" train --optimizer adamm
  expect 0 "^usage: mlp_digits COMMAND" -- "$work/mlp_digits" --help
  expect 0 "W1 +f32\[64, 64\] +4096 values +init glorot" -- "$work/mlp_digits" info
  expect 0 "planned memory: [0-9]+ bytes" -- "$work/mlp_digits" info
  expect 0 "training mlp_digits: 1438 examples, 359 for validation, batch 32, sgd, 1 epoch$" \
    -- "$work/mlp_digits" train --epochs 1 --batch 32 --optimizer sgd --lr 0.1
  expect 0 "ms per training step" -- "$work/mlp_digits" bench --steps 5
  # BLAS threads: one unless the environment or --threads says otherwise
  noenv="env -u OPENBLAS_NUM_THREADS -u GOTO_NUM_THREADS -u OMP_NUM_THREADS"
  expect 0 "examples/s, 1 BLAS thread$" -- $noenv "$work/mlp_digits" bench --steps 5
  expect 0 "examples/s, 2 BLAS threads$" -- $noenv "$work/mlp_digits" bench --steps 5 --threads 2
  expect 0 "examples/s, 2 BLAS threads$" -- $noenv OPENBLAS_NUM_THREADS=2 "$work/mlp_digits" bench --steps 5
  expect 0 "examples/s, 1 BLAS thread$" -- $noenv OMP_NUM_THREADS=2 "$work/mlp_digits" bench --steps 5 --threads 1
  expect 2 "\-\-threads expects a positive integer, not \`0\`" -- "$work/mlp_digits" train --threads 0
  expect 0 "epoch 2/2" -- "$work/mlp_digits" train --epochs=2
  expect 2 "unknown option \`--frob\`" -- "$work/mlp_digits" train --frob
  expect 2 "^usage: mlp_digits COMMAND" -- "$work/mlp_digits"
  # --optimizer naming the block's own keeps its settings (adam, lr 0.003)
  expect 0 "training: adam, lr 0.003," -- "$work/mlp_digits" info --optimizer adam
  expect 0 "training: adam, lr 0.001," -- "$work/mlp_digits" info --optimizer adam --lr 0.001
  # dmlc run: builds once into the cache, then reuses it
  expect 0 "epoch 1/1" -- "$dmlc" run "$top/examples/logreg.dml" -- train --epochs 1
  [ "$(ls "$DMLC_CACHE" | grep -vc '\.sha256$')" -eq 1 ] || fail "dmlc run did not cache one executable"
  expect 0 "params:" -- "$dmlc" run "$top/examples/logreg.dml" -- info
  [ "$(ls "$DMLC_CACHE" | grep -vc '\.sha256$')" -eq 1 ] || fail "dmlc run rebuilt the same sources"
  ;;
build_errors)
  # what an executable cannot do is said when it is built, at the source
  cat >"$work/flags.dml" <<'EOF'
param w: f32[3] = zeros
loss(x: f32[n, 3], m: bool[n]) { sum(select(m, x @ w, 0.0)) }
train { epochs = 1 }
EOF
  expect 1 "flags.dml:2:20: error: an executable reads data into f32, f64 or i32 inputs, not bool \(\`m\`\)" \
    -- "$dmlc" build "$work/flags.dml" -o "$work/flags"
  [ -e "$work/flags" ] && fail "a failed build left an executable"
  cat >"$work/std.dml" <<'EOF'
param w: f32[3] = zeros
loss(x: f32[n, 3], y: f32[n]) { mse(x @ w, y) }
train { standardize = true }
EOF
  expect 1 "std.dml:3:23: error: standardize = true needs \`fn predict\`" -- "$dmlc" build "$work/std.dml" -o "$work/std"
  # newton needs loss_hvp: when forward mode cannot build it, the build says so
  {
    echo 'param w: f64[2] = ones'
    echo 'loss(x: f64[n, 2]) {'
    for v in a b c d e f g h i j; do echo "    var $v = x"; done
    echo '    for t in 0..3 {'
    for p in "a b" "b c" "c d" "d e" "e f" "f g" "g h" "h i" "i j" "j a"; do set -- $p; echo "        $1 = tanh($2 * w)"; done
    echo '    }'
    echo '    mean(a + j)'
    echo '}'
    echo 'train { optimizer = newton }'
  } >"$work/many.dml"
  expect 1 "many.dml:13:5: error: cannot take a Hessian-vector product through a loop carrying this many values" \
    -- "$dmlc" build "$work/many.dml" -o "$work/many"
  [ -e "$work/many" ] && fail "a failed build left an executable"
  cat >"$work/later.dml" <<'EOF'
param w: f32[3] = zeros
param unused: f32[2] = ones
fn predict(x: f32[n, 3]) -> f32[n] { x @ w }
loss(x: f32[n, 3], y: f32[n]) { mse(predict(x), y) }
train {
    data = csv("later.csv", x = cols(0, 3), y = col(3))
    optimizer = lbfgs
    epochs = 2
}
EOF
  printf '1,2,3,4\n2,3,4,5\n3,4,5,6\n4,5,6,7\n' >"$work/later.csv"
  "$dmlc" build "$work/later.dml" -o "$work/later" || fail "build later.dml"
  expect 0 "^converged after [0-9]+ iterations" -- "$work/later" train --no-standardize
  # an unused param is not trained, even by weight decay
  expect 0 "unused +f32\[2\] +2 values +init ones +\(not used by the loss: not trained\)" -- "$work/later" info
  "$work/later" train --quiet --optimizer adamw --weight-decay 0.5 --lr 0.1 --save "$work/l.st" || fail "adamw run"
  ;;
gradcheck_nonfinite)
  # a gradient or a loss that is not finite fails, saying which value and where
  printf '1,-2,0.5\n-2,3,1\n0.3,-0.4,-1\n2,1,-3\n' >"$work/d3.csv"
  cat >"$work/sqrt.dml" <<'EOF2'
param w: f32[3] = zeros
param v: f32[3] = ones
loss(x: f32[n, 3]) { mean(x @ v) + sum(sqrt(w)) }
train { data = csv("d3.csv", x = cols(0, 3)) }
EOF2
  "$dmlc" build "$work/sqrt.dml" -o "$work/sqrt" || fail "build sqrt.dml"
  expect 1 "^  w +loss_grad gives d_w\[0\] = inf at the point, where the loss is [0-9.e+-]+  FAILED$" -- "$work/sqrt" gradcheck
  grep -q "^1 param FAILED (tolerance 1e-02)$" "$work/out" || fail "no FAILED summary: $(cat "$work/out")"
  grep -q "agree" "$work/out" && fail "a gradient that is not finite agreed: $(cat "$work/out")"
  cat >"$work/logw.dml" <<'EOF2'
param w: f32[3] = zeros
loss(x: f32[n, 3]) { mean(x @ w) + sum(log(w)) }
train { data = csv("d3.csv", x = cols(0, 3)) }
EOF2
  "$dmlc" build "$work/logw.dml" -o "$work/logw" || fail "build logw.dml"
  expect 1 "^the loss is -inf at the point: there is no gradient to compare$" -- "$work/logw" gradcheck
  # the Hessian: a value that is not finite is an error, and nothing is printed
  cat >"$work/hess.dml" <<'EOF2'
param w: f64[3] = ones
param s: f64    = zeros
loss(x: f64[n, 3]) { mean(x @ w) + (s - stop_gradient(s)) ^ 1.5 }
train {
    data      = csv("d3.csv", x = cols(0, 3))
    optimizer = newton
}
EOF2
  "$dmlc" build "$work/hess.dml" -o "$work/hess" || fail "build hess.dml"
  "$work/hess" hessian >"$work/H.csv" 2>"$work/err" && fail "a Hessian that is not finite was printed"
  grep -Eq "^$work/hess.dml:3:1: error: the Hessian is -?(nan|inf) at row 3, column 0 \(d2 loss / ds dw\[0\]\): nothing printed$" "$work/err" ||
    fail "hessian: $(cat "$work/err")"
  [ -s "$work/H.csv" ] && fail "hessian printed part of a matrix"
  ;;
gradcheck_inconclusive)
  # f32 rounding larger than the tolerance (the variance as E z^2 - (E z)^2
  # of values near 1000 cancels every digit of an f32) cannot decide: status
  # 3, the reason and the remedy, never "agree"; the f64 build agrees
  printf '1,-2,0.5\n-2,3,1\n0.3,-0.4,-1\n2,1,-3\n' >"$work/d3.csv"
  cat >"$work/var.dml" <<'EOF2'
param w: f32[3] = ones
loss(x: f32[n, 3]) {
    let z = tanh(x @ w / 4) + 1000.0
    mean(z * z) - mean(z) * mean(z)
}
train { data = csv("d3.csv", x = cols(0, 3)) }
EOF2
  "$dmlc" build "$work/var.dml" -o "$work/var" || fail "build var.dml"
  expect 3 "^  w +direction [0-9.e+-]+ \(± [0-9.e+-]+\)  inconclusive$" -- "$work/var" gradcheck
  grep -q "^1 param inconclusive: the differences' own error is too large to tell agreement at 1e-02 from disagreement (f32 rounding of the loss); build with dmlc build --dtype f64 for a conclusive check$" "$work/out" ||
    fail "no reason and remedy: $(cat "$work/out")"
  grep -q "agree (" "$work/out" && fail "an inconclusive check said the gradients agree"
  "$dmlc" build --dtype f64 "$work/var.dml" -o "$work/var64" || fail "build var.dml in f64"
  expect 0 "^all gradients agree \(tolerance 1e-06\)$" -- "$work/var64" gradcheck
  ;;
gradcheck_*)
  # f64: every param, entry by entry too, at the initial params (cnn_digits'
  # zero biases on zero pixels put relus exactly at their kinks: the check's
  # segments have a panel boundary there) and after an epoch; f32 along
  # directions (seeds 1..10 and planted errors: run_gradcheck_sweep.sh)
  name=${case_name#gradcheck_}
  build "$name" --dtype f64
  expect 0 "all gradients agree \(tolerance 1e-06\)" -- "$work/$name" gradcheck
  grep -Eq "inconclusive|FAILED" "$work/out" && fail "gradcheck: $(cat "$work/out")"
  if [ "$name" = cnn_digits ]; then
    grep -Eq "^  b1 +direction .* 16 entries, .*  ok$" "$work/out" || fail "b1 not checked at its kinks: $(cat "$work/out")"
    "$work/$name" train --quiet --epochs 1 --save "$work/one.st" || fail "one epoch"
    expect 0 "all gradients agree \(tolerance 1e-06\)" -- "$work/$name" gradcheck --load "$work/one.st"
  fi
  build "$name"
  expect 0 "all gradients agree \(tolerance 1e-02\)" -- "$work/$name" gradcheck
  ;;
outputs)
  # what an output's path names decides how it is written (runtime/outfile.h)
  build logreg
  exe="$work/logreg"
  mkdir "$work/o"
  # a symbolic link is followed: the file it names is replaced, the link stays a link
  for x in st csv svg; do ln -s "real.$x" "$work/o/link.$x"; done
  "$exe" train --quiet --epochs 2 --save "$work/o/link.st" --log "$work/o/link.csv" --plot "$work/o/link.svg" ||
    fail "training through links"
  for x in st csv svg; do [ -L "$work/o/link.$x" ] || fail "--save/--log/--plot replaced the link link.$x"; done
  [ "$(wc -l <"$work/o/real.csv")" -eq 4 ] && grep -q '<svg' "$work/o/real.svg" || fail "the links' files are not the log and the picture"
  expect 0 "^validation: 114 examples" -- "$exe" eval --load "$work/o/link.st"
  # device nodes made here, not the system's: written in place, still devices
  if mknod "$work/o/null" c 1 3 2>/dev/null && mknod "$work/o/full" c 1 7; then
    expect 0 "saved $work/o/null" -- "$exe" train --epochs 1 --save "$work/o/null" --log "$work/o/null" --plot "$work/o/null"
    [ -c "$work/o/null" ] || fail "--save, --log or --plot replaced a device node"
    expect 1 "^error: cannot write $work/o/full: No space left on device$" -- "$exe" train --quiet --epochs 1 --log "$work/o/full"
    [ -c "$work/o/full" ] || fail "a failed --log replaced a device node"
  else
    echo "device nodes skipped: mknod needs root"
  fi
  # a FIFO: the reader gets the checkpoint itself (the run is deterministic), and it stays a FIFO
  mkfifo "$work/o/pipe"
  cat "$work/o/pipe" >"$work/o/piped.st" &
  reader=$!
  timeout 60 "$exe" train --quiet --epochs 2 --save "$work/o/pipe" || fail "--save into a FIFO"
  wait $reader
  [ -p "$work/o/pipe" ] || fail "--save replaced a FIFO"
  cmp "$work/o/piped.st" "$work/o/real.st" || fail "the FIFO's reader did not get the checkpoint"
  # the picture is drawn at the end (and during training at most every few
  # seconds), not after every epoch: a second drawing would wait for a reader
  cat "$work/o/pipe" >"$work/o/plots" &
  reader=$!
  timeout 60 "$exe" train --quiet --epochs 20 --plot "$work/o/pipe" || fail "--plot into a FIFO"
  wait $reader
  [ "$(grep -c '<svg' "$work/o/plots")" -eq 1 ] || fail "the picture was drawn $(grep -c '<svg' "$work/o/plots") times"
  grep -q '>20<' "$work/o/plots" || fail "the picture does not reach epoch 20"
  # every output is checked before the data are read and the first epoch
  for opt in --save --log --plot; do
    expect 1 "^error: cannot write $work/none/x: No such file or directory$" -- "$exe" train $opt "$work/none/x"
    grep -q "training\|epoch" "$work/out" && fail "$opt: training started before the path was found unwritable"
  done
  expect 1 "^error: cannot write $work/o: it is a directory$" -- "$exe" train --epochs 1 --save "$work/o"
  # a --log that cannot be written leaves nothing behind (here: the file size limit)
  (trap '' XFSZ; ulimit -f 0; exec "$exe" train --quiet --epochs 1 --log "$work/o/limited.csv") 2>&1 | cat >"$work/out"
  grep -q "^error: cannot write $work/o/limited.csv: File too large$" "$work/out" || fail "no error for a log over the limit: $(cat "$work/out")"
  [ -e "$work/o/limited.csv" ] && fail "a failed --log left a file"
  # the temporary of a killed save is removed at the next save of that path
  stale="$work/o/keep.st.tmp.$(dead_pid)"
  head -c 1000 "$work/o/real.st" >"$stale"
  "$exe" train --quiet --epochs 1 --save "$work/o/keep.st" || fail "save"
  [ -e "$stale" ] && fail "the temporary of a killed save was left"
  [ -z "$(ls "$work/o" | grep tmp)" ] || fail "temporary files were left: $(ls "$work/o")"
  ;;
build_outputs)
  # dmlc build -o: what the path names decides how it is written (runtime/outfile.h)
  m="$top/examples/logreg.dml"
  mkdir "$work/bin"
  ln -s bin/real "$work/link"
  "$dmlc" build "$m" -o "$work/link" || fail "build through a link"
  [ -L "$work/link" ] && [ -x "$work/bin/real" ] || fail "-o through a link replaced the link"
  expect 0 "^model logreg" -- "$work/link" info
  if mknod "$work/null" c 1 3 2>/dev/null; then
    for kind in "" --lib -c; do
      "$dmlc" build "$m" $kind -o "$work/null" || fail "dmlc build $kind -o a device"
      [ -c "$work/null" ] || fail "dmlc build $kind -o replaced a device node"
    done
  else
    echo "device nodes skipped: mknod needs root"
  fi
  mkfifo "$work/pipe"
  cat "$work/pipe" >"$work/piped" &
  reader=$!
  timeout 120 "$dmlc" build "$m" -o "$work/pipe" || fail "build into a FIFO"
  wait $reader
  [ -p "$work/pipe" ] || fail "-o replaced a FIFO"
  cmp "$work/piped" "$work/bin/real" || fail "the FIFO's reader did not get the executable"
  expect 1 "^error: cannot write $work/bin: it is a directory$" -- "$dmlc" build "$m" -o "$work/bin"
  expect 1 "^error: cannot write $work/none/x: No such file or directory$" -- "$dmlc" build "$m" -o "$work/none/x"
  # a library and its header through links; nothing temporary is left anywhere
  ln -s bin/libreal.so "$work/liblink.so"
  "$dmlc" build "$m" --lib -o "$work/liblink.so" || fail "build --lib through a link"
  [ -L "$work/liblink.so" ] && [ -f "$work/bin/libreal.so" ] && [ -f "$work/logreg.h" ] || fail "--lib through a link"
  [ -z "$(ls "$work" "$work/bin" | grep "\.tmp")" ] || fail "temporary files were left"
  ;;
cache)
  # dmlc run's cache: a private folder, executables run only as they were built
  m="$top/examples/logreg.dml"
  expect 0 "params:" -- "$dmlc" run "$m" -- info
  [ "$(stat -c %a "$DMLC_CACHE")" = 700 ] || fail "the cache folder is $(stat -c %a "$DMLC_CACHE"), not 700"
  exe=$(ls -d "$DMLC_CACHE"/logreg-* | grep -v '\.sha256$')
  (cd "$DMLC_CACHE" && sha256sum --quiet -c "${exe##*/}.sha256") || fail "the recorded SHA-256 is not the executable's"
  # without a home (cron, services): $TMPDIR/dmlc-cache-UID, made 0700
  env -u DMLC_CACHE -u XDG_CACHE_HOME -u HOME TMPDIR="$work" "$dmlc" run "$m" -- info >/dev/null || fail "run without HOME"
  [ "$(stat -c %a "$work/dmlc-cache-$(id -u)")" = 700 ] || fail "the cache folder without HOME is not 700"
  # a folder others can write to, or another user's, is refused as ssh refuses a ~/.ssh others can write
  mkdir "$work/shared"
  chmod 0777 "$work/shared"
  expect 1 "^dmlc: refusing the cache folder $work/shared: others can write to it \(mode 0777\)" \
    -- env DMLC_CACHE="$work/shared" "$dmlc" run "$m" -- info
  grep -q "^hint: chmod go-w $work/shared$" "$work/out" || fail "no hint: $(cat "$work/out")"
  [ -z "$(ls "$work/shared")" ] || fail "a refused cache folder was used"
  mkdir -m 0700 "$work/theirs"
  if chown 12345 "$work/theirs" 2>/dev/null; then
    expect 1 "^dmlc: refusing the cache folder $work/theirs: it belongs to user 12345, not to you \(user $(id -u)\)" \
      -- env DMLC_CACHE="$work/theirs" "$dmlc" run "$m" -- info
    [ -z "$(ls "$work/theirs")" ] || fail "another user's cache folder was used"
  else
    echo "another user's folder skipped: chown needs root"
  fi
  # a cached executable is run only as it was built: its bytes, its owner, its mode
  cp -p "$exe" "$work/built"
  printf 'x' >>"$exe"
  expect 1 "^dmlc: refusing to run the cached executable $exe: its SHA-256 is not the one recorded in $exe.sha256 when dmlc built it$" \
    -- "$dmlc" run "$m" -- info
  grep -q "params:" "$work/out" && fail "a changed executable ran"
  cp -p "$work/built" "$exe"
  chmod g+w "$exe"
  expect 1 "^dmlc: refusing to run the cached executable $exe: others can write to it$" -- "$dmlc" run "$m" -- info
  chmod g-w "$exe"
  if chown 12345 "$exe" 2>/dev/null; then
    expect 1 "^dmlc: refusing to run the cached executable $exe: it belongs to another user$" -- "$dmlc" run "$m" -- info
    chown "$(id -u)" "$exe"
  fi
  mv "$exe" "$work/moved" && ln -s "$work/moved" "$exe"
  expect 1 "^dmlc: refusing to run the cached executable $exe: it is a symbolic link$" -- "$dmlc" run "$m" -- info
  rm "$exe" && mv "$work/moved" "$exe"
  expect 0 "params:" -- "$dmlc" run "$m" -- info
  # without a recorded SHA-256 (a build killed before it was written) it is built again
  rm "$exe.sha256"
  expect 0 "params:" -- "$dmlc" run "$m" -- info
  [ -f "$exe.sha256" ] || fail "no SHA-256 recorded after the rebuild"
  ;;
checkpoint_metadata)
  # every metadata field of a checkpoint is checked, with the field and the file named
  build mlp_digits
  exe="$work/mlp_digits"
  "$exe" train --quiet --epochs 2 --save "$work/b.st" || fail "train"
  for field in "epoch -5 not in 0..2147483647" "epoch 2147483648 not in 0..2147483647" \
    "steps -1 not in 0..9007199254740992" "epoch 2_ not a whole number" "steps 1e3 not a whole number" \
    "rng 0000000000000000000000000000000000000000000000000000000000000000 all zero, a state the generator never leaves" \
    "rng zz225c18e4a24997b491af2c68f1bb51925bb9b0dc0bab6c868a3b8012da5857 not 64 hexadecimal digits" \
    "rng abc not 64 hexadecimal digits" "dtype f64 the params in it and this model are f32"; do
    set -- $field
    key=$1 value=$2
    shift 2
    patch_meta "$work/b.st" "$key" "$value" "$work/p.st"
    shown=$(printf %s "$value" | cut -c1-40)
    [ ${#value} -gt 40 ] && shown="$shown\.\.\."
    expect 1 "^$work/p.st: error: metadata \"$key\" is \"$shown\": $*$" -- timeout 60 "$exe" train --epochs 4 --resume "$work/p.st"
    expect 1 "^$work/p.st: error: metadata \"$key\" is \"$shown\": $*$" -- "$exe" eval --load "$work/p.st"
  done
  # a value that does not parse is malformed, not missing
  patch_meta "$work/b.st" epoch "2 " "$work/p.st"
  expect 1 "^$work/p.st: error: metadata \"epoch\" is \"2 \": not a whole number$" -- "$exe" train --epochs 4 --resume "$work/p.st"
  # another tool's safetensors file: --load takes its tensors, --resume refuses it
  patch_meta "$work/b.st" format pt "$work/p.st"
  expect 0 "^validation: 359 examples" -- "$exe" eval --load "$work/p.st"
  expect 1 "^$work/p.st: error: metadata \"format\" is \"pt\": --resume continues only runs dmlc saved" \
    -- "$exe" train --epochs 4 --resume "$work/p.st"
  # params that are not finite are refused wherever they are loaded
  at=$((8 + $(header_len "$work/b.st"))) # W1 comes first in the data
  for bits in '\000\000\300\177 nan' '\000\000\200\177 inf'; do
    set -- $bits
    cp "$work/b.st" "$work/bad.st"
    printf "$1" | dd of="$work/bad.st" bs=1 seek=$at conv=notrunc 2>/dev/null
    for cmd in "eval --load" "predict --load" "train --epochs 4 --resume"; do
      expect 1 "^$work/bad.st: error: \`W1\` in the checkpoint is not finite: W1\[0, 0\] = $2$" -- "$exe" $cmd "$work/bad.st"
    done
  done
  ;;
*)
  fail "unknown case"
  ;;
esac
exit 0
