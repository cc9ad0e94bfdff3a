/* reverse.c - reverse-mode differentiation by source transformation.
 *
 * Input: the IR of the loss (one scalar result). Output: the same function
 * extended into `loss_grad`: after the forward values come adjoint values,
 * built by walking the forward values in reverse and applying one rule per
 * opcode (the table at the bottom, named in ir_ops.def). The results become
 * (loss, d_param...) for every param the loss uses.
 *
 * The one idea: adjoints are ordinary IR values made with the same
 * hash-consing builder as the forward code, so a rule that needs a forward
 * value (sigmoid's y, softmax(z)) simply asks for it and gets the existing
 * one; nothing is recomputed. Only values that depend on a param ("active")
 * receive adjoints, so data inputs get no gradient code at all. */
#include "builder.h"

/* ---- the rules: one per opcode ---------------------------------------------
 * Each gets the primal value v (instruction `in`) and its adjoint g, and
 * adds to the adjoints of the operands. */

typedef void (*Rule)(Ad *A, IrVal v, const IrInst *in, IrVal g);
#define RULE(name) static void rev_##name(Ad *A, IrVal v, const IrInst *in, IrVal g)
#define X in->args[0]
#define Y in->args[1]

RULE(none) { (void)A, (void)v, (void)in, (void)g; }
RULE(neg) { (void)v; accum(A, X, neg(A, g)); }                        // d(-a) = -da
RULE(exp) { accum(A, X, ew(A, IR_MUL, g, v)); }                        // d e^a = e^a da
RULE(log) { (void)v; accum(A, X, ew(A, IR_DIV, g, X)); }               // d log a = da / a
RULE(log1p) {                                                          // d log(1+a) = da / (1 + a)
  (void)v;
  accum(A, X, ew(A, IR_DIV, g, ew(A, IR_ADD, fill(A, 1, in->ty), X)));
}
RULE(sqrt) {                                                           // d sqrt a = da / (2 sqrt a)
  accum(A, X, ew(A, IR_DIV, g, ew(A, IR_MUL, fill(A, 2, in->ty), v)));
}
RULE(abs) { (void)v; accum(A, X, times_sign(A, g, X)); }              // d|a| = sign(a) da, 0 at 0
RULE(tanh) {                                                           // d tanh a = (1 - y^2) da
  accum(A, X, ew(A, IR_MUL, g, ew(A, IR_SUB, fill(A, 1, in->ty), ew(A, IR_MUL, v, v))));
}
RULE(sigmoid) {                                                        // d sigmoid a = y (1 - y) da
  accum(A, X, ew(A, IR_MUL, g, ew(A, IR_MUL, v, ew(A, IR_SUB, fill(A, 1, in->ty), v))));
}
RULE(relu) {                                                           // d relu a = [y > 0] da
  /* y > 0 exactly where a > 0 (NaN: neither): testing the result lets the
   * pre-activation a (conv2d(x, K) + b) be computed inside relu's loop
   * and never stored */
  IrVal zero = fill(A, 0, in->ty);
  accum(A, X, select3(A, compare(A, IR_GT, v, zero), g, zero));
}
RULE(softplus) {                                                       // d softplus a = sigmoid(a) da
  (void)v;
  accum(A, X, ew(A, IR_MUL, g, op1(A, IR_SIGMOID, in->ty, X)));
}
RULE(sin) { (void)v; accum(A, X, ew(A, IR_MUL, g, op1(A, IR_COS, in->ty, X))); }       // d sin a = cos a da
RULE(cos) { (void)v; accum(A, X, neg(A, ew(A, IR_MUL, g, op1(A, IR_SIN, in->ty, X)))); } // d cos a = -sin a da
RULE(cast) { (void)v; accum(A, X, g); }                                // accum casts back
RULE(add) { (void)v; accum(A, X, g); accum(A, Y, g); }                 // d(a+b) = da + db
RULE(sub) { (void)v; accum(A, X, g); accum(A, Y, neg(A, g)); }         // d(a-b) = da - db
RULE(mul) { (void)v; accum(A, X, ew(A, IR_MUL, g, Y)); accum(A, Y, ew(A, IR_MUL, g, X)); } // d(ab) = b da + a db
RULE(div) {                                                            // d(a/b) = da/b - (a/b) db/b
  accum(A, X, ew(A, IR_DIV, g, Y));
  if (is_active(A, Y)) accum(A, Y, neg(A, ew(A, IR_DIV, ew(A, IR_MUL, g, v), Y)));
}
RULE(pow) {                                                            // d a^b = b a^(b-1) da + a^b log(a) db
  accum(A, X, ew(A, IR_MUL, g, pow_base_factor(A, in)));
  if (is_active(A, Y)) accum(A, Y, ew(A, IR_MUL, g, pow_exponent_factor(A, v, in)));
}
RULE(maximum) {                                                        // ties go to a, as the forward
  (void)v;
  IrVal zero = fill(A, 0, in->ty), c = compare(A, in->op == IR_MAXIMUM ? IR_GE : IR_LE, X, Y);
  accum(A, X, select3(A, c, g, zero));
  accum(A, Y, select3(A, c, zero, g));
}
#define rev_minimum rev_maximum
RULE(select) {                                                         // d select(c, a, b) = select(c, da, db)
  (void)v;
  IrVal zero = fill(A, 0, in->ty);
  accum(A, Y, select3(A, X, g, zero));
  accum(A, in->args[2], select3(A, X, zero, g));
}
RULE(sum) { (void)v; accum(A, X, bcast(A, keepdims_form(A, g, in), ty(A, X))); } // d sum(a) = broadcast(g)
RULE(maxmin) {                         // shared by the entries equal to the max: select(x == y, g / count, 0)
  IrVal y = bcast(A, keepdims_form(A, v, in), ty(A, X));
  IrVal gb = bcast(A, keepdims_form(A, g, in), ty(A, X));
  IrVal at = compare(A, IR_EQ, X, y), zero = fill(A, 0, *ty(A, X));
  IrVal hit = select3(A, at, fill(A, 1, *ty(A, X)), zero);
  IrVal count = bcast(A, keepdims_form(A, reduce(A, IR_SUM, hit, in->axis, in->keepdims, in->ty), in), ty(A, X));
  accum(A, X, select3(A, at, ew(A, IR_DIV, gb, count), zero));
}
RULE(logsumexp) {                                                      // d lse(a) = softmax(a) da
  IrVal y = bcast(A, keepdims_form(A, v, in), ty(A, X));
  IrVal gb = bcast(A, keepdims_form(A, g, in), ty(A, X));
  accum(A, X, ew(A, IR_MUL, gb, op1(A, IR_EXP, *ty(A, X), ew(A, IR_SUB, X, y))));
}
RULE(softmax) {                                                        // dx = y (g - sum(g y))
  IrType kt = in->ty;
  kt.dims[in->axis].sym = NULL;
  kt.dims[in->axis].size = 1;
  IrVal s = reduce(A, IR_SUM, ew(A, IR_MUL, g, v), in->axis, true, kt);
  accum(A, X, ew(A, IR_MUL, v, ew(A, IR_SUB, g, bcast(A, s, &in->ty))));
}
RULE(log_softmax) {                                                    // dx = g - softmax(x) sum(g)
  (void)v;
  IrType kt = in->ty;
  kt.dims[in->axis].sym = NULL;
  kt.dims[in->axis].size = 1;
  IrVal s = reduce(A, IR_SUM, g, in->axis, true, kt);
  IrVal sm = with_axis(A, IR_SOFTMAX, X, in->axis);
  accum(A, X, ew(A, IR_SUB, g, ew(A, IR_MUL, sm, bcast(A, s, &in->ty))));
}
RULE(transpose) { (void)v; accum(A, X, op1(A, IR_TRANSPOSE, *ty(A, X), g)); }
RULE(reshape) { (void)v; accum(A, X, reshape(A, g, ty(A, X))); }
RULE(broadcast) { (void)v; accum(A, X, sum_to(A, g, ty(A, X))); }      // adjoint of broadcast: sum
RULE(sum_to) { (void)v; accum(A, X, bcast(A, g, ty(A, X))); }

