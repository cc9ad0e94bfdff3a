/* test_conv.c - the convolution and pooling kernels (runtime/conv.c and
 * runtime/conv_template.h, f32 and f64) against naive references written
 * here from the definitions, in double precision: the interpreter's
 * semantics (compiler/interp.c). Convolution: y[n,o,i,j] = sum over c, p, q
 * of x[n,c,i*sh-ph+p,j*sw-pw+q] w[o,c,p,q], padding reads nothing. Max
 * pooling: padding is -inf, the first maximum in window order (p, then q,
 * strict >, from -inf) takes the gradient, a window of only -inf/NaN sends
 * it nowhere. Average pooling divides by KH*KW (padding counts as zeros).
 * dmlrt_pool2d_gather (max pooling's tangent) is checked with max pooling.
 *
 * The shapes are chosen to reach every path of the kernels: the "wide"
 * direct convolution (stride 1, unpadded, C*KH*KW <= DIRECT_TAPS), the
 * padded direct one, im2col + GEMM (stride 2, (2,1), (1,2), or many taps),
 * the 2x2/stride-2 tiling max pooling ("pool2", one and several chunks of
 * its stack buffers) and shapes just outside it, the generic pooling with
 * separate, overlapping and gapped windows, rows wider than ROW_BLOCK, and
 * lengths around the vector widths. tags() mirrors conv.c's dispatch, and
 * the run fails if the grid misses a path.
 *
 * Every output and scratch buffer is poisoned with NaN (a kernel relying on
 * zeroed memory fails) and framed by sentinels (an out-of-bounds write
 * fails); inputs are allocated to their exact size (the sanitizer build
 * catches over-reads) and must be unchanged. Max pooling must be exact,
 * forward, backward and gather (the gradients are small multiples of 1/8,
 * so every sum of them is exact); the rest within 1e-5 (f32) or 1e-12
 * (f64) of the sum of the magnitudes of the terms.
 *
 * Each configuration runs in a child process, so a crash (or a kernel
 * that loops, after CHILD_SECONDS) fails that configuration only. `test_conv TEXT` runs the configurations whose label
 * contains TEXT in this process (for a debugger); `test_conv --list` lists
 * them with their paths. Built twice (CMakeLists.txt): test_conv against
 * dmlrt_checked, test_conv_native against the -march=native libdmlrt. */
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dml_kernels.h"

/* conv.c's thresholds, to label and check the paths the grid reaches */
enum { DIRECT_TAPS = 27, ROW_BLOCK = 64, POOL2_BUF = 2048 };

/* a configuration takes well under a second, under the sanitizers too */
enum { CHILD_SECONDS = 120 };

static int failures;    /* mismatches in this process */
static int *calls_done; /* kernel calls compared, shared with the children */

/* ---- the configurations and the paths they reach --------------------------------- */

enum {
  T_WIDE = 1 << 0,          /* conv: wide direct path */
  T_WIDE_VECTOR = 1 << 1,   /* ... long enough for its 4-vector loop in both types */
  T_WIDE_SHORT = 1 << 2,    /* ... too short for any vector (scalar tail only) */
  T_DIRECT = 1 << 3,        /* conv: padded direct path */
  T_DIRECT_BLOCKS = 1 << 4, /* ... weight gradient over more than ROW_BLOCK columns */
  T_GEMM_ROWS = 1 << 5,     /* conv: im2col + GEMM, column stride 1 (rows copied) */
  T_GEMM_STRIDED = 1 << 6,  /* conv: im2col + GEMM, column stride > 1 */
  T_GEMM_PADDED = 1 << 7,   /* ... with padding */
  T_POOL2 = 1 << 8,         /* max: 2x2/2 tiling, one chunk */
  T_POOL2_CHUNKS = 1 << 9,  /* ... several chunks of POOL2_BUF */
  T_MAX_SEPARATE = 1 << 10, /* max: generic, windows do not overlap */
  T_MAX_OVERLAP = 1 << 11,  /* max: generic, overlapping windows */
  T_MAX_GAPS = 1 << 12,     /* max: generic, stride > kernel */
  T_MAX_PADDED = 1 << 13,   /* max: generic, padded */
  T_MAX_BLOCKS = 1 << 14,   /* max: generic, more than ROW_BLOCK windows per row */
  T_AVG = 1 << 15,          /* average pooling */
  T_AVG_PADDED = 1 << 16,   /* ... padded */
  T_COUNT = 17
};
static const char *const tag_names[T_COUNT] = {
    "conv wide direct",         "conv wide direct, vector loop", "conv wide direct, scalar only",
    "conv padded direct",       "conv direct weight gradient > ROW_BLOCK columns",
    "conv im2col+GEMM, column stride 1", "conv im2col+GEMM, column stride > 1", "conv im2col+GEMM, padded",
    "max pool2, one chunk",     "max pool2, several chunks",     "max generic, separate windows",
    "max generic, overlapping windows", "max generic, stride > kernel", "max generic, padded",
    "max generic, > ROW_BLOCK windows per row", "average pooling", "average pooling, padded"};

