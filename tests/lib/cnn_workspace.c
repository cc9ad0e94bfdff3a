/* cnn_workspace.c - prints cnn_digits_loss_grad_workspace at n = argv[1],
 * for run.sh to compare with `dmlc build --stats`. */
#include <stdio.h>
#include <stdlib.h>
#include "cnn_digits.h"

int main(int argc, char **argv) {
  int64_t dims[1] = {argc > 1 ? atoll(argv[1]) : 64};
  printf("%lld\n", (long long)cnn_digits_loss_grad_workspace(dims));
  return 0;
}