/* a @ b with NumPy's rules: vectors promoted, then the axis dropped; the
 * batch axes (all but the last two) broadcast, aligned on the right. */
static IrType matmul_type(const IrType *a, const IrType *b) {
  IrType t = *a;
  int ba = a->rank >= 2 ? a->rank - 2 : 0, bb = b->rank >= 2 ? b->rank - 2 : 0;
  int batch = ba > bb ? ba : bb, rank = 0;
  for (int i = 0; i < batch; i++) {
    int ia = ba - batch + i, ib = bb - batch + i;
    Dim one = {1, NULL}, da = ia >= 0 ? a->dims[ia] : one, db = ib >= 0 ? b->dims[ib] : one;
    t.dims[rank++] = !da.sym && da.size == 1 ? db : da; /* sema checked that they agree */
  }
  if (a->rank >= 2) t.dims[rank++] = a->dims[a->rank - 2];
  if (b->rank >= 2) t.dims[rank++] = b->dims[b->rank - 1];
  t.rank = rank;
  return t;
}

static IrVal transpose(Ad *A, IrVal x) {
  IrType t = *ty(A, x);
  Dim d = t.dims[t.rank - 1];
  t.dims[t.rank - 1] = t.dims[t.rank - 2];
  t.dims[t.rank - 2] = d;
  const IrInst *in = I(A, x);
  if (in->op == IR_TRANSPOSE) return in->args[0];
  return op1(A, IR_TRANSPOSE, t, x);
}

static IrVal mm(Ad *A, IrVal a, IrVal b) {
  IrType t = matmul_type(ty(A, a), ty(A, b));
  return op2(A, IR_MATMUL, t, a, b);
}

/* [k] viewed as a row [1, k] or a column [k, 1] */
static IrVal as_matrix(Ad *A, IrVal v, bool row) {
  IrType t = *ty(A, v);
  if (t.rank != 1) return v;
  t.rank = 2;
  t.dims[row ? 1 : 0] = t.dims[0];
  t.dims[row ? 0 : 1] = (Dim){1, NULL};
  return reshape(A, v, &t);
}