enum { N_, C_, H_, W_, O_, KH_, KW_, OH_, OW_, SH_, SW_, PH_, PW_ };

static bool is_direct(const int64_t *s) { return s[SH_] == 1 && s[SW_] == 1 && s[C_] * s[KH_] * s[KW_] <= DIRECT_TAPS; }
static bool is_pool2(const int64_t *s) {
  return s[KH_] == 2 && s[KW_] == 2 && s[SH_] == 2 && s[SW_] == 2 && s[PH_] == 0 && s[PW_] == 0 &&
         s[H_] == 2 * s[OH_] && s[W_] == 2 * s[OW_] && s[OW_] <= POOL2_BUF / 2;
}
static bool padded(const int64_t *s) { return s[PH_] || s[PW_]; }

static unsigned conv_tags(const int64_t *s) {
  if (is_direct(s) && !padded(s)) {
    int64_t L = (s[OH_] - 1) * s[W_] + s[OW_];
    return T_WIDE | (L >= 32 ? T_WIDE_VECTOR : 0) | (L < 4 ? T_WIDE_SHORT : 0);
  }
  if (is_direct(s)) return T_DIRECT | (s[OW_] > ROW_BLOCK ? T_DIRECT_BLOCKS : 0);
  return (s[SW_] == 1 ? T_GEMM_ROWS : T_GEMM_STRIDED) | (padded(s) ? T_GEMM_PADDED : 0);
}

static unsigned pool_tags(const int64_t *s) {
  unsigned t = T_AVG | (padded(s) ? T_AVG_PADDED : 0);
  if (is_pool2(s)) {
    int64_t step = (POOL2_BUF / s[OW_]) & ~(int64_t)1;
    return t | (s[N_] * s[C_] * s[H_] > step ? T_POOL2_CHUNKS : T_POOL2);
  }
  bool separate = s[SH_] >= s[KH_] && s[SW_] >= s[KW_];
  t |= separate ? T_MAX_SEPARATE : T_MAX_OVERLAP;
  if (s[SH_] > s[KH_] || s[SW_] > s[KW_]) t |= T_MAX_GAPS;
  if (padded(s)) t |= T_MAX_PADDED;
  if (s[OW_] > ROW_BLOCK) t |= T_MAX_BLOCKS;
  return t;
}

typedef struct {
  bool pool;
  int64_t s[13];
  unsigned tags;
  char label[160];
} Config;

static Config *configs;
static int nconfigs;

static void add(bool pool, const char *note, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH,
                int64_t KW, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  if (H + 2 * ph < KH || W + 2 * pw < KW) {
    fprintf(stderr, "test_conv: bad configuration %s\n", note);
    exit(2);
  }
  Config *grown = realloc(configs, sizeof *configs * (size_t)(nconfigs + 1));
  if (!grown) exit(2);
  configs = grown;
  Config *cf = &configs[nconfigs++];
  int64_t s[13] = {N, C, H, W, pool ? C : O, KH, KW, (H + 2 * ph - KH) / sh + 1, (W + 2 * pw - KW) / sw + 1,
                   sh, sw, ph, pw};
  memcpy(cf->s, s, sizeof s);
  cf->pool = pool;
  cf->tags = pool ? pool_tags(s) : conv_tags(s);
  const char *path;
  if (pool) path = is_pool2(s) ? "pool2 for max" : s[SH_] >= s[KH_] && s[SW_] >= s[KW_] ? "generic separate" : "generic overlap";
  else if (is_direct(s)) path = padded(s) ? "direct padded" : "wide";
  else path = s[SW_] == 1 ? "im2col+gemm" : "im2col+gemm strided";
  snprintf(cf->label, sizeof cf->label, "%s N%lld C%lld %lldx%lld O%lld k%lldx%lld s%lld,%lld p%lld,%lld -> %lldx%lld [%s] %s",
           pool ? "pool" : "conv", (long long)N, (long long)C, (long long)H, (long long)W, (long long)s[O_],
           (long long)KH, (long long)KW, (long long)sh, (long long)sw, (long long)ph, (long long)pw,
           (long long)s[OH_], (long long)s[OW_], path, note);
}

