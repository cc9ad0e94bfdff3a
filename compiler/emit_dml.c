/* emit_dml.c - IR printed back as DML source (`dmlc emit grad`).
 *
 * The text must be valid DML that checks and recompiles to the same
 * numbers, and it must read like something a person wrote. So a value
 * gets its own `let` only when it is used more than once, is a result, or
 * carries a source name; everything else is written inline, operators with
 * minimal parentheses. Broadcasts feeding elementwise operators are left
 * implicit, as the user wrote them; names come from the source (`h`,
 * `W1`), adjoints are `d_` + the name of their primal, and each statement
 * ends with a comment saying where it came from. */
#include "emit_dml.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Emit {
  const IrFunc *f;
  FILE *out;
  Arena *a;
  int *uses;
  bool *bound;
  const char **names;
  const char **taken;
  int ntaken, captaken;
  int temps;
  bool reverse_started;
} Emit;

static const IrInst *I(Emit *E, IrVal v) { return &E->f->v[v]; }

/* ---- names ------------------------------------------------------------- */

static bool is_taken(Emit *E, const char *n) {
  for (int i = 0; i < E->ntaken; i++)
    if (strcmp(E->taken[i], n) == 0) return true;
  return builtin_lookup(n) >= 0;
}

static const char *claim(Emit *E, const char *base) {
  const char *n = base;
  for (int k = 2; is_taken(E, n); k++) n = arena_printf(E->a, "%s_%d", base, k);
  ARENA_PUSH(E->a, E->taken, E->ntaken, E->captaken, n);
  return n;
}

static const char *name_of(Emit *E, IrVal v);

static const char *primal_name(Emit *E, IrVal p) {
  const IrInst *in = I(E, p);
  if (in->op == IR_PARAM) return E->f->params[in->index].name;
  if (in->op == IR_INPUT) return E->f->input_names[in->index];
  if (E->names[p]) return E->names[p];
  if (in->name) return in->name;
  return NULL;
}

static const char *name_of(Emit *E, IrVal v) {
  if (E->names[v]) return E->names[v];
  const IrInst *in = I(E, v);
  const char *base = NULL;
  /* the primal always comes earlier, which also rules out naming cycles */
  IrVal primal = E->f->adjoint_of && v < E->f->nadjoint_of && in->adjoint ? E->f->adjoint_of[v] : -1;
  if (primal >= v) primal = -1;
  if (primal >= 0) {
    const char *pn = primal_name(E, primal);
    if (!pn) pn = name_of(E, primal);
    base = arena_printf(E->a, "d_%s", pn);
  } else if (in->name) {
    base = in->name;
  } else {
    base = arena_printf(E->a, "t%d", ++E->temps);
  }
  E->names[v] = claim(E, base);
  return E->names[v];
}

/* ---- expressions -------------------------------------------------------------- */

enum { P_CMP = 1, P_ADD = 2, P_MUL = 3, P_UNARY = 4, P_POW = 5, P_ATOM = 6 };

static void expr(Emit *E, IrVal v, int min_prec, bool elementwise);

static int prec_of(Emit *E, IrVal v) {
  const IrInst *in = I(E, v);
  if (E->bound[v]) return P_ATOM;
  switch (in->op) {
  case IR_ADD: case IR_SUB: return P_ADD;
  case IR_MUL: case IR_DIV: case IR_MATMUL: return P_MUL;
  case IR_POW: return P_POW;
  case IR_NEG: return P_UNARY;
  case IR_LT: case IR_LE: case IR_GT: case IR_GE: case IR_EQ: case IR_NE: return P_CMP;
  case IR_CONST: return in->num < 0 ? P_UNARY : P_ATOM;
  case IR_FILL: return in->num < 0 ? P_UNARY : P_ATOM;
  case IR_DIMSIZE: return in->nsize_dims > 1 ? P_MUL : P_ATOM;
  default: return P_ATOM;
  }
}

