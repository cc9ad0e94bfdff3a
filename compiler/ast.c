/* ast.c - AST constructors (with the nesting bound), the `emit ast` dump and
 * a printer back to DML source (used by the parser round-trip tests). */
#include "ast.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *dtype_name(DType t) {
  static const char *names[] = {"f32", "f64", "i32", "bool", "real"};
  return names[t];
}

const char *binop_text(BinOp op) {
  static const char *text[] = {"+", "-", "*", "/", "@", "^", "<", "<=", ">", ">=", "==", "!=", "-", "="};
  return text[op];
}

Expr *ast_expr(AstBuilder *b, ExprKind k, Span sp) {
  Expr *e = ARENA_NEW(b->arena, Expr);
  e->kind = k;
  e->span = sp;
  e->depth = 1;
  return e;
}

/* A node deeper than the bound is replaced by an error leaf. The error is
 * reported once, where the bound is first crossed: parents of a collapsed
 * node collapse silently. */
Expr *ast_finish(AstBuilder *b, Expr *e) {
  if (e->depth <= AST_MAX_DEPTH) return e;
  bool child_collapsed = (e->lhs && e->lhs->kind == EX_ERROR && e->lhs->depth >= AST_MAX_DEPTH) ||
                         (e->rhs && e->rhs->kind == EX_ERROR && e->rhs->depth >= AST_MAX_DEPTH) ||
                         (e->base && e->base->kind == EX_ERROR && e->base->depth >= AST_MAX_DEPTH);
  for (int i = 0; i < e->nargs && !child_collapsed; i++)
    child_collapsed = e->args[i].value->kind == EX_ERROR && e->args[i].value->depth >= AST_MAX_DEPTH;
  for (int i = 0; i < e->nelems && !child_collapsed; i++)
    child_collapsed = e->elems[i]->kind == EX_ERROR && e->elems[i]->depth >= AST_MAX_DEPTH;
  if (!child_collapsed) {
    diag_error(b->diags, e->span, "expression nested too deeply (more than %d levels)", AST_MAX_DEPTH);
    diag_hint(b->diags, "split it into several `let` statements");
  }
  Expr *err = ast_expr(b, EX_ERROR, e->span);
  err->depth = AST_MAX_DEPTH;
  return err;
}

Expr *ast_binary(AstBuilder *b, BinOp op, Expr *l, Expr *r, Span sp) {
  Expr *e = ast_expr(b, EX_BINARY, sp);
  e->op = op;
  e->lhs = l;
  e->rhs = r;
  e->depth = 1 + (l->depth > r->depth ? l->depth : r->depth);
  return ast_finish(b, e);
}

Expr *ast_unary(AstBuilder *b, BinOp op, Expr *x, Span sp) {
  Expr *e = ast_expr(b, EX_UNARY, sp);
  e->op = op;
  e->lhs = x;
  e->depth = 1 + x->depth;
  return ast_finish(b, e);
}

/* ---- printing back to source ------------------------------------------ */

/* Binding power of each operator, for minimal parentheses. */
static int prec_of(const Expr *e) {
  if (e->kind == EX_BINARY) {
    switch (e->op) {
    case OP_POW: return 5;
    case OP_MUL: case OP_DIV: case OP_MATMUL: return 3;
    case OP_ADD: case OP_SUB: return 2;
    default: return 1;
    }
  }
  if (e->kind == EX_UNARY) return 4;
  return 6;
}

/* The shortest text that reads back as exactly x, always with a point or
 * an exponent so that it reads back as a float. */
void format_float(char *buf, size_t n, double x) {
  for (int p = 1; p <= 17; p++) {
    snprintf(buf, n, "%.*g", p, x);
    if (strtod(buf, NULL) == x) break;
  }
  if (!strpbrk(buf, ".e") && isfinite(x)) strncat(buf, ".0", n - strlen(buf) - 1);
}