#define CONV(note, N, C, H, W, O, KH, KW, sh, sw, ph, pw) add(false, note, N, C, H, W, O, KH, KW, sh, sw, ph, pw)
#define POOL(note, N, C, H, W, KH, KW, sh, sw, ph, pw) add(true, note, N, C, H, W, 0, KH, KW, sh, sw, ph, pw)

/* lengths around the vector widths (8 floats, 4 doubles; 16 with AVX-512) */
static const int64_t widths[] = {1, 7, 8, 9, 13, 16, 17};
enum { NWIDTHS = sizeof widths / sizeof widths[0] };

static void build_grid(void) {
  /* wide direct: stride 1, no padding, C*KH*KW <= 27 */
  CONV("first layer", 3, 1, 28, 28, 4, 3, 3, 1, 1, 0, 0);
  CONV("C*KH*KW = 27 exactly", 2, 3, 6, 6, 2, 3, 3, 1, 1, 0, 0);
  CONV("1x1, C = 27", 2, 27, 3, 5, 3, 1, 1, 1, 1, 0, 0);
  CONV("1x1", 2, 5, 6, 7, 3, 1, 1, 1, 1, 0, 0);
  CONV("1x5", 1, 2, 4, 20, 2, 1, 5, 1, 1, 0, 0);
  CONV("5x1", 3, 3, 9, 9, 2, 5, 1, 1, 1, 0, 0);
  CONV("5x5", 1, 1, 12, 12, 6, 5, 5, 1, 1, 0, 0);
  CONV("window = image", 2, 2, 3, 3, 2, 3, 3, 1, 1, 0, 0);
  CONV("OW > ROW_BLOCK", 1, 1, 4, 82, 2, 3, 3, 1, 1, 0, 0);
  for (int k = 0; k < NWIDTHS; k++) {
    CONV("width sweep", k % 2 ? 3 : 1, 2, 5, widths[k] + 2, 3, 3, 3, 1, 1, 0, 0);
    CONV("width sweep, one row", k % 2 ? 1 : 3, 3, 3, widths[k] + 2, 2, 3, 3, 1, 1, 0, 0);
  }
  static const int64_t runs[] = {15, 31, 32, 33, 64, 65}; /* L around 2 and 4 vectors */
  for (int k = 0; k < 6; k++) CONV("run length sweep, one row", 2, 1, 2, runs[k] + 1, 2, 2, 2, 1, 1, 0, 0);

  /* padded direct: stride 1, padding, C*KH*KW <= 27 */
  CONV("same 3x3, first layer", 3, 1, 28, 28, 4, 3, 3, 1, 1, 1, 1);
  CONV("pad (1,0)", 2, 2, 5, 9, 3, 3, 3, 1, 1, 1, 0);
  CONV("pad (0,2)", 1, 2, 5, 6, 2, 3, 3, 1, 1, 0, 2);
  CONV("5x5 pad 2 on 1x1", 1, 1, 1, 1, 2, 5, 5, 1, 1, 2, 2);
  CONV("5x5 pad 2 on 6x1", 2, 1, 6, 1, 2, 5, 5, 1, 1, 2, 2);
  CONV("1x1 pad 2: windows in the padding", 2, 3, 3, 4, 2, 1, 1, 1, 1, 2, 2);
  CONV("3x3 pad 3: windows in the padding", 1, 2, 4, 4, 2, 3, 3, 1, 1, 3, 3);
  CONV("C*KH*KW = 27, padded", 3, 3, 5, 5, 2, 3, 3, 1, 1, 1, 1);
  for (int k = 0; k < NWIDTHS; k++) CONV("width sweep", k % 2 ? 3 : 1, 3, 4, widths[k], 2, 3, 3, 1, 1, 1, 1);
  CONV("OW = 64", 1, 2, 3, 64, 2, 3, 3, 1, 1, 1, 1);
  CONV("OW = 65 > ROW_BLOCK", 2, 2, 3, 65, 2, 3, 3, 1, 1, 1, 1);
  CONV("OW = 130, three blocks", 1, 1, 4, 130, 3, 3, 3, 1, 1, 1, 1);

  /* im2col + GEMM: stride other than 1, or C*KH*KW > 27 */
  CONV("stride 2", 2, 2, 9, 9, 3, 3, 3, 2, 2, 0, 0);
  CONV("stride 2 pad 1", 3, 3, 8, 8, 4, 3, 3, 2, 2, 1, 1);
  CONV("stride (2,1) pad 1", 2, 3, 7, 9, 2, 3, 3, 2, 1, 1, 1);
  CONV("stride (1,2)", 1, 2, 7, 10, 3, 3, 3, 1, 2, 0, 0);
  CONV("stride (1,2) pad (0,1)", 2, 1, 6, 11, 2, 3, 3, 1, 2, 0, 1);
  CONV("C*KH*KW = 36", 2, 4, 10, 10, 5, 3, 3, 1, 1, 0, 0);
  CONV("C*KH*KW = 72 pad 1", 3, 8, 7, 7, 4, 3, 3, 1, 1, 1, 1);
  CONV("1x1, C = 28", 2, 28, 3, 5, 3, 1, 1, 1, 1, 0, 0);
  CONV("stride 3 > kernel 2", 2, 2, 11, 11, 3, 2, 2, 3, 3, 0, 0);
  CONV("stride 3 pad 2 kernel 2", 1, 2, 7, 8, 2, 2, 2, 3, 3, 2, 2);
  CONV("5x5 stride 2 pad 2", 1, 2, 9, 9, 2, 5, 5, 2, 2, 2, 2);
  CONV("5x5 stride 2 pad 2 on 4x1", 1, 2, 4, 1, 2, 5, 5, 2, 2, 2, 2);
  CONV("many taps, OW > ROW_BLOCK", 1, 4, 3, 70, 2, 3, 3, 1, 1, 1, 1);
  for (int k = 0; k < NWIDTHS; k++) {
    CONV("width sweep, many taps", k % 2 ? 3 : 1, 4, 4, widths[k], 3, 3, 3, 1, 1, 1, 1);
    CONV("width sweep, stride 2", k % 2 ? 1 : 3, 2, 5, 2 * widths[k] - 1, 2, 3, 3, 2, 2, 1, 1);
  }
  /* padding wider than the image: a tap's column range is empty while its
   * row range is not (pad >= 2, width below KW - pad - 1) */
  CONV("5x5 pad 2 on 4x1, many taps", 1, 2, 4, 1, 2, 5, 5, 1, 1, 2, 2);
  CONV("7x7 pad 3 on 2x2", 1, 1, 2, 2, 1, 7, 7, 1, 1, 3, 3);

  /* pooling; every shape runs max (pool2 when it applies) and average */
  POOL("26x26 -> 13x13", 3, 4, 26, 26, 2, 2, 2, 2, 0, 0);
  POOL("26x26 -> 13x13", 1, 1, 26, 26, 2, 2, 2, 2, 0, 0);
  for (int k = 0; k < NWIDTHS; k++) POOL("width sweep", k % 2 ? 3 : 1, 2, 6, 2 * widths[k], 2, 2, 2, 2, 0, 0);
  POOL("OW = 32", 1, 2, 4, 64, 2, 2, 2, 2, 0, 0);
  POOL("OW = 33", 2, 1, 2, 66, 2, 2, 2, 2, 0, 0);
  POOL("546 rows: 156-row chunks and a remainder", 3, 7, 26, 26, 2, 2, 2, 2, 0, 0);
  POOL("OW = 700: two rows a chunk", 1, 2, 6, 1400, 2, 2, 2, 2, 0, 0);
  POOL("OW = 1024: pool2's limit", 1, 1, 4, 2048, 2, 2, 2, 2, 0, 0);
  POOL("OW = 1025: past pool2's limit", 1, 1, 2, 2050, 2, 2, 2, 2, 0, 0);
  POOL("odd 27x27, 2x2/2", 2, 3, 27, 27, 2, 2, 2, 2, 0, 0);
  POOL("odd width 26x27, 2x2/2", 1, 2, 26, 27, 2, 2, 2, 2, 0, 0);
  POOL("odd height 27x26, 2x2/2", 1, 2, 27, 26, 2, 2, 2, 2, 0, 0);
  POOL("2x2/2 pad 1", 2, 2, 26, 26, 2, 2, 2, 2, 1, 1);
  POOL("2x2/2 pad (1,0)", 1, 3, 7, 8, 2, 2, 2, 2, 1, 0);
  POOL("2x2 stride 1", 2, 2, 9, 9, 2, 2, 1, 1, 0, 0);
  POOL("3x3/1 pad 1", 3, 3, 10, 10, 3, 3, 1, 1, 1, 1);
  POOL("3x3/2 pad 1", 3, 3, 11, 11, 3, 3, 2, 2, 1, 1);
  POOL("3x3/2", 2, 2, 11, 11, 3, 3, 2, 2, 0, 0);
  POOL("3x3/3", 2, 2, 9, 10, 3, 3, 3, 3, 1, 1);
  POOL("2x2/3: gaps", 2, 2, 11, 11, 2, 2, 3, 3, 0, 0);
  POOL("1x1/2: gaps", 1, 2, 7, 7, 1, 1, 2, 2, 0, 0);
  POOL("3x2 s(2,1) pad (1,0)", 2, 2, 9, 8, 3, 2, 2, 1, 1, 0);
  POOL("4x4/2 pad 2", 1, 2, 10, 10, 4, 4, 2, 2, 2, 2);
  POOL("window = image", 2, 3, 3, 3, 3, 3, 1, 1, 0, 0);
  POOL("3x3/1 pad 1, OW = 150", 1, 2, 4, 150, 3, 3, 1, 1, 1, 1);
  POOL("2x2/2 pad 1, OW = 151", 1, 1, 4, 301, 2, 2, 2, 2, 1, 1);
  POOL("3x3/2, OW = 65", 1, 1, 5, 131, 3, 3, 2, 2, 0, 0);
  for (int k = 0; k < NWIDTHS; k++) {
    POOL("width sweep 3x3/2 pad 1", k % 2 ? 3 : 1, 2, 5, 2 * widths[k] - 1, 3, 3, 2, 2, 1, 1);
    POOL("width sweep 3x3/1 pad 1", k % 2 ? 1 : 3, 2, 4, widths[k], 3, 3, 1, 1, 1, 1);
  }
}

