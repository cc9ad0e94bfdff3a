/* conv_template.h - the body of conv.c's kernels, included once per element
 * type T, with FN(name) naming the function for that type (name_f32 or
 * name_f64). Geometry as conv.c describes. */

/* 32 bytes of T, loaded and stored at any alignment; the hot loops hold
 * their sums in these so gcc and clang keep them in registers */
typedef T FN(vec) __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
#define VL ((int64_t)(32 / sizeof(T)))

static void FN(im2col)(const T *x, T *cols, const int64_t *s) {
  int64_t C = s[1], H = s[2], W = s[3], KH = s[5], KW = s[6], OH = s[7], OW = s[8];
  int64_t sh = s[9], sw = s[10], ph = s[11], pw = s[12];
  for (int64_t c = 0; c < C; c++)
    for (int64_t p = 0; p < KH; p++)
      for (int64_t q = 0; q < KW; q++) {
        T *row = cols + ((c * KH + p) * KW + q) * OH * OW;
        int64_t i0 = tap_lo(p, ph, sh), i1 = tap_hi(p, ph, sh, H, OH);
        int64_t j0 = tap_lo(q, pw, sw), j1 = tap_hi(q, pw, sw, W, OW);
        if (i0 > 0 || i1 < OH || j0 > 0 || j1 < OW) memset(row, 0, sizeof(T) * (size_t)(OH * OW));
        for (int64_t i = i0; i < i1; i++) {
          const T *src = x + (c * H + i * sh - ph + p) * W - pw + q; /* + j * sw >= 0 for j >= j0 */
          if (sw == 1 && j1 > j0) memcpy(row + i * OW + j0, src + j0, sizeof(T) * (size_t)(j1 - j0));
          else
            for (int64_t j = j0; j < j1; j++) row[i * OW + j] = src[j * sw];
        }
      }
}
/* the adjoint of im2col: every column entry goes back to its pixel */
static void FN(col2im)(const T *cols, T *dx, const int64_t *s) {
  int64_t C = s[1], H = s[2], W = s[3], KH = s[5], KW = s[6], OH = s[7], OW = s[8];
  int64_t sh = s[9], sw = s[10], ph = s[11], pw = s[12];
  for (int64_t c = 0; c < C; c++)
    for (int64_t p = 0; p < KH; p++)
      for (int64_t q = 0; q < KW; q++) {
        const T *row = cols + ((c * KH + p) * KW + q) * OH * OW;
        int64_t j0 = tap_lo(q, pw, sw), j1 = tap_hi(q, pw, sw, W, OW);
        for (int64_t i = tap_lo(p, ph, sh), i1 = tap_hi(p, ph, sh, H, OH); i < i1; i++) {
          int64_t at = (c * H + i * sh - ph + p) * W - pw + q;
          for (int64_t j = j0; j < j1; j++) dx[at + j * sw] += row[i * OW + j];
        }
      }
}
/* Without padding, an output row is a run of the input row: computed over
 * the input's width W, the image is one run of L = (OH-1)*W + OW values
 * per tap (the W-OW columns past each row are junk, dropped or zeroed).
 * Each output channel sums its taps over that run, 4 vectors of it at a
 * time held in registers, so every output value is stored once. */
static void FN(conv_wide)(const T *x, const T *w, T *y, const int64_t *s, T *wide) {
  int64_t W = s[3], O = s[4], OH = s[7], OW = s[8];
  int64_t L = (OH - 1) * W + OW, K = s[1] * s[5] * s[6], off[DIRECT_TAPS];
  tap_offsets(s, off);
  for (int64_t o = 0; o < O; o++) {
    const T *wo = w + o * K;
    int64_t t = 0;
    for (; t + 4 * VL <= L; t += 4 * VL) {
      FN(vec) a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
      for (int64_t k = 0; k < K; k++) {
        const FN(vec) *xs = (const FN(vec) *)(x + off[k] + t);
        FN(vec) wv = (FN(vec)){0} + wo[k];
        a0 += wv * xs[0], a1 += wv * xs[1], a2 += wv * xs[2], a3 += wv * xs[3];
      }
      FN(vec) *out = (FN(vec) *)(wide + t);
      out[0] = a0, out[1] = a1, out[2] = a2, out[3] = a3;
    }
    for (; t < L; t++) {
      T acc = 0;
      for (int64_t k = 0; k < K; k++) acc += wo[k] * x[off[k] + t];
      wide[t] = acc;
    }
    for (int64_t i = 0; i < OH; i++) memcpy(y + (o * OH + i) * OW, wide + i * W, sizeof(T) * (size_t)OW);
  }
}
/* g[o] laid out at the input's width, zeros in the junk columns */
static void FN(widen)(const T *g, T *wide, int64_t OH, int64_t OW, int64_t W) {
  for (int64_t i = 0; i < OH; i++) {
    memcpy(wide + i * W, g + i * OW, sizeof(T) * (size_t)OW);
    if (i + 1 < OH) memset(wide + i * W + OW, 0, sizeof(T) * (size_t)(W - OW));
  }
}
/* adjoints in the same layout: dx[c] (shifted by the tap) += w g_wide[o] */
static void FN(conv_wide_input)(const T *w, const T *g, T *dx, const int64_t *s, T *wide) {
  int64_t O = s[4], K = s[1] * s[5] * s[6], OH = s[7], OW = s[8], W = s[3], L = (OH - 1) * W + OW, off[DIRECT_TAPS];
  tap_offsets(s, off);
  for (int64_t o = 0; o < O; o++) {
    FN(widen)(g + o * OH * OW, wide, OH, OW, W);
    for (int64_t k = 0; k < K; k++) {
      T wv = w[o * K + k], *d = dx + off[k];
#pragma omp simd
      for (int64_t t = 0; t < L; t++) d[t] += wv * wide[t];
    }
  }
}
/* and dw[o, tap] += g_wide[o] . x (shifted by the tap): each tap sums in a
 * vector of its own, reading g_wide once for all taps */