static void number(Emit *E, double x, DType dt) {
  if (dt == DT_I32 || dt == DT_BOOL || (x == floor(x) && fabs(x) < 1e15)) {
    if (dt == DT_BOOL) fputs(x != 0 ? "true" : "false", E->out);
    else fprintf(E->out, dt == DT_I32 ? "%.0f" : "%.1f", x);
    return;
  }
  char buf[64];
  if (dt == DT_F32 && (double)(float)x == x) { /* a float folded in f32: its shortest f32 form */
    for (int p = 1; p <= 9; p++) {
      snprintf(buf, sizeof buf, "%.*g", p, x);
      if (strtof(buf, NULL) == (float)x) break;
    }
    if (!strpbrk(buf, ".e")) strcat(buf, ".0");
  } else {
    format_float(buf, sizeof buf, x);
  }
  fputs(buf, E->out);
}

/* The dims of t as call arguments; `after` when other arguments precede. */
static void dims_args(Emit *E, const IrType *t, bool after) {
  for (int i = 0; i < t->rank; i++) {
    if (i || after) fputs(", ", E->out);
    if (t->dims[i].sym) fputs(t->dims[i].sym, E->out);
    else fprintf(E->out, "%lld", (long long)t->dims[i].size);
  }
}

static void call1(Emit *E, const char *fn, IrVal a) {
  fprintf(E->out, "%s(", fn);
  expr(E, a, 0, false);
  fputc(')', E->out);
}

/* A FILL printed inline in an elementwise expression is a bare number. */
static bool prints_as_scalar(Emit *E, IrVal v) { return !E->bound[v] && I(E, v)->op == IR_FILL; }

/* Operands of an elementwise op with their BROADCASTs left implicit, when
 * NumPy broadcasting of what remains still gives the result's shape.
 * full[i] says operand i must print with its own shape (a FILL written as
 * zeros(...) rather than 0). */
static void elided_operands(Emit *E, const IrInst *in, IrVal *ops, bool *full) {
  IrType shapes[3];
  int n = in->nargs;
  for (int i = 0; i < n; i++) {
    ops[i] = in->args[i];
    full[i] = false;
    const IrInst *a = I(E, ops[i]);
    if (!E->bound[ops[i]] && a->op == IR_BROADCAST) ops[i] = a->args[0];
    shapes[i] = I(E, ops[i])->ty;
    if (prints_as_scalar(E, ops[i])) shapes[i].rank = 0;
  }
  /* the broadcast of the remaining shapes */
  int rank = 0;
  for (int i = 0; i < n; i++) rank = shapes[i].rank > rank ? shapes[i].rank : rank;
  bool ok = rank == in->ty.rank;
  for (int d = 0; d < rank && ok; d++) {
    Dim out = {1, NULL};
    for (int i = 0; i < n; i++) {
      int k = shapes[i].rank - rank + d;
      if (k < 0) continue;
      Dim x = shapes[i].dims[k];
      if (!x.sym && x.size == 1) continue;
      out = x;
    }
    Dim want = in->ty.dims[d];
    ok = (out.sym && want.sym && strcmp(out.sym, want.sym) == 0) || (!out.sym && !want.sym && out.size == want.size);
  }
  if (ok) return;
  for (int i = 0; i < n; i++) /* keep one broadcast explicit, or one fill full-sized */
    if (ops[i] != in->args[i]) {
      ops[i] = in->args[i];
      return;
    }
  for (int i = 0; i < n; i++)
    if (prints_as_scalar(E, ops[i]) && ir_type_equal(&I(E, ops[i])->ty, &in->ty)) {
      full[i] = true;
      return;
    }
}

static void index_list(Emit *E, const IrInst *in, int first_index_arg) {
  fputc('[', E->out);
  int arg = first_index_arg;
  for (int i = 0; i < in->naxes; i++) {
    if (i) fputs(", ", E->out);
    if (!in->axes[i].is_slice) {
      expr(E, in->args[arg++], 0, false);
    } else if (in->axes[i].hi < 0) {
      fputc(':', E->out);
    } else {
      fprintf(E->out, "%lld:%lld", (long long)in->axes[i].lo, (long long)in->axes[i].hi);
    }
  }
  fputc(']', E->out);
}

