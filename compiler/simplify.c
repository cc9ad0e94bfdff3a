/* simplify.c - algebraic clean-up after autodiff, then dead code removal.
 *
 * The function is rebuilt value by value into a fresh IrFunc: each
 * instruction's operands are already simplified when it is visited, a few
 * local rewrite rules may replace it by an operand or a cheaper form, and
 * the hash-consing builder shares whatever became identical (CSE). Only
 * values reachable from the results are rebuilt, which is the dead code
 * elimination: no gradient code survives for values nothing reads.
 *
 * The rules are the identities autodiff produces in practice: x*1, x+0,
 * x*0, 0-x, --x, transpose of transpose, broadcast/reshape/sum_to to the
 * same shape, constant folding of constants and fills, repeated scaling
 * c1*(c2*x), x+x, a sum of a broadcast scalar, and relu's mask moved
 * before max pooling's adjoint. Loop-invariant transposes are moved out of
 * loops. */
#include "simplify.h"
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct Simp {
  const IrFunc *old;
  IrFunc *f;
  IrVal *map;   /* old value -> new value */
  bool *live;
  uint64_t *carries; /* a loop's carried values that are live (bit j: carry j) */
  bool inlining; /* ir_inline: old is a derivative function built for the caller */
} Simp;

static bool is_const(const IrInst *in) { return in->op == IR_CONST || in->op == IR_FILL; }

static IrVal fill(Simp *S, const IrInst *like, double c, IrType t) {
  IrInst p = *like;
  p.op = t.rank ? IR_FILL : IR_CONST;
  p.ty = t;
  p.num = c;
  p.nargs = 0;
  p.body = NULL;
  p.naxes = 0;
  p.nsize_dims = 0;
  return ir_emit(S->f, &p);
}

static IrInst *N(Simp *S, IrVal v) { return &S->f->v[v]; }

static IrVal negate(Simp *S, IrVal x, const IrInst *like) {
  IrInst *in = N(S, x);
  if (in->op == IR_NEG) return in->args[0];
  if (is_const(in)) return fill(S, like, -in->num, in->ty);
  IrInst q = *like;
  q.op = IR_NEG;
  q.ty = in->ty;
  q.args[0] = x;
  q.nargs = 1;
  return ir_emit(S->f, &q);
}

/* A scalar broadcast to the shape of `like`'s result (or itself if equal). */
static IrVal broadcast_like(Simp *S, IrVal x, const IrInst *like) {
  IrInst *in = N(S, x);
  IrType t = like->ty;
  t.dt = in->ty.dt;
  if (ir_type_equal(&in->ty, &t)) return x;
  if (is_const(in)) return fill(S, like, in->num, t);
  IrInst q = *like;
  q.op = IR_BROADCAST;
  q.ty = t;
  q.args[0] = x;
  q.nargs = 1;
  return ir_emit(S->f, &q);
}

/* select(x > 0, maxpool2d_backward(x, g), 0)
 *   = maxpool2d_backward(x, select(y > 0, g, 0)),  y = maxpool2d(x):
 * the adjoint is g at each window's maximum, where x equals the window's
 * y, and zero elsewhere, so the mask can be taken on the pooled tensor.
 * That is relu's adjoint before max pooling's in a CNN: one pass over the
 * pooled data (a quarter, for 2x2 windows) instead of the whole. Only when
 * the forward code computes y already. */
