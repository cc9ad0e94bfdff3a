/* builder.h - what both transformations (reverse.c, forward.c) build IR
 * with: a context, derivative instructions that carry the span and name of
 * the primal instruction they come from, and small constructors that fold
 * the trivial cases (x * 1, a fill of a constant, a broadcast to the same
 * shape) so the generated code stays readable and that keep a mask outside
 * a product, so that 0 never multiplies inf (see "masks" below); the
 * conventions where a derivative is not finite (0^b, |a| at 0), shared by
 * both modes. Internal to autodiff/. */
#ifndef DMLC_AUTODIFF_BUILDER_H
#define DMLC_AUTODIFF_BUILDER_H
#include <string.h>
#include "autodiff.h"

typedef struct Ad {
  IrFunc *f;
  Diags *d;
  IrVal *adj;      /* adjoint of each value, -1 if none yet */
  bool *active;
  int cap;         /* entries in adj and active; values made later are inactive */
  int nprimal;
  const IrInst *cur; /* the primal instruction whose rule is running */
  bool failed;
} Ad;

/* ---- builders: adjoint instructions carry the primal's span and op ---- */

static inline IrInst proto(Ad *A, IrOp op, IrType ty) {
  IrInst p;
  memset(&p, 0, sizeof p);
  p.op = op;
  p.ty = ty;
  p.axis = -1;
  p.owner = -1;
  p.span = A->cur->span;
  p.why = ir_ops[A->cur->op].name;
  p.adjoint = true;
  return p;
}

static inline const IrInst *I(Ad *A, IrVal v) { return &A->f->v[v]; }
static inline const IrType *ty(Ad *A, IrVal v) { return &A->f->v[v].ty; }

static inline IrVal emit(Ad *A, IrInst *p) { return ir_emit(A->f, p); }

static inline IrVal op1(Ad *A, IrOp op, IrType t, IrVal a) {
  IrInst p = proto(A, op, t);
  p.args[0] = a;
  p.nargs = 1;
  return emit(A, &p);
}

static inline IrVal op2(Ad *A, IrOp op, IrType t, IrVal a, IrVal b) {
  IrInst p = proto(A, op, t);
  p.args[0] = a;
  p.args[1] = b;
  p.nargs = 2;
  return emit(A, &p);
}

static inline IrVal fill(Ad *A, double c, IrType t) {
  IrInst p = proto(A, t.rank ? IR_FILL : IR_CONST, t);
  p.num = c;
  return emit(A, &p);
}

/* A constant, directly or broadcast: CONST, FILL or BROADCAST(CONST). */
static inline bool const_value(Ad *A, IrVal v, double *c) {
  const IrInst *in = I(A, v);
  if (in->op == IR_BROADCAST) in = I(A, in->args[0]);
  if (in->op != IR_FILL && in->op != IR_CONST) return false;
  *c = in->num;
  return true;
}

static inline bool is_fill(Ad *A, IrVal v, double c) {
  double x = 0;
  return const_value(A, v, &x) && x == c;
}

static inline IrVal select3(Ad *A, IrVal c, IrVal a, IrVal b) {
  if (a == b) return a;
  IrInst p = proto(A, IR_SELECT, *ty(A, a));
  p.args[0] = c;
  p.args[1] = a;
  p.args[2] = b;
  p.nargs = 3;
  return emit(A, &p);
}

static inline IrVal compare(Ad *A, IrOp op, IrVal a, IrVal b) {
  IrType t = *ty(A, a);
  t.dt = DT_BOOL;
  return op2(A, op, t, a, b);
}

/* ---- masks: the rules never multiply by a 0 mask -------------------------
 * relu, maximum, select and their kind pass an adjoint (or a tangent) on
 * as a mask, select(c, g, 0). The value it then meets may be inf or NaN
 * where the mask is 0: a branch that select did not take is computed
 * anyway, and sqrt(w) at w = 0 has the derivative 1/0, log(w) for w < 0
 * is NaN. 0 * inf is NaN, so a product with a masked operand is formed
 * first and masked after, select(c, g * d, 0), which is 0 there whatever
 * d is. Only elementwise: a mask summed (the adjoint of a broadcast
 * operand, sum_to(select(c, g, 0))) is a sum, no longer a mask. */

