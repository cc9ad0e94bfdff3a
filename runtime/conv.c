/* conv.c - convolution and pooling on NCHW tensors with OIHW weights, and
 * their adjoints (see dml_kernels.h). Every kernel reads its geometry from
 * one shape array: N C H W O KH KW OH OW sh sw ph pw (pooling: O = C).
 *
 * A convolution runs one of two ways. When an output needs few products
 * (C*KH*KW <= DIRECT_TAPS, stride 1: typically the layer that reads the
 * input image) it is a direct loop over kernel taps, each tap a vectorised
 * multiply-add of a shifted input row into an output row; a matrix product
 * with an inner dimension of 9 would spend its time packing. Otherwise
 * im2col lays each image out as cols[C*KH*KW, OH*OW] in `scratch` (the
 * workspace's tail, sized by codegen) and CBLAS multiplies. */
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include "dml_kernels.h"
#include "gemm.h"

/* A loop inlined where its stride is a constant vectorises; gcc versions a
 * loop with a variable stride for stride 1 and runs scalar code otherwise. */
#define ALWAYS_INLINE __attribute__((always_inline))

enum { DIRECT_TAPS = 27, ROW_BLOCK = 64, POOL2_BUF = 2048 };

/* The output positions [lo, hi) whose input position j*stride - pad + tap
 * lies inside an axis of `size`: the range a kernel tap contributes to. */
static inline int64_t tap_lo(int64_t tap, int64_t pad, int64_t stride) {
  int64_t need = pad - tap; /* j * stride >= need */
  return need <= 0 ? 0 : (need + stride - 1) / stride;
}

static inline int64_t tap_hi(int64_t tap, int64_t pad, int64_t stride, int64_t size, int64_t out) {
  int64_t top = size - 1 + pad - tap; /* j * stride <= top */
  if (top < 0) return 0;
  int64_t hi = top / stride + 1;
  return hi < out ? hi : out;
}

static bool direct(const int64_t *s) { return s[9] == 1 && s[10] == 1 && s[1] * s[5] * s[6] <= DIRECT_TAPS; }

/* 2x2 windows at stride 2 that tile the image, not too wide for
 * conv_template.h's maxpool2 buffers: the usual pooling */
static bool pool2(const int64_t *s) {
  return s[5] == 2 && s[6] == 2 && s[9] == 2 && s[10] == 2 && s[11] == 0 && s[12] == 0 && s[2] == 2 * s[7] &&
         s[3] == 2 * s[8] && s[8] <= POOL2_BUF / 2;
}

static bool unpadded(const int64_t *s) { return s[11] == 0 && s[12] == 0; }

/* Where each tap (c, p, q) of an unpadded stride-1 kernel starts in an
 * image: x + off[k] is the tap's view of the image, row pitch W. */
static void tap_offsets(const int64_t *s, int64_t *off) {
  int64_t C = s[1], H = s[2], W = s[3], KH = s[5], KW = s[6];
  for (int64_t c = 0, k = 0; c < C; c++)
    for (int64_t p = 0; p < KH; p++)
      for (int64_t q = 0; q < KW; q++) off[k++] = (c * H + p) * W + q;
}

#define T float
#define FN(name) name##_f32
#include "conv_template.h"
#undef T
#undef FN

#define T double
#define FN(name) name##_f64
#include "conv_template.h"
#undef T
#undef FN