static IrVal mask_before_pool_adjoint(Simp *S, const IrInst *p) {
  IrInst *c = N(S, p->args[0]), *bwd = N(S, p->args[1]), *z = N(S, p->args[2]);
  if (c->op != IR_GT || bwd->op != IR_MAXPOOL2D_BWD || !is_const(z) || z->num != 0) return -1;
  IrInst *zero = N(S, c->args[1]);
  if (c->args[0] != bwd->args[0] || !is_const(zero) || zero->num != 0) return -1;
  IrInst y = *bwd;
  y.op = IR_MAXPOOL2D;
  y.nargs = 1;
  y.ty = N(S, bwd->args[1])->ty;
  IrVal yv = ir_find(S->f, &y);
  if (yv < 0) return -1;
  IrInst gt = *c, sel = *p, nb = *bwd; /* copies: emitting may move f->v */
  gt.args[0] = yv;
  gt.args[1] = fill(S, p, 0, y.ty);
  gt.ty = y.ty;
  gt.ty.dt = DT_BOOL;
  sel.args[0] = ir_emit(S->f, &gt);
  sel.args[1] = nb.args[1];
  sel.args[2] = fill(S, p, 0, y.ty);
  sel.ty = y.ty;
  nb.args[1] = ir_emit(S->f, &sel);
  return ir_emit(S->f, &nb);
}

/* ---- constants, as the target computes them ------------------------------
 * A constant expression folds only to the number the generated code would
 * compute: in the program's dtype (an f32 constant in float arithmetic,
 * from operands rounded to float as the target rounds its literals), by
 * operations that round correctly or not at all (+ - * /, sqrt, abs, sign,
 * relu, maximum, minimum, powers that are exact), an i32 only inside i32's
 * range, and never to inf or NaN, which DML cannot spell. exp, log, tanh
 * and the other functions stay as written: the target computes them with
 * approximations of its own. */

static double in_dtype(DType dt, double x) { return dt == DT_F32 ? (double)(float)x : x; }

/* Finite and normal in dt (or zero): scaling it by a power of two is exact. */
static bool is_normal_in(DType dt, double x) {
  double lo = dt == DT_F32 ? FLT_MIN : DBL_MIN, hi = dt == DT_F32 ? FLT_MAX : DBL_MAX;
  return x == 0 || (fabs(x) >= lo && fabs(x) <= hi);
}

static bool is_power_of_two(double c) {
  int e;
  return c != 0 && fabs(frexp(c, &e)) == 0.5;
}

/* a ^ b for a whole b in 0..64 whose every partial product is exact in dt. */
static bool exact_power(DType dt, double a, double b, double *out) {
  if (b != floor(b) || b < 0 || b > 64) return false;
  double r = 1;
  for (int i = 0; i < (int)b; i++) {
    double next = r * a;
    if (fma(r, a, -next) != 0 || in_dtype(dt, next) != next || !is_normal_in(dt, next)) return false;
    r = next;
  }
  *out = r;
  return true;
}

static bool fold_binary(IrOp op, DType dt, double a, double b, double *out) {
  double r;
  if (dt == DT_I32) {
    switch (op) {
    case IR_ADD: r = a + b; break;
    case IR_SUB: r = a - b; break;
    case IR_MUL: r = a * b; break;
    case IR_DIV: /* x / 0 is 0, as the target computes it; INT_MIN / -1 is out of range: not folded */
      r = b == 0 ? 0 : trunc(a / b);
      break;
    case IR_POW:
      if (!exact_power(DT_F64, a, b, &r)) return false;
      break;
    case IR_MAXIMUM: r = a >= b ? a : b; break;
    case IR_MINIMUM: r = a <= b ? a : b; break;
    default: return false;
    }
    *out = r;
    return r >= INT32_MIN && r <= INT32_MAX;
  }
  if (dt == DT_F32) {
    float x = (float)a, y = (float)b;
    switch (op) {
    case IR_ADD: r = x + y; break;
    case IR_SUB: r = x - y; break;
    case IR_MUL: r = x * y; break;
    case IR_DIV: r = x / y; break;
    case IR_POW:
      if (!exact_power(DT_F32, x, y, &r)) return false;
      break;
    case IR_MAXIMUM: r = x >= y ? x : y; break;
    case IR_MINIMUM: r = x <= y ? x : y; break;
    default: return false;
    }
  } else {
    switch (op) {
    case IR_ADD: r = a + b; break;
    case IR_SUB: r = a - b; break;
    case IR_MUL: r = a * b; break;
    case IR_DIV: r = a / b; break;
    case IR_POW:
      if (!exact_power(DT_F64, a, b, &r)) return false;
      break;
    case IR_MAXIMUM: r = a >= b ? a : b; break;
    case IR_MINIMUM: r = a <= b ? a : b; break;
    default: return false;
    }
  }
  *out = r;
  return isfinite(r);
}

