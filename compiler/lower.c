/* lower.c - typed AST to tensor IR, inlining every call.
 *
 * Input: a checked Program and an entry item (the loss or a fn). Output: one
 * IrFunc whose inputs are the entry's parameters and whose values are
 * primitive operations only: user and stdlib functions are inlined, `mean`,
 * `clip`, `flatten` and the like become their primitive forms, literals
 * take the dtype of their context, and broadcasting is explicit (operands
 * of elementwise ops are BROADCAST to the result's shape).
 *
 * Inlining keeps a frame per call: local bindings map to their current IR
 * value (a `var` is rebound by each assignment, which is how SSA falls out),
 * and the callee's symbolic dims map to the caller's dims. */
#include "lower.h"
#include <math.h>
#include <string.h>
#include "autodiff/autodiff.h"
#include "simplify.h"

typedef struct Local {
  Binding *b;
  IrVal v;
  struct Local *next;
} Local;

typedef struct Frame {
  const char *sym[32]; /* sema allows at most 32 per call */
  Dim dim[32];
  int nsym;
  DType real;
  Local *locals;
  struct Frame *parent;
} Frame;

typedef struct Lower {
  Arena *a;
  Diags *d;
  IrFunc *f;
  SemaOptions opt;
  Frame *fr;
  int inline_depth;
  bool failed;
  const IrVal *param_values; /* when lowering a function for grad/hvp/hessian: the model params are its inputs */
  const IrParam *mparams; /* the model's params, also inside a derivative's function */
  int nmparams;
} Lower;

static IrVal lower_expr(Lower *L, Expr *e);
static IrVal lower_block(Lower *L, Block *b);

/* ---- types ---------------------------------------------------------------- */

static Dim subst_dim(Lower *L, Dim d) {
  if (!d.sym) return d;
  for (int i = 0; i < L->fr->nsym; i++)
    if (strcmp(L->fr->sym[i], d.sym) == 0) return L->fr->dim[i];
  return d;
}

static DType resolve_dtype(Lower *L, DType dt) {
  if (dt == DT_REAL) return L->fr->real;
  return dt;
}

/* The IR type of a checked expression in the current frame. Weak float
 * literals become the model's float type. */
static IrType ir_type_of(Lower *L, const Type *t) {
  IrType r = {0};
  r.dt = resolve_dtype(L, t->dt);
  if (t->weak && r.dt == DT_F32) r.dt = L->opt.model_float;
  r.rank = t->rank;
  for (int i = 0; i < t->rank; i++) r.dims[i] = subst_dim(L, t->dims[i]);
  return r;
}

static IrType scalar_type(DType dt) {
  IrType t = {0};
  t.dt = dt;
  return t;
}

static const IrType *type_of(Lower *L, IrVal v) { return &L->f->v[v].ty; }

/* ---- emitting ------------------------------------------------------------- */

static IrInst proto(IrOp op, IrType ty, Span sp) {
  IrInst p;
  memset(&p, 0, sizeof p);
  p.op = op;
  p.ty = ty;
  p.span = sp;
  p.axis = -1;
  p.owner = -1;
  return p;
}

static IrVal emit0(Lower *L, IrOp op, IrType ty, Span sp) {
  IrInst p = proto(op, ty, sp);
  return ir_emit(L->f, &p);
}

static IrVal emit1(Lower *L, IrOp op, IrType ty, Span sp, IrVal a) {
  IrInst p = proto(op, ty, sp);
  p.args[0] = a;
  p.nargs = 1;
  return ir_emit(L->f, &p);
}

static IrVal emit2(Lower *L, IrOp op, IrType ty, Span sp, IrVal a, IrVal b) {
  IrInst p = proto(op, ty, sp);
  p.args[0] = a;
  p.args[1] = b;
  p.nargs = 2;
  return ir_emit(L->f, &p);
}

static IrVal constant(Lower *L, double v, DType dt, Span sp) {
  IrInst p = proto(IR_CONST, scalar_type(dt), sp);
  p.num = v;
  return ir_emit(L->f, &p);
}

/* A value converted to dtype dt: constants are re-made, others cast. */
static IrVal coerce(Lower *L, IrVal v, DType dt) {
  IrInst *in = ir_inst(L->f, v);
  if (in->ty.dt == dt) return v;
  if (in->op == IR_CONST) return constant(L, dt == DT_I32 ? trunc(in->num) : in->num, dt, in->span);
  IrType t = in->ty;
  t.dt = dt;
  return emit1(L, IR_CAST, t, in->span, v);
}

/* A value broadcast (NumPy rules, already checked) to the shape of `to`. */
static IrVal broadcast_to(Lower *L, IrVal v, const IrType *to, Span sp) {
  const IrType *t = type_of(L, v);
  IrType want = *to;
  want.dt = t->dt;
  if (ir_type_equal(t, &want)) return v;
  return emit1(L, IR_BROADCAST, want, sp, v);
}

/* Operand ready for an elementwise op producing `result`. */
static IrVal operand(Lower *L, IrVal v, DType dt, const IrType *result, Span sp) {
  return broadcast_to(L, coerce(L, v, dt), result, sp);
}

static IrVal dimsize(Lower *L, const Dim *dims, int n, DType dt, Span sp) {
  int64_t k = 1;
  bool is_static = true;
  for (int i = 0; i < n; i++) {
    if (dims[i].sym) is_static = false;
    else k *= dims[i].size;
  }
  if (is_static) return constant(L, (double)k, dt, sp);
  IrInst p = proto(IR_DIMSIZE, scalar_type(dt), sp);
  p.size_dims = arena_alloc(L->a, sizeof(Dim) * (size_t)(n ? n : 1));
  memcpy(p.size_dims, dims, sizeof(Dim) * (size_t)n);
  p.nsize_dims = n;
  return ir_emit(L->f, &p);
}

