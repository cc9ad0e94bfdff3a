#!/bin/sh
# Gradient check: run `dmlc gradcheck` on a .dml file with two different
# seeds; both runs must exit 0 and print an `ok:` line. Files under an
# `unsupported/` folder use a feature without a derivative rule: there
# gradcheck must exit 1 with a `cannot differentiate` error (no crash, no
# other status).
dmlc=$1
file=$2
tmp=${TMPDIR:-/tmp}/dmlc-gc.$$
trap 'rm -f "$tmp".*' EXIT
trap 'exit 2' HUP INT PIPE TERM

case "/$file" in
*/unsupported/*)
  "$dmlc" gradcheck --color never "$file" >"$tmp.out" 2>&1
  status=$?
  if [ "$status" -ne 1 ]; then
    echo "FAIL $file: gradcheck exited with status $status, expected 1"
    cat "$tmp.out"
    exit 1
  fi
  if ! grep -q 'error: cannot differentiate ' "$tmp.out"; then
    echo "FAIL $file: no \`cannot differentiate\` error"
    cat "$tmp.out"
    exit 1
  fi
  exit 0
  ;;
esac

for seed in 1 2; do
  "$dmlc" gradcheck --color never --seed "$seed" "$file" >"$tmp.out" 2>&1
  status=$?
  if [ "$status" -ne 0 ] || ! grep -q '^ok: ' "$tmp.out"; then
    echo "FAIL $file: gradcheck --seed $seed exited with status $status"
    cat "$tmp.out"
    exit 1
  fi
done
exit 0