RULE(matmul) {                          // d(a@b) = da@b + a@db  =>  ga = g@bT, gb = aT@g
  (void)v;
  const IrType *ta = ty(A, X), *tb = ty(A, Y);
  if (ta->rank == 1 && tb->rank == 1) { /* dot product: g is a scalar */
    accum(A, X, ew(A, IR_MUL, bcast(A, g, ta), Y));
    accum(A, Y, ew(A, IR_MUL, bcast(A, g, tb), X));
    return;
  }
  if (ta->rank == 2 && tb->rank == 1) { /* [m,k] @ [k]: ga = outer(g, b), gb = aT @ g */
    if (is_active(A, X)) accum(A, X, mm(A, as_matrix(A, g, false), as_matrix(A, Y, true)));
    if (is_active(A, Y)) accum(A, Y, mm(A, transpose(A, X), g));
    return;
  }
  if (ta->rank == 1 && tb->rank == 2) { /* [k] @ [k,n]: ga = b @ g, gb = outer(a, g) */
    if (is_active(A, X)) accum(A, X, mm(A, Y, g));
    if (is_active(A, Y)) accum(A, Y, mm(A, as_matrix(A, X, false), as_matrix(A, g, true)));
    return;
  }
  /* matrices, perhaps batched: a batch axis that was broadcast is summed */
  IrVal a = as_matrix(A, X, true), b = as_matrix(A, Y, false);
  IrType gt = matmul_type(ty(A, a), ty(A, b));
  IrVal gm = reshape(A, g, &gt);
  if (is_active(A, X)) accum(A, X, reshape(A, sum_to(A, mm(A, gm, transpose(A, b)), ty(A, a)), ta));
  if (is_active(A, Y)) accum(A, Y, reshape(A, sum_to(A, mm(A, transpose(A, a), gm), ty(A, b)), tb));
}

RULE(index) {                           // scatter g into zeros at the same place
  (void)v;
  IrInst p = proto(A, IR_UPDATE, *ty(A, X));
  p.args[0] = fill(A, 0, *ty(A, X));
  p.args[1] = g;
  for (int i = 1; i < in->nargs; i++) p.args[i + 1] = in->args[i];
  p.nargs = in->nargs + 1;
  p.axes = in->axes;
  p.naxes = in->naxes;
  accum(A, X, emit(A, &p));
}

RULE(update) {                          // a with a[i] = b: ga = g with g[i] = 0, gb = g[i]
  (void)v;
  IrInst p = proto(A, IR_UPDATE, in->ty);
  p.args[0] = g;
  p.args[1] = fill(A, 0, *ty(A, Y));
  for (int i = 2; i < in->nargs; i++) p.args[i] = in->args[i];
  p.nargs = in->nargs;
  p.axes = in->axes;
  p.naxes = in->naxes;
  accum(A, X, emit(A, &p));
  IrInst q = proto(A, IR_INDEX, *ty(A, Y));
  q.args[0] = g;
  for (int i = 2; i < in->nargs; i++) q.args[i - 1] = in->args[i];
  q.nargs = in->nargs - 1;
  q.axes = in->axes;
  q.naxes = in->naxes;
  accum(A, Y, emit(A, &q));
}

static IrVal onehot_like(Ad *A, IrVal labels, const IrType *x) {
  return op1(A, IR_ONEHOT, *x, labels);
}

RULE(pick) {                            // gx = g[..., None] where onehot(y), else 0
  (void)v;
  const IrType *tx = ty(A, X);
  IrType col = *tx;
  col.dims[col.rank - 1] = (Dim){1, NULL};
  IrVal zero = fill(A, 0, *tx), picked = compare(A, IR_NE, onehot_like(A, Y, tx), zero);
  accum(A, X, select3(A, picked, bcast(A, reshape(A, g, &col), tx), zero));
}

RULE(cross_entropy) {                   // gz = (softmax(z) - onehot(y)) g / rows
  (void)v;
  const IrType *tz = ty(A, X);
  IrVal diff = ew(A, IR_SUB, with_axis(A, IR_SOFTMAX, X, tz->rank - 1), onehot_like(A, Y, tz));
  IrVal rows = dimsize(A, ty(A, Y), tz->dt);
  if (is_fill(A, g, 1)) accum(A, X, ew(A, IR_DIV, diff, bcast(A, rows, tz)));
  else accum(A, X, ew(A, IR_MUL, diff, bcast(A, ew(A, IR_DIV, g, rows), tz)));
}

RULE(mse) {                             // d mean((a-b)^2) = 2 (a - b) g / N
  (void)v;
  const IrType *t = ty(A, X);
  IrVal diff = ew(A, IR_SUB, X, Y);
  IrVal scale = ew(A, IR_DIV, ew(A, IR_MUL, fill(A, 2, in->ty), g), dimsize(A, t, t->dt));
  IrVal c = ew(A, IR_MUL, bcast(A, scale, t), diff);
  accum(A, X, c);
  accum(A, Y, neg(A, c));
}

RULE(l1) {                              // d sum|a| = sign(a) g, 0 at 0
  (void)v;
  accum(A, X, times_sign(A, bcast(A, g, ty(A, X)), X));
}

RULE(l2) {                              // d sum(a^2) = 2 a g
  (void)v;
  const IrType *t = ty(A, X);
  accum(A, X, ew(A, IR_MUL, bcast(A, ew(A, IR_MUL, fill(A, 2, in->ty), g), t), X));
}