static bool is_float(DType dt) { return dt == DT_F32 || dt == DT_F64; }

static IrOp binop_ir(BinOp op) {
  switch (op) {
  case OP_ADD: return IR_ADD;
  case OP_SUB: return IR_SUB;
  case OP_MUL: return IR_MUL;
  case OP_DIV: return IR_DIV;
  case OP_POW: return IR_POW;
  case OP_LT: return IR_LT;
  case OP_LE: return IR_LE;
  case OP_GT: return IR_GT;
  case OP_GE: return IR_GE;
  case OP_EQ: return IR_EQ;
  case OP_NE: return IR_NE;
  default: return IR_MATMUL;
  }
}

/* a op b with the result type `rt` (from sema): coerce and broadcast. */
static IrVal lower_binop(Lower *L, BinOp op, IrVal a, IrVal b, IrType rt, Span sp) {
  if (op == OP_MATMUL) return emit2(L, IR_MATMUL, rt, sp, coerce(L, a, rt.dt), coerce(L, b, rt.dt));
  DType dt = rt.dt;
  if (binop_is_comparison(op)) {
    /* operands compare in their common dtype: a weak literal takes the other's */
    IrInst *ia = ir_inst(L->f, a), *ib = ir_inst(L->f, b);
    dt = ia->op == IR_CONST && ib->op != IR_CONST ? ib->ty.dt : ia->ty.dt;
    if (ia->ty.dt != ib->ty.dt && is_float(ib->ty.dt) && !is_float(dt)) dt = ib->ty.dt;
  }
  IrType shape = rt;
  shape.dt = dt;
  IrVal x = operand(L, a, dt, &shape, sp), y = operand(L, b, dt, &shape, sp);
  return emit2(L, binop_ir(op), rt, sp, x, y);
}

/* ---- names and calls --------------------------------------------------------- */

static Local *find_local(Lower *L, Binding *b) {
  for (Local *l = L->fr->locals; l; l = l->next)
    if (l->b == b) return l;
  return NULL;
}

static void bind_local(Lower *L, Binding *b, IrVal v) {
  Local *l = find_local(L, b);
  if (!l) {
    l = ARENA_NEW(L->a, Local);
    l->b = b;
    l->next = L->fr->locals;
    L->fr->locals = l;
  }
  l->v = v;
}

static void name_value(Lower *L, IrVal v, const char *name) {
  IrInst *in = ir_inst(L->f, v);
  if (!in->name && in->op != IR_CONST && in->op != IR_PARAM && in->op != IR_INPUT && name[0] != '_') in->name = name;
}

static IrVal lower_name(Lower *L, Expr *e) {
  switch (e->ref) {
  case REF_LOCAL: {
    Local *l = find_local(L, e->local);
    if (l) return l->v;
    break;
  }
  case REF_CONST: return constant(L, e->item->const_value, ir_type_of(L, e->type).dt, e->span);
  case REF_PARAM: {
    if (L->param_values) return L->param_values[e->item->index];
    IrInst p = proto(IR_PARAM, L->f->params[e->item->index].ty, e->item->name_span);
    p.index = e->item->index;
    p.name = e->item->name;
    return ir_emit(L->f, &p);
  }
  case REF_DIM: {
    Dim d = subst_dim(L, e->type->dim);
    return dimsize(L, &d, 1, DT_I32, e->span);
  }
  default: break;
  }
  diag_error(L->d, e->span, "internal error: `%s` has no value during lowering", e->name);
  L->failed = true;
  return constant(L, 0, DT_F32, e->span);
}

/* Map the callee's symbolic dims and `real` from its signature and the
 * argument values: sema has checked that this binding is consistent. */
static void bind_signature(Lower *L, Frame *fr, Item *fn, IrVal *args) {
  fr->real = L->opt.model_float;
  for (int i = 0; i < fn->nparams; i++) {
    const Type *pt = fn->param_types[i];
    const IrType *at = type_of(L, args[i]);
    if (pt->dt == DT_REAL) fr->real = at->dt;
    for (int k = 0; k < pt->rank && k < at->rank; k++) {
      if (!pt->dims[k].sym) continue;
      int j = 0;
      while (j < fr->nsym && strcmp(fr->sym[j], pt->dims[k].sym) != 0) j++;
      if (j == fr->nsym && j < 32) {
        fr->sym[j] = pt->dims[k].sym;
        fr->dim[j] = at->dims[k];
        fr->nsym++;
      }
    }
  }
}

enum { MAX_INLINE_DEPTH = 64 };