static void expr(Emit *E, IrVal v, int min_prec, bool elementwise) {
  const IrInst *in = I(E, v);
  FILE *out = E->out;
  if (E->bound[v]) {
    fputs(name_of(E, v), out);
    return;
  }
  bool paren = prec_of(E, v) < min_prec;
  if (paren) fputc('(', out);
  switch (in->op) {
  case IR_INPUT: fputs(E->f->input_names[in->index], out); break;
  case IR_PARAM: fputs(E->f->params[in->index].name, out); break;
  case IR_CONST: number(E, in->num, in->ty.dt); break;
  case IR_DIMSIZE:
    for (int i = 0; i < in->nsize_dims; i++) {
      if (i) fputs(" * ", out);
      if (in->size_dims[i].sym) fputs(in->size_dims[i].sym, out);
      else fprintf(out, "%lld", (long long)in->size_dims[i].size);
    }
    break;
  case IR_FILL:
    if (elementwise) number(E, in->num, in->ty.dt);
    else {
      /* zeros, ones and full make the model's float: an f64 one in a
       * program of f32 defaults says so (and is harmless under --dtype f64) */
      bool f64 = in->ty.dt == DT_F64;
      if (f64) fputs("f64(", out);
      if (in->num == 0 || in->num == 1) {
        fputs(in->num == 0 ? "zeros(" : "ones(", out);
        dims_args(E, &in->ty, false);
      } else {
        fputs("full(", out);
        number(E, in->num, in->ty.dt);
        dims_args(E, &in->ty, true);
      }
      fputs(f64 ? "))" : ")", out);
    }
    break;
  case IR_EYE: fprintf(out, "eye(%s)", in->ty.dims[0].sym ? in->ty.dims[0].sym : arena_printf(E->a, "%lld", (long long)in->ty.dims[0].size)); break;
  case IR_NEG:
    fputc('-', out);
    expr(E, in->args[0], P_UNARY, false);
    break;
  case IR_CAST: call1(E, dtype_name(in->ty.dt), in->args[0]); break;
  case IR_SELECT: {
    IrVal ops[3];
    bool full[3];
    elided_operands(E, in, ops, full);
    fputs("select(", out);
    for (int i = 0; i < 3; i++) {
      if (i) fputs(", ", out);
      expr(E, ops[i], 0, !full[i]);
    }
    fputc(')', out);
    break;
  }
  case IR_MATMUL:
    expr(E, in->args[0], P_MUL, false);
    fputs(" @ ", out);
    expr(E, in->args[1], P_MUL + 1, false);
    break;
  case IR_RESHAPE:
  case IR_BROADCAST:
    fprintf(out, "%s(", in->op == IR_RESHAPE ? "reshape" : "broadcast_to");
    expr(E, in->args[0], 0, false);
    dims_args(E, &in->ty, true);
    fputc(')', out);
    break;
  case IR_SUM_TO: {
    /* [a, b..] -> [b..] is sum over axis 0; otherwise the general form */
    const IrType *x = &I(E, in->args[0])->ty;
    bool leading = x->rank == in->ty.rank + 1;
    for (int i = 0; leading && i < in->ty.rank; i++) {
      Dim p = x->dims[i + 1], q = in->ty.dims[i];
      leading = (p.sym && q.sym && strcmp(p.sym, q.sym) == 0) || (!p.sym && !q.sym && p.size == q.size);
    }
    bool scalar = in->ty.rank == 0;
    fputs(leading || scalar ? "sum(" : "sum_to(", out);
    expr(E, in->args[0], 0, false);
    if (leading && !scalar) fputs(", axis = 0", out);
    else if (!scalar) dims_args(E, &in->ty, true);
    fputc(')', out);
    break;
  }
  case IR_SOFTMAX:
  case IR_LOG_SOFTMAX:
    fprintf(out, "%s(", ir_ops[in->op].dml);
    expr(E, in->args[0], 0, false);
    if (in->axis != in->ty.rank - 1) fprintf(out, ", axis = %d", in->axis);
    fputc(')', out);
    break;
  case IR_INDEX:
    expr(E, in->args[0], P_ATOM, false);
    index_list(E, in, 1);
    break;
  case IR_ONEHOT:
    fputs(in->ty.dt == DT_F64 ? "f64(onehot(" : "onehot(", out); /* of the model's float, as zeros */
    expr(E, in->args[0], 0, false);
    dims_args(E, &(IrType){.rank = 1, .dims = {in->ty.dims[in->ty.rank - 1]}}, true);
    fputs(in->ty.dt == DT_F64 ? "))" : ")", out);
    break;
  case IR_CONV2D:
  case IR_MAXPOOL2D:
  case IR_AVGPOOL2D:
  case IR_CONV2D_BWD_INPUT:
  case IR_CONV2D_BWD_WEIGHT:
  case IR_MAXPOOL2D_BWD:
  case IR_AVGPOOL2D_BWD:
  case IR_MAXPOOL2D_GATHER: {
    bool pool = in->op != IR_CONV2D && in->op != IR_CONV2D_BWD_INPUT && in->op != IR_CONV2D_BWD_WEIGHT;
    fprintf(out, "%s(", ir_ops[in->op].dml);
    for (int i = 0; i < in->nargs; i++) {
      if (i) fputs(", ", out);
      expr(E, in->args[i], 0, false);
    }
    if (pool) fprintf(out, ", (%lld, %lld)", (long long)in->kernel[0], (long long)in->kernel[1]);
    fprintf(out, ", stride = (%lld, %lld), pad = (%lld, %lld))", (long long)in->stride[0], (long long)in->stride[1],
            (long long)in->pad[0], (long long)in->pad[1]);
    break;
  }
  default:
    switch (ir_ops[in->op].kind) {
    case K_UNARY: call1(E, ir_ops[in->op].dml, in->args[0]); break;
    case K_BINARY:
    case K_COMPARE: {
      IrVal ops[2];
      bool full[2];
      elided_operands(E, in, ops, full);
      const char *op = ir_ops[in->op].dml;
      if (isalpha((unsigned char)op[0])) {
        fprintf(out, "%s(", op);
        expr(E, ops[0], 0, !full[0]);
        fputs(", ", out);
        expr(E, ops[1], 0, !full[1]);
        fputc(')', out);
        break;
      }
      int p = prec_of(E, v);
      /* left-associative; `^` is right-associative; comparisons do not chain */
      int lp = in->op == IR_POW ? p + 1 : p == P_CMP ? P_ADD : p, rp = in->op == IR_POW ? p : p + 1;
      expr(E, ops[0], lp, !full[0]);
      fprintf(out, " %s ", op);
      expr(E, ops[1], rp, !full[1]);
      break;
    }
    case K_REDUCE:
      fprintf(out, "%s(", ir_ops[in->op].dml);
      expr(E, in->args[0], 0, false);
      if (in->axis >= 0) fprintf(out, ", axis = %d", in->axis);
      if (in->keepdims) fputs(", keepdims = true", out);
      fputc(')', out);
      break;
    default: /* calls with positional operands: pick, cross_entropy, mse, l1, l2, transpose */
      fprintf(out, "%s(", ir_ops[in->op].dml);
      for (int i = 0; i < in->nargs; i++) {
        if (i) fputs(", ", out);
        expr(E, in->args[i], 0, false);
      }
      fputc(')', out);
    }
  }
  if (paren) fputc(')', out);
}