/* ---- data --------------------------------------------------------------------- */

typedef struct {
  uint64_t s;
} Rng;

static uint64_t next(Rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static double uniform(Rng *r) { return (double)(next(r) >> 11) * 0x1p-52 - 1; } /* [-1, 1) */

enum { RANDOM, TIES, NONFINITE };
static const char *const pattern_names[] = {"random", "ties", "-inf/NaN"};

static double pattern_value(Rng *r, int pattern) {
  static const double relu[4] = {0, 0, 1, 2};
  uint64_t u = next(r);
  switch (pattern) {
  case TIES: return relu[u % 4];
  case NONFINITE: /* 35% -inf, 30% NaN, ties of 0 and 1 */
    u %= 20;
    return u < 7 ? -INFINITY : u < 13 ? NAN : u < 17 ? 0 : 1;
  default: return uniform(r);
  }
}

/* multiples of 1/8 in [-4, 4], not zero: sums of a few are exact */
static double dyadic(Rng *r) {
  uint64_t u = next(r);
  return (double)(1 + (int64_t)(u % 32)) / 8 * (u >> 32 & 1 ? -1 : 1);
}

static double *doubles(int64_t n) {
  double *p = calloc((size_t)n, sizeof *p);
  if (!p) exit(2);
  return p;
}

static double get(const void *p, int64_t i, bool f32) { return f32 ? ((const float *)p)[i] : ((const double *)p)[i]; }

static void put(void *p, int64_t i, double v, bool f32) {
  if (f32) ((float *)p)[i] = (float)v;
  else ((double *)p)[i] = v;
}

/* an input, exactly its size (the sanitizer build catches reads past it) */
static void *input(const double *v, int64_t n, bool f32) {
  void *p = malloc((size_t)n * (f32 ? sizeof(float) : sizeof(double)));
  if (!p) exit(2);
  for (int64_t i = 0; i < n; i++) put(p, i, v[i], f32);
  return p;
}

static bool same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

static void check_input(const char *what, const void *p, const double *v, int64_t n, bool f32) {
  for (int64_t i = 0; i < n; i++)
    if (!same(get(p, i, f32), v[i])) {
      printf("FAIL %s: the kernels changed input %lld\n", what, (long long)i);
      failures++;
      return;
    }
}

/* An output or scratch buffer: 64-byte aligned, its GUARD bytes either side
 * set to SENTINEL, itself poisoned with NaN. */
enum { GUARD = 64 };
#define SENTINEL (-1234.5)

typedef struct {
  void *base, *p;
  int64_t n;
  bool f32;
} Out;

static Out out_new(int64_t n, bool f32) {
  size_t elem = f32 ? sizeof(float) : sizeof(double);
  int64_t g = GUARD / (int64_t)elem;
  Out o = {NULL, NULL, n, f32};
  if (posix_memalign(&o.base, 64, (size_t)(n + 2 * g) * elem)) exit(2);
  for (int64_t i = 0; i < n + 2 * g; i++) put(o.base, i, i < g || i >= g + n ? SENTINEL : NAN, f32);
  o.p = (char *)o.base + GUARD;
  return o;
}

static void out_free(Out *o, const char *what) {
  int64_t g = GUARD / (o->f32 ? (int64_t)sizeof(float) : (int64_t)sizeof(double)), bad = 0, first = 0;
  for (int64_t i = 0; i < o->n + 2 * g; i++) {
    if (i >= g && i < g + o->n) continue;
    if (!(get(o->base, i, o->f32) == SENTINEL) && !bad++) first = i - g;
  }
  if (bad) {
    printf("FAIL %s: %lld writes outside the buffer (of %lld), the first at offset %lld\n", what, (long long)bad,
           (long long)o->n, (long long)first);
    failures++;
  }
  free(o->base);
}

/* got against want: exactly when scale is NULL, else within tol * scale[i]
 * (the sum of the magnitudes of the terms). dims: the buffer's 4 axes. */
static void compare(const char *what, const Out *got, const double *want, const double *scale, double tol,
                    const int64_t dims[4]) {
  int64_t bad = 0;
  (*calls_done)++;
  for (int64_t k = 0; k < got->n; k++) {
    double v = get(got->p, k, got->f32);
    if (scale ? fabs(v - want[k]) <= tol * scale[k] : v == want[k]) continue;
    if (bad++ < 4) {
      int64_t j = k % dims[3], i = k / dims[3] % dims[2], c = k / dims[3] / dims[2] % dims[1],
              n = k / dims[3] / dims[2] / dims[1];
      printf("FAIL %s: at [%lld,%lld,%lld,%lld] got %.9g, want %.17g\n", what, (long long)n, (long long)c,
             (long long)i, (long long)j, v, want[k]);
    }
  }
  if (bad) {
    printf("FAIL %s: %lld of %lld values differ\n", what, (long long)bad, (long long)got->n);
    failures++;
  }
}

/* ---- the references, from the definitions ----------------------------------------- */

/* y = conv(x, w), and for the output gradient g: dx, dw; each with the sum
 * of the magnitudes of its terms (ya, dxa, dwa) */
static void conv_ref(const int64_t *s, const double *x, const double *w, const double *g, double *y, double *ya,
                     double *dx, double *dxa, double *dw, double *dwa) {
  int64_t N = s[N_], C = s[C_], H = s[H_], W = s[W_], O = s[O_], KH = s[KH_], KW = s[KW_], OH = s[OH_], OW = s[OW_];
  for (int64_t n = 0; n < N; n++)
    for (int64_t o = 0; o < O; o++)
      for (int64_t i = 0; i < OH; i++)
        for (int64_t j = 0; j < OW; j++) {
          int64_t yi = ((n * O + o) * OH + i) * OW + j;
          double sum = 0, mag = 0, gv = g[yi];
          for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < KH; p++)
              for (int64_t q = 0; q < KW; q++) {
                int64_t r = i * s[SH_] - s[PH_] + p, t = j * s[SW_] - s[PW_] + q;
                if (r < 0 || r >= H || t < 0 || t >= W) continue;
                int64_t xi = ((n * C + c) * H + r) * W + t, wi = ((o * C + c) * KH + p) * KW + q;
                sum += x[xi] * w[wi], mag += fabs(x[xi] * w[wi]);
                dx[xi] += gv * w[wi], dxa[xi] += fabs(gv * w[wi]);
                dw[wi] += gv * x[xi], dwa[wi] += fabs(gv * x[xi]);
              }
          y[yi] = sum, ya[yi] = mag;
        }
}

