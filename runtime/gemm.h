/* gemm.h - the runtime's one door to CBLAS, shared by kernels.c (matrix
 * products) and conv.c (im2col convolutions). Internal to runtime/. */
#ifndef DMLRT_GEMM_H
#define DMLRT_GEMM_H
#include <cblas.h>
#include <stdint.h>

/* c = a b (+ c when accumulate), row-major, a and b optionally transposed. */
static inline void gemm_acc_f32(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, const float *b,
                                float *c, int accumulate) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              1.0f, a, ta ? (int)m : (int)k, b, tb ? (int)k : (int)n, accumulate ? 1.0f : 0.0f, c, (int)n);
}

static inline void gemm_acc_f64(int ta, int tb, int64_t m, int64_t n, int64_t k, const double *a, const double *b,
                                double *c, int accumulate) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              1.0, a, ta ? (int)m : (int)k, b, tb ? (int)k : (int)n, accumulate ? 1.0 : 0.0, c, (int)n);
}

#endif
