/* gemm.h - the runtime's one door to CBLAS, shared by kernels.c (matrix
 * products) and conv.c (im2col convolutions). Internal to runtime/. */
#ifndef DMLRT_GEMM_H
#define DMLRT_GEMM_H
#include <cblas.h>
#include <stdint.h>

/* c = a b (+ c when accumulate), row-major, a and b optionally transposed;
 * lda and ldb step from one stored row of a or b to the next (0: rows are
 * contiguous, as wide as the stored matrix). */
static inline void gemm_f32(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                            const float *b, int64_t ldb, float *c, int accumulate) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              1.0f, a, (int)(lda ? lda : ta ? m : k), b, (int)(ldb ? ldb : tb ? k : n), accumulate ? 1.0f : 0.0f, c,
              (int)n);
}

static inline void gemm_f64(int ta, int tb, int64_t m, int64_t n, int64_t k, const double *a, int64_t lda,
                            const double *b, int64_t ldb, double *c, int accumulate) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              1.0, a, (int)(lda ? lda : ta ? m : k), b, (int)(ldb ? ldb : tb ? k : n), accumulate ? 1.0 : 0.0, c,
              (int)n);
}

/* The same with contiguous rows. */
static inline void gemm_acc_f32(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, const float *b,
                                float *c, int accumulate) {
  gemm_f32(ta, tb, m, n, k, a, 0, b, 0, c, accumulate);
}

static inline void gemm_acc_f64(int ta, int tb, int64_t m, int64_t n, int64_t k, const double *a, const double *b,
                                double *c, int accumulate) {
  gemm_f64(ta, tb, m, n, k, a, 0, b, 0, c, accumulate);
}

#endif
