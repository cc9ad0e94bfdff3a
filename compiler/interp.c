/* interp.c - the reference interpreter (see interp.h).
 *
 * Values live in an array indexed by value id; blocks are evaluated in
 * order; a FOR re-evaluates its body block once per iteration. Shapes come
 * from the IR types with the symbolic dims looked up in the DimEnv. */
#include "interp.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool dimenv_bind(DimEnv *env, const char *sym, int64_t size) {
  for (int i = 0; i < env->n; i++)
    if (strcmp(env->syms[i], sym) == 0) return env->sizes[i] == size;
  if (env->n == 16) return false;
  env->syms[env->n] = sym;
  env->sizes[env->n++] = size;
  return true;
}

bool dimenv_resolve(const DimEnv *env, const IrType *t, int64_t *dims, int64_t *size) {
  *size = 1;
  for (int i = 0; i < t->rank; i++) {
    Dim d = t->dims[i];
    if (d.sym) {
      int k = 0;
      while (k < env->n && strcmp(env->syms[k], d.sym) != 0) k++;
      if (k == env->n) return false;
      dims[i] = env->sizes[k];
    } else {
      dims[i] = d.size;
    }
    *size *= dims[i];
  }
  return true;
}

Tensor tensor_new(DType dt, int rank, const int64_t *dims) {
  Tensor t = {.dt = dt, .rank = rank, .size = 1};
  for (int i = 0; i < rank; i++) {
    t.dims[i] = dims[i];
    t.size *= dims[i];
  }
  t.data = calloc((size_t)(t.size ? t.size : 1), sizeof(double));
  if (!t.data) {
    fputs("dmlc: out of memory in the interpreter\n", stderr);
    exit(2);
  }
  return t;
}

void tensor_free(Tensor *t) {
  free(t->data);
  t->data = NULL;
}

typedef struct Interp {
  const IrFunc *f;
  const Tensor *inputs, *params;
  const DimEnv *env;
  Tensor *vals;
  char *err;
  size_t errlen;
  bool failed;
  const bool *watch; /* the values whose kinks count (NULL: all) */
  double margin;     /* distance to the nearest kink seen */
  IrVal kink_at;     /* the instruction it was seen at (-1: none) */
} Interp;

static void fail_at(Interp *I, const IrInst *in, const char *fmt, ...) {
  if (I->failed) return;
  I->failed = true;
  int n = 0;
  if (in->span.src) {
    int line, col;
    span_line_col(in->span, &line, &col);
    n = snprintf(I->err, I->errlen, "%s:%d:%d: ", in->span.src->name, line, col);
    if (n < 0 || (size_t)n >= I->errlen) n = 0;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(I->err + n, I->errlen - (size_t)n, fmt, ap);
  va_end(ap);
}

static Tensor *val(Interp *I, IrVal v) { return &I->vals[v]; }

static Tensor result_tensor(Interp *I, const IrInst *in) {
  int64_t dims[MAX_RANK], size;
  if (!dimenv_resolve(I->env, &in->ty, dims, &size)) {
    fail_at(I, in, "a symbolic dimension has no value");
    int64_t one[MAX_RANK] = {1, 1, 1, 1, 1, 1, 1, 1};
    return tensor_new(in->ty.dt, in->ty.rank, one);
  }
  return tensor_new(in->ty.dt, in->ty.rank, dims);
}

static double to_dtype(DType dt, double x) {
  if (dt == DT_I32) return trunc(x);
  if (dt == DT_BOOL) return x != 0;
  return x;
}

static double sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

static double unary(IrOp op, double x) {
  switch (op) {
  case IR_NEG: return -x;
  case IR_EXP: return exp(x);
  case IR_LOG: return log(x);
  case IR_LOG1P: return log1p(x);
  case IR_SQRT: return sqrt(x);
  case IR_ABS: return fabs(x);
  case IR_SIGN: return (x > 0) - (x < 0);
  case IR_TANH: return tanh(x);
  case IR_SIGMOID: return sigmoid(x);
  case IR_RELU: return x > 0 ? x : 0;
  case IR_SOFTPLUS: return softplus(x);
  case IR_SIN: return sin(x);
  case IR_COS: return cos(x);
  default: return x; /* STOP_GRAD, CAST */
  }
}

static double binary(IrOp op, DType dt, double a, double b) {
  switch (op) {
  case IR_ADD: return a + b;
  case IR_SUB: return a - b;
  case IR_MUL: return a * b;
  case IR_DIV: /* integers: x / 0 is 0, INT_MIN / -1 wraps to INT_MIN (language.md) */
    if (dt != DT_I32) return a / b;
    return b == 0 ? 0 : a == INT32_MIN && b == -1 ? a : trunc(a / b);
  case IR_POW: return pow(a, b);
  case IR_MAXIMUM: return a >= b ? a : b;
  case IR_MINIMUM: return a <= b ? a : b;
  case IR_LT: return a < b;
  case IR_LE: return a <= b;
  case IR_GT: return a > b;
  case IR_GE: return a >= b;
  case IR_EQ: return a == b;
  case IR_NE: return a != b;
  default: return 0;
  }
}

/* The shape split around an axis: outer x n x inner. */
static void split(const Tensor *t, int axis, int64_t *outer, int64_t *n, int64_t *inner) {
  *outer = *inner = 1;
  for (int i = 0; i < axis; i++) *outer *= t->dims[i];
  *n = t->dims[axis];
  for (int i = axis + 1; i < t->rank; i++) *inner *= t->dims[i];
}

static void reduce(const IrInst *in, const Tensor *x, Tensor *r) {
  int64_t outer = 1, n = x->size, inner = 1;
  if (in->axis >= 0) split(x, in->axis, &outer, &n, &inner);
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < inner; i++) {
      const double *p = x->data + o * n * inner + i;
      double acc = 0, best = p[0];
      int64_t arg = 0;
      for (int64_t k = 0; k < n; k++) {
        double v = p[k * inner];
        acc += v;
        if ((in->op == IR_MAX || in->op == IR_ARGMAX || in->op == IR_LOGSUMEXP) ? v > best : v < best) {
          best = v;
          arg = k;
        }
      }
      double out;
      switch (in->op) {
      case IR_SUM: out = acc; break;
      case IR_MAX:
      case IR_MIN: out = best; break;
      case IR_ARGMAX:
      case IR_ARGMIN: out = (double)arg; break;
      default: { /* logsumexp, shifted by the maximum */
        double s = 0;
        for (int64_t k = 0; k < n; k++) s += exp(p[k * inner] - best);
        out = best + log(s);
      }
      }
      r->data[o * inner + i] = n ? out : 0;
    }
  }
}