/* ---- statements ------------------------------------------------------------------ */

static const char *short_file(const Source *src) {
  const char *slash = strrchr(src->name, '/');
  return slash ? slash + 1 : src->name;
}

/* What an adjoint differentiates, as the comment shows it: the source text
 * of an operator expression when it is short, else the operation's name. */
static const char *why_text(Emit *E, const IrInst *in) {
  const char *dml = ir_ops[in->op].dml;
  const char *primal_op = in->why ? in->why : ir_ops[in->op].name;
  IrOp op = in->op;
  for (int i = 0; i < IR_OP_COUNT; i++)
    if (strcmp(ir_ops[i].name, primal_op) == 0) op = (IrOp)i;
  dml = ir_ops[op].dml;
  if (dml[0] && isalpha((unsigned char)dml[0]) && op != IR_BROADCAST) return dml;
  if (in->span.src) {
    const char *text = in->span.src->text + in->span.lo;
    int len = (int)(in->span.hi - in->span.lo);
    if (len > 0 && len <= 28 && !memchr(text, '\n', (size_t)len)) return arena_printf(E->a, "%.*s", len, text);
  }
  return dml[0] ? dml : "broadcast";
}

/* Adjoint instructions inlined into one statement, for its comment. */
static void collect_whys(Emit *E, IrVal v, const char **list, int *n, int max, bool top) {
  const IrInst *in = I(E, v);
  if ((!top && E->bound[v]) || *n >= max) return;
  if (in->adjoint && in->span.src) {
    int line, col;
    span_line_col(in->span, &line, &col);
    const char *w = in->span.src == E->f->span.src
                        ? arena_printf(E->a, "%s (:%d)", why_text(E, in), line)
                        : arena_printf(E->a, "%s (%s:%d)", why_text(E, in), short_file(in->span.src), line);
    bool seen = false;
    for (int i = 0; i < *n; i++) seen |= strcmp(list[i], w) == 0;
    if (!seen) list[(*n)++] = w;
  }
  for (int i = 0; i < in->nargs; i++) collect_whys(E, in->args[i], list, n, max, false);
}