/* pooling and its adjoint, likewise; for max pooling also yt: t (shaped
 * like x) at each window's first maximum, 0 where the window has none */
static void pool_ref(bool is_max, const int64_t *s, const double *x, const double *g, const double *t, double *y,
                     double *ya, double *dx, double *dxa, double *yt) {
  int64_t NC = s[N_] * s[C_], H = s[H_], W = s[W_], KH = s[KH_], KW = s[KW_], OH = s[OH_], OW = s[OW_];
  double k = (double)(KH * KW);
  for (int64_t c = 0; c < NC; c++)
    for (int64_t i = 0; i < OH; i++)
      for (int64_t j = 0; j < OW; j++) {
        int64_t yi = (c * OH + i) * OW + j, at = -1;
        double best = -INFINITY, sum = 0, mag = 0, gv = g[yi];
        for (int64_t p = 0; p < KH; p++)
          for (int64_t q = 0; q < KW; q++) {
            int64_t r = i * s[SH_] - s[PH_] + p, u = j * s[SW_] - s[PW_] + q;
            if (r < 0 || r >= H || u < 0 || u >= W) continue;
            int64_t xi = (c * H + r) * W + u;
            if (x[xi] > best) best = x[xi], at = xi;
            sum += x[xi], mag += fabs(x[xi]);
            dx[xi] += is_max ? 0 : gv / k, dxa[xi] += is_max ? 0 : fabs(gv / k);
          }
        if (is_max && at >= 0) dx[at] += gv;
        if (is_max) yt[yi] = at >= 0 ? t[at] : 0;
        y[yi] = is_max ? best : sum / k, ya[yi] = mag / k;
      }
}