static IrVal lower_user_call(Lower *L, Expr *e) {
  Item *fn = e->item;
  if (L->inline_depth >= MAX_INLINE_DEPTH) {
    diag_error(L->d, e->span, "calls nested more than %d deep cannot be inlined", MAX_INLINE_DEPTH);
    L->failed = true;
    return constant(L, 0, DT_F32, e->span);
  }
  IrVal args[MAX_CALL_PARAMS];
  for (int i = 0; i < fn->nparams; i++) args[i] = lower_expr(L, e->bound[i]);
  Frame *fr = ARENA_NEW(L->a, Frame);
  fr->parent = L->fr;
  /* argument dtypes are bound in the caller's frame; signature dims too */
  bind_signature(L, fr, fn, args);
  Frame *caller = L->fr;
  L->fr = fr;
  for (int i = 0; i < fn->nparams; i++) args[i] = coerce(L, args[i], ir_type_of(L, fn->param_types[i]).dt);
  L->inline_depth++;
  for (int i = 0; i < fn->nparams; i++) {
    Binding *b = fn->param_bindings ? fn->param_bindings[i] : NULL;
    if (b) bind_local(L, b, args[i]);
  }
  IrVal v = lower_block(L, &fn->body);
  L->inline_depth--;
  L->fr = caller;
  if (v >= 0) name_value(L, v, fn->name); /* `emit grad` calls it predict, d_predict */
  return v;
}

static IrVal lower_builtin(Lower *L, Expr *e);
static IrVal lower_derivative(Lower *L, Expr *e);

static IrVal lower_call(Lower *L, Expr *e) {
  if (e->ref == REF_DERIV) return lower_derivative(L, e);
  if (e->ref == REF_CAST) {
    IrVal v = lower_expr(L, e->args[0].value);
    return coerce(L, v, ir_type_of(L, e->type).dt);
  }
  if (e->ref == REF_FN) return lower_user_call(L, e);
  return lower_builtin(L, e);
}

/* ---- grad, hvp, hessian --------------------------------------------------------
 * The call f(x, ...) is lowered as a function of its own, G, whose one
 * param is x and whose inputs are the other arguments and the model's
 * params; the transformations that make loss_grad and loss_hvp from a loss
 * then make G's gradient or Hessian-vector product, which is inlined where
 * the builtin is. The caller's own derivatives (a loss that uses grad)
 * differentiate that code like any other. */

static IrFunc *function_of_first_arg(Lower *L, Expr *call, const IrVal *args) {
  Item *fn = call->item;
  int n = fn->nparams, np = L->nmparams;
  IrFunc *g = ir_func_new(L->a, fn->name);
  g->span = call->span;
  g->nparams = 1;
  g->params = arena_alloc(L->a, sizeof(IrParam));
  g->params[0] = (IrParam){.name = fn->params[0].name, .ty = *type_of(L, args[0])};
  g->ninputs = n - 1 + np;
  g->input_names = arena_alloc(L->a, sizeof(char *) * (size_t)(g->ninputs + 1));
  g->input_types = arena_alloc(L->a, sizeof(IrType) * (size_t)(g->ninputs + 1));
  g->input_spans = arena_alloc(L->a, sizeof(Span) * (size_t)(g->ninputs + 1));
  g->dim_syms = L->f->dim_syms;
  g->ndim_syms = L->f->ndim_syms;
  Lower G = {.a = L->a, .d = L->d, .f = g, .opt = L->opt, .inline_depth = L->inline_depth + 1,
             .mparams = L->mparams, .nmparams = L->nmparams};
  Frame top = {.real = L->fr->real};
  G.fr = &top;
  IrVal gargs[MAX_CALL_PARAMS], *params = arena_alloc(L->a, sizeof(IrVal) * (size_t)(np + 1));
  IrInst x = proto(IR_PARAM, g->params[0].ty, call->bound[0]->span);
  x.name = g->params[0].name;
  gargs[0] = ir_emit(g, &x);
  for (int i = 0; i < g->ninputs; i++) { /* the other arguments, then the model params */
    bool arg = i < n - 1;
    IrType t = arg ? *type_of(L, args[i + 1]) : L->mparams[i - (n - 1)].ty;
    g->input_names[i] = arg ? fn->params[i + 1].name : L->mparams[i - (n - 1)].name;
    g->input_types[i] = t;
    g->input_spans[i] = call->span;
    IrInst in = proto(IR_INPUT, t, call->span);
    in.index = i;
    in.name = g->input_names[i];
    IrVal v = ir_emit(g, &in);
    if (arg) gargs[i + 1] = v;
    else params[i - (n - 1)] = v;
  }
  G.param_values = params;
  Frame *fr = ARENA_NEW(L->a, Frame);
  fr->parent = &top;
  bind_signature(&G, fr, fn, gargs);
  G.fr = fr;
  for (int i = 0; i < n; i++) {
    gargs[i] = coerce(&G, gargs[i], ir_type_of(&G, fn->param_types[i]).dt);
    if (fn->param_bindings && fn->param_bindings[i]) bind_local(&G, fn->param_bindings[i], gargs[i]);
  }
  IrVal r = lower_block(&G, &fn->body);
  if (G.failed || r < 0) return NULL;
  ARENA_PUSH(L->a, g->results, g->nresults, g->capresults, r);
  return g;
}

/* G's derivative, inlined: the caller's values for G's inputs are the
 * other arguments, the model params and, for hvp, the direction v. */
static IrVal inline_derivative(Lower *L, const IrFunc *g, const IrVal *args, int nargs, IrVal v, int result) {
  int np = L->nmparams;
  IrVal *inputs = arena_alloc(L->a, sizeof(IrVal) * (size_t)(g->ninputs + 1));
  for (int i = 0; i < nargs - 1; i++) inputs[i] = args[i + 1];
  for (int i = 0; i < np; i++) {
    if (L->param_values) { /* a derivative inside a derivative's function: its inputs */
      inputs[nargs - 1 + i] = L->param_values[i];
      continue;
    }
    IrInst p = proto(IR_PARAM, L->mparams[i].ty, L->mparams[i].item->name_span);
    p.index = i;
    p.name = L->mparams[i].name;
    inputs[nargs - 1 + i] = ir_emit(L->f, &p);
  }
  if (v >= 0) inputs[nargs - 1 + np] = v;
  IrVal *results = arena_alloc(L->a, sizeof(IrVal) * (size_t)(g->nresults + 1));
  ir_inline(L->f, g, inputs, args, results);
  return results[result];
}