static void comment(Emit *E, IrVal v) {
  const IrInst *in = I(E, v);
  if (in->adjoint) {
    const char *list[4];
    int n = 0;
    collect_whys(E, v, list, &n, 4, true);
    fputs("  // d ", E->out);
    for (int i = 0; i < n && i < 3; i++) fprintf(E->out, "%s%s", i ? ", " : "", list[i]);
  } else if (in->span.src) {
    int line, col;
    span_line_col(in->span, &line, &col);
    fprintf(E->out, "  // %s:%d", short_file(in->span.src), line);
  }
}

static void type_text(Emit *E, const IrType *t) {
  fputs(dtype_name(t->dt), E->out);
  if (!t->rank) return;
  fputc('[', E->out);
  for (int i = 0; i < t->rank; i++) {
    if (i) fputs(", ", E->out);
    if (t->dims[i].sym) fputs(t->dims[i].sym, E->out);
    else fprintf(E->out, "%lld", (long long)t->dims[i].size);
  }
  fputc(']', E->out);
}

static bool is_leaf(const IrInst *in) {
  return in->op == IR_INPUT || in->op == IR_PARAM || in->op == IR_CONST || in->op == IR_DIMSIZE;
}

static bool is_loop_value(IrOp op);
static void indent(Emit *E, int depth);
static void print_for(Emit *E, IrVal v, int depth);

static void print_block(Emit *E, const IrBlock *b, int depth) {
  FILE *out = E->out;
  for (int k = 0; k < b->n; k++) {
    IrVal v = b->ids[k];
    const IrInst *in = I(E, v);
    if (in->op == IR_FOR) {
      print_for(E, v, depth);
      continue;
    }
    if (!E->bound[v] || is_loop_value(in->op)) continue;
    if (in->adjoint && !E->reverse_started && depth == 1) {
      fputs("    // reverse sweep\n", out);
      E->reverse_started = true;
    }
    if (in->op == IR_UPDATE) {
      const char *n = name_of(E, v);
      indent(E, depth);
      fprintf(out, "var %s = ", n);
      expr(E, in->args[0], 0, false);
      comment(E, v);
      fputc('\n', out);
      indent(E, depth);
      fputs(n, out);
      index_list(E, in, 2);
      fputs(" = ", out);
      expr(E, in->args[1], 0, false);
      fputc('\n', out);
      continue;
    }
    indent(E, depth);
    fprintf(out, "let %s = ", name_of(E, v));
    E->bound[v] = false; /* print its expression, not its name */
    expr(E, v, 0, false);
    E->bound[v] = true;
    comment(E, v);
    fputc('\n', out);
  }
}

static void count_uses(Emit *E) {
  for (int v = 0; v < E->f->nv; v++) {
    const IrInst *in = I(E, v);
    for (int i = 0; i < in->nargs; i++) E->uses[in->args[i]]++;
    if (in->body)
      for (int i = 0; i < in->body->nyields; i++) E->uses[in->body->yields[i]]++;
  }
  for (int i = 0; i < E->f->nresults; i++) E->uses[E->f->results[i]] += 2;
}

static bool is_loop_value(IrOp op) { return op == IR_LOOP_INDEX || op == IR_LOOP_CARRY || op == IR_FOR_RESULT || op == IR_FOR; }