static void softmax(const IrInst *in, const Tensor *x, Tensor *r) {
  int64_t outer, n, inner;
  split(x, in->axis, &outer, &n, &inner);
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < inner; i++) {
      const double *p = x->data + o * n * inner + i;
      double *q = r->data + o * n * inner + i;
      double m = p[0], s = 0;
      for (int64_t k = 1; k < n; k++) m = p[k * inner] > m ? p[k * inner] : m;
      for (int64_t k = 0; k < n; k++) s += exp(p[k * inner] - m);
      for (int64_t k = 0; k < n; k++)
        q[k * inner] = in->op == IR_SOFTMAX ? exp(p[k * inner] - m) / s : p[k * inner] - m - log(s);
    }
  }
}

/* Row-major strides of `t`, with stride 0 for axes of size 1 that are
 * broadcast against `out` (aligned on the right). */
static void broadcast_strides(const Tensor *t, const Tensor *out, int64_t *strides) {
  int64_t s = 1;
  for (int i = out->rank - 1; i >= 0; i--) {
    int k = t->rank - out->rank + i;
    if (k < 0) {
      strides[i] = 0;
      continue;
    }
    strides[i] = t->dims[k] == 1 && out->dims[i] != 1 ? 0 : s;
    s *= t->dims[k];
  }
}

/* For each element of `big`, the offset into the broadcast `small`. */
static int64_t offset_of(int64_t flat, const Tensor *big, const int64_t *strides) {
  int64_t off = 0;
  for (int i = big->rank - 1; i >= 0; i--) {
    int64_t c = flat % big->dims[i];
    flat /= big->dims[i];
    off += c * strides[i];
  }
  return off;
}

static void matmul(const Tensor *a, const Tensor *b, Tensor *r) {
  /* promote vectors: [k] is [1,k] on the left and [k,1] on the right */
  int64_t m = a->rank >= 2 ? a->dims[a->rank - 2] : 1, k = a->dims[a->rank - 1];
  int64_t n = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
  int ba = a->rank >= 2 ? a->rank - 2 : 0, bb = b->rank >= 2 ? b->rank - 2 : 0;
  int br = ba > bb ? ba : bb;
  int64_t batch = 1, bdims[MAX_RANK];
  for (int i = 0; i < br; i++) {
    int ia = ba - br + i, ib = bb - br + i;
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    bdims[i] = da > db ? da : db;
    batch *= bdims[i];
  }
  for (int64_t bi = 0; bi < batch; bi++) {
    /* batch index -> offsets into a and b (broadcast) */
    int64_t rem = bi, oa = 0, ob = 0, sa = m * k, sb = k * n;
    for (int i = br - 1; i >= 0; i--) {
      int64_t c = rem % bdims[i];
      rem /= bdims[i];
      int ia = ba - br + i, ib = bb - br + i;
      if (ia >= 0) {
        if (a->dims[ia] != 1) oa += c * sa;
        sa *= a->dims[ia];
      }
      if (ib >= 0) {
        if (b->dims[ib] != 1) ob += c * sb;
        sb *= b->dims[ib];
      }
    }
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double s = 0;
        for (int64_t q = 0; q < k; q++) s += a->data[oa + i * k + q] * b->data[ob + q * n + j];
        r->data[bi * m * n + i * n + j] = s;
      }
  }
}

/* Visit the elements selected by an INDEX/UPDATE spec: calls back with the
 * offset in the base tensor and the running offset in the selection. */
