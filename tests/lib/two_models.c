/* two_models.c - three libraries built by `dmlc build --lib` in one
 * program: each has its own M_error() and keeps its runtime to itself, so
 * an error in one model is not seen (nor overwritten) through another. The
 * loss of scale.dml calls no runtime kernel; scale_error() must still link. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "idx.h"
#include "mlp_digits.h"
#include "scale.h"

static int ok = 1;

static void expect(int cond, const char *what) {
  if (!cond) fprintf(stderr, "FAIL: %s\n", what);
  ok &= cond;
}

int main(void) {
  static _Alignas(64) char ws[1 << 16];
  /* scale: loss = w * x */
  float w = 2, x = 3, loss = 0;
  void *in1[1] = {&x}, *par1[1] = {&w}, *out1[1] = {&loss};
  int64_t none[1] = {0};
  expect(scale_loss(none, in1, par1, out1, ws) == 0 && loss == 6, "scale_loss gives 6");
  expect(strcmp(scale_error(), "") == 0, "scale_error() is empty");

  /* idx: an index out of range */
  float xs[4 * 3] = {0}, w3[3] = {1, 1, 1};
  int32_t k = 7;
  int64_t dims[1] = {4};
  void *in2[2] = {xs, &k}, *par2[1] = {w3}, *out2[1] = {&loss};
  expect(idx_loss(dims, in2, par2, out2, ws) == 1, "idx_loss fails at k = 7");
  printf("idx: %s\n", idx_error());
  expect(strstr(idx_error(), "index 7 is out of range for an axis of size 4") != NULL, "idx_error() names the index");
  expect(strcmp(mlp_digits_error(), "") == 0, "mlp_digits_error() does not see idx's error");
  expect(strcmp(scale_error(), "") == 0, "scale_error() does not see idx's error");

  /* mlp_digits: a label out of range */
  float x64[2 * 64] = {0};
  int32_t y[2] = {3, 10};
  void *params[MLP_DIGITS_NPARAMS], *grads[MLP_DIGITS_NPARAMS];
  for (int p = 0; p < MLP_DIGITS_NPARAMS; p++) {
    int64_t n = 1;
    for (int d = 0; d < mlp_digits_params[p].rank; d++) n *= mlp_digits_params[p].dims[d];
    params[p] = calloc((size_t)n, sizeof(float));
    grads[p] = calloc((size_t)n, sizeof(float));
  }
  void *in3[2] = {x64, y}, *out3[1 + MLP_DIGITS_NPARAMS] = {&loss, grads[0], grads[1], grads[2], grads[3]};
  int64_t dims2[1] = {2};
  expect(mlp_digits_loss_grad(dims2, in3, params, out3, ws) == 1, "mlp_digits_loss_grad fails on label 10");
  printf("mlp_digits: %s\n", mlp_digits_error());
  expect(strstr(mlp_digits_error(), "label 10 is out of range 0..9") != NULL, "mlp_digits_error() names the label");
  expect(strstr(idx_error(), "index 7") != NULL, "idx_error() keeps its own message");
  for (int p = 0; p < MLP_DIGITS_NPARAMS; p++) {
    free(params[p]);
    free(grads[p]);
  }
  return ok ? 0 : 1;
}