static void indent(Emit *E, int depth) {
  for (int i = 0; i < depth; i++) fputs("    ", E->out);
}

/* A loop: its carried values become vars declared before it, assigned at
 * the end of each iteration (through temporaries when there are several,
 * so each new value is computed from the old ones); the loop's results
 * are those vars after it. */
static void print_for(Emit *E, IrVal v, int depth) {
  const IrInst *in = I(E, v);
  const IrFunc *f = E->f;
  int k = in->nargs - 2;
  IrVal carry[IR_MAX_ARGS] = {0};
  IrVal index = -1;
  for (int i = 0; i < in->body->n; i++) {
    const IrInst *b = I(E, in->body->ids[i]);
    if (b->op == IR_LOOP_CARRY && b->index < IR_MAX_ARGS) carry[b->index] = in->body->ids[i];
    if (b->op == IR_LOOP_INDEX) index = in->body->ids[i];
  }
  if (in->adjoint && !E->reverse_started && depth == 1) {
    fputs("    // reverse sweep\n", E->out);
    E->reverse_started = true;
  }
  for (int j = 0; j < k; j++) {
    IrVal result = -1; /* the var keeps the name given to the loop's result, d_W for a gradient */
    for (IrVal r = v + 1; r < f->nv; r++)
      if (f->v[r].op == IR_FOR_RESULT && f->v[r].args[0] == v && f->v[r].index == j) result = r;
    const char *n = result >= 0 && E->names[result] ? E->names[result]
                                                     : claim(E, I(E, carry[j])->name ? I(E, carry[j])->name : "c");
    E->names[carry[j]] = n;
    if (result >= 0) E->names[result] = n;
    indent(E, depth);
    fprintf(E->out, "var %s = ", n);
    expr(E, in->args[2 + j], 0, false);
    fputc('\n', E->out);
  }
  E->names[index] = claim(E, I(E, index)->name ? I(E, index)->name : "i");
  indent(E, depth);
  fprintf(E->out, "for %s in ", E->names[index]);
  expr(E, in->args[0], P_ADD, false);
  fputs("..", E->out);
  expr(E, in->args[1], P_ADD, false);
  fputs(" {", E->out);
  comment(E, v);
  fputc('\n', E->out);
  print_block(E, in->body, depth + 1);
  const char *next[IR_MAX_ARGS];
  for (int j = 0; j < k; j++) {
    IrVal y = in->body->yields[j];
    next[j] = NULL;
    if (y == carry[j] || k == 1) continue;
    next[j] = claim(E, arena_printf(E->a, "%s_next", E->names[carry[j]]));
    indent(E, depth + 1);
    fprintf(E->out, "let %s = ", next[j]);
    expr(E, y, 0, false);
    fputc('\n', E->out);
  }
  for (int j = 0; j < k; j++) {
    IrVal y = in->body->yields[j];
    if (y == carry[j]) continue;
    indent(E, depth + 1);
    fprintf(E->out, "%s = ", E->names[carry[j]]);
    if (next[j]) fputs(next[j], E->out);
    else expr(E, y, 0, false);
    fputc('\n', E->out);
  }
  indent(E, depth);
  fputs("}\n", E->out);
}