/* ---- running the kernels ----------------------------------------------------------- */

static void conv_case(const Config *cf, bool f32, uint64_t seed) {
  const int64_t *s = cf->s;
  int64_t N = s[N_], C = s[C_], H = s[H_], W = s[W_], O = s[O_], KH = s[KH_], KW = s[KW_], OH = s[OH_], OW = s[OW_];
  int64_t nx = N * C * H * W, nw = O * C * KH * KW, ny = N * O * OH * OW, nscratch = C * KH * KW * OH * OW;
  double tol = f32 ? 1e-5 : 1e-12;
  Rng r = {seed};
  double *x = doubles(nx), *w = doubles(nw), *g = doubles(ny);
  for (int64_t i = 0; i < nx; i++) x[i] = f32 ? (float)uniform(&r) : uniform(&r);
  for (int64_t i = 0; i < nw; i++) w[i] = f32 ? (float)uniform(&r) : uniform(&r);
  for (int64_t i = 0; i < ny; i++) g[i] = f32 ? (float)uniform(&r) : uniform(&r);
  double *y = doubles(ny), *ya = doubles(ny), *dx = doubles(nx), *dxa = doubles(nx), *dw = doubles(nw),
         *dwa = doubles(nw);
  conv_ref(s, x, w, g, y, ya, dx, dxa, dw, dwa);
  void *xk = input(x, nx, f32), *wk = input(w, nw, f32), *gk = input(g, ny, f32);
  const int64_t ydims[4] = {N, O, OH, OW}, xdims[4] = {N, C, H, W}, wdims[4] = {O, C, KH, KW};
  char what[256];
  const char *type = f32 ? "f32" : "f64";

  for (int kernel = 0; kernel < 3; kernel++) {
    static const char *const names[] = {"conv2d", "conv2d_backward input", "conv2d_backward weight"};
    int64_t n = kernel == 0 ? ny : kernel == 1 ? nx : nw;
    Out out = out_new(n, f32), scratch = out_new(nscratch, f32);
    if (kernel == 0 && f32) dmlrt_conv2d_f32(xk, wk, out.p, s, scratch.p);
    else if (kernel == 0) dmlrt_conv2d_f64(xk, wk, out.p, s, scratch.p);
    else if (f32) dmlrt_conv2d_backward_f32(kernel == 1, xk, wk, gk, out.p, s, scratch.p);
    else dmlrt_conv2d_backward_f64(kernel == 1, xk, wk, gk, out.p, s, scratch.p);
    snprintf(what, sizeof what, "%s %s, %s", type, names[kernel], cf->label);
    compare(what, &out, kernel == 0 ? y : kernel == 1 ? dx : dw, kernel == 0 ? ya : kernel == 1 ? dxa : dwa, tol,
            kernel == 0 ? ydims : kernel == 1 ? xdims : wdims);
    out_free(&out, what);
    snprintf(what, sizeof what, "%s %s scratch, %s", type, names[kernel], cf->label);
    out_free(&scratch, what);
  }
  snprintf(what, sizeof what, "%s conv2d, %s", type, cf->label);
  check_input(what, xk, x, nx, f32);
  check_input(what, wk, w, nw, f32);
  check_input(what, gk, g, ny, f32);
  free(xk), free(wk), free(gk);
  free(x), free(w), free(g), free(y), free(ya), free(dx), free(dxa), free(dw), free(dwa);
}