static void print_number(FILE *out, const Expr *e) {
  char buf[64];
  if (e->is_int) snprintf(buf, sizeof buf, "%.0f", e->num);
  else format_float(buf, sizeof buf, e->num);
  fputs(buf, out);
}

static void print_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(out, "\\%c", *s);
    else if (*s == '\n') fputs("\\n", out);
    else if (*s == '\t') fputs("\\t", out);
    else fputc(*s, out);
  }
  fputc('"', out);
}

static void print_sub(FILE *out, const Expr *e, int min_prec) {
  bool paren = prec_of(e) < min_prec;
  if (paren) fputc('(', out);
  ast_print_expr(out, e);
  if (paren) fputc(')', out);
}

void ast_print_expr(FILE *out, const Expr *e) {
  switch (e->kind) {
  case EX_NUM: print_number(out, e); break;
  case EX_BOOL: fputs(e->boolean ? "true" : "false", out); break;
  case EX_STR: print_string(out, e->name); break;
  case EX_NAME: fputs(e->name, out); break;
  case EX_ERROR: fputs("<error>", out); break;
  case EX_UNARY:
    fputc('-', out);
    print_sub(out, e->lhs, 4);
    break;
  case EX_BINARY: {
    int p = prec_of(e);
    /* left-associative: the right operand needs one more; `^` is the reverse;
     * comparisons do not chain */
    int lp = e->op == OP_POW ? p + 1 : (p == 1 ? 2 : p);
    int rp = e->op == OP_POW ? p : p + 1;
    print_sub(out, e->lhs, lp);
    fprintf(out, " %s ", binop_text(e->op));
    print_sub(out, e->rhs, rp);
    break;
  }
  case EX_CALL:
    fprintf(out, "%s(", e->name);
    for (int i = 0; i < e->nargs; i++) {
      if (i) fputs(", ", out);
      if (e->args[i].name) fprintf(out, "%s = ", e->args[i].name);
      ast_print_expr(out, e->args[i].value);
    }
    fputc(')', out);
    break;
  case EX_INDEX:
    print_sub(out, e->base, 6);
    fputc('[', out);
    for (int i = 0; i < e->nidx; i++) {
      const IndexArg *ix = &e->idx[i];
      if (i) fputs(", ", out);
      if (ix->lo) ast_print_expr(out, ix->lo);
      if (ix->is_slice) fputs(ix->lo || ix->hi ? ":" : ":", out);
      if (ix->hi) ast_print_expr(out, ix->hi);
    }
    fputc(']', out);
    break;
  case EX_TUPLE:
    fputc('(', out);
    for (int i = 0; i < e->nelems; i++) {
      if (i) fputs(", ", out);
      ast_print_expr(out, e->elems[i]);
    }
    fputc(')', out);
    break;
  }
}

static void print_type(FILE *out, const TypeExpr *t) {
  if (t->elems) {
    fputc('(', out);
    for (int i = 0; i < t->nelems; i++) {
      if (i) fputs(", ", out);
      print_type(out, t->elems[i]);
    }
    fputc(')', out);
    return;
  }
  fputs(dtype_name(t->dtype), out);
  if (!t->has_dims) return;
  fputc('[', out);
  for (int i = 0; i < t->ndims; i++) {
    if (i) fputs(", ", out);
    ast_print_expr(out, t->dims[i]);
  }
  fputc(']', out);
}

static void indent(FILE *out, int n) {
  for (int i = 0; i < n; i++) fputs("    ", out);
}

static void print_block(FILE *out, const Block *b, int depth);