static void FN(conv_wide_weight)(const T *x, const T *g, T *dw, const int64_t *s, T *wide) {
  int64_t O = s[4], K = s[1] * s[5] * s[6], OH = s[7], OW = s[8], W = s[3], L = (OH - 1) * W + OW, off[DIRECT_TAPS];
  tap_offsets(s, off);
  for (int64_t o = 0; o < O; o++) {
    FN(widen)(g + o * OH * OW, wide, OH, OW, W);
    FN(vec) acc[DIRECT_TAPS];
    for (int64_t k = 0; k < K; k++) acc[k] = (FN(vec)){0};
    int64_t t = 0;
    for (; t + 2 * VL <= L; t += 2 * VL) {
      FN(vec) g0 = *(const FN(vec) *)(wide + t), g1 = *(const FN(vec) *)(wide + t + VL);
      for (int64_t k = 0; k < K; k++) {
        const FN(vec) *xs = (const FN(vec) *)(x + off[k] + t);
        acc[k] += g0 * xs[0] + g1 * xs[1];
      }
    }
    for (int64_t k = 0; k < K; k++) {
      T sum = 0;
      for (int64_t l = 0; l < VL; l++) sum += acc[k][l];
      for (int64_t u = t; u < L; u++) sum += wide[u] * x[off[k] + u];
      dw[o * K + k] += sum;
    }
  }
}
/* Direct convolution of one image (stride 1), tap by tap: for each output
 * channel and tap, y[o, i, :] += w[o, c, p, q] x[c, i - ph + p, (:) - pw +
 * q]. Its input adjoint runs the same rows the other way, dx[c, i - ph + p,
 * :] += w[o, c, p, q] g[o, i, :]: src is x (or g), dst y (or dx). */
static void FN(conv_direct)(int to_input, const T *src, const T *w, T *dst, const int64_t *s) {
  int64_t C = s[1], H = s[2], W = s[3], O = s[4], KH = s[5], KW = s[6], OH = s[7], OW = s[8], ph = s[11],
          pw = s[12];
  if (!to_input) memset(dst, 0, sizeof(T) * (size_t)(O * OH * OW));
  for (int64_t o = 0; o < O; o++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t p = 0; p < KH; p++)
        for (int64_t q = 0; q < KW; q++) {
          T wv = w[((o * C + c) * KH + p) * KW + q];
          int64_t j0 = tap_lo(q, pw, 1), j1 = tap_hi(q, pw, 1, W, OW);
          for (int64_t i = tap_lo(p, ph, 1), i1 = tap_hi(p, ph, 1, H, OH); i < i1; i++) {
            int64_t image_row = (c * H + i - ph + p) * W - pw + q, out_row = (o * OH + i) * OW;
            const T *sr = src + (to_input ? out_row : image_row);
            T *dr = dst + (to_input ? image_row : out_row);
            #pragma omp simd
            for (int64_t j = j0; j < j1; j++) dr[j] += wv * sr[j];
          }
        }
}
/* and dw[o, c, p, q] += sum over the tap's range of g[o, i, j] x[c, i - ph
 * + p, j - pw + q], summed per column first (ROW_BLOCK columns at a time)
 * so the rows vectorise */
