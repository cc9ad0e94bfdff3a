/* forward.c - forward mode (Jacobian-vector products) by source
 * transformation, applied to loss_grad to get Hessian-vector products.
 *
 * Every value that depends on a param gets a tangent: the derivative of
 * the value along a direction v in param space, one tangent input v_P per
 * param P. The rule of each opcode builds the tangent of its result from
 * its operands and their tangents (the table below). Applied to loss_grad,
 * whose results are the gradients, the tangents of those results are
 * H v: forward over reverse. Tangent instructions go right after the value
 * they differentiate, so the function stays in order; a loop gets one more
 * carried value per active carried value (the tangent travels with it). */
#include "builder.h"

static IrVal T(Ad *A, IrVal v) { return v < A->cap ? A->adj[v] : -1; }

/* The tangent of v, zeros of its type if it has none. */
static IrVal T0(Ad *A, IrVal v) {
  IrVal t = T(A, v);
  return t >= 0 ? t : fill(A, 0, *ty(A, v));
}

static IrVal add_t(Ad *A, IrVal a, IrVal b) { /* -1 stands for zero */
  if (a < 0) return b;
  if (b < 0) return a;
  return ew(A, IR_ADD, a, b);
}

static IrVal same_op(Ad *A, const IrInst *in, IrVal a, IrVal b) { /* in's op, attributes and type, new operands */
  IrInst p = proto(A, in->op, in->ty);
  memcpy(p.args, in->args, sizeof(IrVal) * (size_t)in->nargs);
  p.nargs = in->nargs;
  p.args[0] = a;
  if (b >= 0) p.args[1] = b;
  p.axis = in->axis;
  p.keepdims = in->keepdims;
  p.axes = in->axes;
  p.naxes = in->naxes;
  memcpy(p.stride, in->stride, sizeof p.stride);
  memcpy(p.pad, in->pad, sizeof p.pad);
  memcpy(p.kernel, in->kernel, sizeof p.kernel);
  return emit(A, &p);
}

/* sum over in's axis of x (the shape of in's operand), as in's result */
static IrVal sum_like(Ad *A, const IrInst *in, IrVal x, bool keep) {
  IrType t = in->ty;
  if (keep && in->axis >= 0 && !in->keepdims) {
    t = *ty(A, in->args[0]);
    t.dims[in->axis] = (Dim){1, NULL};
  }
  return reduce(A, IR_SUM, x, in->axis, keep || in->keepdims, t);
}