static void print_stmt(FILE *out, const Stmt *s, int depth) {
  indent(out, depth);
  switch (s->kind) {
  case ST_LET:
  case ST_VAR:
    fprintf(out, "%s %s", s->kind == ST_LET ? "let" : "var", s->name);
    if (s->type) {
      fputs(": ", out);
      print_type(out, s->type);
    }
    fputs(" = ", out);
    ast_print_expr(out, s->value);
    break;
  case ST_ASSIGN:
    ast_print_expr(out, s->target);
    fprintf(out, " %s= ", s->assign_op == OP_ASSIGN ? "" : binop_text(s->assign_op));
    ast_print_expr(out, s->value);
    break;
  case ST_FOR:
    fprintf(out, "for %s in ", s->name);
    ast_print_expr(out, s->lo);
    fputs("..", out);
    ast_print_expr(out, s->hi);
    fputc(' ', out);
    print_block(out, &s->body, depth);
    break;
  case ST_RETURN:
    fputs("return ", out);
    ast_print_expr(out, s->value);
    break;
  case ST_EXPR: ast_print_expr(out, s->value); break;
  case ST_ERROR: fputs("<error>", out); break;
  }
  fputc('\n', out);
}

static void print_block(FILE *out, const Block *b, int depth) {
  fputs("{\n", out);
  for (int i = 0; i < b->n; i++) print_stmt(out, b->stmts[i], depth + 1);
  indent(out, depth);
  fputc('}', out);
}

static void print_params(FILE *out, const Item *it) {
  fputc('(', out);
  for (int i = 0; i < it->nparams; i++) {
    if (i) fputs(", ", out);
    fprintf(out, "%s: ", it->params[i].name);
    print_type(out, it->params[i].type);
  }
  fputc(')', out);
}

void ast_print_source(FILE *out, const Program *p) {
  for (int i = 0; i < p->nitems; i++) {
    const Item *it = p->items[i];
    if (it->from_stdlib) continue;
    switch (it->kind) {
    case IT_USE:
      fputs("use ", out);
      if (it->use_path) print_string(out, it->name);
      else fputs(it->name, out);
      break;
    case IT_CONST:
      fprintf(out, "const %s", it->name);
      if (it->type) {
        fputs(": ", out);
        print_type(out, it->type);
      }
      fputs(" = ", out);
      ast_print_expr(out, it->value);
      break;
    case IT_PARAM:
      fprintf(out, "param %s: ", it->name);
      print_type(out, it->type);
      if (it->value) {
        fputs(" = ", out);
        ast_print_expr(out, it->value);
      }
      break;
    case IT_FN:
      fprintf(out, "fn %s", it->name);
      print_params(out, it);
      if (it->ret) {
        fputs(" -> ", out);
        print_type(out, it->ret);
      }
      fputc(' ', out);
      print_block(out, &it->body, 0);
      break;
    case IT_LOSS:
      fputs("loss", out);
      print_params(out, it);
      fputc(' ', out);
      print_block(out, &it->body, 0);
      break;
    case IT_TRAIN:
      fputs("train {\n", out);
      for (int k = 0; k < it->nentries; k++) {
        fprintf(out, "    %s = ", it->entries[k].key);
        ast_print_expr(out, it->entries[k].value);
        fputc('\n', out);
      }
      fputc('}', out);
      break;
    }
    fputc('\n', out);
  }
}

/* ---- `emit ast`: an indented tree with positions ------------------------ */

static void dump_pos(FILE *out, Span s) {
  int l, c;
  span_line_col(s, &l, &c);
  fprintf(out, " @%d:%d", l, c);
}

static void dump_expr(FILE *out, const Expr *e, int depth);

static void dump_line(FILE *out, int depth, const char *what) {
  for (int i = 0; i < depth; i++) fputs("  ", out);
  fputs(what, out);
}

static void dump_type_line(FILE *out, int depth, const char *label, const TypeExpr *t) {
  if (!t) return;
  dump_line(out, depth, label);
  fputc(' ', out);
  print_type(out, t);
  fputc('\n', out);
}