static IrVal window_op(Ad *A, IrOp op, const IrInst *fwd, IrType t, IrVal a, IrVal b, IrVal c) {
  IrInst p = proto(A, op, t);
  p.args[0] = a;
  p.args[1] = b;
  p.args[2] = c;
  p.nargs = c >= 0 ? 3 : b >= 0 ? 2 : 1;
  memcpy(p.stride, fwd->stride, sizeof p.stride);
  memcpy(p.pad, fwd->pad, sizeof p.pad);
  memcpy(p.kernel, fwd->kernel, sizeof p.kernel);
  return emit(A, &p);
}

RULE(conv2d) {                          // y = x * w  =>  gx = conv_bwd_input(g, w), gw = conv_bwd_weight(x, g)
  (void)v;
  if (is_active(A, X)) accum(A, X, window_op(A, IR_CONV2D_BWD_INPUT, in, *ty(A, X), g, Y, X));
  if (is_active(A, Y)) accum(A, Y, window_op(A, IR_CONV2D_BWD_WEIGHT, in, *ty(A, Y), X, g, Y));
}
RULE(maxpool2d) { (void)v; accum(A, X, window_op(A, IR_MAXPOOL2D_BWD, in, *ty(A, X), X, g, -1)); } // g to each max
RULE(avgpool2d) { (void)v; accum(A, X, window_op(A, IR_AVGPOOL2D_BWD, in, *ty(A, X), g, X, -1)); } // g / window size
/* The adjoints are linear in g (and the convolutions' in w or x too), so
 * differentiating them again, as grad of a function that uses grad does,
 * takes their transposes: a convolution, the other adjoint, a gather. */
RULE(conv2d_bwd_input) {                // dx = B(g, w)  =>  gg = conv2d(d, w), gw = conv_bwd_weight(d, g)
  (void)v;
  if (is_active(A, X)) accum(A, X, window_op(A, IR_CONV2D, in, *ty(A, X), g, Y, -1));
  if (is_active(A, Y)) accum(A, Y, window_op(A, IR_CONV2D_BWD_WEIGHT, in, *ty(A, Y), g, X, Y));
}
RULE(conv2d_bwd_weight) {               // dw = B(x, g)  =>  gx = conv_bwd_input(g, d), gg = conv2d(x, d)
  (void)v;
  if (is_active(A, X)) accum(A, X, window_op(A, IR_CONV2D_BWD_INPUT, in, *ty(A, X), Y, g, X));
  if (is_active(A, Y)) accum(A, Y, window_op(A, IR_CONV2D, in, *ty(A, Y), X, g, -1));
}
RULE(maxpool2d_bwd) { (void)v; accum(A, Y, window_op(A, IR_MAXPOOL2D_GATHER, in, *ty(A, Y), X, g, -1)); } // (x, g)
RULE(maxpool2d_gather) { (void)v; accum(A, Y, window_op(A, IR_MAXPOOL2D_BWD, in, *ty(A, Y), X, g, -1)); } // (x, t)
RULE(avgpool2d_bwd) {                   // (g, x)  =>  gg = avgpool2d(d)
  (void)v;
  IrInst p = proto(A, IR_AVGPOOL2D, *ty(A, X));
  p.args[0] = g;
  p.nargs = 1;
  memcpy(p.stride, in->stride, sizeof p.stride);
  memcpy(p.pad, in->pad, sizeof p.pad);
  memcpy(p.kernel, in->kernel, sizeof p.kernel);
  accum(A, X, emit(A, &p));
}

static const Rule rules[IR_OP_COUNT] = {
#define IR_OP(id, dml, kind, rule) rev_##rule,
#include "../ir_ops.def"
#undef IR_OP
};

/* ---- loops: backprop through time -------------------------------------------
 *
 * A loop `for i in lo..hi` with carried values c_j is reversed in three steps.
 * 1. The forward loop also carries one stack per c_j, [T, shape of c_j]
 *    with T = hi - lo, and stores c_j at row i - lo on every iteration.
 *    When T is a constant the stack has one more row, where the loop's
 *    result goes after the loop: row i - lo + 1 is iteration i's yield.
 * 2. A reverse loop runs i from hi-1 down to lo. Its body reads the c_j of
 *    iteration i from the stacks, recomputes that iteration's body from
 *    them, and applies the rules to the copy, in reverse: the adjoints of
 *    the yielded values come in as carried values (the adjoints of the
 *    loop's results at the start), the adjoints of the carried inputs go
 *    out as the next carried values, and what flows to values defined
 *    outside the loop (params) is accumulated in further carried values.
 *    The copy's yields are replaced by the stacks' next rows, which leaves
 *    the work that only computed them (an RNN step's products) dead.
 * 3. After it, those accumulators and the last carried adjoints go to the
 *    outer values and the loop's initial values. */


/* A name for the variables of a reversed loop: the source's, if any. */
static const char *carry_name(Ad *A, IrVal v) {
  const IrInst *in = &A->f->v[v];
  if (in->op == IR_PARAM) return A->f->params[in->index].name;
  if (in->op == IR_INPUT) return A->f->input_names[in->index];
  return in->name ? in->name : "t";
}