/* The tangent of value v (instruction in), or -1 for zero. */
static IrVal tangent(Ad *A, IrVal v, const IrInst *in) {
  IrVal x = in->nargs > 0 ? in->args[0] : -1, y = in->nargs > 1 ? in->args[1] : -1;
  IrVal tx = x >= 0 ? T(A, x) : -1, ty_ = y >= 0 ? T(A, y) : -1;
  const IrType *t = &in->ty;
  switch (in->op) {
  case IR_NEG: return tx < 0 ? -1 : neg(A, tx);
  case IR_EXP: return tx < 0 ? -1 : ew(A, IR_MUL, tx, v);
  case IR_LOG: return tx < 0 ? -1 : ew(A, IR_DIV, tx, x);
  case IR_LOG1P: return tx < 0 ? -1 : ew(A, IR_DIV, tx, ew(A, IR_ADD, fill(A, 1, *t), x));
  case IR_SQRT: return tx < 0 ? -1 : ew(A, IR_DIV, tx, ew(A, IR_MUL, fill(A, 2, *t), v));
  case IR_ABS: return tx < 0 ? -1 : times_sign(A, tx, x);
  case IR_TANH: return tx < 0 ? -1 : ew(A, IR_MUL, tx, ew(A, IR_SUB, fill(A, 1, *t), ew(A, IR_MUL, v, v)));
  case IR_SIGMOID: return tx < 0 ? -1 : ew(A, IR_MUL, tx, ew(A, IR_MUL, v, ew(A, IR_SUB, fill(A, 1, *t), v)));
  case IR_RELU: return tx < 0 ? -1 : select3(A, compare(A, IR_GT, x, fill(A, 0, *t)), tx, fill(A, 0, *t));
  case IR_SOFTPLUS: return tx < 0 ? -1 : ew(A, IR_MUL, tx, op1(A, IR_SIGMOID, *t, x));
  case IR_SIN: return tx < 0 ? -1 : ew(A, IR_MUL, tx, op1(A, IR_COS, *t, x));
  case IR_COS: return tx < 0 ? -1 : neg(A, ew(A, IR_MUL, tx, op1(A, IR_SIN, *t, x)));
  case IR_CAST: return tx < 0 || t->dt == DT_I32 || t->dt == DT_BOOL ? -1 : op1(A, IR_CAST, *t, tx);
  case IR_ADD: return add_t(A, tx, ty_);
  case IR_SUB: return ty_ < 0 ? tx : tx < 0 ? neg(A, ty_) : ew(A, IR_SUB, tx, ty_);
  case IR_MUL: return add_t(A, tx < 0 ? -1 : ew(A, IR_MUL, tx, y), ty_ < 0 ? -1 : ew(A, IR_MUL, x, ty_));
  case IR_DIV: { /* (tx - v ty) / y */
    if (tx < 0 && ty_ < 0) return -1;
    IrVal num = ty_ < 0 ? tx : ew(A, IR_SUB, T0(A, x), ew(A, IR_MUL, v, ty_));
    return ew(A, IR_DIV, num, y);
  }
  case IR_POW: { /* y x^(y-1) tx + v log(x) ty, with reverse mode's conventions at y = 0 and x = 0 */
    IrVal a = tx < 0 ? -1 : ew(A, IR_MUL, pow_base_factor(A, in), tx);
    IrVal b = ty_ < 0 ? -1 : ew(A, IR_MUL, pow_exponent_factor(A, v, in), ty_);
    return add_t(A, a, b);
  }
  case IR_MAXIMUM: case IR_MINIMUM:
    if (tx < 0 && ty_ < 0) return -1;
    return select3(A, compare(A, in->op == IR_MAXIMUM ? IR_GE : IR_LE, x, y), T0(A, x), T0(A, y));
  case IR_SELECT: { /* the condition has no tangent */
    IrVal ta = T(A, in->args[1]), tb = T(A, in->args[2]);
    if (ta < 0 && tb < 0) return -1;
    return select3(A, x, T0(A, in->args[1]), T0(A, in->args[2]));
  }
  case IR_SUM: return tx < 0 ? -1 : same_op(A, in, tx, -1);
  case IR_MAX: case IR_MIN: { /* the mean tangent of the extreme elements: reverse mode shares g among ties */
    IrVal ext = bcast(A, keepdims_form(A, v, in), ty(A, x)), zero = fill(A, 0, *ty(A, x));
    IrVal at = compare(A, IR_EQ, x, ext);
    IrVal count = sum_like(A, in, select3(A, at, fill(A, 1, *ty(A, x)), zero), false);
    return ew(A, IR_DIV, sum_like(A, in, select3(A, at, tx, zero), false), count);
  }
  case IR_LOGSUMEXP: { /* sum(softmax(x) tx) */
    IrVal y1 = bcast(A, keepdims_form(A, v, in), ty(A, x));
    IrVal sm = op1(A, IR_EXP, *ty(A, x), ew(A, IR_SUB, x, y1));
    return sum_like(A, in, ew(A, IR_MUL, sm, tx), false);
  }
  case IR_SOFTMAX: case IR_LOG_SOFTMAX: { /* y (tx - sum(y tx)), tx - sum(softmax tx) */
    IrVal sm = in->op == IR_SOFTMAX ? v : with_axis(A, IR_SOFTMAX, x, in->axis);
    IrInst red = *in;
    red.ty = *t;
    red.ty.dims[in->axis] = (Dim){1, NULL};
    red.keepdims = true;
    IrVal s = reduce(A, IR_SUM, ew(A, IR_MUL, sm, tx), in->axis, true, red.ty);
    IrVal d = ew(A, IR_SUB, tx, bcast(A, s, t));
    return in->op == IR_SOFTMAX ? ew(A, IR_MUL, v, d) : d;
  }
  case IR_MATMUL:
    return add_t(A, tx < 0 ? -1 : same_op(A, in, tx, y), ty_ < 0 ? -1 : same_op(A, in, x, ty_));
  case IR_TRANSPOSE: case IR_RESHAPE: case IR_BROADCAST: case IR_SUM_TO: case IR_INDEX:
  case IR_AVGPOOL2D: case IR_PICK:
    return tx < 0 ? -1 : same_op(A, in, tx, -1); /* linear in the first operand */
  case IR_UPDATE: /* linear in the base and the value written */
    if (tx < 0 && ty_ < 0) return -1;
    return same_op(A, in, T0(A, x), T0(A, y));
  case IR_CROSS_ENTROPY: { /* sum((softmax(z) - onehot(y)) tz) / rows */
    if (tx < 0) return -1;
    const IrType *tz = ty(A, x);
    IrVal diff = ew(A, IR_SUB, with_axis(A, IR_SOFTMAX, x, tz->rank - 1), op1(A, IR_ONEHOT, *tz, y));
    return ew(A, IR_DIV, reduce(A, IR_SUM, ew(A, IR_MUL, diff, tx), -1, false, *t), dimsize(A, ty(A, y), t->dt));
  }
  case IR_MSE: { /* 2 mean((a - b)(ta - tb)) */
    if (tx < 0 && ty_ < 0) return -1;
    IrVal d = ew(A, IR_SUB, T0(A, x), T0(A, y));
    IrVal s = reduce(A, IR_SUM, ew(A, IR_MUL, ew(A, IR_SUB, x, y), d), -1, false, *t);
    return ew(A, IR_DIV, ew(A, IR_MUL, fill(A, 2, *t), s), dimsize(A, ty(A, x), t->dt));
  }
  case IR_L1:
    return tx < 0 ? -1 : reduce(A, IR_SUM, times_sign(A, tx, x), -1, false, *t);
  case IR_L2:
    return tx < 0 ? -1 : ew(A, IR_MUL, fill(A, 2, *t), reduce(A, IR_SUM, ew(A, IR_MUL, x, tx), -1, false, *t));
  /* bilinear: a tangent in each operand, the other held */
  case IR_CONV2D: case IR_CONV2D_BWD_INPUT:
    return add_t(A, tx < 0 ? -1 : same_op(A, in, tx, y), ty_ < 0 ? -1 : same_op(A, in, x, ty_));
  case IR_CONV2D_BWD_WEIGHT: /* (x, g, w): w only gives the shape */
    return add_t(A, tx < 0 ? -1 : same_op(A, in, tx, y), ty_ < 0 ? -1 : same_op(A, in, x, ty_));
  case IR_MAXPOOL2D_BWD: /* (x, g): linear in g where the maxima stay */
    return ty_ < 0 ? -1 : same_op(A, in, x, ty_);
  case IR_AVGPOOL2D_BWD: /* (g, x) */
    return tx < 0 ? -1 : same_op(A, in, tx, y);
  case IR_MAXPOOL2D: /* tx at each window's maximum (where the maxima stay) */
    if (tx < 0) return -1;
    return same_op(A, &(IrInst){.op = IR_MAXPOOL2D_GATHER, .ty = *t, .nargs = 2, .args = {x, tx},
                                .stride = {in->stride[0], in->stride[1]}, .pad = {in->pad[0], in->pad[1]},
                                .kernel = {in->kernel[0], in->kernel[1]}, .axis = -1},
                   x, tx);
  case IR_MAXPOOL2D_GATHER: /* (x, t): linear in t where the maxima stay */
    return ty_ < 0 ? -1 : same_op(A, in, x, ty_);
  default: /* leaves, comparisons, integer results, stop_gradient: no tangent */
    return -1;
  }
}