static bool for_each_indexed(Interp *I, const IrInst *in, const Tensor *base, int64_t *offsets, int64_t count) {
  int64_t lo[MAX_RANK], len[MAX_RANK], selected = 1;
  int arg = in->op == IR_UPDATE ? 2 : 1;
  if (in->naxes > base->rank) {
    fail_at(I, in, "internal error: %d indices for a tensor of rank %d", in->naxes, base->rank);
    return false;
  }
  for (int i = 0; i < base->rank; i++) {
    if (i >= in->naxes) {
      lo[i] = 0;
      len[i] = base->dims[i];
    } else if (in->axes[i].is_slice) {
      lo[i] = in->axes[i].lo;
      len[i] = (in->axes[i].hi < 0 ? base->dims[i] : in->axes[i].hi) - lo[i];
      if (lo[i] < 0 || len[i] < 0 || lo[i] + len[i] > base->dims[i]) {
        fail_at(I, in, "internal error: slice %lld:%lld of axis %d of size %lld", (long long)lo[i],
                (long long)(lo[i] + len[i]), i, (long long)base->dims[i]);
        return false;
      }
    } else {
      if (arg >= in->nargs || val(I, in->args[arg])->size != 1) {
        fail_at(I, in, "internal error: axis %d has no scalar index", i);
        return false;
      }
      int64_t k = (int64_t)val(I, in->args[arg++])->data[0];
      if (k < 0) k += base->dims[i];
      if (k < 0 || k >= base->dims[i]) {
        fail_at(I, in, "index %lld is out of range for axis %d of size %lld",
                (long long)val(I, in->args[arg - 1])->data[0], i, (long long)base->dims[i]);
        return false;
      }
      lo[i] = k;
      len[i] = 1;
    }
    selected *= len[i];
  }
  if (selected != count) {
    fail_at(I, in, "internal error: the index selects %lld elements, not %lld", (long long)selected, (long long)count);
    return false;
  }
  for (int64_t e = 0; e < count; e++) {
    int64_t rem = e, off = 0, stride = 1;
    for (int i = base->rank - 1; i >= 0; i--) {
      int64_t c = rem % len[i];
      rem /= len[i];
      off += (lo[i] + c) * stride;
      stride *= base->dims[i];
    }
    offsets[e] = off;
  }
  return true;
}

static bool label_ok(Interp *I, const IrInst *in, double y, int64_t k) {
  if (y < 0 || y >= (double)k || y != floor(y)) {
    fail_at(I, in, "label %g is out of range 0..%lld", y, (long long)(k - 1));
    return false;
  }
  return true;
}

static void conv2d(const IrInst *in, const Tensor *x, const Tensor *w, Tensor *r) {
  int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
  int64_t O = w->dims[0], KH = w->dims[2], KW = w->dims[3], OH = r->dims[2], OW = r->dims[3];
  for (int64_t n = 0; n < N; n++)
    for (int64_t o = 0; o < O; o++)
      for (int64_t i = 0; i < OH; i++)
        for (int64_t j = 0; j < OW; j++) {
          double s = 0;
          for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < KH; p++)
              for (int64_t q = 0; q < KW; q++) {
                int64_t y = i * in->stride[0] - in->pad[0] + p, z = j * in->stride[1] - in->pad[1] + q;
                if (y < 0 || y >= H || z < 0 || z >= W) continue;
                s += x->data[((n * C + c) * H + y) * W + z] * w->data[((o * C + c) * KH + p) * KW + q];
              }
          r->data[((n * O + o) * OH + i) * OW + j] = s;
        }
}

/* Max pooling ignores padding (it is -inf); average pooling counts it. */
static void pool2d(const IrInst *in, const Tensor *x, Tensor *r) {
  int64_t NC = x->dims[0] * x->dims[1], H = x->dims[2], W = x->dims[3], OH = r->dims[2], OW = r->dims[3];
  for (int64_t c = 0; c < NC; c++)
    for (int64_t i = 0; i < OH; i++)
      for (int64_t j = 0; j < OW; j++) {
        double best = -INFINITY, s = 0;
        for (int64_t p = 0; p < in->kernel[0]; p++)
          for (int64_t q = 0; q < in->kernel[1]; q++) {
            int64_t y = i * in->stride[0] - in->pad[0] + p, z = j * in->stride[1] - in->pad[1] + q;
            if (y < 0 || y >= H || z < 0 || z >= W) continue;
            double v = x->data[(c * H + y) * W + z];
            s += v;
            if (v > best) best = v;
          }
        r->data[(c * OH + i) * OW + j] = in->op == IR_MAXPOOL2D ? best : s / (double)(in->kernel[0] * in->kernel[1]);
      }
}

/* The adjoints of conv2d and the poolings: each forward contribution
 * y[n,o,i,j] += x[n,c,r,t] w[o,c,p,q] (or the window's max or mean),
 * sent back along the same index pairs. shape: as conv2d/pool2d read it. */
typedef struct Window {
  int64_t N, C, H, W, O, KH, KW, OH, OW;
} Window;