/* hessian(f, x) for x of shape [d]: row i is H e_i, in a loop over i */
static IrVal hessian_rows(Lower *L, const IrFunc *hvp, const IrVal *args, int nargs, IrType ht, Span sp) {
  IrType row = ht, it = scalar_type(DT_I32);
  row.rank = 1;
  IrInst p = proto(IR_FOR, it, sp);
  p.args[p.nargs++] = constant(L, 0, DT_I32, sp);
  p.args[p.nargs++] = dimsize(L, &ht.dims[0], 1, DT_I32, sp);
  IrInst z = proto(IR_FILL, ht, sp);
  p.args[p.nargs++] = ir_emit(L->f, &z);
  p.body = ARENA_NEW(L->a, IrBlock);
  p.name = "i";
  IrVal loop = ir_emit_fresh(L->f, &p);
  IrBlock *outer = L->f->cur;
  int mark = ir_block_begin(L->f, L->f->v[loop].body);
  IrInst ip = proto(IR_LOOP_INDEX, it, sp);
  ip.owner = loop;
  ip.name = "i";
  IrVal i = ir_emit_fresh(L->f, &ip);
  IrInst cp = proto(IR_LOOP_CARRY, ht, sp);
  cp.owner = loop;
  cp.name = "hessian";
  IrVal h = ir_emit_fresh(L->f, &cp);
  IrVal e_i = emit1(L, IR_ONEHOT, row, sp, i);
  IrInst u = proto(IR_UPDATE, ht, sp);
  u.args[0] = h;
  u.args[1] = inline_derivative(L, hvp, args, nargs, e_i, 0);
  u.args[2] = i;
  u.nargs = 3;
  u.axes = arena_alloc(L->a, sizeof(IrAxis));
  u.naxes = 1;
  IrBlock *body = L->f->v[loop].body;
  body->yields = arena_alloc(L->a, sizeof(IrVal));
  body->yields[0] = ir_emit(L->f, &u);
  body->nyields = 1;
  ir_block_end(L->f, outer, mark);
  IrInst rp = proto(IR_FOR_RESULT, ht, sp);
  rp.args[0] = loop;
  rp.nargs = 1;
  rp.name = "hessian";
  return ir_emit_fresh(L->f, &rp);
}

static IrVal lower_derivative(Lower *L, Expr *e) {
  Expr *call = e->inner;
  int n = call->item->nparams;
  IrType rt = ir_type_of(L, e->type);
  IrVal args[MAX_CALL_PARAMS];
  for (int i = 0; i < n; i++) args[i] = lower_expr(L, call->bound[i]);
  /* the arguments in f's parameter types, as a call converts them (a
   * literal 0.1 for an f64 parameter is 0.1 in f64, not f32's 0.1) */
  Frame fr = {.parent = L->fr};
  bind_signature(L, &fr, call->item, args);
  Frame *caller = L->fr;
  L->fr = &fr;
  for (int i = 1; i < n; i++) args[i] = coerce(L, args[i], ir_type_of(L, call->item->param_types[i]).dt);
  L->fr = caller;
  args[0] = coerce(L, args[0], rt.dt);
  IrVal v = e->deriv == DERIV_HVP ? coerce(L, lower_expr(L, e->args[e->nargs - 1].value), rt.dt) : -1;
  IrFunc *g = function_of_first_arg(L, call, args);
  bool ok = g && ad_reverse(g, L->d);
  if (ok) g = simplify(g);
  if (ok && e->deriv == DERIV_GRAD) return inline_derivative(L, g, args, n, -1, 1);
  ok = ok && ad_forward_hvp(g, L->d);
  if (!ok) {
    L->failed = true;
    return constant(L, 0, rt.dt, e->span);
  }
  g = simplify(g);
  if (e->deriv == DERIV_HVP) return inline_derivative(L, g, args, n, v, 0);
  if (rt.rank == 0) return inline_derivative(L, g, args, n, constant(L, 1, rt.dt, e->span), 0);
  return hessian_rows(L, g, args, n, rt, e->span);
}

/* ---- builtins ---------------------------------------------------------------- */

static IrVal arg(Lower *L, Expr *e, int i) { return lower_expr(L, e->bound[i]); }

static int64_t const_arg(Expr *e, int i, int64_t dflt) {
  Expr *a = e->bound[i];
  return a && a->type && a->type->is_const ? (int64_t)a->type->value : dflt;
}

static void pair_attr(Expr *e, int i, int64_t out[2], int64_t dflt) {
  Expr *a = e->bound[i];
  if (a && a->kind == EX_TUPLE) {
    out[0] = (int64_t)a->elems[0]->type->value;
    out[1] = (int64_t)a->elems[1]->type->value;
  } else {
    out[0] = out[1] = const_arg(e, i, dflt);
  }
}

/* kernel (pooling only), stride and pad from the call's arguments at `at`
 * on; a pooling's stride defaults to its kernel. */