static void forward_block(Ad *A, IrBlock *b);

/* A loop carries the tangent of each active carried value next to it. */
static void forward_loop(Ad *A, IrVal L, IrBlock *parent) {
  IrFunc *f = A->f;
  IrBlock *body = f->v[L].body;
  int k = f->v[L].nargs - 2, nt = 0;
  IrVal carry[IR_MAX_ARGS], tcarry[IR_MAX_ARGS];
  int which[IR_MAX_ARGS];
  for (int i = 0; i < body->n; i++)
    if (f->v[body->ids[i]].op == IR_LOOP_CARRY) carry[f->v[body->ids[i]].index] = body->ids[i];
  for (int j = 0; j < k; j++) {
    if (!is_active(A, carry[j])) continue;
    if (k + nt + 3 > IR_MAX_ARGS) {
      diag_error(A->d, f->v[L].span, "cannot take a Hessian-vector product through a loop carrying this many values");
      A->failed = true;
      return;
    }
    A->cur = &f->v[L];
    IrVal init = T0(A, f->v[L].args[2 + j]); /* before the loop: the parent's end is the loop's place */
    f->v[L].args[2 + k + nt] = init;
    which[nt++] = j;
  }
  if (!nt) return;
  /* the initial tangents were appended after L: put L after them */
  int at = 0;
  while (parent->ids[at] != L) at++;
  memmove(&parent->ids[at], &parent->ids[at + 1], sizeof(IrVal) * (size_t)(parent->n - at - 1));
  parent->ids[parent->n - 1] = L;
  f->v[L].nargs = 2 + k + nt;
  IrBlock *saved = f->cur;
  int mark = ir_block_begin(f, body);
  for (int i = 0; i < nt; i++) {
    A->cur = &f->v[carry[which[i]]];
    IrInst c = proto(A, IR_LOOP_CARRY, f->v[carry[which[i]]].ty);
    c.owner = L;
    c.index = k + i;
    c.name = arena_printf(f->arena, "v_%s", f->v[carry[which[i]]].name ? f->v[carry[which[i]]].name : "c");
    tcarry[i] = fresh(A, &c);
    ad_fit(A);
    A->adj[carry[which[i]]] = tcarry[i];
  }
  /* the tangent carries first in the body, with the other carries: they
   * were appended at its end */
  memmove(body->ids + nt, body->ids, sizeof(IrVal) * (size_t)(body->n - nt));
  memcpy(body->ids, tcarry, sizeof(IrVal) * (size_t)nt);
  /* the body, then its yields' tangents (in the body's scope: nothing
   * made here is shared with code after the loop) */
  forward_block(A, body);
  f->cur = body;
  IrVal *ys = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(k + nt + 1));
  memcpy(ys, body->yields, sizeof(IrVal) * (size_t)k);
  for (int i = 0; i < nt; i++) {
    A->cur = &f->v[body->yields[which[i]]];
    ys[k + i] = T0(A, body->yields[which[i]]);
  }
  body->yields = ys;
  body->nyields = k + nt;
  ir_block_end(f, saved, mark);
  /* the loop's results: their tangents are the tangent carries' results */
  for (IrVal r = L + 1; r < A->nprimal; r++) {
    if (f->v[r].op != IR_FOR_RESULT || f->v[r].args[0] != L) continue;
    for (int i = 0; i < nt; i++) {
      if (which[i] != f->v[r].index) continue;
      A->cur = &f->v[r];
      IrInst p = proto(A, IR_FOR_RESULT, f->v[r].ty);
      p.args[0] = L;
      p.nargs = 1;
      p.index = k + i;
      p.name = f->v[r].name ? arena_printf(f->arena, "v_%s", f->v[r].name) : NULL;
      IrVal tr = fresh(A, &p);
      ad_fit(A);
      A->adj[r] = tr;
    }
  }
}

