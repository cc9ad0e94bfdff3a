/* kernels.c - see dml_kernels.h. Written plainly; matrix products go to
 * CBLAS, which is where the time of a dense model goes. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "dml_kernels.h"
#include "gemm.h"

static _Thread_local char last_error[512];

const char *dmlrt_error(void) { return last_error; }

int dmlrt_fail(const char *where, const char *fmt, ...) {
  int n = snprintf(last_error, sizeof last_error, "%s: ", where ? where : "dml");
  if (n < 0 || (size_t)n >= sizeof last_error) n = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
  va_end(ap);
  return 1;
}

int dmlrt_check_index(int64_t k, int64_t size, const char *where) {
  if (k < -size || k >= size) return dmlrt_fail(where, "index %lld is out of range for an axis of size %lld", (long long)k, (long long)size);
  return 0;
}

#define DMLRT_DEFINE(T, S, EXP, LOG)                                                                              \
  void dmlrt_reduce_##S(int op, const T *x, T *y, int64_t outer, int64_t n, int64_t inner) {                    \
    for (int64_t o = 0; o < outer; o++)                                                                          \
      for (int64_t i = 0; i < inner; i++) {                                                                      \
        const T *p = x + o * n * inner + i;                                                                      \
        T acc = op == DMLRT_SUM ? 0 : p[0];                                                                      \
        for (int64_t k = op == DMLRT_SUM ? 0 : 1; k < n; k++) {                                                  \
          T v = p[k * inner];                                                                                    \
          if (op == DMLRT_SUM) acc += v;                                                                         \
          else if (op == DMLRT_MIN ? v < acc : v > acc) acc = v;                                                 \
        }                                                                                                        \
        if (op == DMLRT_LOGSUMEXP) {                                                                             \
          T s = 0;                                                                                               \
          for (int64_t k = 0; k < n; k++) s += EXP(p[k * inner] - acc);                                          \
          acc += LOG(s);                                                                                         \
        }                                                                                                        \
        y[o * inner + i] = n ? acc : 0;                                                                          \
      }                                                                                                          \
  }                                                                                                              \
  void dmlrt_argreduce_##S(int op, const T *x, int32_t *y, int64_t outer, int64_t n, int64_t inner) {           \
    for (int64_t o = 0; o < outer; o++)                                                                          \
      for (int64_t i = 0; i < inner; i++) {                                                                      \
        const T *p = x + o * n * inner + i;                                                                      \
        int64_t best = 0;                                                                                        \
        for (int64_t k = 1; k < n; k++)                                                                          \
          if (op == DMLRT_MIN ? p[k * inner] < p[best * inner] : p[k * inner] > p[best * inner]) best = k;       \
        y[o * inner + i] = (int32_t)best;                                                                        \
      }                                                                                                          \
  }                                                                                                              \
  void dmlrt_softmax_##S(int take_log, const T *x, T *y, int64_t outer, int64_t n, int64_t inner) {                \
    for (int64_t o = 0; o < outer; o++)                                                                          \
      for (int64_t i = 0; i < inner; i++) {                                                                      \
        const T *p = x + o * n * inner + i;                                                                      \
        T *q = y + o * n * inner + i;                                                                            \
        T m = p[0], s = 0;                                                                                       \
        for (int64_t k = 1; k < n; k++) m = p[k * inner] > m ? p[k * inner] : m;                                 \
        for (int64_t k = 0; k < n; k++) s += EXP(p[k * inner] - m);                                              \
        T ls = LOG(s);                                                                                           \
        for (int64_t k = 0; k < n; k++) q[k * inner] = take_log ? p[k * inner] - m - ls : EXP(p[k * inner] - m) / s;\
      }                                                                                                          \
  }                                                                                                              \
  /* in tiles of 16x16, so that the strided side stays in cache lines */                                       \
  void dmlrt_transpose_##S(const T *x, T *y, int64_t batch, int64_t m, int64_t n) {                             \
    for (int64_t b = 0; b < batch; b++, x += m * n, y += m * n)                                                  \
      for (int64_t i0 = 0; i0 < m; i0 += 16)                                                                     \
        for (int64_t j0 = 0; j0 < n; j0 += 16) {                                                                 \
          int64_t i1 = i0 + 16 < m ? i0 + 16 : m, j1 = j0 + 16 < n ? j0 + 16 : n;                                \
          for (int64_t j = j0; j < j1; j++)                                                                      \
            for (int64_t i = i0; i < i1; i++) y[j * m + i] = x[i * n + j];                                       \
        }                                                                                                        \
  }                                                                                                              \
  void dmlrt_sum_to_##S(const T *x, T *y, int rank, const int64_t *x_dims, const int64_t *y_strides,            \
                        int64_t y_size) {                                                                         \
    memset(y, 0, sizeof(T) * (size_t)y_size);                                                                    \
    int64_t total = 1;                                                                                           \
    for (int i = 0; i < rank; i++) total *= x_dims[i];                                                           \
    /* the common case, a bias gradient: y is x's trailing axes, summed over rows */                             \
    int lead = 0;                                                                                                \
    while (lead < rank && y_strides[lead] == 0) lead++;                                                          \
    int64_t contiguous = 1;                                                                                      \
    bool rows = true;                                                                                            \
    for (int i = rank - 1; i >= lead; i--) {                                                                     \
      rows &= y_strides[i] == contiguous;                                                                        \
      contiguous *= x_dims[i];                                                                                   \
    }                                                                                                            \
    if (rows && contiguous == y_size && y_size > 0) {                                                            \
      for (int64_t r = 0; r < total / y_size; r++) {                                                             \
        const T *row = x + r * y_size;                                                                           \
        _Pragma("omp simd") for (int64_t j = 0; j < y_size; j++) y[j] += row[j];                                 \
      }                                                                                                          \
      return;                                                                                                    \
    }                                                                                                            \
    /* otherwise an odometer over x's index, y's offset following it; the                                          \
     * trailing axes y sums over (a conv bias: n, h, w of [n, c, h, w]) are                                        \
     * added as one contiguous block */                                                                            \
    int tail = rank;                                                                                               \
    int64_t inner = 1;                                                                                             \
    while (tail > 0 && y_strides[tail - 1] == 0) inner *= x_dims[--tail];                                          \
    int64_t idx[16] = {0}, off = 0;                                                                                \
    for (int64_t e = 0; e < total; e += inner) {                                                                   \
      T acc = 0;                                                                                                   \
      const T *blk = x + e;                                                                                        \
      _Pragma("omp simd reduction(+ : acc)") for (int64_t k = 0; k < inner; k++) acc += blk[k];                    \
      y[off] += acc;                                                                                               \
      for (int d = tail - 1; d >= 0; d--) {                                                                        \
        off += y_strides[d];                                                                                       \
        if (++idx[d] < x_dims[d]) break;                                                                           \
        off -= y_strides[d] * x_dims[d];                                                                           \
        idx[d] = 0;                                                                                                \
      }                                                                                                            \
    }                                                                                                              \
  }                                                                                                                \
  /* c[batch] = a[batch] @ b[batch]: the batch axes (bdims) broadcast, each       \
   * operand stepping by its own strides (0 along broadcast axes); lda, ldb:     \
   * the step between an operand's stored rows when they are not contiguous     \
   * (xs[:, t]), else 0 */                                                       \
  void dmlrt_matmul_##S(const T *a, const T *b, T *c, int brank, const int64_t *bdims, const int64_t *astrides,   \
                        const int64_t *bstrides, int64_t m, int64_t n, int64_t k, int ta, int tb, int64_t lda,  \
                        int64_t ldb) {                                                                           \
    int64_t total = 1, idx[16] = {0}, oa = 0, ob = 0;                                                            \
    for (int i = 0; i < brank; i++) total *= bdims[i];                                                           \
    for (int64_t e = 0; e < total; e++) {                                                                        \
      gemm_##S(ta, tb, m, n, k, a + oa, lda, b + ob, ldb, c + e * m * n, 0);                                     \
      for (int d = brank - 1; d >= 0; d--) {                                                                     \
        oa += astrides[d];                                                                                       \
        ob += bstrides[d];                                                                                       \
        if (++idx[d] < bdims[d]) break;                                                                          \
        oa -= astrides[d] * bdims[d];                                                                            \
        ob -= bstrides[d] * bdims[d];                                                                            \
        idx[d] = 0;                                                                                              \
      }                                                                                                          \
    }                                                                                                            \
  }                                                                                                              \
  int dmlrt_onehot_##S(const int32_t *y, T *out, int64_t rows, int64_t k, const char *where) {                  \
    memset(out, 0, sizeof(T) * (size_t)(rows * k));                                                              \
    for (int64_t i = 0; i < rows; i++) {                                                                         \
      if (y[i] < 0 || y[i] >= k) return dmlrt_fail(where, "label %d is out of range 0..%lld", y[i], (long long)(k - 1)); \
      out[i * k + y[i]] = 1;                                                                                     \
    }                                                                                                            \
    return 0;                                                                                                    \
  }                                                                                                              \
  int dmlrt_pick_##S(const T *x, const int32_t *y, T *out, int64_t rows, int64_t k, const char *where) {        \
    for (int64_t i = 0; i < rows; i++) {                                                                         \
      if (y[i] < 0 || y[i] >= k) return dmlrt_fail(where, "label %d is out of range 0..%lld", y[i], (long long)(k - 1)); \
      out[i] = x[i * k + y[i]];                                                                                  \
    }                                                                                                            \
    return 0;                                                                                                    \
  }                                                                                                              \
  int dmlrt_cross_entropy_##S(const T *z, const int32_t *y, T *out, int64_t rows, int64_t k, const char *where) { \
    double s = 0; /* accumulated in double: a mean over a batch */                                               \
    for (int64_t i = 0; i < rows; i++) {                                                                         \
      if (y[i] < 0 || y[i] >= k) return dmlrt_fail(where, "label %d is out of range 0..%lld", y[i], (long long)(k - 1)); \
      const T *r = z + i * k;                                                                                    \
      T m = r[0], e = 0;                                                                                         \
      for (int64_t j = 1; j < k; j++) m = r[j] > m ? r[j] : m;                                                   \
      for (int64_t j = 0; j < k; j++) e += EXP(r[j] - m);                                                        \
      s += (double)(m + LOG(e) - r[y[i]]);                                                                       \
    }                                                                                                            \
    *out = rows ? (T)(s / (double)rows) : 0;                                                                     \
    return 0;                                                                                                    \
  }                                                                                                              \
  void dmlrt_mse_##S(const T *a, const T *b, T *out, int64_t n) {                                                \
    double s = 0;                                                                                                \
    for (int64_t i = 0; i < n; i++) s += (double)((a[i] - b[i]) * (a[i] - b[i]));                                \
    *out = n ? (T)(s / (double)n) : 0;                                                                           \
  }                                                                                                              \
  void dmlrt_norm_##S(int p, const T *x, T *out, int64_t n) {                                                    \
    double s = 0;                                                                                                \
    for (int64_t i = 0; i < n; i++) s += p == 1 ? fabs((double)x[i]) : (double)x[i] * (double)x[i];              \
    *out = (T)s;                                                                                                 \
  }                                                                                                              \
  void dmlrt_eye_##S(T *y, int64_t n) {                                                                          \
    memset(y, 0, sizeof(T) * (size_t)(n * n));                                                                   \
    for (int64_t i = 0; i < n; i++) y[i * n + i] = 1;                                                            \
  }