static bool fold_unary(IrOp op, DType dt, double a, double *out) {
  double x = in_dtype(dt, a), r;
  switch (op) {
  case IR_ABS: r = fabs(x); break;
  case IR_SIGN: r = (x > 0) - (x < 0); break;
  case IR_RELU: r = x > 0 ? x : 0; break;
  case IR_SQRT:
    if (x < 0) return false;
    r = dt == DT_F32 ? (double)sqrtf((float)x) : sqrt(x);
    break;
  case IR_CAST: /* a, already in its own dtype, to dt: a float to i32 truncates */
    if (dt == DT_BOOL) return false;
    r = dt == DT_I32 ? trunc(a) : x;
    if (dt == DT_I32 && !(r >= INT32_MIN && r <= INT32_MAX)) return false;
    break;
  default: return false;
  }
  *out = r;
  return true;
}

/* c1 * c2, when c1 * (c2 * x) = (c1 c2) * x exactly: one of them a power
 * of two (a scaling commutes with rounding) and the product normal. Exact
 * for every x whose products stay normal; see docs/autodiff.md. */
static bool exact_product(DType dt, double c1, double c2, double *out) {
  c1 = in_dtype(dt, c1);
  c2 = in_dtype(dt, c2);
  if (dt == DT_I32 || !(is_power_of_two(c1) || is_power_of_two(c2))) return false;
  *out = c1 * c2;
  return *out != 0 && is_normal_in(dt, *out) && in_dtype(dt, *out) == *out;
}

/* v as c * x: `c * x` with a constant c, or `x / c` with c a power of two
 * (then the factor 1/c is exact). */
static bool scaled(Simp *S, IrVal v, double *c, IrVal *x) {
  IrInst *in = &S->f->v[v];
  if (in->nargs != 2) return false;
  IrInst *a = &S->f->v[in->args[0]], *b = &S->f->v[in->args[1]];
  if (in->op == IR_MUL && (a->op == IR_CONST || a->op == IR_FILL) && !(b->op == IR_CONST || b->op == IR_FILL)) {
    *c = a->num;
    *x = in->args[1];
    return true;
  }
  if (in->op != IR_DIV || !(b->op == IR_CONST || b->op == IR_FILL) || !is_power_of_two(b->num)) return false;
  *c = 1 / in_dtype(in->ty.dt, b->num);
  *x = in->args[0];
  return is_normal_in(in->ty.dt, *c);
}

/* Whether c * n is what summing n copies of c gives in dt, in any order:
 * c's significand times n fits in dt's, so every partial sum is exact. */
static bool exact_multiple(DType dt, double c, int64_t n) {
  if (dt == DT_I32) return fabs(c * (double)n) <= INT32_MAX;
  int e;
  double m = frexp(in_dtype(dt, c), &e);
  int bits = 0;
  while (m != floor(m) && bits < 60) m *= 2, bits++;
  for (int64_t k = n; k > 1; k >>= 1) bits++;
  return bits + 1 <= (dt == DT_F32 ? FLT_MANT_DIG : DBL_MANT_DIG);
}

/* Try the rewrite rules on p (operands already mapped). Returns the
 * replacement value or -1 to emit p as it is. */