static void window_attrs(Expr *e, int at, bool pool, IrInst *p) {
  if (pool) pair_attr(e, at++, p->kernel, 1);
  pair_attr(e, at, p->stride, pool ? p->kernel[0] : 1);
  if (pool && !e->bound[at]) p->stride[1] = p->kernel[1];
  pair_attr(e, at + 1, p->pad, 0);
}

static int norm_axis(int64_t axis, int rank) { return (int)(axis < 0 ? axis + rank : axis); }

static IrVal reduce(Lower *L, IrOp op, IrVal x, int axis, bool keep, IrType rt, Span sp) {
  IrInst p = proto(op, rt, sp);
  p.args[0] = x;
  p.nargs = 1;
  p.axis = axis;
  p.keepdims = keep;
  return ir_emit(L->f, &p);
}

/* Elementwise builtins of one operand and their opcodes. */
static const struct {
  BuiltinId builtin;
  IrOp op;
} unary_builtins[] = {
    {BI_EXP, IR_EXP},           {BI_LOG, IR_LOG},         {BI_LOG1P, IR_LOG1P},     {BI_SQRT, IR_SQRT},
    {BI_TANH, IR_TANH},         {BI_SIGMOID, IR_SIGMOID}, {BI_RELU, IR_RELU},       {BI_SOFTPLUS, IR_SOFTPLUS},
    {BI_SIN, IR_SIN},           {BI_COS, IR_COS},         {BI_ABS, IR_ABS},         {BI_SIGN, IR_SIGN},
    {BI_STOP_GRADIENT, IR_STOP_GRAD},
};

