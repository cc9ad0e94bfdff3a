#!/bin/sh
# Hessian-vector products: `dmlc gradcheck --hvp` compares loss_hvp (forward
# mode over reverse) with central differences of loss_grad and checks that
# the Hessian is symmetric.
dmlc=$1
file=$2
out=$("$dmlc" gradcheck --hvp --color never "$file" 2>&1)
status=$?
if [ "$status" -eq 0 ] && echo "$out" | grep -q "^ok: Hessian-vector products match"; then
  echo "$out" | tail -n 1
  exit 0
fi
echo "FAIL $file: status $status"
echo "$out"
exit 1