/* v is select(c, h, 0) (*h_first) or select(c, 0, h) */
static inline bool masked(Ad *A, IrVal v, IrVal *c, IrVal *h, bool *h_first) {
  const IrInst *in = I(A, v);
  if (in->op != IR_SELECT) return false;
  *c = in->args[0];
  *h_first = is_fill(A, in->args[2], 0);
  *h = in->args[*h_first ? 1 : 2];
  return *h_first || is_fill(A, in->args[1], 0);
}

static inline IrVal remask(Ad *A, IrVal c, IrVal h, bool h_first) {
  IrVal zero = fill(A, 0, *ty(A, h));
  return h_first ? select3(A, c, h, zero) : select3(A, c, zero, h);
}

static inline IrVal ew(Ad *A, IrOp op, IrVal a, IrVal b);

/* a op b for a masked a (or b, for a product), the mask taken after */
static inline IrVal ew_masked(Ad *A, IrOp op, IrVal a, IrVal b) {
  IrVal c, h, c2, h2;
  bool first, first2;
  double k;
  if (op == IR_MUL && const_value(A, a, &k)) return ew_masked(A, op, b, a); /* constants: nothing to mask */
  if (const_value(A, b, &k) && (op == IR_MUL || op == IR_DIV)) return -1;
  if ((op == IR_MUL || op == IR_DIV) && masked(A, a, &c, &h, &first)) return remask(A, c, ew(A, op, h, b), first);
  if (op == IR_MUL && masked(A, b, &c, &h, &first)) return remask(A, c, ew(A, op, a, h), first);
  if ((op == IR_ADD || op == IR_SUB) && masked(A, a, &c, &h, &first) && masked(A, b, &c2, &h2, &first2) && c == c2 &&
      first == first2) /* fan-out of a masked adjoint: one mask */
    return remask(A, c, ew(A, op, h, h2), first);
  return -1;
}

/* Elementwise binary with the obvious folds, so that rules can be written
 * plainly (g * 1, g + 0, constant times constant), and masks kept outside
 * products. */
static inline IrVal ew(Ad *A, IrOp op, IrVal a, IrVal b) {
  const IrType *t = ty(A, a);
  double x = 0, y = 0;
  if (const_value(A, a, &x) && const_value(A, b, &y)) {
    double r = op == IR_ADD ? x + y : op == IR_SUB ? x - y : op == IR_MUL ? x * y : x / y;
    return fill(A, r, *t);
  }
  if (op == IR_MUL && is_fill(A, b, 1)) return a;
  if (op == IR_MUL && is_fill(A, a, 1)) return b;
  if ((op == IR_ADD || op == IR_SUB) && is_fill(A, b, 0)) return a;
  if (op == IR_ADD && is_fill(A, a, 0)) return b;
  if (op == IR_DIV && is_fill(A, b, 1)) return a;
  IrVal m = ew_masked(A, op, a, b);
  return m >= 0 ? m : op2(A, op, *t, a, b);
}

static inline IrVal neg(Ad *A, IrVal a) {
  const IrInst *x = I(A, a);
  IrVal c, h;
  bool first;
  if (x->op == IR_FILL || x->op == IR_CONST) return fill(A, -x->num, x->ty);
  if (x->op == IR_NEG) return x->args[0];
  if (masked(A, a, &c, &h, &first)) return remask(A, c, neg(A, h), first);
  return op1(A, IR_NEG, x->ty, a);
}

/* g sign(x) where x != 0, and 0 where x == 0 whatever g is: the
 * derivative of |x| taken as 0 at 0 (abs, l1), never 0 * inf */