static IrVal lower_builtin(Lower *L, Expr *e) {
  IrType rt = ir_type_of(L, e->type);
  Span sp = e->span;
  for (size_t i = 0; i < sizeof unary_builtins / sizeof unary_builtins[0]; i++)
    if (unary_builtins[i].builtin == (BuiltinId)e->builtin)
      return emit1(L, unary_builtins[i].op, rt, sp, coerce(L, arg(L, e, 0), rt.dt));
  switch ((BuiltinId)e->builtin) {
  case BI_EXP: case BI_LOG: case BI_LOG1P: case BI_SQRT: case BI_TANH: case BI_SIGMOID: case BI_RELU:
  case BI_SOFTPLUS: case BI_SIN: case BI_COS: case BI_ABS: case BI_SIGN: case BI_STOP_GRADIENT:
    break; /* unary_builtins, above */
  case BI_MAXIMUM:
  case BI_MINIMUM: {
    IrVal a = operand(L, arg(L, e, 0), rt.dt, &rt, sp), b = operand(L, arg(L, e, 1), rt.dt, &rt, sp);
    return emit2(L, e->builtin == BI_MAXIMUM ? IR_MAXIMUM : IR_MINIMUM, rt, sp, a, b);
  }
  case BI_SELECT: {
    IrType ct = rt;
    ct.dt = DT_BOOL;
    IrInst p = proto(IR_SELECT, rt, sp);
    p.args[0] = broadcast_to(L, arg(L, e, 0), &ct, sp);
    p.args[1] = operand(L, arg(L, e, 1), rt.dt, &rt, sp);
    p.args[2] = operand(L, arg(L, e, 2), rt.dt, &rt, sp);
    p.nargs = 3;
    return ir_emit(L->f, &p);
  }
  case BI_CLIP: {
    IrVal x = coerce(L, arg(L, e, 0), rt.dt);
    IrVal lo = operand(L, arg(L, e, 1), rt.dt, &rt, sp), hi = operand(L, arg(L, e, 2), rt.dt, &rt, sp);
    return emit2(L, IR_MINIMUM, rt, sp, emit2(L, IR_MAXIMUM, rt, sp, x, lo), hi);
  }
  case BI_SUM:
  case BI_MAX:
  case BI_MIN:
  case BI_LOGSUMEXP:
  case BI_MEAN: {
    IrVal x = arg(L, e, 0);
    const IrType *xt = type_of(L, x);
    int axis = e->bound[1] ? norm_axis(const_arg(e, 1, 0), xt->rank) : -1;
    bool keep = e->bound[2] && e->bound[2]->type->value != 0;
    if (e->builtin == BI_MEAN) {
      x = coerce(L, x, rt.dt);
      IrVal s = reduce(L, IR_SUM, x, axis, keep, rt, sp);
      IrVal n = axis < 0 ? dimsize(L, xt->dims, xt->rank, rt.dt, sp) : dimsize(L, &xt->dims[axis], 1, rt.dt, sp);
      return emit2(L, IR_DIV, rt, sp, s, broadcast_to(L, n, &rt, sp));
    }
    IrOp op = e->builtin == BI_SUM ? IR_SUM : e->builtin == BI_MAX ? IR_MAX : e->builtin == BI_MIN ? IR_MIN : IR_LOGSUMEXP;
    return reduce(L, op, x, axis, keep, rt, sp);
  }
  case BI_ARGMAX:
  case BI_ARGMIN: {
    IrVal x = arg(L, e, 0);
    int axis = norm_axis(const_arg(e, 1, -1), type_of(L, x)->rank);
    return reduce(L, e->builtin == BI_ARGMAX ? IR_ARGMAX : IR_ARGMIN, x, axis, false, rt, sp);
  }
  case BI_SOFTMAX:
  case BI_LOG_SOFTMAX: {
    IrVal x = arg(L, e, 0);
    IrInst p = proto(e->builtin == BI_SOFTMAX ? IR_SOFTMAX : IR_LOG_SOFTMAX, rt, sp);
    p.args[0] = x;
    p.nargs = 1;
    p.axis = norm_axis(const_arg(e, 1, -1), rt.rank);
    return ir_emit(L->f, &p);
  }
  case BI_TRANSPOSE: return emit1(L, IR_TRANSPOSE, rt, sp, arg(L, e, 0));
  case BI_RESHAPE:
  case BI_FLATTEN: {
    IrVal x = arg(L, e, 0);
    return ir_type_equal(type_of(L, x), &rt) ? x : emit1(L, IR_RESHAPE, rt, sp, x);
  }
  case BI_BROADCAST_TO: return broadcast_to(L, arg(L, e, 0), &rt, sp);
  case BI_SUM_TO: {
    IrVal x = arg(L, e, 0);
    return ir_type_equal(type_of(L, x), &rt) ? x : emit1(L, IR_SUM_TO, rt, sp, x);
  }
  case BI_ZEROS:
  case BI_ONES:
  case BI_ZEROS_LIKE:
  case BI_ONES_LIKE: {
    IrInst p = proto(IR_FILL, rt, sp);
    p.num = e->builtin == BI_ONES || e->builtin == BI_ONES_LIKE;
    return ir_emit(L->f, &p);
  }
  case BI_FULL: {
    IrVal v = coerce(L, arg(L, e, 0), rt.dt);
    IrInst *in = ir_inst(L->f, v);
    if (in->op == IR_CONST) {
      IrInst p = proto(IR_FILL, rt, sp);
      p.num = in->num;
      return ir_emit(L->f, &p);
    }
    return broadcast_to(L, v, &rt, sp);
  }
  case BI_EYE: return emit0(L, IR_EYE, rt, sp);
  case BI_CONV2D:
  case BI_CONV2D_BACKWARD_INPUT:
  case BI_CONV2D_BACKWARD_WEIGHT:
  case BI_MAXPOOL2D:
  case BI_AVGPOOL2D:
  case BI_MAXPOOL2D_BACKWARD:
  case BI_AVGPOOL2D_BACKWARD:
  case BI_MAXPOOL2D_GATHER: {
    /* tensor operands first, then the window: (kernel,) stride, pad */
    static const IrOp ops[] = {IR_CONV2D, IR_CONV2D_BWD_INPUT, IR_CONV2D_BWD_WEIGHT, IR_MAXPOOL2D,
                               IR_AVGPOOL2D, IR_MAXPOOL2D_BWD, IR_AVGPOOL2D_BWD, IR_MAXPOOL2D_GATHER};
    static const int ntensors[] = {2, 3, 3, 1, 1, 2, 2, 2};
    int k = e->builtin == BI_CONV2D ? 0 : e->builtin == BI_CONV2D_BACKWARD_INPUT ? 1
            : e->builtin == BI_CONV2D_BACKWARD_WEIGHT ? 2 : e->builtin == BI_MAXPOOL2D ? 3
            : e->builtin == BI_AVGPOOL2D ? 4 : e->builtin == BI_MAXPOOL2D_BACKWARD ? 5
            : e->builtin == BI_AVGPOOL2D_BACKWARD ? 6 : 7;
    IrInst p = proto(ops[k], rt, sp);
    for (int i = 0; i < ntensors[k]; i++) p.args[p.nargs++] = arg(L, e, i);
    window_attrs(e, ntensors[k], k >= 3, &p);
    return ir_emit(L->f, &p);
  }
  case BI_ONEHOT: return emit1(L, IR_ONEHOT, rt, sp, arg(L, e, 0));
  case BI_PICK: return emit2(L, IR_PICK, rt, sp, arg(L, e, 0), arg(L, e, 1));
  case BI_CROSS_ENTROPY: return emit2(L, IR_CROSS_ENTROPY, rt, sp, arg(L, e, 0), arg(L, e, 1));
  case BI_MSE: return emit2(L, IR_MSE, rt, sp, coerce(L, arg(L, e, 0), rt.dt), coerce(L, arg(L, e, 1), rt.dt));
  case BI_L1:
  case BI_L2: {
    IrVal total = -1;
    for (int i = 0; i < e->nargs; i++) {
      IrVal x = lower_expr(L, e->args[i].value);
      IrVal t = emit1(L, e->builtin == BI_L1 ? IR_L1 : IR_L2, rt, e->args[i].value->span, x);
      total = total < 0 ? t : emit2(L, IR_ADD, rt, sp, total, t);
    }
    return total;
  }
  case BI_COUNT: break;
  }
  diag_error(L->d, sp, "internal error: no lowering for builtin `%s`", e->name);
  L->failed = true;
  return constant(L, 0, DT_F32, sp);
}

/* ---- expressions --------------------------------------------------------------- */

static IrVal lower_index(Lower *L, Expr *e, IrVal base, IrOp op, IrVal value) {
  const IrType *bt = type_of(L, base);
  IrInst p = proto(op, op == IR_INDEX ? ir_type_of(L, e->type) : *bt, e->span);
  p.args[p.nargs++] = base;
  if (op == IR_UPDATE) p.args[p.nargs++] = value;
  p.axes = arena_alloc(L->a, sizeof(IrAxis) * (size_t)e->nidx);
  p.naxes = e->nidx;
  for (int i = 0; i < e->nidx; i++) {
    IndexArg *ix = &e->idx[i];
    Dim d = bt->dims[i];
    if (!ix->is_slice) {
      if (p.nargs < 8) p.args[p.nargs++] = coerce(L, lower_expr(L, ix->lo), DT_I32);
      continue;
    }
    int64_t lo = ix->lo ? (int64_t)ix->lo->type->value : 0;
    int64_t hi = ix->hi && ix->hi->type->is_const ? (int64_t)ix->hi->type->value : d.size;
    if (!d.sym) {
      if (lo < 0) lo += d.size;
      if (hi < 0) hi += d.size;
    }
    p.axes[i].is_slice = true;
    p.axes[i].lo = lo;
    p.axes[i].hi = d.sym ? -1 : hi; /* -1: the whole symbolic axis */
  }
  if (p.nargs > 8) {
    diag_error(L->d, e->span, "too many indices to lower");
    L->failed = true;
  }
  return ir_emit(L->f, &p);
}