static IrVal rewrite(Simp *S, IrInst *p) {
  IrInst *a = p->nargs > 0 ? N(S, p->args[0]) : NULL;
  IrInst *b = p->nargs > 1 ? N(S, p->args[1]) : NULL;
  switch (p->op) {
  case IR_BROADCAST:
    if (ir_type_equal(&a->ty, &p->ty)) return p->args[0];
    if (is_const(a)) return fill(S, p, a->num, p->ty);
    break;
  case IR_RESHAPE:
    if (ir_type_equal(&a->ty, &p->ty)) return p->args[0];
    if (is_const(a)) return fill(S, p, a->num, p->ty);
    if (a->op == IR_RESHAPE) p->args[0] = a->args[0];
    break;
  case IR_SUM_TO:
    if (ir_type_equal(&a->ty, &p->ty)) return p->args[0];
    break;
  case IR_TRANSPOSE:
    if (a->op == IR_TRANSPOSE) return a->args[0];
    break;
  case IR_ABS:
  case IR_SIGN:
  case IR_RELU:
  case IR_SQRT:
  case IR_CAST: {
    double r;
    if (is_const(a) && fold_unary(p->op, p->ty.dt, p->op == IR_CAST ? in_dtype(a->ty.dt, a->num) : a->num, &r))
      return fill(S, p, r, p->ty);
    break;
  }
  case IR_NEG:
    if (a->op == IR_NEG) return a->args[0];
    if (is_const(a)) return fill(S, p, -a->num, p->ty);
    if (a->op == IR_BROADCAST) { /* -(broadcast x) = broadcast(-x): the broadcast can stay implicit */
      IrInst q = *a;
      q.args[0] = negate(S, a->args[0], p);
      return ir_emit(S->f, &q);
    }
    if (a->op == IR_DIV && is_const(N(S, a->args[0]))) { /* -(c / x) = (-c) / x */
      IrInst q = *a;
      q.args[0] = fill(S, p, -N(S, a->args[0])->num, N(S, a->args[0])->ty);
      return ir_emit(S->f, &q);
    }
    break;
  case IR_ADD:
  case IR_SUB:
  case IR_MUL:
  case IR_DIV: {
    double r;
    if (is_const(a) && is_const(b) && fold_binary(p->op, p->ty.dt, a->num, b->num, &r)) return fill(S, p, r, p->ty);
    bool a0 = is_const(a) && a->num == 0, b0 = is_const(b) && b->num == 0;
    bool a1 = is_const(a) && a->num == 1, b1 = is_const(b) && b->num == 1;
    if (p->op == IR_ADD && a0) return p->args[1];
    if ((p->op == IR_ADD || p->op == IR_SUB) && b0) return p->args[0];
    if (p->op == IR_SUB && a0) {
      IrInst q = *p;
      q.op = IR_NEG;
      q.args[0] = p->args[1];
      q.nargs = 1;
      return ir_emit(S->f, &q);
    }
    if (p->op == IR_MUL && a1) return p->args[1];
    if ((p->op == IR_MUL || p->op == IR_DIV) && b1) return p->args[0];
    if (p->op == IR_MUL && (a0 || b0) && p->ty.dt != DT_I32) return fill(S, p, 0, p->ty);
    if (p->op == IR_ADD && p->args[0] == p->args[1]) { /* x + x = 2 x */
      p->op = IR_MUL;
      p->args[0] = fill(S, p, 2, p->ty);
      return -1;
    }
    if (p->op == IR_SUB && b->op == IR_NEG) { /* a - (-b) = a + b */
      p->op = IR_ADD;
      p->args[1] = b->args[0];
    } else if (p->op == IR_ADD && b->op == IR_NEG) { /* a + (-b) = a - b */
      p->op = IR_SUB;
      p->args[1] = b->args[0];
    }
    /* c1 * (c2 * x) = (c1 c2) * x, and so c1 * (x / 16) and (c2 * x) / 16, where exact */
    double c2, c;
    IrVal x;
    if (p->op == IR_MUL && is_const(a) && scaled(S, p->args[1], &c2, &x) && exact_product(p->ty.dt, a->num, c2, &c)) {
      if (c == 1 && ir_type_equal(&N(S, x)->ty, &p->ty)) return x;
      p->args[1] = x;
      p->args[0] = fill(S, p, c, p->ty);
      a = N(S, p->args[0]);
      b = N(S, p->args[1]);
    } else if (p->op == IR_DIV && is_const(b) && is_power_of_two(b->num) && scaled(S, p->args[0], &c2, &x) &&
               exact_product(p->ty.dt, 1 / in_dtype(p->ty.dt, b->num), c2, &c)) {
      if (c == 1 && ir_type_equal(&N(S, x)->ty, &p->ty)) return x;
      p->op = IR_MUL;
      p->args[0] = fill(S, p, c, p->ty);
      p->args[1] = x;
      a = N(S, p->args[0]);
      b = N(S, p->args[1]);
    }
    /* (c / s) * x = c x / s for a scalar s: reads as x / n */
    IrInst *sa = a->op == IR_BROADCAST ? N(S, a->args[0]) : a;
    if (p->op == IR_MUL && sa->op == IR_DIV && sa->ty.rank == 0 && is_const(N(S, sa->args[0])) && !is_const(b)) {
      double c = N(S, sa->args[0])->num;
      IrVal num = c == 1 ? p->args[1] : c == -1 ? negate(S, p->args[1], p) : -1;
      if (num < 0) {
        IrInst q = *p;
        q.args[0] = fill(S, p, c, p->ty);
        num = ir_emit(S->f, &q);
      }
      IrInst q = *p;
      q.op = IR_DIV;
      q.args[0] = num;
      q.args[1] = broadcast_like(S, sa->args[1], p);
      return ir_emit(S->f, &q);
    }
    if (p->op == IR_MUL && is_const(b) && !is_const(a)) { /* constants first: 2 * x */
      IrVal t = p->args[0];
      p->args[0] = p->args[1];
      p->args[1] = t;
    }
    break;
  }
  case IR_SELECT: {
    IrInst *c = N(S, p->args[2]);
    if (p->args[1] == p->args[2]) return p->args[1];
    if (is_const(b) && is_const(c) && b->num == c->num) return p->args[1];
    if (is_const(a)) return a->num != 0 ? p->args[1] : p->args[2];
    return mask_before_pool_adjoint(S, p);
  }
  case IR_SUM:
    if (p->axis < 0 && !p->keepdims && is_const(a)) {
      bool st;
      int64_t n = ir_static_count(&a->ty, &st);
      if (st && exact_multiple(p->ty.dt, a->num, n)) return fill(S, p, in_dtype(p->ty.dt, a->num) * (double)n, p->ty);
    }
    break;
  default: break;
  }
  return -1;
}