static void pool_case(const Config *cf, bool is_max, int pattern, bool f32, uint64_t seed) {
  const int64_t *s = cf->s;
  int64_t N = s[N_], C = s[C_], H = s[H_], W = s[W_], OH = s[OH_], OW = s[OW_];
  int64_t nx = N * C * H * W, ny = N * C * OH * OW;
  Rng r = {seed};
  double *x = doubles(nx), *g = doubles(ny), *t = doubles(nx);
  for (int64_t i = 0; i < nx; i++) x[i] = f32 ? (float)pattern_value(&r, pattern) : pattern_value(&r, pattern);
  for (int64_t i = 0; i < nx; i++) t[i] = dyadic(&r);
  if (pattern == NONFINITE && N * C > 1) /* a whole channel of -inf: every window of it sends nothing */
    for (int64_t i = 0; i < H * W; i++) x[i] = -INFINITY;
  for (int64_t i = 0; i < ny; i++) g[i] = dyadic(&r);
  double *y = doubles(ny), *ya = doubles(ny), *dx = doubles(nx), *dxa = doubles(nx), *yt = doubles(ny);
  pool_ref(is_max, s, x, g, t, y, ya, dx, dxa, yt);
  void *xk = input(x, nx, f32), *gk = input(g, ny, f32), *tk = input(t, nx, f32);
  const int64_t ydims[4] = {N, C, OH, OW}, xdims[4] = {N, C, H, W};
  double tol = is_max ? 0 : f32 ? 1e-5 : 1e-12;
  char what[256];
  const char *type = f32 ? "f32" : "f64", *kind = is_max ? "max" : "avg";

  Out out = out_new(ny, f32);
  if (f32) dmlrt_pool2d_f32(is_max, xk, out.p, s);
  else dmlrt_pool2d_f64(is_max, xk, out.p, s);
  snprintf(what, sizeof what, "%s %s pool2d (%s), %s", type, kind, pattern_names[pattern], cf->label);
  compare(what, &out, y, is_max ? NULL : ya, tol, ydims);
  out_free(&out, what);

  out = out_new(nx, f32);
  if (f32) dmlrt_pool2d_backward_f32(is_max, xk, gk, out.p, s);
  else dmlrt_pool2d_backward_f64(is_max, xk, gk, out.p, s);
  snprintf(what, sizeof what, "%s %s pool2d_backward (%s), %s", type, kind, pattern_names[pattern], cf->label);
  compare(what, &out, dx, is_max ? NULL : dxa, tol, xdims);
  out_free(&out, what);

  if (is_max) { /* the transpose of max pooling's adjoint: no fast path */
    out = out_new(ny, f32);
    if (f32) dmlrt_pool2d_gather_f32(xk, tk, out.p, s);
    else dmlrt_pool2d_gather_f64(xk, tk, out.p, s);
    snprintf(what, sizeof what, "%s pool2d_gather (%s), %s", type, pattern_names[pattern], cf->label);
    compare(what, &out, yt, NULL, 0, ydims);
    out_free(&out, what);
    check_input(what, tk, t, nx, f32);
  }
  check_input(what, xk, x, nx, f32);
  check_input(what, gk, g, ny, f32);
  free(xk), free(gk), free(tk);
  free(x), free(g), free(t), free(y), free(ya), free(dx), free(dxa), free(yt);
}