/* Tangents of block b's values, each placed right after its value. */
static void forward_block(Ad *A, IrBlock *b) {
  IrFunc *f = A->f;
  int n = b->n;
  IrVal *ids = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(n + 1));
  memcpy(ids, b->ids, sizeof(IrVal) * (size_t)n);
  b->n = 0; /* rebuilt: each primal value, then what its tangent needs */
  IrBlock *saved = f->cur;
  f->cur = b;
  for (int i = 0; i < n && !A->failed; i++) {
    IrVal v = ids[i];
    ARENA_PUSH(f->arena, b->ids, b->n, b->cap, v);
    const IrInst *in = &f->v[v];
    if (in->op == IR_FOR) {
      forward_loop(A, v, b);
      f->cur = b;
      continue;
    }
    if (!is_active(A, v) || T(A, v) >= 0 || in->op == IR_PARAM || in->op == IR_LOOP_CARRY || in->op == IR_FOR_RESULT)
      continue;
    IrInst copy = *in; /* rules append to f->v, which may move */
    A->cur = &copy;
    IrVal t = tangent(A, v, &copy);
    ad_fit(A);
    if (t >= 0) A->adj[v] = t;
  }
  f->cur = saved;
}

bool ad_forward_hvp(IrFunc *f, Diags *d) {
  if (!f->grad_params) {
    diag_error(d, f->span, "a Hessian-vector product needs loss_grad");
    return false;
  }
  Ad A = {.f = f, .d = d, .nprimal = f->nv};
  ad_fit(&A);
  mark_active(&A);
  /* one tangent input per param with a gradient: the direction v */
  int k = f->ngrad_params, n0 = f->ninputs;
  const char **names = arena_alloc(f->arena, sizeof(char *) * (size_t)(n0 + k + 1));
  IrType *types = arena_alloc(f->arena, sizeof(IrType) * (size_t)(n0 + k + 1));
  Span *spans = arena_alloc(f->arena, sizeof(Span) * (size_t)(n0 + k + 1));
  memcpy(names, f->input_names, sizeof(char *) * (size_t)n0);
  memcpy(types, f->input_types, sizeof(IrType) * (size_t)n0);
  memcpy(spans, f->input_spans, sizeof(Span) * (size_t)n0);
  IrVal *param_val = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(f->nparams + 1));
  for (int i = 0; i < f->nparams; i++) param_val[i] = -1;
  for (IrVal v = 0; v < A.nprimal; v++)
    if (f->v[v].op == IR_PARAM) param_val[f->v[v].index] = v;
  for (int i = 0; i < k; i++) {
    const IrParam *p = &f->params[f->grad_params[i]];
    names[n0 + i] = arena_printf(f->arena, "v_%s", p->name);
    types[n0 + i] = p->ty;
    spans[n0 + i] = p->item ? p->item->name_span : f->span;
    IrVal pv = param_val[f->grad_params[i]];
    if (pv < 0) continue;
    A.cur = &f->v[pv];
    IrInst in = proto(&A, IR_INPUT, p->ty);
    in.index = n0 + i;
    in.name = names[n0 + i];
    in.adjoint = false;
    IrVal t = fresh(&A, &in);
    ad_fit(&A);
    A.adj[pv] = t;
  }
  f->input_names = names;
  f->input_types = types;
  f->input_spans = spans;
  f->ninputs = n0 + k;
  /* the tangent inputs first in the body, like the others */
  IrBlock *b = &f->body;
  IrVal *front = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(b->n + 1));
  int nf = 0, nr = 0;
  IrVal *rest = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(b->n + 1));
  for (int i = 0; i < b->n; i++) (f->v[b->ids[i]].op == IR_INPUT && f->v[b->ids[i]].index >= n0 ? front : rest)[f->v[b->ids[i]].op == IR_INPUT && f->v[b->ids[i]].index >= n0 ? nf++ : nr++] = b->ids[i];
  memcpy(b->ids, front, sizeof(IrVal) * (size_t)nf);
  memcpy(b->ids + nf, rest, sizeof(IrVal) * (size_t)nr);
  f->no_reuse = true;
  forward_block(&A, b);
  f->no_reuse = false;
  if (A.failed) return false;
  /* results: H v for each param, the tangent of its gradient */
  IrVal *grads = arena_alloc(f->arena, sizeof(IrVal) * (size_t)(k + 1));
  for (int i = 0; i < k; i++) grads[i] = f->results[1 + i];
  f->nresults = 0;
  f->cur = &f->body;
  for (int i = 0; i < k; i++) {
    A.cur = &f->v[grads[i]];
    ARENA_PUSH(f->arena, f->results, f->nresults, f->capresults, T0(&A, grads[i]));
  }
  f->name = "loss_hvp";
  return true;
}
