/* dml_kernels.h - the kernels generated code calls for the operations that
 * are not fused elementwise loops: reductions along an axis, softmax,
 * matrix products (through CBLAS), gathers and scatters, labels, losses,
 * convolution and pooling. One definition per element type (f32, f64).
 *
 * Shapes come as explicit sizes: an axis operation sees its tensor as
 * [outer, n, inner] (row-major) and works along the middle. Kernels that
 * can meet bad data (an index or a label out of range) return non-zero and
 * leave a message for dmlrt_error(). */
#ifndef DML_KERNELS_H
#define DML_KERNELS_H
#include <stddef.h>
#include <stdint.h>

enum { DMLRT_SUM = 0, DMLRT_MAX = 1, DMLRT_MIN = 2, DMLRT_LOGSUMEXP = 3 };

const char *dmlrt_error(void);
int dmlrt_fail(const char *where, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define DMLRT_DECLARE(T, S)                                                                                      \
  void dmlrt_reduce_##S(int op, const T *x, T *y, int64_t outer, int64_t n, int64_t inner);                     \
  void dmlrt_argreduce_##S(int op, const T *x, int32_t *y, int64_t outer, int64_t n, int64_t inner);            \
  void dmlrt_softmax_##S(int log, const T *x, T *y, int64_t outer, int64_t n, int64_t inner);                   \
  void dmlrt_transpose_##S(const T *x, T *y, int64_t batch, int64_t m, int64_t n);                              \
  void dmlrt_sum_to_##S(const T *x, T *y, int rank, const int64_t *x_dims, const int64_t *y_strides,            \
                        int64_t y_size);                                                                         \
  void dmlrt_matmul_##S(const T *a, const T *b, T *c, int brank, const int64_t *bdims, const int64_t *astrides,   \
                        const int64_t *bstrides, int64_t m, int64_t n, int64_t k, int ta, int tb, int64_t lda,  \
                        int64_t ldb);                                                                            \
  int dmlrt_onehot_##S(const int32_t *y, T *out, int64_t rows, int64_t k, const char *where);                   \
  int dmlrt_pick_##S(const T *x, const int32_t *y, T *out, int64_t rows, int64_t k, const char *where);         \
  int dmlrt_cross_entropy_##S(const T *z, const int32_t *y, T *out, int64_t rows, int64_t k, const char *where); \
  void dmlrt_mse_##S(const T *a, const T *b, T *out, int64_t n);                                                 \
  void dmlrt_norm_##S(int p, const T *x, T *out, int64_t n);                                                     \
  void dmlrt_eye_##S(T *y, int64_t n);                                                                           \
  void dmlrt_conv2d_##S(const T *x, const T *w, T *y, const int64_t *shape, T *scratch);                                    \
  void dmlrt_pool2d_##S(int is_max, const T *x, T *y, const int64_t *shape);                                     \
  void dmlrt_conv2d_backward_##S(int for_input, const T *x, const T *w, const T *g, T *out, const int64_t *shape,  \
                                 T *scratch);                                                                 \
  void dmlrt_pool2d_backward_##S(int is_max, const T *x, const T *g, T *dx, const int64_t *shape);              \
  void dmlrt_pool2d_gather_##S(const T *x, const T *t, T *y, const int64_t *shape);

DMLRT_DECLARE(float, f32)
DMLRT_DECLARE(double, f64)

/* Element-size generic: materialised broadcasts, slices and indexed updates. */
void dmlrt_broadcast(const void *x, void *y, size_t elem, int rank, const int64_t *y_dims, const int64_t *x_strides);
/* Copy the box lo[i] .. lo[i]+len[i] of x (dims) into y, or (scatter) y's box from x. */
void dmlrt_box_copy(const void *x, void *y, size_t elem, int rank, const int64_t *dims, const int64_t *lo,
                    const int64_t *len, int scatter);
int dmlrt_check_index(int64_t k, int64_t size, const char *where);

#endif