static void conv2d_backward(const IrInst *in, const Tensor *x, const Tensor *w, const Tensor *g, Tensor *r,
                            bool for_input) {
  Window s = {x->dims[0], x->dims[1], x->dims[2], x->dims[3], w->dims[0], w->dims[2], w->dims[3], g->dims[2], g->dims[3]};
  for (int64_t n = 0; n < s.N; n++)
    for (int64_t o = 0; o < s.O; o++)
      for (int64_t i = 0; i < s.OH; i++)
        for (int64_t j = 0; j < s.OW; j++) {
          double gv = g->data[((n * s.O + o) * s.OH + i) * s.OW + j];
          for (int64_t c = 0; c < s.C; c++)
            for (int64_t p = 0; p < s.KH; p++)
              for (int64_t q = 0; q < s.KW; q++) {
                int64_t y = i * in->stride[0] - in->pad[0] + p, z = j * in->stride[1] - in->pad[1] + q;
                if (y < 0 || y >= s.H || z < 0 || z >= s.W) continue;
                int64_t xi = ((n * s.C + c) * s.H + y) * s.W + z, wi = ((o * s.C + c) * s.KH + p) * s.KW + q;
                if (for_input) r->data[xi] += gv * w->data[wi];
                else r->data[wi] += gv * x->data[xi];
              }
        }
}

/* Where window (i, j) of plane c has its first maximum (strict >, as the
 * forward compares), as an index into x; -1 for a window of -inf or NaN. */
static int64_t window_argmax(const IrInst *in, const Tensor *x, int64_t c, int64_t i, int64_t j) {
  int64_t H = x->dims[2], W = x->dims[3], at = -1;
  double best = -INFINITY;
  for (int64_t p = 0; p < in->kernel[0]; p++)
    for (int64_t q = 0; q < in->kernel[1]; q++) {
      int64_t y = i * in->stride[0] - in->pad[0] + p, z = j * in->stride[1] - in->pad[1] + q;
      if (y < 0 || y >= H || z < 0 || z >= W) continue;
      int64_t k = (c * H + y) * W + z;
      if (x->data[k] > best) best = x->data[k], at = k;
    }
  return at;
}

static void pool2d_backward(const IrInst *in, const Tensor *x, const Tensor *g, Tensor *r, bool is_max) {
  int64_t NC = x->dims[0] * x->dims[1], H = x->dims[2], W = x->dims[3], OH = g->dims[2], OW = g->dims[3];
  for (int64_t c = 0; c < NC; c++)
    for (int64_t i = 0; i < OH; i++)
      for (int64_t j = 0; j < OW; j++) {
        double gv = g->data[(c * OH + i) * OW + j];
        if (is_max) {
          int64_t at = window_argmax(in, x, c, i, j);
          if (at >= 0) r->data[at] += gv;
          continue;
        }
        double share = gv / (double)(in->kernel[0] * in->kernel[1]); /* padding counts, as in the forward */
        for (int64_t p = 0; p < in->kernel[0]; p++)
          for (int64_t q = 0; q < in->kernel[1]; q++) {
            int64_t y = i * in->stride[0] - in->pad[0] + p, z = j * in->stride[1] - in->pad[1] + q;
            if (y >= 0 && y < H && z >= 0 && z < W) r->data[(c * H + y) * W + z] += share;
          }
      }
}

/* t at each window's first maximum of x (0 where a window has none): the
 * transpose of maxpool2d_backward's scatter, and maxpool2d's tangent */
static void pool2d_gather(const IrInst *in, const Tensor *x, const Tensor *t, Tensor *r) {
  int64_t NC = x->dims[0] * x->dims[1], OH = r->dims[2], OW = r->dims[3];
  for (int64_t c = 0; c < NC; c++)
    for (int64_t i = 0; i < OH; i++)
      for (int64_t j = 0; j < OW; j++) {
        int64_t at = window_argmax(in, x, c, i, j);
        r->data[(c * OH + i) * OW + j] = at >= 0 ? t->data[at] : 0;
      }
}

/* ---- the interpreter checks its own bounds ------------------------------------
 * The IR's types are the compiler's claims; the interpreter does not trust
 * them. Before an op runs, its operands are checked against each other and
 * against the result's type, so that a wrong type (once, reverse mode gave
 * the adjoint of a broadcast batched product [n,2,4] the type [1,2,4]) is
 * an internal error naming the op, never a write past a buffer. */

