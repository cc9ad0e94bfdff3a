#!/usr/bin/env bash
# Training step time of dmlc against PyTorch (issues #5 and #6), single thread.
#
# Models (bench/models/*.dml; twins in bench/torch_mlp.py for the MLPs and
# bench/torch_cnn_rnn.py for the CNN and the RNN):
#   mlp784  784-128-10 relu MLP, cross entropy, SGD lr 0.01, batch 64
#   digits  examples/mlp_digits.dml: 64-64-10 relu MLP, x/16, cross entropy
#           + 1e-4 * l2(W1, W2), Adam lr 3e-3, batch 64
#   cnn28   1x28x28 -> conv 8x3x3 (no padding) -> relu -> maxpool 2 -> dense
#           1352-10, cross entropy, SGD lr 0.01, batch 64
#   rnn50   tanh RNN, input 32, hidden 128, T = 50, last state -> dense
#           128-10, cross entropy, SGD lr 0.01, batch 32. Two PyTorch peers:
#           "torch" is nn.RNN (the idiomatic one), "torch loop" a Python
#           loop over t with nn.Linear layers (what a hand-written model does)
# A step is loss_grad + the optimizer update for dmlc (`EXE bench`), and
# zero_grad, forward, loss, backward, optimizer.step for PyTorch, on one
# fixed batch of synthetic data (inputs N(0,1), uniform labels).
#
# Each run of either side times one warm-up round and then 5 rounds of
# STEPS steps and reports its best round. The script does REPEATS such runs
# of each side, interleaved (dmlc, torch, torch tuned, then the reverse
# order in the next repeat), and reports the median of the runs' best
# rounds, the fastest run, and the median of the per-repeat ratios
# dmlc/torch (a paired ratio: both sides of a repeat ran seconds apart).
# "torch tuned" is the same loop with the optimizer's foreach (multi-tensor)
# update and zero_grad(set_to_none=True) (torch_mlp.py --tuned); TUNED=0
# leaves it out.
# Peak RSS: dmlc from `/usr/bin/time -f %M` on the executable, torch from
# getrusage(RUSAGE_SELF).ru_maxrss in the Python process after its runs
# (so it includes the interpreter and the torch libraries); max over runs.
#
# Usage: bench/train_step.sh [DMLC]     (default: build/dmlc of the repository)
# Environment: REPEATS (default 7), STEPS (steps per round; default 200 for
# the MLPs, 50 for cnn28, 20 for rnn50, so that a round takes 0.1-0.5 s),
# BATCHES (default: each model's batch above), MODELS (default "mlp784
# digits cnn28 rnn50"), LOOP=0 leaves out rnn50's "torch loop" peer, KEEP=1
# keeps the temporary directory (raw outputs and the model executables).
# OPENBLAS_CORETYPE, when set, is passed to both sides (some machines set
# it to Haswell, OpenBLAS's AVX2 kernels, which halves the products' speed
# on an AVX-512 CPU); `env -u OPENBLAS_CORETYPE bench/train_step.sh` lets
# OpenBLAS choose for the CPU. The header says which kernels ran.
# Needs Debian's python3-torch (the benchmark peer only, not a dependency
# of dmlc): apt-get install -y python3-torch
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dmlc=${1:-$root/build/dmlc}
case $dmlc in /*) ;; *) dmlc=$PWD/$dmlc ;; esac # a relative path is relative to the current directory
repeats=${REPEATS:-7}
models=${MODELS:-mlp784 digits cnn28 rnn50}
py=/usr/bin/python3

die() { echo "train_step.sh: $*" >&2; exit 1; }
[ -x "$dmlc" ] || die "no dmlc executable at $dmlc (build it, or pass its path as the first argument)"
[ -x "$py" ] || die "$py not found"
if ! "$py" -c 'import torch' 2>/dev/null; then
  die "PyTorch is not installed for $py; install Debian's package with: apt-get install -y python3-torch"
fi
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install -y time)"

cores=$(nproc) # before OMP_NUM_THREADS is set: nproc honours it

# One thread everywhere: OpenBLAS for dmlc, OpenMP/BLAS for torch (torch_mlp.py
# and torch_cnn_rnn.py also call torch.set_num_threads(1)).
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

tmp=$(mktemp -d /tmp/train_step.XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then echo "keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi

dml_file() { case $1 in digits) echo mlp_digits ;; *) echo "$1" ;; esac; }
torch_script() { case $1 in mlp784 | digits) echo torch_mlp.py ;; *) echo torch_cnn_rnn.py ;; esac; }
model_batch() { case $1 in rnn50) echo 32 ;; *) echo 64 ;; esac; }
model_steps() { case $1 in cnn28) echo 50 ;; rnn50) echo 20 ;; *) echo 200 ;; esac; }
sides_for() { # the sides timed for a model, in their order within a repeat
  local s="dmlc torch"
  [ "${TUNED:-1}" = 1 ] && s="$s torch_tuned"
  [ "$1" = rnn50 ] && [ "${LOOP:-1}" = 1 ] && s="$s torch_loop"
  echo "$s"
}

for m in $models; do
  case $m in mlp784 | digits | cnn28 | rnn50) ;; *) die "unknown model \`$m' (models: mlp784 digits cnn28 rnn50)" ;; esac
done
for m in $models; do
  "$dmlc" build "$root/bench/models/$(dml_file "$m").dml" -o "$tmp/$m" || die "dmlc build failed for $m"
done

torch_version=$("$py" -c 'import torch; print(torch.__version__)')
echo "machine: $cores cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "dmlc: $dmlc; torch $torch_version ($py); 1 thread; $repeats repeats of (warm-up + best of 5 rounds of STEPS steps)"
# Both sides call the same libopenblas.so.0, whose kernel set (its choice
# for the CPU, or OPENBLAS_CORETYPE's) decides much of a step's time.
blas_kernels=$("$py" -c 'import ctypes; l = ctypes.CDLL("libopenblas.so.0"); l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())' 2>/dev/null || echo unknown)
echo "OpenBLAS kernels: $blas_kernels (OPENBLAS_CORETYPE ${OPENBLAS_CORETYPE:-unset})"
echo "steps per round:$(for m in $models; do printf ' %s %s' "$m" "${STEPS:-$(model_steps "$m")}"; done)"

# raw results: one line per run: side model batch repeat best_ms rss_mb
raw=$tmp/raw.txt
: >"$raw"
run_dmlc() { # model batch repeat
  local out
  out=$(/usr/bin/time -f 'maxrss_kb=%M' -o "$tmp/time.txt" "$tmp/$1" bench --batch "$2" --steps "${STEPS:-$(model_steps "$1")}") ||
    die "dmlc bench failed for $1: $out"
  local ms kb
  ms=$(sed -n 's/.*: \([0-9.]*\) ms per training step.*/\1/p' <<<"$out")
  kb=$(sed -n 's/^maxrss_kb=//p' "$tmp/time.txt")
  [ -n "$ms" ] && [ -n "$kb" ] || die "cannot parse dmlc's output: $out"
  echo "dmlc $1 $2 $3 $ms $(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')" >>"$raw"
}
run_torch() { # side model batch repeat
  local out script model=$2 opt=
  script=$(torch_script "$2")
  case $1 in torch_tuned) opt=--tuned ;; torch_loop) model=${2}_loop ;; esac
  out=$("$py" "$root/bench/$script" --model "$model" --batch "$3" --steps "${STEPS:-$(model_steps "$2")}" --threads 1 $opt) ||
    die "$script failed for $model"
  local ms mb
  ms=$(sed -n 's/.* best_ms=\([0-9.]*\).*/\1/p' <<<"$out")
  mb=$(sed -n 's/.* maxrss_mb=\([0-9.]*\).*/\1/p' <<<"$out")
  [ -n "$ms" ] && [ -n "$mb" ] || die "cannot parse $script's output: $out"
  echo "$1 $2 $3 $4 $ms $mb" >>"$raw"
}