static void dump_expr(FILE *out, const Expr *e, int depth) {
  static const char *kinds[] = {"Num", "Bool", "Str", "Name", "Unary", "Binary",
                                "Call", "Index", "Tuple", "Error"};
  dump_line(out, depth, kinds[e->kind]);
  switch (e->kind) {
  case EX_NUM: case EX_BOOL: case EX_STR: case EX_NAME:
    fputc(' ', out);
    ast_print_expr(out, e);
    break;
  case EX_UNARY: case EX_BINARY: fprintf(out, " %s", binop_text(e->op)); break;
  case EX_CALL: fprintf(out, " %s", e->name); break;
  default: break;
  }
  dump_pos(out, e->span);
  fputc('\n', out);
  if (e->lhs) dump_expr(out, e->lhs, depth + 1);
  if (e->rhs) dump_expr(out, e->rhs, depth + 1);
  if (e->base) dump_expr(out, e->base, depth + 1);
  for (int i = 0; i < e->nargs; i++) {
    if (e->args[i].name) {
      dump_line(out, depth + 1, e->args[i].name);
      fputs(" =\n", out);
      dump_expr(out, e->args[i].value, depth + 2);
    } else {
      dump_expr(out, e->args[i].value, depth + 1);
    }
  }
  for (int i = 0; i < e->nidx; i++) {
    const IndexArg *ix = &e->idx[i];
    dump_line(out, depth + 1, ix->is_slice ? "Slice" : "At");
    dump_pos(out, ix->span);
    fputc('\n', out);
    if (ix->lo) dump_expr(out, ix->lo, depth + 2);
    else if (ix->is_slice) dump_line(out, depth + 2, "(start)\n");
    if (ix->hi) dump_expr(out, ix->hi, depth + 2);
    else if (ix->is_slice) dump_line(out, depth + 2, "(end)\n");
  }
  for (int i = 0; i < e->nelems; i++) dump_expr(out, e->elems[i], depth + 1);
}

static void dump_block(FILE *out, const Block *b, int depth);

static void dump_stmt(FILE *out, const Stmt *s, int depth) {
  static const char *kinds[] = {"Let", "Var", "Assign", "For", "Return", "ExprStmt", "Error"};
  dump_line(out, depth, kinds[s->kind]);
  if (s->name) fprintf(out, " %s", s->name);
  if (s->kind == ST_ASSIGN) fprintf(out, " %s=", s->assign_op == OP_ASSIGN ? "" : binop_text(s->assign_op));
  dump_pos(out, s->span);
  fputc('\n', out);
  dump_type_line(out, depth + 1, "type", s->type);
  if (s->target) dump_expr(out, s->target, depth + 1);
  if (s->lo) dump_expr(out, s->lo, depth + 1);
  if (s->hi) dump_expr(out, s->hi, depth + 1);
  if (s->value) dump_expr(out, s->value, depth + 1);
  if (s->kind == ST_FOR) dump_block(out, &s->body, depth + 1);
}

static void dump_block(FILE *out, const Block *b, int depth) {
  for (int i = 0; i < b->n; i++) dump_stmt(out, b->stmts[i], depth);
}

void ast_dump(FILE *out, const Program *p) {
  static const char *kinds[] = {"Use", "Const", "Param", "Fn", "Loss", "Train"};
  for (int i = 0; i < p->nitems; i++) {
    const Item *it = p->items[i];
    if (it->from_stdlib) continue;
    fprintf(out, "%s %s", kinds[it->kind], it->name);
    dump_pos(out, it->span);
    fputc('\n', out);
    dump_type_line(out, 1, "type", it->type);
    for (int k = 0; k < it->nparams; k++) {
      dump_line(out, 1, "arg ");
      fprintf(out, "%s: ", it->params[k].name);
      print_type(out, it->params[k].type);
      fputc('\n', out);
    }
    dump_type_line(out, 1, "returns", it->ret);
    if (it->value) dump_expr(out, it->value, 1);
    dump_block(out, &it->body, 1);
    for (int k = 0; k < it->nentries; k++) {
      dump_line(out, 1, it->entries[k].key);
      fputs(" =\n", out);
      dump_expr(out, it->entries[k].value, 2);
    }
  }
}