static void mark_live(Simp *S, IrVal v);

/* Carried value j of a loop is live: its initial value, what each
 * iteration yields for it, and its buffer in the body. A carried value is
 * live only when something live reads it (its result after the loop, or
 * its value inside), so a loop drops what nothing needs: reverse mode's
 * adjoint of a carried value no param reaches, with the forward loop's
 * stack of it. */
static void mark_carry(Simp *S, IrVal loop, int j) {
  if (S->carries[loop] >> j & 1) return;
  S->carries[loop] |= (uint64_t)1 << j;
  const IrInst *L = &S->old->v[loop];
  for (int i = 0; i < L->body->n; i++) {
    const IrInst *bi = &S->old->v[L->body->ids[i]];
    if (bi->op == IR_LOOP_CARRY && bi->index == j) S->live[L->body->ids[i]] = true;
  }
  mark_live(S, L->args[2 + j]);
  mark_live(S, L->body->yields[j]);
}

static void mark_live(Simp *S, IrVal v) {
  if (S->live[v]) return;
  S->live[v] = true;
  const IrInst *in = &S->old->v[v];
  if (in->op == IR_FOR) { /* its bounds and index; carried values when needed */
    mark_live(S, in->args[0]);
    mark_live(S, in->args[1]);
    for (int i = 0; i < in->body->n; i++)
      if (S->old->v[in->body->ids[i]].op == IR_LOOP_INDEX) S->live[in->body->ids[i]] = true;
    return;
  }
  for (int i = 0; i < in->nargs; i++) mark_live(S, in->args[i]);
  if (in->owner >= 0) mark_live(S, in->owner);
  if (in->op == IR_LOOP_CARRY) mark_carry(S, in->owner, in->index);
  if (in->op == IR_FOR_RESULT) mark_carry(S, in->args[0], in->index);
}