static IrVal lower_expr(Lower *L, Expr *e) {
  switch (e->kind) {
  case EX_NUM:
  case EX_BOOL: return constant(L, e->kind == EX_NUM ? e->num : e->boolean, ir_type_of(L, e->type).dt, e->span);
  case EX_NAME: return lower_name(L, e);
  case EX_UNARY: {
    IrType rt = ir_type_of(L, e->type);
    IrVal x = lower_expr(L, e->lhs);
    if (ir_inst(L->f, x)->op == IR_CONST) return constant(L, -ir_inst(L->f, x)->num, rt.dt, e->span);
    return emit1(L, IR_NEG, rt, e->span, coerce(L, x, rt.dt));
  }
  case EX_BINARY: {
    IrVal a = lower_expr(L, e->lhs), b = lower_expr(L, e->rhs);
    return lower_binop(L, e->op, a, b, ir_type_of(L, e->type), e->span);
  }
  case EX_CALL: return lower_call(L, e);
  case EX_INDEX: return lower_index(L, e, lower_expr(L, e->base), IR_INDEX, -1);
  default: break;
  }
  diag_error(L->d, e->span, "this expression cannot be lowered here");
  L->failed = true;
  return constant(L, 0, DT_F32, e->span);
}

/* ---- statements ------------------------------------------------------------------ */

/* Bindings assigned in a block (recursively), for loop-carried values. */
static void assigned_in(Block *b, Binding ***out, int *n, int *cap, Arena *a) {
  for (int i = 0; i < b->n; i++) {
    Stmt *st = b->stmts[i];
    if (st->kind == ST_ASSIGN) {
      Expr *root = st->target->kind == EX_INDEX ? st->target->base : st->target;
      Binding *bd = root->local;
      bool seen = false;
      for (int k = 0; k < *n; k++) seen |= (*out)[k] == bd;
      if (bd && !seen) ARENA_PUSH(a, *out, *n, *cap, bd);
    }
    if (st->kind == ST_FOR) assigned_in(&st->body, out, n, cap, a);
  }
}

static void lower_stmt(Lower *L, Stmt *st);

static void lower_for(Lower *L, Stmt *st) {
  Binding **carried = NULL;
  int ncarried = 0, cap = 0;
  assigned_in(&st->body, &carried, &ncarried, &cap, L->a);
  /* only variables that live outside the loop are carried */
  int k = 0;
  for (int i = 0; i < ncarried; i++)
    if (find_local(L, carried[i])) carried[k++] = carried[i];
  ncarried = k;
  if (ncarried + 2 > IR_MAX_ARGS) {
    diag_error(L->d, st->span, "a loop may carry at most %d variables for now", IR_MAX_ARGS - 2);
    L->failed = true;
    return;
  }
  IrInst p = proto(IR_FOR, scalar_type(DT_I32), st->span);
  p.args[p.nargs++] = coerce(L, lower_expr(L, st->lo), DT_I32);
  p.args[p.nargs++] = coerce(L, lower_expr(L, st->hi), DT_I32);
  for (int i = 0; i < ncarried; i++) p.args[p.nargs++] = find_local(L, carried[i])->v;
  p.body = ARENA_NEW(L->a, IrBlock);
  p.name = st->name;
  IrVal loop = ir_emit_fresh(L->f, &p);
  IrBlock *outer = L->f->cur;
  int mark = ir_block_begin(L->f, L->f->v[loop].body);
  IrInst ip = proto(IR_LOOP_INDEX, scalar_type(DT_I32), st->name_span);
  ip.owner = loop;
  ip.name = st->name;
  bind_local(L, st->binding, ir_emit_fresh(L->f, &ip));
  for (int i = 0; i < ncarried; i++) {
    IrInst cp = proto(IR_LOOP_CARRY, *type_of(L, find_local(L, carried[i])->v), carried[i]->span);
    cp.owner = loop;
    cp.index = i;
    cp.name = carried[i]->name;
    bind_local(L, carried[i], ir_emit_fresh(L->f, &cp));
  }
  for (int i = 0; i < st->body.n; i++) lower_stmt(L, st->body.stmts[i]);
  IrBlock *body = L->f->v[loop].body;
  body->yields = arena_alloc(L->a, sizeof(IrVal) * (size_t)(ncarried ? ncarried : 1));
  body->nyields = ncarried;
  for (int i = 0; i < ncarried; i++) body->yields[i] = find_local(L, carried[i])->v;
  ir_block_end(L->f, outer, mark);
  for (int i = 0; i < ncarried; i++) {
    IrInst rp = proto(IR_FOR_RESULT, *type_of(L, body->yields[i]), st->span);
    rp.args[0] = loop;
    rp.nargs = 1;
    rp.index = i;
    rp.name = carried[i]->name;
    bind_local(L, carried[i], ir_emit_fresh(L->f, &rp));
  }
}