static void FN(conv_direct_weight)(const T *x, const T *g, T *dw, const int64_t *s) {
  int64_t C = s[1], H = s[2], W = s[3], O = s[4], KH = s[5], KW = s[6], OH = s[7], OW = s[8], ph = s[11],
          pw = s[12];
  T col[ROW_BLOCK];
  for (int64_t o = 0; o < O; o++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t p = 0; p < KH; p++)
        for (int64_t q = 0; q < KW; q++) {
          int64_t i0 = tap_lo(p, ph, 1), i1 = tap_hi(p, ph, 1, H, OH);
          int64_t j0 = tap_lo(q, pw, 1), j1 = tap_hi(q, pw, 1, W, OW);
          T acc = 0;
          for (int64_t jb = j0; jb < j1; jb += ROW_BLOCK) {
            int64_t nb = j1 - jb < ROW_BLOCK ? j1 - jb : ROW_BLOCK;
            for (int64_t j = 0; j < nb; j++) col[j] = 0;
            for (int64_t i = i0; i < i1; i++) {
              const T *xr = x + (c * H + i - ph + p) * W - pw + q + jb, *gr = g + (o * OH + i) * OW + jb;
              #pragma omp simd
              for (int64_t j = 0; j < nb; j++) col[j] += gr[j] * xr[j];
            }
            for (int64_t j = 0; j < nb; j++) acc += col[j];
          }
          dw[((o * C + c) * KH + p) * KW + q] += acc;
        }
}
void FN(dmlrt_conv2d)(const T *x, const T *w, T *y, const int64_t *s, T *scratch) {
  int64_t N = s[0], C = s[1], H = s[2], W = s[3], O = s[4], K = C * s[5] * s[6], P = s[7] * s[8];
  for (int64_t b = 0; b < N; b++) {
    if (direct(s) && unpadded(s)) {
      FN(conv_wide)(x + b * C * H * W, w, y + b * O * P, s, scratch);
      continue;
    }
    if (direct(s)) {
      FN(conv_direct)(0, x + b * C * H * W, w, y + b * O * P, s);
      continue;
    }
    FN(im2col)(x + b * C * H * W, scratch, s);
    FN(gemm_acc)(0, 0, O, P, K, w, scratch, y + b * O * P, 0);
  }
}
/* adjoints: directly, or through the im2col layout: dw = sum_b g[b]
 * cols[b]^T, and dx[b] = col2im(w^T g[b]) */
void FN(dmlrt_conv2d_backward)(int for_input, const T *x, const T *w, const T *g, T *out, const int64_t *s,
                               T *scratch) {
  int64_t N = s[0], C = s[1], H = s[2], W = s[3], O = s[4], K = C * s[5] * s[6], P = s[7] * s[8];
  memset(out, 0, sizeof(T) * (size_t)(for_input ? N * C * H * W : O * K));
  for (int64_t b = 0; b < N; b++) {
    const T *xb = x + b * C * H * W, *gb = g + b * O * P;
    if (direct(s) && unpadded(s))
      for_input ? FN(conv_wide_input)(w, gb, out + b * C * H * W, s, scratch) : FN(conv_wide_weight)(xb, gb, out, s, scratch);
    else if (direct(s) && for_input) FN(conv_direct)(1, gb, w, out + b * C * H * W, s);
    else if (direct(s)) FN(conv_direct_weight)(xb, gb, out, s);
    else if (for_input) {
      FN(gemm_acc)(1, 0, K, P, O, w, gb, scratch, 0);
      FN(col2im)(scratch, out + b * C * H * W, s);
    } else {
      FN(im2col)(xb, scratch, s);
      FN(gemm_acc)(0, 1, O, K, P, gb, scratch, out, 1);
    }
  }
}
/* Max or mean of each window of one output row, in the window's order
 * (p, then q), so the maximum found first is the one the adjoint picks.
 * Without padding every window lies inside the image. */
