#!/usr/bin/env bash
# Step time early and late in a long training run (issue 13): weights and
# Adam's moments that drift into subnormal numbers made each step of the
# digits MLP up to 20x slower after 1500 epochs, until model executables
# and entry points flushed subnormals to zero (docs/codegen.md, "The
# floating-point environment"). Trains examples/mlp_digits.dml (Adam,
# batch 64, 23 steps an epoch) for EPOCHS epochs with --log and prints the
# mean time of a step over the first and the last WINDOW epochs, from the
# log's seconds column (validation included, which is a small share).
#
# Usage: bench/subnormal_steps.sh [DMLC]   (default: build/dmlc)
# Environment: EPOCHS (default 1500), WINDOW (default 50), SEED (default 1).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dmlc=${1:-$top/build/dmlc}
epochs=${EPOCHS:-1500}
window=${WINDOW:-50}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$top"
"$dmlc" build examples/mlp_digits.dml -o "$work/mlp_digits"
"$work/mlp_digits" train --quiet --epochs "$epochs" --seed "${SEED:-1}" --log "$work/log.csv" --save "$work/ckpt.st"
# the share of subnormal values among the trained params (read as raw f32
# bits: an exponent field of 0 with a nonzero mantissa)
params=$(python3 - "$work/ckpt.st" <<'PY'
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
head = json.loads(data[8:8 + n])
body = data[8 + n:]
total = sub = zero = 0
for name, t in head.items():
    if name == '__metadata__':
        continue
    lo, hi = t['data_offsets']
    for (bits,) in struct.iter_unpack('<I', body[lo:hi]):
        total += 1
        if bits & 0x7fffffff == 0:
            zero += 1
        elif bits & 0x7f800000 == 0:
            sub += 1
print(f"{total} values, {sub} subnormal, {zero} zero")
PY
)
awk -F, -v w="$window" -v e="$epochs" -v params="$params" '
  NR > 2 { t[$1] = $5 }   # row 2 is epoch 0, the untrained params
  END {
    steps = 23            # ceil(1437 training examples / 64)
    first = t[w] / (w * steps) * 1000
    last = (t[e] - t[e - w]) / (w * steps) * 1000
    printf "mlp_digits, %d epochs: %.3f ms a step over epochs 1-%d, %.3f ms over epochs %d-%d (x%.2f); after training: %s\n",
           e, first, w, last, e - w + 1, e, last / first, params
  }' "$work/log.csv"
