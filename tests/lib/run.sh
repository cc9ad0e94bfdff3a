#!/bin/sh
# Build the digits MLP as a shared library with its header, compile a C
# program against the header, run it. Then the floating-point environment
# of entry points (fp_env.c). Then three libraries in one program, each
# with its own M_error() and no runtime symbol exported. Then the CNN: the
# workspace --stats reports must be what its _workspace function asks for
# (convolution scratch included).
set -e
dmlc=$1
top=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$dmlc" build "$top/examples/mlp_digits.dml" --lib -o "$tmp/libmlp_digits.so"
test -f "$tmp/mlp_digits.h"
cc -std=c11 -Wall -Werror ${DMLC_TEST_CFLAGS:-} -I"$tmp" -o "$tmp/use_mlp" "$top/tests/lib/use_mlp.c" -L"$tmp" -lmlp_digits -lm
LD_LIBRARY_PATH="$tmp" "$tmp/use_mlp"

"$dmlc" build "$top/tests/lib/fp_env.dml" --lib -o "$tmp/libfp_env.so"
cc -std=c11 -Wall -Werror ${DMLC_TEST_CFLAGS:-} -I"$tmp" -o "$tmp/fp_env" "$top/tests/lib/fp_env.c" -L"$tmp" -lfp_env -lm
LD_LIBRARY_PATH="$tmp" "$tmp/fp_env"
for m in idx scale; do "$dmlc" build "$top/tests/lib/$m.dml" --lib -o "$tmp/lib$m.so"; done
for m in mlp_digits idx scale; do
  # a library exports its entry points and M_error, nothing of the runtime
  other=$(nm -D --defined-only "$tmp/lib$m.so" | awk '{print $3}' | grep -v "^${m}_" || true)
  if [ -n "$other" ]; then
    echo "FAIL: lib$m.so exports symbols that are not ${m}_*:"
    echo "$other"
    exit 1
  fi
  nm -D --defined-only "$tmp/lib$m.so" | grep -q " T ${m}_error\$" || { echo "FAIL: lib$m.so has no ${m}_error"; exit 1; }
done
cc -std=c11 -Wall -Werror ${DMLC_TEST_CFLAGS:-} -I"$tmp" -o "$tmp/two_models" "$top/tests/lib/two_models.c" \
  -L"$tmp" -lmlp_digits -lidx -lscale -lm
LD_LIBRARY_PATH="$tmp" "$tmp/two_models"

for n in 64 5; do
  "$dmlc" build "$top/examples/cnn_digits.dml" --lib --stats --dim n=$n -o "$tmp/libcnn_digits.so" >"$tmp/stats"
  cc -std=c11 -Wall -Werror ${DMLC_TEST_CFLAGS:-} -I"$tmp" -o "$tmp/cnn_workspace" "$top/tests/lib/cnn_workspace.c" \
    -L"$tmp" -lcnn_digits -lm
  want=$(LD_LIBRARY_PATH="$tmp" "$tmp/cnn_workspace" $n)
  got=$(sed -n "s/^cnn_digits_loss_grad .* workspace \([0-9]*\) bytes at n=$n\$/\1/p" "$tmp/stats")
  if [ "$got" != "$want" ]; then
    echo "FAIL: --stats says ${got:-nothing} bytes for cnn_digits_loss_grad at n=$n, its _workspace $want"
    cat "$tmp/stats"
    exit 1
  fi
done
echo "cnn_digits_loss_grad: --stats and _workspace agree at n = 64 and 5"