/* Put the last value of block b just before `before`. */
static void move_before(IrBlock *b, IrVal before) {
  IrVal v = b->ids[b->n - 1];
  int at = 0;
  while (at < b->n - 1 && b->ids[at] != before) at++;
  memmove(&b->ids[at + 1], &b->ids[at], sizeof(IrVal) * (size_t)(b->n - 1 - at));
  b->ids[at] = v;
}



/* Whether v is defined in block b or in a loop nested in it. */
static bool in_tree(const IrFunc *f, const IrBlock *b, IrVal v) {
  for (int i = 0; i < b->n; i++) {
    IrVal x = b->ids[i];
    if (x == v) return true;
    if (f->v[x].op == IR_FOR && in_tree(f, f->v[x].body, v)) return true;
  }
  return false;
}

/* Active values from outside loop L that its body (nested loops included)
 * reads or yields as they are (h = a): the reversed loop accumulates their
 * adjoints. */
static void collect_outer(Ad *A, const IrBlock *root, const IrBlock *b, IrVal *outer, int *nouter) {
  const IrFunc *f = A->f;
  for (int i = 0; i <= b->n; i++) {
    const IrInst *in = i < b->n ? &f->v[b->ids[i]] : NULL;
    int n = in ? in->nargs : b->nyields;
    for (int a = 0; a < n; a++) {
      IrVal x = in ? in->args[a] : b->yields[a];
      if (!is_active(A, x) || in_tree(f, root, x)) continue;
      bool seen = false;
      for (int j = 0; j < *nouter; j++) seen |= outer[j] == x;
      if (!seen && *nouter < IR_MAX_ARGS) outer[(*nouter)++] = x;
    }
    if (in && in->op == IR_FOR) collect_outer(A, root, in->body, outer, nouter);
  }
}

static IrVal copy_value(Ad *A, IrVal b, IrVal *map, int mapn);

/* A copy of loop body `src` into `dst` (the FOR `owner`'s), through map. */
static void copy_block(Ad *A, const IrBlock *src, IrBlock *dst, IrVal owner, IrVal *map, int mapn) {
  IrFunc *f = A->f;
  IrBlock *saved = f->cur;
  int mark = ir_block_begin(f, dst);
  for (int i = 0; i < src->n; i++) {
    IrVal b = src->ids[i];
    IrVal c = copy_value(A, b, map, mapn);
    if (f->v[c].op == IR_LOOP_INDEX || f->v[c].op == IR_LOOP_CARRY) f->v[c].owner = owner;
  }
  dst->yields = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(src->nyields + 1));
  dst->nyields = src->nyields;
  for (int i = 0; i < src->nyields; i++) dst->yields[i] = src->yields[i] < mapn ? map[src->yields[i]] : src->yields[i];
  ir_block_end(f, saved, mark);
}

/* A fresh copy of value b (never shared with a value outside, whose
 * adjoint is not ours); a loop is copied with its body. */
static IrVal copy_value(Ad *A, IrVal b, IrVal *map, int mapn) {
  IrFunc *f = A->f;
  IrInst p = f->v[b];
  for (int a = 0; a < p.nargs; a++) p.args[a] = p.args[a] < mapn ? map[p.args[a]] : p.args[a];
  const IrBlock *src = p.op == IR_FOR ? p.body : NULL;
  if (src) p.body = ARENA_NEW(f->arena, IrBlock);
  IrVal c = fresh(A, &p);
  map[b] = c;
  ad_fit(A);
  A->active[c] = is_active(A, b);
  if (src) copy_block(A, src, f->v[c].body, c, map, mapn);
  return c;
}

/* stack, with the loop's final value of carry j at row T: what iteration
 * T - 1 yielded. */
static IrVal store_final(Ad *A, IrVal L, int j, IrVal stack, int64_t T) {
  IrFunc *f = A->f;
  IrVal final = -1; /* the program's own result value, if it has one: the adjoint arrives there */
  for (IrVal v = L + 1; v < f->nv && final < 0; v++)
    if (f->v[v].op == IR_FOR_RESULT && f->v[v].args[0] == L && f->v[v].index == j) final = v;
  if (final < 0) {
    IrInst r = proto(A, IR_FOR_RESULT, f->v[f->v[L].args[2 + j]].ty);
    r.args[0] = L;
    r.nargs = 1;
    r.index = j;
    final = fresh(A, &r);
  }
  IrInst u = proto(A, IR_UPDATE, f->v[stack].ty);
  u.args[0] = stack;
  u.args[1] = final;
  u.args[2] = const_i32(A, T);
  u.nargs = 3;
  u.axes = arena_alloc(f->arena, sizeof(IrAxis));
  u.naxes = 1;
  u.name = f->v[stack].name;
  return fresh(A, &u);
}

/* Uses of `from` in block b (nested blocks too) read `to` instead; from
 * itself, left without uses, is dropped as dead code later. */
static void replace_uses(IrFunc *f, IrBlock *b, IrVal from, IrVal to) {
  for (int i = 0; i < b->n; i++) {
    IrInst *in = &f->v[b->ids[i]];
    if (b->ids[i] == from) continue;
    for (int a = 0; a < in->nargs; a++)
      if (in->args[a] == from) in->args[a] = to;
    if (in->op == IR_FOR) replace_uses(f, in->body, from, to);
  }
  for (int i = 0; i < b->nyields; i++)
    if (b->yields[i] == from) b->yields[i] = to;
}