static inline IrVal times_sign(Ad *A, IrVal g, IrVal x) {
  IrVal zero = fill(A, 0, *ty(A, x));
  return select3(A, compare(A, IR_NE, x, zero), ew(A, IR_MUL, g, op1(A, IR_SIGN, *ty(A, x), x)), zero);
}

/* d a^b / da = b a^(b-1) for in = a ^ b, taken as 0 where b = 0 (a^0 is
 * 1 for every a, and b a^(b-1) would be 0 * inf at a = 0) */
static inline IrVal pow_base_factor(Ad *A, const IrInst *in) {
  IrVal a = in->args[0], b = in->args[1];
  double k = 0;
  bool known = const_value(A, b, &k);
  if (known && (k == 0 || k == 1)) return fill(A, k, in->ty);
  IrVal p = known && k == 2 ? a : op2(A, IR_POW, in->ty, a, ew(A, IR_SUB, b, fill(A, 1, in->ty)));
  IrVal f = ew(A, IR_MUL, b, p);
  if (known) return f;
  IrVal zero = fill(A, 0, in->ty);
  return select3(A, compare(A, IR_NE, b, zero), f, zero);
}

/* d a^b / db = a^b log(a) for v = a ^ b, taken as 0 where a = 0 (the
 * limit from a > 0 for b > 0; 0 * log 0 would be NaN) */
static inline IrVal pow_exponent_factor(Ad *A, IrVal v, const IrInst *in) {
  IrVal a = in->args[0];
  double k = 0;
  bool known = const_value(A, a, &k);
  if (known && k == 0) return fill(A, 0, in->ty);
  IrVal f = ew(A, IR_MUL, v, op1(A, IR_LOG, in->ty, a));
  if (known) return f;
  IrVal zero = fill(A, 0, in->ty);
  return select3(A, compare(A, IR_NE, a, zero), f, zero);
}

/* v broadcast to the shape of t (dtype of v kept). */
static inline IrVal bcast(Ad *A, IrVal v, const IrType *t) {
  IrType want = *t;
  want.dt = ty(A, v)->dt;
  if (ir_type_equal(ty(A, v), &want)) return v;
  const IrInst *in = I(A, v);
  if (in->op == IR_CONST || in->op == IR_FILL) return fill(A, in->num, want);
  return op1(A, IR_BROADCAST, want, v);
}

static inline IrVal sum_to(Ad *A, IrVal v, const IrType *t) {
  IrType want = *t;
  want.dt = ty(A, v)->dt;
  if (ir_type_equal(ty(A, v), &want)) return v;
  return op1(A, IR_SUM_TO, want, v);
}

static inline IrVal reshape(Ad *A, IrVal v, const IrType *t) {
  IrType want = *t;
  want.dt = ty(A, v)->dt;
  if (ir_type_equal(ty(A, v), &want)) return v;
  if (I(A, v)->op == IR_FILL) return fill(A, I(A, v)->num, want);
  return op1(A, IR_RESHAPE, want, v);
}

static inline IrVal reduce(Ad *A, IrOp op, IrVal x, int axis, bool keep, IrType t) {
  IrInst p = proto(A, op, t);
  p.args[0] = x;
  p.nargs = 1;
  p.axis = axis;
  p.keepdims = keep;
  return emit(A, &p);
}

static inline IrVal with_axis(Ad *A, IrOp op, IrVal x, int axis) {
  IrInst p = proto(A, op, *ty(A, x));
  p.args[0] = x;
  p.nargs = 1;
  p.axis = axis;
  return emit(A, &p);
}

/* A reduction's result (or its adjoint) reshaped so it broadcasts against
 * the reduced operand: [n] from sum(x: [n, k], axis = 1) becomes [n, 1]. */
static inline IrVal keepdims_form(Ad *A, IrVal v, const IrInst *red) {
  if (red->axis < 0 || red->keepdims) return v;
  IrType t = *ty(A, red->args[0]);
  t.dims[red->axis].sym = NULL;
  t.dims[red->axis].size = 1;
  return reshape(A, v, &t);
}