for r in $(seq 1 "$repeats"); do
  for m in $models; do
    for b in ${BATCHES:-$(model_batch "$m")}; do
      order=$(sides_for "$m")
      [ $((r % 2)) = 0 ] && order=$(tr ' ' '\n' <<<"$order" | tac | tr '\n' ' ')
      for side in $order; do
        case $side in
        dmlc) run_dmlc "$m" "$b" "$r" ;;
        *) run_torch "$side" "$m" "$b" "$r" ;;
        esac
      done
      printf '.' >&2
    done
  done
done
echo >&2

"$py" - "$raw" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    side, model, batch, rep, ms, mb = line.split()
    runs.setdefault((model, int(batch)), {}).setdefault(side, {})[int(rep)] = (float(ms), float(mb))
med = statistics.median
print()
print("| model | batch | peer | dmlc ms/step: median (best) | peer ms/step: median (best) | dmlc/peer: median of paired ratios (range) | dmlc peak RSS | peer peak RSS |")
print("|---|---|---|---|---|---|---|---|")
for (model, batch), s in runs.items():
    d = s["dmlc"]
    dm = [d[r][0] for r in sorted(d)]
    for peer, label in (("torch", "torch"), ("torch_tuned", "torch tuned"), ("torch_loop", "torch loop")):
        if peer not in s:
            continue
        t = s[peer]
        tm = [t[r][0] for r in sorted(t)]
        ratios = [d[r][0] / t[r][0] for r in sorted(d) if r in t]
        print(f"| {model} | {batch} | {label} | {med(dm):.3f} ({min(dm):.3f}) | {med(tm):.3f} ({min(tm):.3f}) "
              f"| {med(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) "
              f"| {max(v[1] for v in d.values()):.1f} MB | {max(v[1] for v in t.values()):.1f} MB |")
print()
print("per repeat (ms/step, best round of each run):")
for (model, batch), s in runs.items():
    for side in s:
        print(f"  {model} b{batch} {side:<11} " + " ".join(f"{s[side][r][0]:.3f}" for r in sorted(s[side])))
EOF