/* Reverse loop L, which sits in block `parent` (the function's body, or
 * the body of an enclosing reversed loop for a nested one). */
static bool loop_results_have_adjoints(Ad *A, IrVal L) {
  bool needed = false;
  for (IrVal r = L + 1; r < A->f->nv; r++)
    needed |= A->f->v[r].op == IR_FOR_RESULT && A->f->v[r].args[0] == L && r < A->cap && A->adj[r] >= 0;
  return needed;
}

static void reverse_loop(Ad *A, IrVal L, IrBlock *parent) {
  IrFunc *f = A->f;
  IrInst loop = f->v[L]; /* copies: f->v moves as values are added */
  IrBlock *body = loop.body;
  int k = loop.nargs - 2;
  A->cur = &f->v[L];
  const IrInst *lo_in = &f->v[loop.args[0]], *hi_in = &f->v[loop.args[1]];
  /* the trip count T as a dimension, for the stacks' shape */
  Dim T = {0, NULL};
  bool ok = lo_in->op == IR_CONST && (hi_in->op == IR_CONST || (hi_in->op == IR_DIMSIZE && hi_in->nsize_dims == 1));
  if (ok && hi_in->op == IR_CONST) T.size = (int64_t)hi_in->num - (int64_t)lo_in->num;
  else if (ok) ok = lo_in->num == 0, T = hi_in->size_dims[0];
  if (!ok || (!T.sym && T.size < 1)) {
    diag_error(A->d, loop.span, "cannot differentiate through this loop: its bounds must be constants, or 0..n with n a dimension");
    A->failed = true;
    return;
  }
  int64_t lo = (int64_t)lo_in->num;
  /* values from outside the loop whose adjoints the body produces */
  IrVal outer[IR_MAX_ARGS];
  int nouter = 0;
  collect_outer(A, body, body, outer, &nouter);
  if (2 * k + 2 > IR_MAX_ARGS || k + nouter + 2 > IR_MAX_ARGS) {
    diag_error(A->d, loop.span,
               "cannot differentiate through this loop yet: it carries %d value%s and reads %d value%s from outside "
               "it; at most %d carried values, and %d in all, are supported",
               k, k == 1 ? "" : "s", nouter, nouter == 1 ? "" : "s", (IR_MAX_ARGS - 2) / 2, IR_MAX_ARGS - 2);
    A->failed = true;
    return;
  }
  /* 1. stacks in the forward loop */
  int orig_n = body->n; /* the body as written: what the reverse loop replays */
  IrVal stack_result[IR_MAX_ARGS];
  IrVal index_in_body = -1;
  for (int i = 0; i < body->n; i++)
    if (f->v[body->ids[i]].op == IR_LOOP_INDEX) index_in_body = body->ids[i];
  IrVal carry_in_body[IR_MAX_ARGS];
  for (int i = 0; i < body->n; i++)
    if (f->v[body->ids[i]].op == IR_LOOP_CARRY) carry_in_body[f->v[body->ids[i]].index] = body->ids[i];
  IrBlock *saved = f->cur;
  IrVal *yields = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(2 * k + 1));
  memcpy(yields, body->yields, sizeof(IrVal) * (size_t)k);
  /* With a constant trip count the stacks get one more row, the loop's
   * result: row i + 1 is then iteration i's yield too, which the reverse
   * body reads instead of recomputing it. */
  bool keep_yields = !T.sym;
  for (int j = 0; j < k; j++) {
    IrType ct = f->v[carry_in_body[j]].ty, st = ct;
    st.rank = ct.rank + 1;
    st.dims[0] = T;
    if (keep_yields) st.dims[0].size++;
    memcpy(&st.dims[1], ct.dims, sizeof(Dim) * (size_t)ct.rank);
    f->cur = parent; /* the empty stack, before the loop */
    IrInst z = proto(A, st.rank ? IR_FILL : IR_CONST, st);
    IrVal init = fresh(A, &z);
    move_before(parent, L);
    f->v[L].args[2 + k + j] = init;
    f->cur = body; /* stack[i - lo] = c_j */
    IrInst c = proto(A, IR_LOOP_CARRY, st);
    c.owner = L;
    c.index = k + j;
    c.name = arena_printf(f->arena, "saved_%s", carry_name(A, carry_in_body[j]));
    IrVal sin = fresh(A, &c);
    IrVal row = lo ? scalar_i32(A, IR_SUB, index_in_body, const_i32(A, lo)) : index_in_body;
    IrInst u = proto(A, IR_UPDATE, st);
    u.args[0] = sin;
    u.args[1] = carry_in_body[j];
    u.args[2] = row;
    u.nargs = 3;
    u.axes = arena_alloc(f->arena, sizeof(IrAxis));
    u.naxes = 1;
    yields[k + j] = fresh(A, &u);
    f->cur = parent; /* its final value, after the loop */
    IrInst r = proto(A, IR_FOR_RESULT, st);
    r.args[0] = L;
    r.nargs = 1;
    r.index = k + j;
    r.name = c.name;
    stack_result[j] = fresh(A, &r);
    if (keep_yields) stack_result[j] = store_final(A, L, j, stack_result[j], T.size);
  }
  f->v[L].nargs = 2 + 2 * k;
  body->yields = yields;
  body->nyields = 2 * k;
  f->cur = saved;
  /* the adjoints of the loop's results, zero where none arrived */
  IrVal result_of[IR_MAX_ARGS];
  for (int j = 0; j < IR_MAX_ARGS; j++) result_of[j] = -1;
  for (IrVal v = L + 1; v < f->nv; v++)
    if (f->v[v].op == IR_FOR_RESULT && f->v[v].args[0] == L && f->v[v].index < k) result_of[f->v[v].index] = v;
  IrInst rl = proto(A, IR_FOR, (IrType){.dt = DT_I32});
  rl.args[0] = const_i32(A, 0);
  if (T.sym) {
    IrInst dz = proto(A, IR_DIMSIZE, (IrType){.dt = DT_I32});
    dz.size_dims = arena_alloc(f->arena, sizeof(Dim));
    dz.size_dims[0] = T;
    dz.nsize_dims = 1;
    rl.args[1] = fresh(A, &dz);
  } else {
    rl.args[1] = const_i32(A, T.size);
  }
  for (int j = 0; j < k; j++) {
    IrVal r = result_of[j];
    ad_fit(A);
    rl.args[2 + j] = r >= 0 && A->adj[r] >= 0 ? A->adj[r] : fill(A, 0, f->v[carry_in_body[j]].ty);
  }
  for (int o = 0; o < nouter; o++) rl.args[2 + k + o] = fill(A, 0, f->v[outer[o]].ty);
  rl.nargs = 2 + k + nouter;
  rl.body = ARENA_NEW(f->arena, IrBlock);
  IrVal R = fresh(A, &rl);
  /* 2. the reverse body */
  IrBlock *rbody = f->v[R].body;
  int mark = ir_block_begin(f, rbody);
  IrInst ti = proto(A, IR_LOOP_INDEX, (IrType){.dt = DT_I32});
  ti.owner = R;
  ti.name = "step";
  IrVal t = fresh(A, &ti);
  IrVal dcarry[IR_MAX_ARGS], acc[IR_MAX_ARGS];
  for (int j = 0; j < k + nouter; j++) {
    IrInst c = proto(A, IR_LOOP_CARRY, f->v[rl.args[2 + j]].ty);
    c.owner = R;
    c.index = j;
    c.name = arena_printf(f->arena, "d_%s", carry_name(A, j < k ? carry_in_body[j] : outer[j - k]));
    IrVal cv = fresh(A, &c);
    if (j < k) dcarry[j] = cv;
    else acc[j - k] = cv;
  }
  IrVal row = scalar_i32(A, IR_SUB, T.sym ? rl.args[1] : const_i32(A, T.size), t);
  row = scalar_i32(A, IR_SUB, row, const_i32(A, 1)); /* T - 1 - t */
  IrVal i_val = lo ? scalar_i32(A, IR_ADD, row, const_i32(A, lo)) : row;
  /* map body values to their copies */
  IrVal *map = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(f->nv + 1));
  int mapn = f->nv;
  for (int i = 0; i < mapn; i++) map[i] = i;
  map[index_in_body] = i_val;
  for (int j = 0; j < k; j++) {
    IrInst ix = proto(A, IR_INDEX, f->v[carry_in_body[j]].ty);
    ix.args[0] = stack_result[j];
    ix.args[1] = row;
    ix.nargs = 2;
    ix.axes = arena_alloc(f->arena, sizeof(IrAxis));
    ix.naxes = 1;
    map[carry_in_body[j]] = emit(A, &ix);
  }
  IrVal stored_yield[IR_MAX_ARGS]; /* the copy of body yield j, and its stored value */
  for (int j = 0; j < k; j++) {
    IrVal y = body->yields[j];
    bool computed = in_tree(f, body, y) && f->v[y].op != IR_LOOP_CARRY && f->v[y].op != IR_LOOP_INDEX;
    stored_yield[j] = -1;
    if (!keep_yields || !computed) continue;
    IrInst ix = proto(A, IR_INDEX, f->v[y].ty);
    ix.args[0] = stack_result[j];
    ix.args[1] = scalar_i32(A, IR_ADD, row, const_i32(A, 1));
    ix.nargs = 2;
    ix.axes = arena_alloc(f->arena, sizeof(IrAxis));
    ix.naxes = 1;
    ix.name = f->v[y].name; /* what the body called it: the reverse body reads it under that name */
    stored_yield[j] = fresh(A, &ix);
  }
  int nbody = orig_n; /* the stack bookkeeping added above is not replayed */
  IrVal *copies = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(body->n + 1));
  int ncopies = 0;
  for (int i = 0; i < nbody; i++) {
    IrVal b = body->ids[i];
    if (f->v[b].op == IR_LOOP_INDEX || f->v[b].op == IR_LOOP_CARRY) continue;
    copies[ncopies++] = copy_value(A, b, map, mapn);
  }
  for (int j = 0; j < k; j++) A->active[map[carry_in_body[j]]] = is_active(A, carry_in_body[j]);
  /* adjoints: none yet for the copies; outer ones are set aside */
  IrVal saved_adj[IR_MAX_ARGS];
  for (int o = 0; o < nouter; o++) {
    saved_adj[o] = A->adj[outer[o]];
    A->adj[outer[o]] = -1;
  }
  for (int c = 0; c < ncopies; c++) A->adj[copies[c]] = -1;
  for (int j = 0; j < k; j++) A->adj[map[carry_in_body[j]]] = -1; /* all before any seed: b = a seeds a */
  for (int j = 0; j < k; j++) {
    IrVal y = body->yields[j] < mapn ? map[body->yields[j]] : body->yields[j];
    A->cur = &f->v[L];
    accum(A, y, dcarry[j]);
  }
  for (int c = ncopies - 1; c >= 0 && !A->failed; c--) {
    IrVal v = copies[c];
    if (f->v[v].op == IR_FOR) { /* a nested loop: reversed inside this one */
      if (loop_results_have_adjoints(A, v)) reverse_loop(A, v, rbody);
      continue;
    }
    if (A->adj[v] < 0 || !is_active(A, v)) continue;
    IrInst in = f->v[v];
    A->cur = &in;
    rules[in.op](A, v, &in, A->adj[v]);
  }
  if (A->failed) return;
  for (int j = 0; j < k; j++)
    if (stored_yield[j] >= 0) replace_uses(f, rbody, map[body->yields[j]], stored_yield[j]);
  A->cur = &f->v[L];
  IrVal *ry = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(k + nouter + 1));
  for (int j = 0; j < k; j++) {
    IrVal d = A->adj[map[carry_in_body[j]]];
    ry[j] = d >= 0 ? d : fill(A, 0, f->v[carry_in_body[j]].ty);
  }
  for (int o = 0; o < nouter; o++) {
    IrVal d = A->adj[outer[o]];
    ry[k + o] = d >= 0 ? ew(A, IR_ADD, acc[o], d) : acc[o];
    A->adj[outer[o]] = saved_adj[o];
  }
  rbody->yields = ry;
  rbody->nyields = k + nouter;
  ir_block_end(f, saved, mark);
  /* 3. out of the reverse loop */
  for (int j = 0; j < k + nouter; j++) {
    IrInst r = proto(A, IR_FOR_RESULT, f->v[rl.args[2 + j]].ty);
    r.args[0] = R;
    r.nargs = 1;
    r.index = j;
    IrVal res = fresh(A, &r);
    accum(A, j < k ? loop.args[2 + j] : outer[j - k], res);
  }
}

