/* use_mlp.c - a C program calling a model built with `dmlc build --lib`,
 * through the generated header only. With all params zero, every logit is
 * 0, so the loss is log(10) and d_b2[c] = 1/10 - (share of label c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mlp_digits.h"

int main(void) {
  enum { N = 4 };
  float x[N * 64];
  int32_t y[N] = {3, 3, 7, 1};
  for (int i = 0; i < N * 64; i++) x[i] = (float)(i % 17);
  /* params: one zeroed buffer each, sized from the descriptor */
  void *params[MLP_DIGITS_NPARAMS], *grads[MLP_DIGITS_NPARAMS];
  for (int p = 0; p < MLP_DIGITS_NPARAMS; p++) {
    int64_t n = 1;
    for (int d = 0; d < mlp_digits_params[p].rank; d++) n *= mlp_digits_params[p].dims[d];
    if (strcmp(mlp_digits_params[p].dtype, "f32") != 0) return 2;
    params[p] = calloc((size_t)n, sizeof(float));
    grads[p] = calloc((size_t)n, sizeof(float));
  }
  float loss = -1;
  void *outputs[1 + MLP_DIGITS_NPARAMS] = {&loss, grads[0], grads[1], grads[2], grads[3]};
  void *inputs[2] = {x, y};
  int64_t dims[1] = {N};
  void *ws = aligned_alloc(64, (size_t)((mlp_digits_loss_grad_workspace(dims) + 63) / 64 * 64 + 64));
  if (mlp_digits_loss_grad(dims, inputs, params, outputs, ws) != 0) {
    fprintf(stderr, "call failed: %s\n", mlp_digits_error());
    return 1;
  }
  float *db2 = grads[3];
  double want3 = 0.1 - 2.0 / N, want7 = 0.1 - 1.0 / N, want0 = 0.1;
  printf("loss %.6f (log 10 = %.6f), d_b2[3] %.4f, d_b2[7] %.4f, d_b2[0] %.4f, init of W1: %s\n", loss, log(10.0),
         db2[3], db2[7], db2[0], mlp_digits_params[0].init);
  int ok = fabs(loss - log(10.0)) < 1e-5 && fabs(db2[3] - want3) < 1e-6 && fabs(db2[7] - want7) < 1e-6 &&
           fabs(db2[0] - want0) < 1e-6 && strcmp(mlp_digits_params[0].name, "W1") == 0 &&
           strcmp(mlp_digits_params[0].init, "glorot") == 0;
  /* a label out of range is refused with a message, not a crash */
  y[2] = 10;
  int status = mlp_digits_loss_grad(dims, inputs, params, outputs, ws);
  printf("label 10: status %d, %s\n", status, mlp_digits_error());
  ok &= status == 1 && strstr(mlp_digits_error(), "label 10 is out of range 0..9") != NULL;
  for (int p = 0; p < MLP_DIGITS_NPARAMS; p++) {
    free(params[p]);
    free(grads[p]);
  }
  free(ws);
  return ok ? 0 : 1;
}