static void FN(pool_row)(int is_max, const T *x, T *yr, int64_t H, int64_t W, int64_t i, int64_t OW,
                         const int64_t *s) {
  int64_t KH = s[5], KW = s[6], sh = s[9], sw = s[10], ph = s[11], pw = s[12];
  T init = is_max ? -INFINITY : 0;
  for (int64_t j = 0; j < OW; j++) yr[j] = init;
  for (int64_t p = 0; p < KH; p++) {
    int64_t r = i * sh - ph + p;
    if (r < 0 || r >= H) continue;
    for (int64_t q = 0; q < KW; q++) {
      int64_t j0 = tap_lo(q, pw, sw), j1 = tap_hi(q, pw, sw, W, OW);
      const T *xr = x + r * W - pw + q;
      if (is_max) {
        #pragma omp simd
        for (int64_t j = j0; j < j1; j++) {
          T v = xr[j * sw];
          yr[j] = v > yr[j] ? v : yr[j];
        }
      } else {
        #pragma omp simd
        for (int64_t j = j0; j < j1; j++) yr[j] += xr[j * sw];
      }
    }
  }
  if (!is_max) {
    T inv = (T)1 / (T)(KH * KW);
    for (int64_t j = 0; j < OW; j++) yr[j] *= inv;
  }
}
/* 2x2 windows at stride 2 tiling the image (the usual pooling). Seen as
 * rows of OW pairs, all N*C*H input rows are one run, so a window's max is
 * found in two passes with long vectorised loops: along each row, the
 * first maximum of each pair (which of the two, -1 if neither is above
 * -inf), then down each pair of rows, the larger of the two rows' maxima
 * (the lower only if strictly larger: the forward's order, row by row).
 * POOL2_ROWS rows at a time, so the passes run in buffers on the stack. */
static void FN(pair_max)(const T *x, T *m, T *which, int64_t n) {
#pragma omp simd
  for (int64_t k = 0; k < n; k++) {
    T a = x[2 * k], b = x[2 * k + 1], t = a > -INFINITY ? a : -INFINITY, w = t != -INFINITY ? 0 : -1;
    T u = b > t ? b : t; /* in this form gcc vectorises */
    which[k] = u != t ? 1 : w;
    m[k] = u;
  }
}
static void FN(maxpool2)(const T *x, T *y, int64_t rows, int64_t OW) {
  T m[POOL2_BUF], which[POOL2_BUF];
  int64_t step = POOL2_BUF / OW & ~(int64_t)1;
  for (int64_t r0 = 0; r0 < rows; r0 += step) {
    int64_t nr = rows - r0 < step ? rows - r0 : step;
    FN(pair_max)(x + r0 * 2 * OW, m, which, nr * OW);
    for (int64_t i = 0; i < nr / 2; i++) {
      const T *top = m + 2 * i * OW, *bot = top + OW;
      T *yr = y + (r0 / 2 + i) * OW;
#pragma omp simd
      for (int64_t j = 0; j < OW; j++) yr[j] = bot[j] > top[j] ? bot[j] : top[j];
    }
  }
}
/* its adjoint: the window's gradient goes to the maximum found the same way
 * (none for a window of -inf or NaN); every input position is written */
static void FN(maxpool2_backward)(const T *x, const T *g, T *dx, int64_t rows, int64_t OW) {
  T m[POOL2_BUF], which[POOL2_BUF], gate[POOL2_BUF];
  int64_t step = POOL2_BUF / OW & ~(int64_t)1;
  for (int64_t r0 = 0; r0 < rows; r0 += step) {
    int64_t nr = rows - r0 < step ? rows - r0 : step;
    FN(pair_max)(x + r0 * 2 * OW, m, which, nr * OW);
    for (int64_t i = 0; i < nr / 2; i++) { /* the gradient reaching each row's pair */
      const T *top = m + 2 * i * OW, *bot = top + OW, *gr = g + (r0 / 2 + i) * OW;
      T *gt = gate + 2 * i * OW, *gb = gt + OW;
#pragma omp simd
      for (int64_t j = 0; j < OW; j++) {
        T a = top[j], b = bot[j], v = gr[j];
        gt[j] = b > a ? 0 : v;
        gb[j] = b > a ? v : 0;
      }
    }
    T *d = dx + r0 * 2 * OW;
#pragma omp simd
    for (int64_t k = 0; k < nr * OW; k++) {
      T w = which[k], v = gate[k];
      d[2 * k] = w == 0 ? v : 0;
      d[2 * k + 1] = w == 1 ? v : 0;
    }
  }
}
void FN(dmlrt_pool2d)(int is_max, const T *x, T *y, const int64_t *s) {
  int64_t NC = s[0] * s[1], H = s[2], W = s[3], OH = s[7], OW = s[8];
  if (is_max && pool2(s)) {
    FN(maxpool2)(x, y, NC * H, OW);
    return;
  }
  for (int64_t c = 0; c < NC; c++)
    for (int64_t i = 0; i < OH; i++) FN(pool_row)(is_max, x + c * H * W, y + (c * OH + i) * OW, H, W, i, OW, s);
}
/* Max pooling's adjoint for one output row, ROW_BLOCK windows at a time:
 * find each window's first maximum as the forward does (taps in order,
 * strict >, so a window of -inf or NaN has none) and remember which tap
 * it was, then send the window's gradient to that tap's position. When
 * windows do not overlap each position is assigned, which vectorises. */