static void run_config(int k) {
  const Config *cf = &configs[k];
  for (int t = 0; t < 2; t++) {
    bool f32 = t == 0;
    uint64_t seed = (uint64_t)k * 1000003u + 17;
    if (!cf->pool) {
      conv_case(cf, f32, seed);
      continue;
    }
    for (int pattern = RANDOM; pattern <= NONFINITE; pattern++) pool_case(cf, true, pattern, f32, seed + (uint64_t)pattern);
    for (int pattern = RANDOM; pattern <= TIES; pattern++) pool_case(cf, false, pattern, f32, seed + 7 + (uint64_t)pattern);
  }
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* a child's lines come out before it crashes */
  build_grid();
  const char *filter = argc > 1 ? argv[1] : NULL;
  if (filter && strcmp(filter, "--list") == 0) {
    for (int k = 0; k < nconfigs; k++) printf("%s\n", configs[k].label);
    free(configs);
    return 0;
  }
  calls_done = mmap(NULL, sizeof *calls_done, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (calls_done == MAP_FAILED) return 2;
  int ran = 0, bad = 0;
  unsigned tags = 0;
  for (int k = 0; k < nconfigs; k++) {
    if (filter && !strstr(configs[k].label, filter)) continue;
    ran++;
    tags |= configs[k].tags;
    if (filter) { /* in this process */
      int before = failures;
      run_config(k);
      bad += failures != before;
      continue;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      perror("test_conv: fork");
      return 2;
    }
    if (pid == 0) {
      failures = 0; /* the child's own */
      alarm(CHILD_SECONDS);
      run_config(k);
      free(configs);
      exit(failures ? 3 : 0); /* 3: mismatches, reported; anything else: a crash or a sanitizer's report */
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) {
      perror("test_conv: waitpid");
      return 2;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    bad++, failures++;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
      printf("FAIL %s: still running after %d s (a kernel that does not end?)\n", configs[k].label, CHILD_SECONDS);
    else if (WIFSIGNALED(status)) printf("FAIL %s: crashed (signal %d)\n", configs[k].label, WTERMSIG(status));
    else if (WEXITSTATUS(status) != 3)
      printf("FAIL %s: ended with status %d (a crash or a sanitizer's report, above)\n", configs[k].label,
             WEXITSTATUS(status));
  }
  if (!filter)
    for (int t = 0; t < T_COUNT; t++)
      if (!(tags & 1u << t)) printf("FAIL the grid does not reach the path: %s\n", tag_names[t]), failures++;
  free(configs);
  if (failures) {
    printf("test_conv: %d of %d configurations failed (%d kernel calls compared)\n", bad, ran, *calls_done);
    return 1;
  }
  printf("test_conv: all %d configurations passed, %d kernel calls matched the references (%d paths)\n", ran,
         *calls_done, T_COUNT);
  return 0;
}