bool emit_dml(FILE *out, const IrFunc *f, const Program *p, const char *source_name, Diags *d) {
  Arena *a = f->arena;
  Emit E = {.f = f, .out = out, .a = a};
  E.uses = arena_alloc(a, sizeof(int) * (size_t)(f->nv + 1));
  E.bound = arena_alloc(a, sizeof(bool) * (size_t)(f->nv + 1));
  E.names = arena_alloc(a, sizeof(char *) * (size_t)(f->nv + 1));
  (void)d;
  count_uses(&E);
  /* reserve the names of params and inputs */
  for (int i = 0; i < f->nparams; i++) ARENA_PUSH(a, E.taken, E.ntaken, E.captaken, f->params[i].name);
  for (int i = 0; i < f->ninputs; i++) ARENA_PUSH(a, E.taken, E.ntaken, E.captaken, f->input_names[i]);
  bool hvp = strcmp(f->name, "loss_hvp") == 0; /* results H v, one per param, not (L, d_X...) */
  ARENA_PUSH(a, E.taken, E.ntaken, E.captaken, f->name);
  /* yields: a value only yielded is written inline in the assignment */
  bool *yielded = arena_alloc(a, sizeof(bool) * (size_t)(f->nv + 1));
  for (int v = 0; v < f->nv; v++)
    if (f->v[v].body)
      for (int i = 0; i < f->v[v].body->nyields; i++) yielded[f->v[v].body->yields[i]] = true;
  for (int v = 0; v < f->nv; v++) {
    const IrInst *in = I(&E, v);
    if (is_loop_value(in->op)) {
      E.bound[v] = true; /* printed by name: the loop variable or a var */
      continue;
    }
    if (is_leaf(in) || in->op == IR_BROADCAST) continue;
    bool is_result = false;
    for (int i = 0; i < f->nresults; i++) is_result |= f->results[i] == v;
    if (in->op == IR_FILL && !is_result) continue;
    /* an indexed update is a statement of its own: var u = a; u[i] = b */
    E.bound[v] = is_result || E.uses[v] >= 2 || (in->name && !in->adjoint && !(yielded[v] && E.uses[v] == 1)) ||
                 in->op == IR_UPDATE;
  }
  if (hvp) {
    for (int i = 0; i < f->nresults && i < f->ngrad_params; i++) { /* Hv_W: the rows of H v for W */
      IrVal r = f->results[i];
      if (E.bound[r] && !E.names[r]) E.names[r] = claim(&E, arena_printf(a, "Hv_%s", f->params[f->grad_params[i]].name));
    }
  } else {
    if (E.bound[f->results[0]]) E.names[f->results[0]] = claim(&E, "L");
    for (int i = 1; i < f->nresults && i - 1 < f->ngrad_params; i++) { /* d_W for the gradient of W */
      IrVal r = f->results[i];
      if (E.bound[r] && !E.names[r]) E.names[r] = claim(&E, arena_printf(a, "d_%s", f->params[f->grad_params[i - 1]].name));
    }
  }
  if (hvp) {
    fprintf(out, "// loss_hvp of %s, generated by `dmlc emit hvp`.\n", source_name);
    fputs("// Valid DML: given a direction v_X for every param X, Hv_X is the part of H v (H the\n"
          "// Hessian of the loss) for X: forward mode over the generated gradient.\n", out);
  } else {
    fprintf(out, "// loss_grad of %s, generated by `dmlc emit grad`.\n", source_name);
    fputs("// Valid DML: d_X is the derivative of the loss with respect to X.\n", out);
  }
  /* the names a comment quotes are the source's: an inlined function's
   * locals print with _2, _3 in their second and third copies */
  fputs("// `// d EXPR (:LINE)`: what a statement differentiates, quoted from source line LINE.\n\n", out);
  for (int i = 0; i < p->nitems; i++) {
    const Item *it = p->items[i];
    if (it->kind != IT_PARAM) continue;
    fprintf(out, "param %s: ", it->name);
    type_text(&E, &f->params[it->index].ty);
    if (it->value) {
      fputs(" = ", out);
      ast_print_expr(out, it->value);
    }
    fputc('\n', out);
  }
  fprintf(out, "\nfn %s(", f->name);
  for (int i = 0; i < f->ninputs; i++) {
    fprintf(out, "%s%s: ", i ? ", " : "", f->input_names[i]);
    type_text(&E, &f->input_types[i]);
  }
  bool tuple = f->nresults > 1; /* a loss without params returns just L */
  fputs(tuple ? ") -> (" : ") -> ", out);
  for (int i = 0; i < f->nresults; i++) {
    if (i) fputs(", ", out);
    type_text(&E, &f->v[f->results[i]].ty);
  }
  fputs(tuple ? ") {\n" : " {\n", out);
  print_block(&E, &f->body, 1);
  fputs(tuple ? "    (" : "    ", out);
  for (int i = 0; i < f->nresults; i++) {
    if (i) fputs(", ", out);
    expr(&E, f->results[i], 0, false);
  }
  fputs(tuple ? ")\n}\n" : "\n}\n", out);
  return true;
}