/* ---- driver ---------------------------------------------------------------- */

bool ad_reverse(IrFunc *f, Diags *d) {
  if (f->nresults != 1 || f->v[f->results[0]].ty.rank != 0) {
    diag_error(d, f->span, "reverse mode needs a function with one scalar result");
    return false;
  }
  Ad A = {.f = f, .d = d, .nprimal = f->nv};
  ad_fit(&A);
  mark_active(&A);
  IrVal out = f->results[0];
  A.cur = &f->v[out];
  if (A.active[out]) A.adj[out] = fill(&A, 1, f->v[out].ty);
  for (IrVal v = A.nprimal - 1; v >= 0; v--) {
    if (f->v[v].op == IR_FOR) {
      if (loop_results_have_adjoints(&A, v)) reverse_loop(&A, v, &f->body);
      if (A.failed) return false;
      continue;
    }
    if (A.adj[v] < 0 || !A.active[v]) continue;
    IrInst in = f->v[v]; /* a copy: rules append to f->v, which may move */
    A.cur = &in;
    rules[in.op](&A, v, &in, A.adj[v]);
  }
  if (A.failed) return false;
  /* results: the loss, then the gradient of each param the loss reads */
  f->name = "loss_grad";
  f->adjoint_of = arena_alloc(f->arena, sizeof(IrVal) * (size_t)f->nv);
  f->nadjoint_of = f->nv;
  for (int i = 0; i < f->nv; i++) f->adjoint_of[i] = -1;
  for (IrVal v = A.nprimal - 1; v >= 0; v--)
    if (A.adj[v] >= A.nprimal && f->adjoint_of[A.adj[v]] < 0) f->adjoint_of[A.adj[v]] = v; /* adjoint values only */
  IrVal *param_val = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(f->nparams + 1));
  for (int i = 0; i < f->nparams; i++) param_val[i] = -1;
  for (IrVal v = 0; v < A.nprimal; v++)
    if (f->v[v].op == IR_PARAM) param_val[f->v[v].index] = v;
  f->grad_params = arena_alloc(f->arena, sizeof(int) * (size_t)(f->nparams + 1));
  f->ngrad_params = 0;
  IrVal loss = f->results[0];
  f->nresults = 0;
  ARENA_PUSH(f->arena, f->results, f->nresults, f->capresults, loss);
  for (int i = 0; i < f->nparams; i++) {
    IrVal p = param_val[i];
    if (p < 0) continue;
    IrVal g = A.adj[p];
    if (g < 0) { /* read, but only where no derivative flows (stop_gradient) */
      A.cur = &f->v[p];
      g = fill(&A, 0, f->v[p].ty);
    }
    f->grad_params[f->ngrad_params++] = i;
    ARENA_PUSH(f->arena, f->results, f->nresults, f->capresults, g);
  }
  return true;
}