DMLRT_DEFINE(float, f32, expf, logf)
DMLRT_DEFINE(double, f64, exp, log)

void dmlrt_broadcast(const void *x, void *y, size_t elem, int rank, const int64_t *y_dims, const int64_t *x_strides) {
  int64_t total = 1;
  for (int i = 0; i < rank; i++) total *= y_dims[i];
  int64_t idx[16] = {0}, off = 0;
  const char *src = x;
  char *dst = y;
  for (int64_t e = 0; e < total; e++) {
    memcpy(dst + (size_t)e * elem, src + (size_t)off * elem, elem);
    for (int d = rank - 1; d >= 0; d--) {
      off += x_strides[d];
      if (++idx[d] < y_dims[d]) break;
      off -= x_strides[d] * y_dims[d];
      idx[d] = 0;
    }
  }
}

void dmlrt_box_copy(const void *x, void *y, size_t elem, int rank, const int64_t *dims, const int64_t *lo,
                    const int64_t *len, int scatter) {
  /* the trailing axes the box spans whole are one contiguous run, copied
   * at once; an odometer walks the axes before them */
  int inner = rank;
  int64_t run = 1;
  while (inner > 0 && lo[inner - 1] == 0 && len[inner - 1] == dims[inner - 1]) run *= dims[--inner];
  if (inner > 0) run *= len[--inner]; /* the last partial axis is contiguous too */
  int64_t total = 1;
  for (int i = 0; i < inner; i++) total *= len[i];
  int64_t idx[16] = {0};
  const char *src = x;
  char *dst = y;
  size_t bytes = (size_t)run * elem;
  for (int64_t e = 0; e < total; e++) {
    int64_t off = 0;
    for (int d = 0; d < inner; d++) off = off * dims[d] + lo[d] + idx[d];
    off = off * (inner < rank ? dims[inner] : 1) + (inner < rank ? lo[inner] : 0);
    for (int d = inner + 1; d < rank; d++) off *= dims[d];
    if (scatter) memcpy(dst + (size_t)off * elem, src + (size_t)e * bytes, bytes);
    else memcpy(dst + (size_t)e * bytes, src + (size_t)off * elem, bytes);
    for (int d = inner - 1; d >= 0; d--) {
      if (++idx[d] < len[d]) break;
      idx[d] = 0;
    }
  }
}