static inline IrVal dimsize(Ad *A, const IrType *t, DType dt) {
  int64_t k = 1;
  bool is_static = true;
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i].sym) is_static = false;
    else k *= t->dims[i].size;
  }
  IrType s = {.dt = dt};
  if (is_static) return fill(A, (double)k, s);
  IrInst p = proto(A, IR_DIMSIZE, s);
  p.size_dims = arena_alloc(A->f->arena, sizeof(Dim) * (size_t)t->rank);
  memcpy(p.size_dims, t->dims, sizeof(Dim) * (size_t)t->rank);
  p.nsize_dims = t->rank;
  return emit(A, &p);
}

/* adj and active cover every value, including those made during the
 * reverse sweep (loop bodies are copied). */
static inline void ad_fit(Ad *A) {
  if (A->cap >= A->f->nv) return;
  int cap = A->f->nv * 2 + 64;
  IrVal *adj = arena_alloc(A->f->arena, sizeof(IrVal) * (size_t)cap);
  bool *active = arena_alloc(A->f->arena, sizeof(bool) * (size_t)cap);
  for (int i = 0; i < cap; i++) adj[i] = i < A->cap ? A->adj[i] : -1;
  if (A->cap) memcpy(active, A->active, sizeof(bool) * (size_t)A->cap);
  A->adj = adj;
  A->active = active;
  A->cap = cap;
}

static inline bool is_active(Ad *A, IrVal v) { return v < A->cap && A->active[v]; }

/* Add a contribution to the adjoint of operand v (fan-out accumulates). */
static inline void accum(Ad *A, IrVal v, IrVal contrib) {
  ad_fit(A);
  if (!A->active[v]) return;
  if (ir_inst(A->f, contrib)->ty.dt != ir_inst(A->f, v)->ty.dt) {
    IrType t = *ty(A, contrib);
    t.dt = ty(A, v)->dt;
    contrib = op1(A, IR_CAST, t, contrib);
  }
  A->adj[v] = A->adj[v] < 0 ? contrib : ew(A, IR_ADD, A->adj[v], contrib);
}

static inline IrVal fresh(Ad *A, IrInst *p) { return ir_emit_fresh(A->f, p); }
static inline IrVal scalar_i32(Ad *A, IrOp op, IrVal a, IrVal b) {
  IrInst p = proto(A, op, (IrType){.dt = DT_I32});
  p.args[0] = a;
  p.args[1] = b;
  p.nargs = 2;
  return fresh(A, &p);
}

static inline IrVal const_i32(Ad *A, int64_t c) {
  IrInst p = proto(A, IR_CONST, (IrType){.dt = DT_I32});
  p.num = (double)c;
  return fresh(A, &p);
}

/* Active: depends on a param. A loop's carried values and results are
 * active when their initial value or their yielded value is, which can
 * depend on later values, so the marking repeats until nothing changes. */
static inline void mark_active(Ad *A) {
  for (bool changed = true; changed;) {
    changed = false;
    for (int v = 0; v < A->nprimal; v++) {
      const IrInst *in = I(A, v);
      bool act = in->op == IR_PARAM;
      for (int i = 0; i < in->nargs && !act; i++) act = A->active[in->args[i]];
      if (in->op == IR_LOOP_CARRY || in->op == IR_FOR_RESULT) {
        const IrInst *loop = I(A, in->op == IR_LOOP_CARRY ? in->owner : in->args[0]);
        act = A->active[loop->args[2 + in->index]] || A->active[loop->body->yields[in->index]];
      }
      /* integer and boolean values carry no derivative */
      if (in->ty.dt == DT_I32 || in->ty.dt == DT_BOOL || in->op == IR_STOP_GRAD) act = false;
      changed |= act != A->active[v];
      A->active[v] = act;
    }
  }
}

#endif