/* Carried value j's number once the loop keeps only its live ones. */
static int kept_carry(const Simp *S, IrVal loop, int j) {
  return __builtin_popcountll(S->carries[loop] & (((uint64_t)1 << j) - 1));
}

static void rebuild_block(Simp *S, const IrBlock *b);
static void rebuild(Simp *S, IrVal v);

/* Is v made inside block b (at any depth)? */
static bool made_in(const IrFunc *f, const IrBlock *b, IrVal v) {
  for (int i = 0; i < b->n; i++) {
    IrVal x = b->ids[i];
    if (x == v || (f->v[x].op == IR_FOR && made_in(f, f->v[x].body, v))) return true;
  }
  return false;
}

/* Loop-invariant transposes of `loop` (at any depth of it) are rebuilt
 * before it, so that one transpose serves every iteration: reverse mode
 * writes d_h = d_out @ transpose(W) inside the reversed loop, and a
 * transpose made outside a loop can be stored once rather than passed to
 * BLAS as a flag on every product (schedule.c). Transposes only: they
 * cannot fail and cost one pass over a matrix. */
static void hoist_invariant_transposes(Simp *S, const IrBlock *loop, const IrBlock *b) {
  const IrFunc *old = S->old;
  for (int i = 0; i < b->n; i++) {
    IrVal v = b->ids[i];
    const IrInst *in = &old->v[v];
    if (in->op == IR_FOR) hoist_invariant_transposes(S, loop, in->body);
    else if (in->op == IR_TRANSPOSE && S->live[v] && S->map[v] < 0 && !made_in(old, loop, in->args[0]))
      rebuild(S, v);
  }
}

static void rebuild(Simp *S, IrVal v) {
  const IrInst *in = &S->old->v[v];
  if (S->map[v] >= 0) return; /* an input or param that ir_inline bound */
  IrInst p = *in;
  p.adjoint = p.adjoint && !S->inlining; /* inlined, derivative code is the caller's primal code */
  for (int i = 0; i < p.nargs; i++) p.args[i] = S->map[in->args[i]];
  if (in->op == IR_LOOP_INDEX || in->op == IR_LOOP_CARRY) {
    p.owner = S->map[in->owner];
    if (in->op == IR_LOOP_CARRY) p.index = kept_carry(S, in->owner, in->index);
    S->map[v] = ir_emit_fresh(S->f, &p);
    return;
  }
  if (in->op == IR_FOR) {
    hoist_invariant_transposes(S, in->body, in->body);
    p.nargs = 2; /* the bounds, then the live carried values' initial values */
    for (int j = 0; j < in->nargs - 2; j++)
      if (S->carries[v] >> j & 1) p.args[p.nargs++] = S->map[in->args[2 + j]];
    p.body = ARENA_NEW(S->f->arena, IrBlock);
    IrVal loop = ir_emit_fresh(S->f, &p);
    S->map[v] = loop;
    IrBlock *outer = S->f->cur;
    int mark = ir_block_begin(S->f, S->f->v[loop].body);
    rebuild_block(S, in->body);
    IrBlock *nb = S->f->v[loop].body;
    nb->nyields = 0;
    nb->yields = arena_alloc(S->f->arena, sizeof(IrVal) * (size_t)(in->body->nyields + 1));
    for (int j = 0; j < in->body->nyields; j++)
      if (S->carries[v] >> j & 1) nb->yields[nb->nyields++] = S->map[in->body->yields[j]];
    ir_block_end(S->f, outer, mark);
    return;
  }
  if (in->op == IR_FOR_RESULT) {
    p.index = kept_carry(S, in->args[0], in->index);
    S->map[v] = ir_emit_fresh(S->f, &p);
    return;
  }
  IrVal r = rewrite(S, &p);
  S->map[v] = r >= 0 ? r : ir_emit(S->f, &p);
  /* keep the source name on whatever now stands for the value */
  IrInst *out = N(S, S->map[v]);
  if (!out->name && in->name && out->op != IR_CONST && out->op != IR_FILL) out->name = in->name;
}