static void lower_stmt(Lower *L, Stmt *st) {
  switch (st->kind) {
  case ST_LET:
  case ST_VAR: {
    IrVal v = lower_expr(L, st->value);
    IrType want = ir_type_of(L, st->binding->type);
    v = coerce(L, v, want.dt);
    IrInst *in = ir_inst(L->f, v);
    Expr *call = st->value;
    if (call->kind == EX_CALL && call->ref == REF_FN && in->name == call->item->name && st->name[0] != '_')
      in->name = NULL; /* `let h2 = layer_norm(h1)`: h2, the name the user gave it, not the function's */
    name_value(L, v, st->name);
    bind_local(L, st->binding, v);
    break;
  }
  case ST_ASSIGN: {
    Expr *t = st->target;
    Expr *root = t->kind == EX_INDEX ? t->base : t;
    Local *l = find_local(L, root->local);
    if (!l) break;
    IrVal v = lower_expr(L, st->value);
    IrVal cur = t->kind == EX_INDEX ? lower_index(L, t, l->v, IR_INDEX, -1) : l->v;
    IrType ct = *type_of(L, cur);
    if (st->assign_op != OP_ASSIGN) v = lower_binop(L, st->assign_op, cur, v, ct, st->span);
    v = operand(L, v, ct.dt, &ct, st->span);
    IrVal next = t->kind == EX_INDEX ? lower_index(L, t, l->v, IR_UPDATE, v) : v;
    name_value(L, next, root->name);
    l->v = next;
    break;
  }
  case ST_FOR: lower_for(L, st); break;
  default: break; /* return/expression statements give the block's value */
  }
}

static IrVal lower_block(Lower *L, Block *b) {
  IrVal value = -1;
  for (int i = 0; i < b->n; i++) {
    Stmt *st = b->stmts[i];
    if ((st->kind == ST_EXPR || st->kind == ST_RETURN) && i == b->n - 1) {
      if (st->value->kind == EX_TUPLE) {
        diag_error(L->d, st->value->span, "a tuple can only be the result of the function being compiled");
        L->failed = true;
        return constant(L, 0, DT_F32, st->span);
      }
      value = lower_expr(L, st->value);
    } else {
      lower_stmt(L, st);
    }
  }
  return value;
}

/* ---- entry ---------------------------------------------------------------------- */

IrFunc *lower_function(Program *p, Item *entry, Arena *a, Diags *d, SemaOptions opt) {
  Lower L = {.a = a, .d = d, .opt = opt};
  IrFunc *f = ir_func_new(a, entry->kind == IT_LOSS ? "loss" : entry->name);
  f->span = entry->span;
  L.f = f;
  Frame top = {0};
  top.real = opt.model_float;
  L.fr = &top;
  /* every param of the program, by index */
  int np = 0;
  for (int i = 0; i < p->nitems; i++)
    if (p->items[i]->kind == IT_PARAM) np++;
  f->params = arena_alloc(a, sizeof(IrParam) * (size_t)(np ? np : 1));
  f->nparams = np;
  L.mparams = f->params;
  L.nmparams = np;
  for (int i = 0; i < p->nitems; i++) {
    Item *it = p->items[i];
    if (it->kind != IT_PARAM) continue;
    f->params[it->index].name = it->name;
    f->params[it->index].item = it;
    f->params[it->index].ty = ir_type_of(&L, it->ty);
  }
  /* every param as a value of the top block, ahead of any loop: a loop
   * body reads it from outside, which is what reverse mode needs */
  for (int i = 0; i < np; i++) {
    IrInst pp = proto(IR_PARAM, f->params[i].ty, f->params[i].item->name_span);
    pp.index = i;
    pp.name = f->params[i].name;
    ir_emit(f, &pp);
  }
  f->ninputs = entry->nparams;
  f->input_names = arena_alloc(a, sizeof(char *) * (size_t)(entry->nparams + 1));
  f->input_types = arena_alloc(a, sizeof(IrType) * (size_t)(entry->nparams + 1));
  f->input_spans = arena_alloc(a, sizeof(Span) * (size_t)(entry->nparams + 1));
  f->dim_syms = entry->dim_syms;
  f->ndim_syms = entry->ndim_syms;
  for (int i = 0; i < entry->nparams; i++) {
    IrType t = ir_type_of(&L, entry->param_types[i]);
    f->input_names[i] = entry->params[i].name;
    f->input_types[i] = t;
    f->input_spans[i] = entry->params[i].span;
    IrInst ip = proto(IR_INPUT, t, entry->params[i].span);
    ip.index = i;
    ip.name = entry->params[i].name;
    IrVal v = ir_emit(f, &ip);
    if (entry->param_bindings) bind_local(&L, entry->param_bindings[i], v);
  }
  Block *b = &entry->body;
  Stmt *last = b->n ? b->stmts[b->n - 1] : NULL;
  if (last && last->value && last->value->kind == EX_TUPLE) {
    for (int i = 0; i < b->n - 1; i++) lower_stmt(&L, b->stmts[i]);
    Expr *t = last->value;
    for (int i = 0; i < t->nelems; i++) {
      IrVal v = lower_expr(&L, t->elems[i]);
      ARENA_PUSH(a, f->results, f->nresults, f->capresults, v);
    }
  } else {
    IrVal v = lower_block(&L, b);
    if (v >= 0) ARENA_PUSH(a, f->results, f->nresults, f->capresults, v);
  }
  return L.failed ? NULL : f;
}