static void FN(maxpool_row_backward)(const T *x, const T *gr, T *dx, int64_t H, int64_t W, int64_t i,
                                     int64_t OW, const int64_t *s) {
  int64_t KH = s[5], KW = s[6], sh = s[9], sw = s[10], ph = s[11], pw = s[12];
  bool separate = sh >= KH && sw >= KW;
  T best[ROW_BLOCK], arg[ROW_BLOCK];
  for (int64_t jb = 0; jb < OW; jb += ROW_BLOCK) {
    int64_t nb = OW - jb < ROW_BLOCK ? OW - jb : ROW_BLOCK, pad = pw - jb * sw; /* the block, shifted */
    for (int64_t j = 0; j < nb; j++) best[j] = -INFINITY, arg[j] = -1;
    for (int pass = 0; pass < 2; pass++)
      for (int64_t p = 0; p < KH; p++) {
        int64_t r = i * sh - ph + p;
        if (r < 0 || r >= H) continue;
        for (int64_t q = 0; q < KW; q++) {
          int64_t j0 = tap_lo(q, pad, sw), j1 = tap_hi(q, pad, sw, W, nb);
          const T *xr = x + r * W - pad + q, *g = gr + jb;
          T *dr = dx + r * W - pad + q, tap = (T)(p * KW + q);
          if (pass == 0) {
#pragma omp simd
            for (int64_t j = j0; j < j1; j++) {
              T v = xr[j * sw], b = best[j], a = arg[j]; /* in this form gcc vectorises */
              T m = v > b ? v : b;
              arg[j] = m != b ? tap : a;
              best[j] = m;
            }
          } else if (separate) {
#pragma omp simd
            for (int64_t j = j0; j < j1; j++) {
              T d = g[j];
              dr[j * sw] = arg[j] == tap ? d : 0;
            }
          } else {
            for (int64_t j = j0; j < j1; j++) dr[j * sw] += arg[j] == tap ? g[j] : 0;
          }
        }
      }
  }
}
void FN(dmlrt_pool2d_backward)(int is_max, const T *x, const T *g, T *dx, const int64_t *s) {
  int64_t NC = s[0] * s[1], H = s[2], W = s[3], KH = s[5], KW = s[6], OH = s[7], OW = s[8];
  int64_t sh = s[9], sw = s[10], ph = s[11], pw = s[12];
  T inv = (T)1 / (T)(KH * KW);
  if (is_max && pool2(s)) {
    FN(maxpool2_backward)(x, g, dx, NC * H, OW);
    return;
  }
  memset(dx, 0, sizeof(T) * (size_t)(NC * H * W));
  for (int64_t c = 0; c < NC; c++)
    for (int64_t i = 0; i < OH; i++) {
      const T *gr = g + (c * OH + i) * OW;
      if (is_max) {
        FN(maxpool_row_backward)(x + c * H * W, gr, dx + c * H * W, H, W, i, OW, s);
        continue;
      }
      for (int64_t p = 0; p < KH; p++) {
        int64_t r = i * sh - ph + p;
        if (r < 0 || r >= H) continue;
        for (int64_t q = 0; q < KW; q++) {
          int64_t at = (c * H + r) * W - pw + q;
          for (int64_t j = tap_lo(q, pw, sw), j1 = tap_hi(q, pw, sw, W, OW); j < j1; j++)
            dx[at + j * sw] += gr[j] * inv;
        }
      }
    }
}
/* t at each window's first maximum of x, 0 where a window has none: the
 * transpose of max pooling's adjoint, and its tangent */
void FN(dmlrt_pool2d_gather)(const T *x, const T *t, T *y, const int64_t *s) {
  int64_t NC = s[0] * s[1], H = s[2], W = s[3], KH = s[5], KW = s[6], OH = s[7], OW = s[8];
  int64_t sh = s[9], sw = s[10], ph = s[11], pw = s[12];
  for (int64_t c = 0; c < NC; c++)
    for (int64_t i = 0; i < OH; i++)
      for (int64_t j = 0; j < OW; j++) {
        T best = -INFINITY;
        int64_t at = -1;
        for (int64_t p = 0; p < KH; p++)
          for (int64_t q = 0; q < KW; q++) {
            int64_t r = i * sh - ph + p, u = j * sw - pw + q;
            if (r < 0 || r >= H || u < 0 || u >= W) continue;
            int64_t k = (c * H + r) * W + u;
            if (x[k] > best) best = x[k], at = k;
          }
        y[(c * OH + i) * OW + j] = at >= 0 ? t[at] : 0;
      }
}
#undef VL