static bool same_dims(const Tensor *a, const Tensor *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

/* small broadcasts to big: NumPy's rules, aligned on the right */
static bool broadcasts_to(const Tensor *small, const Tensor *big) {
  if (small->rank > big->rank) return false;
  for (int i = 1; i <= small->rank; i++) {
    int64_t s = small->dims[small->rank - i], b = big->dims[big->rank - i];
    if (s != b && s != 1) return false;
  }
  return true;
}

/* r is a @ b: inner sizes agree, batch axes broadcast, r has the shape
 * NumPy gives (a vector operand's promoted axis dropped) */
static bool matmul_fits(const Tensor *a, const Tensor *b, const Tensor *r) {
  if (a->rank < 1 || b->rank < 1) return false;
  int64_t k = a->dims[a->rank - 1], kb = b->rank >= 2 ? b->dims[b->rank - 2] : b->dims[0];
  int ba = a->rank >= 2 ? a->rank - 2 : 0, bb = b->rank >= 2 ? b->rank - 2 : 0, br = ba > bb ? ba : bb;
  int64_t want[MAX_RANK + 2];
  int rank = 0;
  for (int i = 0; i < br; i++) {
    int64_t da = i - br + ba >= 0 ? a->dims[i - br + ba] : 1, db = i - br + bb >= 0 ? b->dims[i - br + bb] : 1;
    if (da != db && da != 1 && db != 1) return false;
    want[rank++] = da == 1 ? db : da;
  }
  if (a->rank >= 2) want[rank++] = a->dims[a->rank - 2];
  if (b->rank >= 2) want[rank++] = b->dims[b->rank - 1];
  if (k != kb || rank != r->rank) return false;
  for (int i = 0; i < rank; i++)
    if (want[i] != r->dims[i]) return false;
  return true;
}

static bool reduce_fits(const IrInst *in, const Tensor *a, const Tensor *r) {
  if (in->axis < 0) return r->size == 1;
  if (in->axis >= a->rank) return false;
  int64_t rest = 1;
  for (int i = 0; i < a->rank; i++) rest *= i == in->axis ? 1 : a->dims[i];
  return r->size == rest;
}

static bool transpose_fits(const Tensor *a, const Tensor *r) {
  if (a->rank < 2 || a->rank != r->rank) return false;
  for (int i = 0; i < a->rank - 2; i++)
    if (a->dims[i] != r->dims[i]) return false;
  return a->dims[a->rank - 2] == r->dims[r->rank - 1] && a->dims[a->rank - 1] == r->dims[r->rank - 2];
}

/* (in + 2 pad - k) / stride + 1, as sema computes a window's output size */
static bool window_fits(const IrInst *in, int64_t kh, int64_t kw, const Tensor *x, const Tensor *y) {
  if (x->rank != 4 || y->rank != 4 || in->stride[0] <= 0 || in->stride[1] <= 0) return false;
  int64_t sh = x->dims[2] + 2 * in->pad[0] - kh, sw = x->dims[3] + 2 * in->pad[1] - kw;
  return x->dims[0] == y->dims[0] && sh >= 0 && sw >= 0 && y->dims[2] == sh / in->stride[0] + 1 &&
         y->dims[3] == sw / in->stride[1] + 1;
}

/* conv2d: x [N,C,H,W], w [O,C,KH,KW] give y [N,O,OH,OW] */
static bool conv_fits(const IrInst *in, const Tensor *x, const Tensor *w, const Tensor *y) {
  return w->rank == 4 && window_fits(in, w->dims[2], w->dims[3], x, y) && x->dims[1] == w->dims[1] &&
         y->dims[1] == w->dims[0];
}

/* pooling: x [N,C,H,W] gives y [N,C,OH,OW] */
static bool pool_fits(const IrInst *in, const Tensor *x, const Tensor *y) {
  return window_fits(in, in->kernel[0], in->kernel[1], x, y) && x->dims[1] == y->dims[1];
}

static bool shapes_fit(Interp *I, const IrInst *in, const Tensor *a, const Tensor *b, const Tensor *r) {
  const Tensor *c = in->nargs > 2 ? val(I, in->args[2]) : NULL;
  switch (in->op) {
  case IR_EYE: return r->rank == 2 && r->dims[0] == r->dims[1];
  case IR_SELECT: return same_dims(a, r) && same_dims(b, r) && same_dims(c, r);
  case IR_SOFTMAX:
  case IR_LOG_SOFTMAX: return same_dims(a, r) && in->axis >= 0 && in->axis < a->rank;
  case IR_MATMUL: return matmul_fits(a, b, r);
  case IR_TRANSPOSE: return transpose_fits(a, r);
  case IR_RESHAPE: return a->size == r->size;
  case IR_BROADCAST: return broadcasts_to(a, r);
  case IR_SUM_TO: return broadcasts_to(r, a);
  case IR_INDEX: return true; /* for_each_indexed checks the selection */
  case IR_UPDATE: return same_dims(a, r);
  case IR_ONEHOT: return r->rank == a->rank + 1 && r->size == a->size * r->dims[r->rank - 1];
  case IR_PICK:
  case IR_CROSS_ENTROPY:
    return a->rank >= 1 && a->size == b->size * a->dims[a->rank - 1] && (in->op != IR_PICK || r->size == b->size);
  case IR_MSE: return a->size == b->size;
  case IR_CONV2D: return conv_fits(in, a, b, r);
  case IR_CONV2D_BWD_INPUT: return same_dims(c, r) && conv_fits(in, c, b, a);    /* (g, w, x) */
  case IR_CONV2D_BWD_WEIGHT: return same_dims(c, r) && conv_fits(in, a, c, b);   /* (x, g, w) */
  case IR_MAXPOOL2D:
  case IR_AVGPOOL2D: return pool_fits(in, a, r);
  case IR_MAXPOOL2D_BWD: return same_dims(a, r) && pool_fits(in, a, b);          /* (x, g) */
  case IR_AVGPOOL2D_BWD: return same_dims(b, r) && pool_fits(in, b, a);          /* (g, x) */
  case IR_MAXPOOL2D_GATHER: return same_dims(a, b) && pool_fits(in, a, r);       /* (x, t) */
  default: break;
  }
  switch (ir_ops[in->op].kind) {
  case K_UNARY: return same_dims(a, r);
  case K_BINARY:
  case K_COMPARE: return same_dims(a, r) && same_dims(b, r);
  case K_REDUCE: return reduce_fits(in, a, r);
  default: return true;
  }
}

static const char *shape_text(const Tensor *t, char *buf, size_t len) {
  int n = snprintf(buf, len, "[");
  for (int i = 0; i < t->rank && n > 0 && (size_t)n < len; i++)
    n += snprintf(buf + n, len - (size_t)n, "%s%lld", i ? "," : "", (long long)t->dims[i]);
  if (n > 0 && (size_t)n < len) snprintf(buf + n, len - (size_t)n, "]");
  return buf;
}

/* the op as `emit ir` prints it */
static const char *op_name(IrOp op, char *buf, size_t len) {
  size_t k = 0;
  for (const char *p = ir_ops[op].name; *p && k + 1 < len; p++) buf[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
  buf[k] = 0;
  return buf;
}

/* Every operand computed, and shapes that fit: otherwise an internal error. */
static bool operands_fit(Interp *I, const IrInst *in, const Tensor *r) {
  for (int i = 0; i < in->nargs; i++)
    if (!val(I, in->args[i])->data) {
      char op[32];
      fail_at(I, in, "internal error: `%s` reads a value that was never computed", op_name(in->op, op, sizeof op));
      return false;
    }
  const Tensor *a = in->nargs > 0 ? val(I, in->args[0]) : NULL, *b = in->nargs > 1 ? val(I, in->args[1]) : NULL;
  if (shapes_fit(I, in, a, b, r)) return true;
  char op[32], sr[160], s0[160], s1[160];
  fail_at(I, in, "internal error: `%s` of %s%s%s cannot have the shape %s", op_name(in->op, op, sizeof op),
          a ? shape_text(a, s0, sizeof s0) : "nothing", b ? " and " : "", b ? shape_text(b, s1, sizeof s1) : "",
          shape_text(r, sr, sizeof sr));
  return false;
}

static void eval_block(Interp *I, const IrBlock *b);
static void compute(Interp *I, const IrInst *in, Tensor *r);

static void note_pool_ties(Interp *I, const IrInst *in, const Tensor *x) {
  int64_t NC = x->dims[0] * x->dims[1], H = x->dims[2], W = x->dims[3];
  int64_t OH = (H + 2 * in->pad[0] - in->kernel[0]) / in->stride[0] + 1, OW = (W + 2 * in->pad[1] - in->kernel[1]) / in->stride[1] + 1;
  for (int64_t c = 0; c < NC; c++)
    for (int64_t i = 0; i < OH; i++)
      for (int64_t j = 0; j < OW; j++) {
        double best = -INFINITY, second = -INFINITY;
        for (int64_t p = 0; p < in->kernel[0]; p++)
          for (int64_t q = 0; q < in->kernel[1]; q++) {
            int64_t y = i * in->stride[0] - in->pad[0] + p, z = j * in->stride[1] - in->pad[1] + q;
            if (y < 0 || y >= H || z < 0 || z >= W) continue;
            double v = x->data[(c * H + y) * W + z];
            if (v > best) second = best, best = v;
            else if (v > second) second = v;
          }
        /* an exact tie is structural (relu zeros in one window) and survives a small step */
        if (isfinite(second) && best > second && best - second < I->margin)
          I->margin = best - second, I->kink_at = (IrVal)(in - I->f->v);
      }
}

static void note_kinks(Interp *I, const IrInst *in, const Tensor *a, const Tensor *b) {
  if (I->watch && !I->watch[in - I->f->v]) return;
  if (in->op == IR_MAXPOOL2D) note_pool_ties(I, in, a);
  bool unary = in->op == IR_RELU || in->op == IR_ABS || in->op == IR_SIGN;
  bool pair = in->op == IR_MAXIMUM || in->op == IR_MINIMUM ||
              (ir_ops[in->op].kind == K_COMPARE && a && (a->dt == DT_F32 || a->dt == DT_F64));
  if (!unary && !pair) return;
  for (int64_t i = 0; i < a->size; i++) {
    double m = fabs(unary ? a->data[i] : a->data[i] - b->data[i]);
    if (m < I->margin) I->margin = m, I->kink_at = (IrVal)(in - I->f->v);
  }
}

static void eval_for(Interp *I, IrVal id) {
  const IrInst *in = &I->f->v[id];
  int64_t lo = (int64_t)val(I, in->args[0])->data[0], hi = (int64_t)val(I, in->args[1])->data[0];
  int ncarry = in->nargs - 2;
  Tensor carry[IR_MAX_ARGS];
  for (int i = 0; i < ncarry; i++) {
    const Tensor *init = val(I, in->args[2 + i]);
    carry[i] = tensor_new(init->dt, init->rank, init->dims);
    memcpy(carry[i].data, init->data, sizeof(double) * (size_t)init->size);
  }
  const IrBlock *body = in->body;
  for (int64_t t = lo; t < hi && !I->failed; t++) {
    for (int k = 0; k < body->n; k++) {
      IrVal v = body->ids[k];
      const IrInst *bi = &I->f->v[v];
      if (bi->op == IR_LOOP_INDEX) {
        tensor_free(val(I, v));
        int64_t none[1] = {0};
        I->vals[v] = tensor_new(DT_I32, 0, none);
        I->vals[v].data[0] = (double)t;
      } else if (bi->op == IR_LOOP_CARRY) {
        tensor_free(val(I, v));
        I->vals[v] = carry[bi->index];
        carry[bi->index].data = NULL;
      }
    }
    eval_block(I, body);
    for (int i = 0; i < ncarry && !I->failed; i++) {
      const Tensor *y = val(I, body->yields[i]);
      if (!y->data || !same_dims(y, val(I, in->args[2 + i]))) {
        fail_at(I, in, "internal error: the loop's carried value %d changes its shape", i);
        break;
      }
      carry[i] = tensor_new(y->dt, y->rank, y->dims);
      memcpy(carry[i].data, y->data, sizeof(double) * (size_t)y->size);
    }
  }
  /* the final carried values are read by FOR_RESULT */
  for (int k = id + 1; k < I->f->nv; k++) {
    const IrInst *r = &I->f->v[k];
    if (r->op == IR_FOR_RESULT && r->args[0] == id && carry[r->index].data) {
      tensor_free(val(I, k));
      Tensor *c = &carry[r->index];
      I->vals[k] = tensor_new(c->dt, c->rank, c->dims);
      memcpy(I->vals[k].data, c->data, sizeof(double) * (size_t)c->size);
    }
  }
  for (int i = 0; i < ncarry; i++) tensor_free(&carry[i]);
}

static void eval(Interp *I, IrVal id) {
  const IrInst *in = &I->f->v[id];
  if (in->op == IR_FOR) {
    eval_for(I, id);
    return;
  }
  if (in->op == IR_FOR_RESULT || in->op == IR_LOOP_INDEX || in->op == IR_LOOP_CARRY) return;
  Tensor r = result_tensor(I, in);
  if (!I->failed && operands_fit(I, in, &r)) compute(I, in, &r);
  tensor_free(val(I, id));
  I->vals[id] = r;
}

/* in's value into r, whose shape operands_fit has checked */
static void compute(Interp *I, const IrInst *in, Tensor *r) {
  Tensor *a = in->nargs > 0 ? val(I, in->args[0]) : NULL;
  Tensor *b = in->nargs > 1 ? val(I, in->args[1]) : NULL;
  note_kinks(I, in, a, b);
  switch (ir_ops[in->op].kind) {
  case K_UNARY:
    for (int64_t i = 0; i < r->size; i++) r->data[i] = to_dtype(in->ty.dt, unary(in->op, a->data[i]));
    break;
  case K_BINARY:
  case K_COMPARE:
    for (int64_t i = 0; i < r->size; i++) {
      r->data[i] = to_dtype(in->ty.dt, binary(in->op, in->ty.dt, a->data[i], b->data[i]));
    }
    break;
  case K_REDUCE: reduce(in, a, r); break;
  default: break;
  }
  switch (in->op) {
  case IR_CONST: r->data[0] = in->num; break;
  case IR_FILL:
    for (int64_t i = 0; i < r->size; i++) r->data[i] = in->num;
    break;
  case IR_EYE:
    for (int64_t i = 0; i < r->dims[0]; i++) r->data[i * r->dims[0] + i] = 1;
    break;
  case IR_INPUT:
  case IR_PARAM: {
    const Tensor *src = in->op == IR_INPUT ? &I->inputs[in->index] : &I->params[in->index];
    if (src->size != r->size) fail_at(I, in, "internal error: argument %d has %lld elements, not %lld", in->index,
                                     (long long)src->size, (long long)r->size);
    else memcpy(r->data, src->data, sizeof(double) * (size_t)r->size);
    break;
  }
  case IR_DIMSIZE: {
    IrType t = {.dt = DT_I32, .rank = in->nsize_dims};
    memcpy(t.dims, in->size_dims, sizeof(Dim) * (size_t)in->nsize_dims);
    int64_t dims[MAX_RANK], size;
    if (!dimenv_resolve(I->env, &t, dims, &size)) fail_at(I, in, "a symbolic dimension has no value");
    r->data[0] = (double)size;
    break;
  }
  case IR_SELECT: {
    const Tensor *c = val(I, in->args[2]);
    for (int64_t i = 0; i < r->size; i++) r->data[i] = a->data[i] != 0 ? b->data[i] : c->data[i];
    break;
  }
  case IR_SOFTMAX:
  case IR_LOG_SOFTMAX: softmax(in, a, r); break;
  case IR_MATMUL: matmul(a, b, r); break;
  case IR_TRANSPOSE: {
    int64_t m = a->dims[a->rank - 2], n = a->dims[a->rank - 1], batch = m * n > 0 ? a->size / (m * n) : 0;
    for (int64_t q = 0; q < batch; q++)
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) r->data[q * m * n + j * m + i] = a->data[q * m * n + i * n + j];
    break;
  }
  case IR_RESHAPE: memcpy(r->data, a->data, sizeof(double) * (size_t)r->size); break;
  case IR_BROADCAST: {
    int64_t strides[MAX_RANK];
    broadcast_strides(a, r, strides);
    for (int64_t i = 0; i < r->size; i++) r->data[i] = a->data[offset_of(i, r, strides)];
    break;
  }
  case IR_SUM_TO: {
    int64_t strides[MAX_RANK];
    broadcast_strides(r, a, strides);
    for (int64_t i = 0; i < a->size; i++) r->data[offset_of(i, a, strides)] += a->data[i];
    break;
  }
  case IR_INDEX: {
    int64_t *offs = malloc(sizeof(int64_t) * (size_t)(r->size ? r->size : 1));
    if (for_each_indexed(I, in, a, offs, r->size))
      for (int64_t i = 0; i < r->size; i++) r->data[i] = a->data[offs[i]];
    free(offs);
    break;
  }
  case IR_UPDATE: {
    memcpy(r->data, a->data, sizeof(double) * (size_t)r->size);
    int64_t *offs = malloc(sizeof(int64_t) * (size_t)(b->size ? b->size : 1));
    if (for_each_indexed(I, in, a, offs, b->size))
      for (int64_t i = 0; i < b->size; i++) r->data[offs[i]] = b->data[i];
    free(offs);
    break;
  }
  case IR_ONEHOT: {
    int64_t k = r->dims[r->rank - 1];
    for (int64_t i = 0; i < a->size && label_ok(I, in, a->data[i], k); i++) r->data[i * k + (int64_t)a->data[i]] = 1;
    break;
  }
  case IR_PICK: {
    int64_t k = a->dims[a->rank - 1];
    for (int64_t i = 0; i < b->size && label_ok(I, in, b->data[i], k); i++)
      r->data[i] = a->data[i * k + (int64_t)b->data[i]];
    break;
  }
  case IR_CROSS_ENTROPY: {
    int64_t k = a->dims[a->rank - 1], rows = b->size;
    double s = 0;
    for (int64_t i = 0; i < rows && label_ok(I, in, b->data[i], k); i++) {
      const double *z = a->data + i * k;
      double m = z[0], e = 0;
      for (int64_t j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
      for (int64_t j = 0; j < k; j++) e += exp(z[j] - m);
      s += m + log(e) - z[(int64_t)b->data[i]];
    }
    r->data[0] = rows ? s / (double)rows : 0;
    break;
  }
  case IR_MSE: {
    double s = 0;
    for (int64_t i = 0; i < a->size; i++) s += (a->data[i] - b->data[i]) * (a->data[i] - b->data[i]);
    r->data[0] = a->size ? s / (double)a->size : 0;
    break;
  }
  case IR_L1:
  case IR_L2: {
    double s = 0;
    for (int64_t i = 0; i < a->size; i++) s += in->op == IR_L1 ? fabs(a->data[i]) : a->data[i] * a->data[i];
    r->data[0] = s;
    break;
  }
  case IR_CONV2D: conv2d(in, a, b, r); break;
  case IR_CONV2D_BWD_INPUT: conv2d_backward(in, val(I, in->args[2]), b, a, r, true); break;
  case IR_CONV2D_BWD_WEIGHT: conv2d_backward(in, a, val(I, in->args[2]), b, r, false); break;
  case IR_MAXPOOL2D_BWD: pool2d_backward(in, a, b, r, true); break;
  case IR_AVGPOOL2D_BWD: pool2d_backward(in, b, a, r, false); break;
  case IR_MAXPOOL2D_GATHER: pool2d_gather(in, a, b, r); break;
  case IR_MAXPOOL2D:
  case IR_AVGPOOL2D: pool2d(in, a, r); break;
  default: break;
  }
}

static void eval_block(Interp *I, const IrBlock *b) {
  for (int i = 0; i < b->n && !I->failed; i++) eval(I, b->ids[i]);
}

bool interp_run(const IrFunc *f, const Tensor *inputs, const Tensor *params, const DimEnv *env, Tensor *results,
                char *err, size_t errlen) {
  return interp_run_kink(f, inputs, params, env, results, err, errlen, NULL, NULL, NULL);
}

bool interp_run_margin(const IrFunc *f, const Tensor *inputs, const Tensor *params, const DimEnv *env,
                       Tensor *results, char *err, size_t errlen, double *kink_margin) {
  return interp_run_kink(f, inputs, params, env, results, err, errlen, NULL, kink_margin, NULL);
}

bool interp_run_kink(const IrFunc *f, const Tensor *inputs, const Tensor *params, const DimEnv *env,
                     Tensor *results, char *err, size_t errlen, const bool *watch, double *kink_margin,
                     IrVal *kink_at) {
  Interp I = {.f = f, .inputs = inputs, .params = params, .env = env, .vals = calloc((size_t)f->nv + 1, sizeof(Tensor)),
              .err = err, .errlen = errlen, .watch = watch, .margin = INFINITY, .kink_at = -1};
  if (errlen) err[0] = 0;
  eval_block(&I, &f->body);
  for (int i = 0; i < f->nresults; i++) {
    if (I.failed) {
      results[i] = (Tensor){0};
      continue;
    }
    results[i] = I.vals[f->results[i]];
    I.vals[f->results[i]].data = NULL; /* moved */
    for (int j = i + 1; j < f->nresults; j++)
      if (f->results[j] == f->results[i]) { /* the same value returned twice */
        Tensor *t = &results[i];
        I.vals[f->results[i]] = tensor_new(t->dt, t->rank, t->dims);
        memcpy(I.vals[f->results[i]].data, t->data, sizeof(double) * (size_t)t->size);
        break;
      }
  }
  for (int i = 0; i < f->nv; i++) tensor_free(&I.vals[i]);
  free(I.vals);
  if (kink_margin) *kink_margin = I.margin;
  if (kink_at) *kink_at = I.kink_at;
  return !I.failed;
}