static void rebuild_block(Simp *S, const IrBlock *b) {
  for (int i = 0; i < b->n; i++)
    if (S->live[b->ids[i]]) rebuild(S, b->ids[i]);
}

static IrFunc *rebuild_once(const IrFunc *old);

/* Two rounds: rewrites can leave values nothing reads; the second round,
 * which finds nothing more to rewrite, drops them. */
IrFunc *simplify(const IrFunc *old) { return rebuild_once(rebuild_once(old)); }

static IrFunc *rebuild_once(const IrFunc *old) {
  Arena *a = old->arena;
  Simp S = {.old = old};
  S.f = ir_func_new(a, old->name);
  IrFunc *f = S.f;
  f->span = old->span;
  f->input_names = old->input_names;
  f->input_types = old->input_types;
  f->input_spans = old->input_spans;
  f->ninputs = old->ninputs;
  f->params = old->params;
  f->nparams = old->nparams;
  f->dim_syms = old->dim_syms;
  f->ndim_syms = old->ndim_syms;
  f->grad_params = old->grad_params;
  f->ngrad_params = old->ngrad_params;
  S.map = arena_alloc(a, sizeof(IrVal) * (size_t)(old->nv + 1));
  S.live = arena_alloc(a, sizeof(bool) * (size_t)(old->nv + 1));
  S.carries = arena_alloc(a, sizeof(uint64_t) * (size_t)(old->nv + 1));
  for (int i = 0; i < old->nv; i++) S.map[i] = -1;
  for (int i = 0; i < old->nresults; i++) mark_live(&S, old->results[i]);
  rebuild_block(&S, &old->body);
  for (int i = 0; i < old->nresults; i++) ARENA_PUSH(a, f->results, f->nresults, f->capresults, S.map[old->results[i]]);
  /* carry over which primal each adjoint belongs to */
  if (old->adjoint_of) {
    f->nadjoint_of = f->nv;
    f->adjoint_of = arena_alloc(a, sizeof(IrVal) * (size_t)(f->nv + 1));
    for (int i = 0; i < f->nv; i++) f->adjoint_of[i] = -1;
    for (int i = 0; i < old->nadjoint_of && i < old->nv; i++) {
      IrVal primal = old->adjoint_of[i];
      if (primal < 0 || S.map[i] < 0 || S.map[primal] < 0) continue;
      if (f->adjoint_of[S.map[i]] < 0 && !f->v[S.map[i]].name) f->adjoint_of[S.map[i]] = S.map[primal];
    }
  }
  return f;
}

void ir_inline(IrFunc *dst, const IrFunc *src, const IrVal *inputs, const IrVal *params, IrVal *results) {
  Arena *a = dst->arena;
  Simp S = {.old = src, .f = dst, .inlining = true};
  S.map = arena_alloc(a, sizeof(IrVal) * (size_t)(src->nv + 1));
  S.live = arena_alloc(a, sizeof(bool) * (size_t)(src->nv + 1));
  S.carries = arena_alloc(a, sizeof(uint64_t) * (size_t)(src->nv + 1));
  for (IrVal v = 0; v < src->nv; v++) {
    const IrInst *in = &src->v[v];
    S.map[v] = in->op == IR_INPUT ? inputs[in->index] : in->op == IR_PARAM ? params[in->index] : -1;
  }
  for (int i = 0; i < src->nresults; i++) mark_live(&S, src->results[i]);
  rebuild_block(&S, &src->body);
  for (int i = 0; i < src->nresults; i++) results[i] = S.map[src->results[i]];
}
