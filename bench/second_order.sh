#!/usr/bin/env bash
# Second-order benchmark (issue #7 item 6; not part of the tests: timings
# are noisy).
# (a) The cost of one loss_hvp call (H v, forward mode over loss_grad)
#     relative to one loss_grad call, for the digits MLP (batch 64 and 256)
#     and the logistic regression (batch 64 and 455, the breast cancer
#     training split), f32, plus logreg_newton (f64, batch 455), measured
#     alternately in one process by bench/time_hvp.c (median of many calls).
#     Target: hvp/grad <= 4. Each library's loss_hvp is also checked (f32:
#     against an f64 build; f64: against differences of loss_grad).
# (b) Full-batch training of examples/logreg_newton.dml on breast_cancer
#     with newton (its train block), newton_cg and lbfgs --max-iters 500:
#     iterations, final gradient norm, the training time the executable logs
#     and the wall time of the whole process (start, CSV, training,
#     validation each iteration), medians of RUNS runs; and, as the
#     baseline of the wall time, `eval` (start, CSV, standardisation, one
#     validation pass, no training). The four run round-robin.
# One thread: OPENBLAS_NUM_THREADS=1.
# Usage: bench/second_order.sh [BUILD_DIR]   (default: build; it holds dmlc)
#   environment: RUNS (default 5), ITERS_MLP (2000), ITERS_LOGREG (5000)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
dmlc=$build/dmlc
runs=${RUNS:-5}
iters_mlp=${ITERS_MLP:-2000}
iters_logreg=${ITERS_LOGREG:-5000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x "$dmlc" ] || { echo "second_order.sh: no $dmlc (build it first)" >&2; exit 1; }
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- compiler runtime stdlib 2>/dev/null || echo ' (compiler/runtime/stdlib modified)')"
echo "machine: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "dmlc: $dmlc ($("$dmlc" --version 2>&1 | head -1))"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# the median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "== kernels per entry point (dmlc build --lib --stats, at n=64)"
for e in mlp_digits logreg logreg_newton; do
  "$dmlc" build "examples/$e.dml" --lib --stats -o "$tmp/lib$e.so" | grep -E '_loss(_grad|_hvp)? ' | sed 's/^/  /'
  # f64 builds: the reference for the check of the f32 loss_hvp
  case $e in
    mlp_digits | logreg)
      mkdir -p "$tmp/f64"
      "$dmlc" build "examples/$e.dml" --dtype f64 --lib -o "$tmp/f64/lib$e.so"
      ;;
  esac
done

echo
echo "== (a) loss_hvp vs loss_grad, one call each, alternating, medians of many calls, 1 thread"
cc -O2 -Wall -o "$tmp/time_hvp" bench/time_hvp.c -ldl -lm
mlp='64,64;64;64,10;10'
lr='30;'
rows=()
one() { # label lib model n iters features labels dtype params ref
  local out
  out=$(DTYPE=$8 PARAMS=$9 REF=${10} "$tmp/time_hvp" "$2" "$3" "$4" "$5" "$6" "$7") || {
    echo "$out"
    echo "second_order.sh: time_hvp failed for $1 n=$4" >&2
    exit 1
  }
  echo "  $out" >&2
  # loss, loss_grad, loss_hvp (us), grad/loss, hvp/grad, per-round hvp/grad, check
  rows+=("$(awk -v label="$1" -v n="$4" -v dt="$8" '{
    for (i = 1; i <= NF; i++) {
      if ($i == "loss") l = $(i + 1); else if ($i == "loss_grad") g = $(i + 1); else if ($i == "loss_hvp") h = $(i + 1)
      else if ($i == "grad/loss") gl = $(i + 1); else if ($i == "hvp/grad") { hg = $(i + 1); pr = $(i + 4) }
    }
    sub(/\)/, "", pr); c = $0; sub(/.*check( vs)? /, "", c); sub(/: /, " ", c)
    printf "| %s | %s | %s | %s | %s | %s | %s | %s (%s) | %s |", label, dt, n, l, g, h, gl, hg, pr, c
  }' <<<"$out")")
}
for n in 64 256; do
  one mlp_digits "$tmp/libmlp_digits.so" mlp_digits $n "$iters_mlp" 64 classes:10 f32 "$mlp" "$tmp/f64/libmlp_digits.so"
done
for n in 64 455; do
  one logreg "$tmp/liblogreg.so" logreg $n "$iters_logreg" 30 binary f32 "$lr" "$tmp/f64/liblogreg.so"
done
one logreg_newton "$tmp/liblogreg_newton.so" logreg_newton 455 "$iters_logreg" 30 binary f64 "$lr" ""
echo
echo "| model | dtype | batch | loss (us) | loss_grad (us) | loss_hvp (us) | grad/loss | hvp/grad (per-round median) | check of H v |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"

echo
echo "== (b) examples/logreg_newton.dml on breast_cancer (455 training rows, 31 params, f64), full batch, median of $runs runs"
"$dmlc" build examples/logreg_newton.dml -o "$tmp/logreg_newton"
echo
# The configurations run round-robin, RUNS rounds: `eval` (the baseline:
# start, CSV, standardisation, one validation pass, no training) and the
# three trainings, so all see the same machine noise.
names=(eval newton newton_cg lbfgs)
cmds=("eval" "train" "train --optimizer newton_cg" "train --optimizer lbfgs --max-iters 500")
declare -A walls trains summary
for ((r = 0; r < runs; r++)); do
  for c in "${!names[@]}"; do
    log=()
    [ "$c" = 0 ] || log=(--log "$tmp/log.csv")
    s=$(date +%s%N)
    # shellcheck disable=SC2086 # the command is words
    "$tmp/logreg_newton" ${cmds[c]} "${log[@]}" >"$tmp/out.txt" 2>&1 || {
      cat "$tmp/out.txt"
      echo "second_order.sh: logreg_newton ${cmds[c]} failed" >&2
      exit 1
    }
    e=$(date +%s%N)
    walls[$c]+="$(((e - s) / 1000)) "
    [ "$c" = 0 ] && continue
    trains[$c]+="$(tail -n 1 "$tmp/log.csv" | cut -d, -f5) "
    line=$(grep -E '(converged|stopped) after [0-9]+ iteration' "$tmp/out.txt" | tail -n 1)
    [ -n "${summary[$c]:-}" ] && [ "${summary[$c]}" != "$line" ] && echo "  note: runs differ: '${summary[$c]}' vs '$line'" >&2
    summary[$c]=$line
  done
done
ms() { echo "$1 / 1000" | bc -l; }
values() { tr ' ' '\n' <<<"$1" | grep .; }
base=$(values "${walls[0]}" | median)
echo "baseline: \`logreg_newton eval\` (no training) $(printf '%.1f' "$(ms "$base")") ms wall (median of $runs)"
echo
echo "| optimizer | command | iterations | final gradient norm | training time (log) | per iteration | wall time (process) | wall min..max | wall - eval baseline |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in 1 2 3; do
  line=${summary[$c]}
  its=$(sed -E 's/.* after ([0-9]+) iterations?.*/\1/' <<<"$line")
  gn=$(sed -E 's/.*gradient norm ([^ ]+).*/\1/' <<<"$line")
  how=$(cut -d' ' -f1 <<<"$line")
  wall=$(values "${walls[$c]}" | median)
  train=$(values "${trains[$c]}" | median)
  lo=$(values "${walls[$c]}" | sort -n | head -n 1)
  hi=$(values "${walls[$c]}" | sort -n | tail -n 1)
  # shellcheck disable=SC2016 # the backquotes are markdown
  printf '| %s | `%s` | %s (%s) | %s | %.3f s | %.2f ms | %.1f ms | %.1f..%.1f ms | %.1f ms |\n' "${names[c]}" "${cmds[c]}" \
    "$its" "$how" "$gn" "$train" "$(echo "$train * 1000 / $its" | bc -l)" "$(ms "$wall")" "$(ms "$lo")" "$(ms "$hi")" \
    "$(ms "($wall - $base)")"
done
echo
echo "(training time: the last 'seconds' of --log, 1 ms resolution, iteration 0 included; per iteration: that / iterations;"
echo " wall: fork to exit, with the per-iteration output to a file)"
