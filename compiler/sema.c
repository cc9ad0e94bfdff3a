/* sema.c - name resolution, dtypes and shapes.
 *
 * Input: the Program from the parser (user file and used modules). Output:
 * every Expr annotated with a Type and a resolution, every problem reported.
 *
 * The one idea: a function is checked once, generically, with the symbolic
 * dimensions of its signature (`n`, `T`) as rigid names; a call then unifies
 * the callee's signature with the argument types, binding each symbol to the
 * caller's dimension, and substitutes them into the result type. So shapes
 * are checked in the function body and at each call, never re-checked per
 * call, and an error points at the line that causes it.
 *
 * Literals and untyped consts are "weak": `2 * x` takes the dtype of x. An
 * error type absorbs everything built on it, so one mistake is one message. */
#include "sema.h"
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Global names: an open-addressing hash table of items. */
typedef struct GlobalTable {
  Item **slots;
  int cap, len;
} GlobalTable;

/* Local names: name -> innermost binding, so lookups do not walk scopes.
 * A slot keeps its name when the binding goes out of scope (value NULL),
 * which keeps probe chains intact. */
typedef struct LocalTable {
  struct { const char *name; Binding *b; } *slots;
  int cap, len;
} LocalTable;

typedef struct Sema {
  Arena *a;
  Diags *d;
  Program *prog;
  SemaOptions opt;
  GlobalTable globals;
  LocalTable locals;
  Binding *scope;
  int depth;              /* block nesting */
  int loop_depth;
  Item *fn;               /* function being checked, NULL outside */
  const char **syms;      /* symbolic dims of the current signature */
  int nsyms, capsyms;
  bool sig_mode;          /* resolving a signature: unknown dim names are new symbols */
  const char *shape_of_param; /* resolving a param's shape */
  bool in_result_type;    /* resolving a declared result type */
  Type *error;
  Item *loss, *train;
} Sema;

/* ---- types -------------------------------------------------------------- */

static Type *ty_alloc(Sema *s) { return ARENA_NEW(s->a, Type); }

static Type *ty_tensor(Sema *s, DType dt, int rank, const Dim *dims) {
  Type *t = ty_alloc(s);
  t->kind = TY_TENSOR;
  t->dt = dt;
  t->rank = rank;
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
  return t;
}

static Type *ty_scalar(Sema *s, DType dt) { return ty_tensor(s, dt, 0, NULL); }

static Type *ty_with_dtype(Sema *s, const Type *t, DType dt) {
  return ty_tensor(s, dt, t->rank, t->dims);
}

static bool is_err(const Type *t) { return !t || t->kind == TY_ERROR; }
static bool is_tensor(const Type *t) { return t && t->kind == TY_TENSOR; }
static bool dt_float(DType d) { return d == DT_F32 || d == DT_F64 || d == DT_REAL; }
static bool dt_numeric(DType d) { return dt_float(d) || d == DT_I32; }

static Dim dim_const(int64_t n) {
  Dim d = {n, NULL};
  return d;
}

static bool dim_equal(Dim a, Dim b) {
  if (a.sym || b.sym) return a.sym && b.sym && strcmp(a.sym, b.sym) == 0;
  return a.size == b.size;
}

static bool is_one(Dim d) { return !d.sym && d.size == 1; }

bool type_equal(const Type *a, const Type *b) {
  if (a->kind != b->kind) return false;
  if (a->kind == TY_TUPLE) {
    if (a->nelems != b->nelems) return false;
    for (int i = 0; i < a->nelems; i++)
      if (!type_equal(a->elems[i], b->elems[i])) return false;
    return true;
  }
  if (a->kind != TY_TENSOR) return true;
  if (a->dt != b->dt || a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (!dim_equal(a->dims[i], b->dims[i])) return false;
  return true;
}

static int dim_text(char *buf, size_t n, Dim d) {
  return d.sym ? snprintf(buf, n, "%s", d.sym) : snprintf(buf, n, "%lld", (long long)d.size);
}

static void type_text(char *buf, size_t n, const Type *t) {
  size_t len = 0;
#define PUT(...) len += (size_t)snprintf(buf + len, len < n ? n - len : 0, __VA_ARGS__)
  if (!t || t->kind == TY_ERROR) {
    PUT("<error>");
  } else if (t->kind == TY_STRING) {
    PUT("string");
  } else if (t->kind == TY_TUPLE) {
    PUT("(");
    for (int i = 0; i < t->nelems; i++) {
      char sub[256];
      type_text(sub, sizeof sub, t->elems[i]);
      PUT("%s%s", i ? ", " : "", sub);
    }
    PUT(")");
  } else {
    PUT("%s", dtype_name(t->dt));
    if (t->rank) {
      PUT("[");
      for (int i = 0; i < t->rank; i++) {
        char d[64];
        dim_text(d, sizeof d, t->dims[i]);
        PUT("%s%s", i ? "," : "", d);
      }
      PUT("]");
    }
  }
#undef PUT
}

const char *type_str(Arena *a, const Type *t) {
  char buf[1024];
  type_text(buf, sizeof buf, t);
  return arena_strndup(a, buf, strlen(buf));
}

static const char *T(Sema *s, const Type *t) { return type_str(s->a, t); }

static const char *D(Sema *s, Dim d) {
  char buf[64];
  dim_text(buf, sizeof buf, d);
  return arena_strndup(s->a, buf, strlen(buf));
}

/* ---- "did you mean" ------------------------------------------------------- */

/* Edits to turn a into b, a swap of neighbours counting as one (optimal
 * string alignment), so `axsi` is close to `axis`. */
static int edit_distance(const char *a, const char *b) {
  int la = (int)strlen(a), lb = (int)strlen(b);
  if (la > 40 || lb > 40) return 99;
  int d[41][41];
  for (int i = 0; i <= la; i++) d[i][0] = i;
  for (int j = 0; j <= lb; j++) d[0][j] = j;
  for (int i = 1; i <= la; i++)
    for (int j = 1; j <= lb; j++) {
      int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[la][lb];
}

typedef struct Suggest {
  const char *want;
  const char *best;
  int dist;
  int budget;    /* candidates still worth examining */
} Suggest;

/* A search for names close to `want`; none once the error limit is hit. */
static Suggest suggest_start(const Diags *d, const char *want) {
  Suggest g = {want, NULL, 99, diag_saturated(d) ? 0 : 20000};
  return g;
}

static void suggest_consider(Suggest *g, const char *cand) {
  if (!cand || g->budget <= 0 || strcmp(cand, g->want) == 0) return;
  g->budget--;
  size_t len = strlen(g->want), clen = strlen(cand);
  if (clen + 2 < len || len + 2 < clen) return; /* too different in length to be a typo */
  int limit = len <= 1 ? 0 : len <= 4 ? 1 : 2; /* one-letter names are all "close" */
  int d = edit_distance(g->want, cand);
  if (d <= limit && d < g->dist) {
    g->dist = d;
    g->best = cand;
  }
}

static const char *did_you_mean(Sema *s, const char *best) {
  return best ? arena_printf(s->a, "; did you mean `%s`?", best) : "";
}

/* Parameter names of other libraries, too far from ours to be typos:
 * PyTorch's `dim`, NumPy's `axes`, TensorFlow's `keep_dims`. */
static const char *other_library_name(const char *name, const char *const *names, int n) {
  static const char *const alias[][2] = {{"dim", "axis"}, {"dims", "axis"}, {"axes", "axis"}, {"keep_dims", "keepdims"}};
  for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
    for (int j = 0; strcmp(name, alias[i][0]) == 0 && j < n; j++)
      if (strcmp(names[j], alias[i][1]) == 0) return names[j];
  return NULL;
}

/* ---- scopes and globals ---------------------------------------------------- */

static unsigned hash_name(const char *p) {
  unsigned h = 2166136261u;
  for (; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
  return h;
}

static Item *global_lookup(Sema *s, const char *name) {
  GlobalTable *g = &s->globals;
  if (!g->cap) return NULL;
  for (unsigned i = hash_name(name) & (unsigned)(g->cap - 1);; i = (i + 1) & (unsigned)(g->cap - 1)) {
    Item *it = g->slots[i];
    if (!it) return NULL;
    if (strcmp(it->name, name) == 0) return it;
  }
}

/* Code in a module sees only module items: the user's names never change
 * the meaning of library code. */
static Item *global_find(Sema *s, const char *name) {
  Item *it = global_lookup(s, name);
  if (it && s->fn && s->fn->from_stdlib && !it->from_stdlib) return NULL;
  return it;
}

static void global_insert(Sema *s, Item *it) {
  GlobalTable *g = &s->globals;
  if ((g->len + 1) * 2 > g->cap) {
    GlobalTable old = *g;
    g->cap = old.cap ? old.cap * 2 : 64;
    g->slots = arena_alloc(s->a, sizeof(Item *) * (size_t)g->cap);
    g->len = 0;
    for (int i = 0; i < old.cap; i++)
      if (old.slots[i]) global_insert(s, old.slots[i]);
  }
  unsigned i = hash_name(it->name) & (unsigned)(g->cap - 1);
  while (g->slots[i]) i = (i + 1) & (unsigned)(g->cap - 1);
  g->slots[i] = it;
  g->len++;
}

static int local_slot(Sema *s, const char *name, bool insert) {
  LocalTable *t = &s->locals;
  if (insert && (t->len + 1) * 2 > t->cap) {
    LocalTable old = *t;
    t->cap = old.cap ? old.cap * 2 : 64;
    t->slots = arena_alloc(s->a, sizeof(*t->slots) * (size_t)t->cap);
    t->len = 0;
    for (int i = 0; i < old.cap; i++)
      if (old.slots[i].name) {
        int k = local_slot(s, old.slots[i].name, true);
        t->slots[k].b = old.slots[i].b;
      }
  }
  if (!t->cap) return -1;
  for (unsigned i = hash_name(name) & (unsigned)(t->cap - 1);; i = (i + 1) & (unsigned)(t->cap - 1)) {
    if (!t->slots[i].name) {
      if (!insert) return -1;
      t->slots[i].name = name;
      t->len++;
      return (int)i;
    }
    if (strcmp(t->slots[i].name, name) == 0) return (int)i;
  }
}

static Binding *scope_find(Sema *s, const char *name) {
  int k = local_slot(s, name, false);
  return k < 0 ? NULL : s->locals.slots[k].b;
}

static const char *sym_find(Sema *s, const char *name) {
  for (int i = 0; i < s->nsyms; i++)
    if (strcmp(s->syms[i], name) == 0) return s->syms[i];
  return NULL;
}

static const char *item_kind_word(const Item *it) {
  static const char *w[] = {"module", "const", "param", "function", "loss", "train block"};
  return w[it->kind];
}

static Binding *declare(Sema *s, const char *name, Span at, Type *t, BindKind k) {
  Binding *prev = scope_find(s, name);
  if (prev && prev->depth == s->depth && strcmp(name, "_") != 0) {
    diag_error(s->d, at, "`%s` is already defined in this block", name);
    diag_note(s->d, prev->span, "previous definition of `%s` is here", name);
    prev->used = true; /* the error says enough about it */
  }
  Item *g = global_find(s, name);
  if (g && (g->kind == IT_PARAM || g->kind == IT_CONST) && k != B_ARG) {
    diag_warning(s->d, at, "`%s` shadows the %s of the same name", name, item_kind_word(g));
    diag_note(s->d, g->name_span, "the %s `%s` is declared here", item_kind_word(g), name);
  }
  Binding *b = ARENA_NEW(s->a, Binding);
  b->name = name;
  b->span = at;
  b->type = t;
  b->kind = k;
  b->depth = s->depth;
  b->next = s->scope;
  b->prev_same = prev;
  s->scope = b;
  int slot = local_slot(s, name, true); /* may grow the table: index after */
  s->locals.slots[slot].b = b;
  return b;
}

/* Leaving a block: warn about lets never read, then drop its bindings. */
static void pop_scope(Sema *s, Binding *saved) {
  for (Binding *b = s->scope; b != saved; b = b->next) {
    if (!b->used && b->name[0] != '_' && (b->kind == B_LET || b->kind == B_VAR) && !is_err(b->type))
      diag_warning(s->d, b->span, "`%s` is never used", b->name);
    int slot = local_slot(s, b->name, false);
    s->locals.slots[slot].b = b->prev_same;
  }
  s->scope = saved;
}

/* ---- errors with types ---------------------------------------------------- */

static Type *fail(Sema *s) { return s->error; }

/* dtype of a binary operation, with weak literals adapting. */
static bool unify_dtypes(Sema *s, Expr *at, const char *what, Type *a, Type *b, DType *out, bool *weak) {
  *weak = a->weak && b->weak;
  if (a->weak && !b->weak) {
    Type *t = a; a = b; b = t;
  }
  /* now a is strong, or both are weak */
  if (a->dt == DT_BOOL || b->dt == DT_BOOL) {
    diag_error(s->d, at->span, "%s needs numbers, but an operand has type %s", what,
               T(s, a->dt == DT_BOOL ? a : b));
    diag_hint(s->d, "use select(cond, a, b) to choose by a condition, or f32(cond) for 0/1 values");
    return false;
  }
  if (a->weak && b->weak) {
    *out = (dt_float(a->dt) || dt_float(b->dt)) ? DT_F32 : DT_I32;
    return true;
  }
  if (b->weak) {
    if (a->dt == DT_I32 && dt_float(b->dt)) {
      diag_error(s->d, at->span, "%s mixes i32 with a float constant", what);
      diag_hint(s->d, "convert the integer side with f32(...)");
      return false;
    }
    *out = a->dt;
    return true;
  }
  if (a->dt != b->dt) {
    diag_error(s->d, at->span, "mismatched types %s and %s in %s", T(s, at->lhs ? at->lhs->type : a),
               T(s, at->rhs ? at->rhs->type : b), what);
    DType to = a->dt == DT_I32 ? b->dt : a->dt;
    if (to == DT_REAL) diag_hint(s->d, "`real` follows the caller's float type; convert the other side to match");
    else diag_hint(s->d, "convert one side explicitly, e.g. %s(...)", dtype_name(to));
    return false;
  }
  *out = a->dt;
  return true;
}

/* NumPy broadcasting: align on the right; equal dims, or one of them is 1. */
static bool broadcast(const Type *a, const Type *b, Dim *out, int *rank, int *bad_a, int *bad_b) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  for (int i = 0; i < r; i++) {
    int ia = a->rank - r + i, ib = b->rank - r + i;
    Dim da = ia >= 0 ? a->dims[ia] : dim_const(1);
    Dim db = ib >= 0 ? b->dims[ib] : dim_const(1);
    if (dim_equal(da, db) || is_one(db)) out[i] = da;
    else if (is_one(da)) out[i] = db;
    else {
      *bad_a = ia;
      *bad_b = ib;
      return false;
    }
  }
  *rank = r;
  return true;
}

/* The expression a name was let-bound to, so hints can see through it. */
static Expr *through_lets(Expr *e) {
  while (e && e->kind == EX_NAME && e->ref == REF_LOCAL && e->local && e->local->value) e = e->local->value;
  return e;
}

/* A reduction over one axis that drops it: sum, mean, max, min or
 * logsumexp with an axis and without keepdims = true. Sets *axis (>= 0). */
static bool drops_axis(Expr *e, int *axis) {
  if (!e || e->kind != EX_CALL || e->ref != REF_BUILTIN || !e->bound) return false;
  int id = e->builtin;
  if (id != BI_SUM && id != BI_MEAN && id != BI_MAX && id != BI_MIN && id != BI_LOGSUMEXP) return false;
  Expr *x = e->bound[0], *ax = e->bound[1], *keep = e->bound[2];
  if (!x || !ax || !is_tensor(x->type) || !ax->type || !ax->type->is_const) return false;
  if (keep && !(keep->kind == EX_BOOL && !keep->boolean)) return false;
  *axis = (int)ax->type->value + (ax->type->value < 0 ? x->type->rank : 0);
  return *axis >= 0 && *axis < x->type->rank;
}

/* After a failed broadcast of `side` (reduced) with `other`: had the
 * reduction kept its axis, would it broadcast into `other`'s shape (as a
 * mean is subtracted from what it averages)? Then say so. */
static bool keepdims_hint(Sema *s, Expr *side, const Type *other) {
  Expr *r = through_lets(side);
  int axis;
  if (!drops_axis(r, &axis)) return false;
  Type kept = *r->bound[0]->type;
  kept.dims[axis] = dim_const(1);
  Dim dims[MAX_RANK];
  int rank, ba, bb;
  if (!broadcast(&kept, other, dims, &rank, &ba, &bb) || rank != other->rank) return false;
  for (int i = 0; i < rank; i++)
    if (!dim_equal(dims[i], other->dims[i])) return false;
  const char *via = r == side ? "" : arena_printf(s->a, " that defines `%s`", side->name);
  diag_hint(s->d, "add `keepdims = true` to the `%s` over axis %d%s: its result would be %s, which broadcasts with %s",
            builtin_info(r->builtin)->name, axis, via, T(s, &kept), T(s, other));
  return true;
}

static Type *broadcast_or_fail(Sema *s, Expr *at, const char *what, Type *a, Type *b, DType dt) {
  Dim dims[MAX_RANK];
  int rank, ba, bb;
  if (!broadcast(a, b, dims, &rank, &ba, &bb)) {
    diag_error(s->d, at->span, "cannot broadcast %s with %s in %s: dimensions %s and %s differ", T(s, a),
               T(s, b), what, D(s, a->dims[ba]), D(s, b->dims[bb]));
    if (at->kind == EX_BINARY && !keepdims_hint(s, at->lhs, b)) keepdims_hint(s, at->rhs, a);
    return fail(s);
  }
  return ty_tensor(s, dt, rank, dims);
}

/* ---- expressions ------------------------------------------------------------ */

static Type *check_expr(Sema *s, Expr *e);
static void check_fn(Sema *s, Item *fn);
static void check_const(Sema *s, Item *it);
static void check_param(Sema *s, Item *it);
static Type *check_block(Sema *s, Block *b, bool is_body);

static Type *check_name(Sema *s, Expr *e) {
  Binding *b = scope_find(s, e->name);
  if (b) {
    b->used = true;
    e->ref = REF_LOCAL;
    e->local = b;
    return b->type;
  }
  Item *it = global_find(s, e->name);
  if (it && (it->kind == IT_CONST || (it->kind == IT_PARAM && !s->sig_mode))) {
    e->ref = it->kind == IT_CONST ? REF_CONST : REF_PARAM;
    e->item = it;
    /* globals may be used before their definition: check them on demand */
    if (it->kind == IT_CONST) check_const(s, it);
    else if (!it->ty && !it->checking) check_param(s, it);
    return it->ty ? it->ty : fail(s);
  }
  const char *sym = sym_find(s, e->name);
  if (sym) {
    e->ref = REF_DIM;
    Type *t = ty_scalar(s, DT_I32);
    t->is_dim = t->weak = true;
    t->dim.sym = sym;
    return t;
  }
  if (s->shape_of_param) {
    diag_error(s->d, e->span, "the shape of param `%s` must be constant, but `%s` is not a const", s->shape_of_param,
               e->name);
    diag_hint(s->d, "declare `const %s = ...`, or write the size as a number; only inputs have symbolic sizes",
              e->name);
    return fail(s);
  }
  if (s->in_result_type) {
    diag_error(s->d, e->span, "dimension `%s` of the result type does not appear in the parameters", e->name);
    diag_hint(s->d, "a symbolic size is introduced by a parameter's type, e.g. x: f32[%s]", e->name);
    return fail(s);
  }
  if (s->sig_mode && it && it->kind == IT_PARAM) {
    diag_error(s->d, e->span, "param `%s` cannot be used as a dimension", e->name);
    diag_hint(s->d, "a dimension is a number, a const, or a new name such as `n`");
    return fail(s);
  }
  if (s->sig_mode) { /* a new symbolic dimension of this signature */
    ARENA_PUSH(s->a, s->syms, s->nsyms, s->capsyms, e->name);
    e->ref = REF_DIM;
    Type *t = ty_scalar(s, DT_I32);
    t->is_dim = true;
    t->dim.sym = e->name;
    return t;
  }
  if (it && (it->kind == IT_FN || it->kind == IT_LOSS)) {
    diag_error(s->d, e->span, "`%s` is a function; call it as %s(...)", e->name, e->name);
    return fail(s);
  }
  if (builtin_lookup(e->name) >= 0) {
    diag_error(s->d, e->span, "`%s` is a builtin function; call it as %s(...)", e->name, e->name);
    return fail(s);
  }
  Suggest g = suggest_start(s->d, e->name);
  for (Binding *x = s->scope; x && g.budget > 0; x = x->next) suggest_consider(&g, x->name);
  for (int i = 0; i < s->nsyms; i++) suggest_consider(&g, s->syms[i]);
  for (int i = 0; i < s->globals.cap && g.budget > 0; i++)
    if (s->globals.slots[i] && (s->globals.slots[i]->kind == IT_CONST || s->globals.slots[i]->kind == IT_PARAM))
      suggest_consider(&g, s->globals.slots[i]->name);
  diag_error(s->d, e->span, "unknown name `%s`%s", e->name, did_you_mean(s, g.best));
  return fail(s);
}

static double fold(BinOp op, double a, double b, bool ints) {
  switch (op) {
  case OP_ADD: return a + b;
  case OP_SUB: return a - b;
  case OP_MUL: return a * b;
  case OP_DIV: return ints ? (b != 0 ? trunc(a / b) : NAN) : a / b;
  case OP_POW: return pow(a, b);
  case OP_LT: return a < b;
  case OP_LE: return a <= b;
  case OP_GT: return a > b;
  case OP_GE: return a >= b;
  case OP_EQ: return a == b;
  case OP_NE: return a != b;
  default: return NAN;
  }
}

static void mark_int_dim(Type *t) {
  if (t->is_const && t->dt == DT_I32 && t->value >= 0 && t->value <= 2147483647.0 &&
      t->value == floor(t->value)) {
    t->is_dim = true;
    t->dim = dim_const((int64_t)t->value);
  }
}

/* a @ b with NumPy's rules: vectors are promoted and the extra axis dropped;
 * leading (batch) axes broadcast. */
static Type *check_matmul(Sema *s, Expr *e, Type *a, Type *b, DType dt) {
  if (a->rank == 0 || b->rank == 0) {
    diag_error(s->d, e->span, "cannot multiply %s by %s with `@`: both operands need at least one axis",
               T(s, a), T(s, b));
    diag_hint(s->d, "use `*` to scale by a scalar");
    return fail(s);
  }
  Dim ka = a->dims[a->rank - 1];
  Dim kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
  if (!dim_equal(ka, kb)) {
    diag_error(s->d, e->span, "cannot multiply %s by %s: inner dimensions %s and %s differ", T(s, a), T(s, b),
               D(s, ka), D(s, kb));
    return fail(s);
  }
  Type ba = *a, bb = *b; /* batch parts */
  ba.rank = a->rank >= 2 ? a->rank - 2 : 0;
  bb.rank = b->rank >= 2 ? b->rank - 2 : 0;
  Dim dims[MAX_RANK];
  int rank, xa, xb;
  if (!broadcast(&ba, &bb, dims, &rank, &xa, &xb)) {
    diag_error(s->d, e->span, "cannot multiply %s by %s: batch dimensions %s and %s differ", T(s, a), T(s, b),
               D(s, a->dims[xa]), D(s, b->dims[xb]));
    return fail(s);
  }
  if (a->rank >= 2) dims[rank++] = a->dims[a->rank - 2];
  if (b->rank >= 2) dims[rank++] = b->dims[b->rank - 1];
  if (rank > MAX_RANK) rank = MAX_RANK;
  return ty_tensor(s, dt, rank, dims);
}

static Type *check_binary(Sema *s, Expr *e) {
  Type *a = check_expr(s, e->lhs), *b = check_expr(s, e->rhs);
  if (is_err(a) || is_err(b)) return fail(s);
  const char *what = arena_printf(s->a, "`%s`", binop_text(e->op));
  if (!is_tensor(a) || !is_tensor(b)) {
    diag_error(s->d, e->span, "%s needs tensor operands, not %s and %s", what, T(s, a), T(s, b));
    return fail(s);
  }
  DType dt;
  bool weak;
  if ((e->op == OP_EQ || e->op == OP_NE) && a->dt == DT_BOOL && b->dt == DT_BOOL) {
    dt = DT_BOOL; /* comparing two conditions */
    weak = false;
  } else if (!unify_dtypes(s, e, what, a, b, &dt, &weak)) {
    return fail(s);
  }
  Type *t;
  if (e->op == OP_MATMUL) {
    if (!dt_float(dt)) {
      diag_error(s->d, e->span, "`@` needs float operands, not %s and %s", T(s, a), T(s, b));
      return fail(s);
    }
    return check_matmul(s, e, a, b, dt);
  }
  t = broadcast_or_fail(s, e, what, a, b, binop_is_comparison(e->op) ? DT_BOOL : dt);
  if (is_err(t)) return t;
  t->weak = weak;
  if (e->op == OP_POW && dt == DT_I32 && b->is_const && b->value < 0) {
    diag_error(s->d, e->rhs->span, "an integer power needs a non-negative exponent, not %g", b->value);
    diag_hint(s->d, "for a fraction, make the base a float: 2.0 ^ -1");
    return fail(s);
  }
  if (a->is_const && b->is_const) {
    t->is_const = true;
    t->value = fold(e->op, a->value, b->value, dt == DT_I32);
    if (binop_is_comparison(e->op)) t->dt = DT_BOOL;
    if (e->op == OP_DIV && dt == DT_I32 && b->value == 0) {
      diag_error(s->d, e->span, "integer division by zero");
      return fail(s);
    }
    if (dt == DT_I32 && !binop_is_comparison(e->op) && !(t->value >= -2147483648.0 && t->value <= 2147483647.0)) {
      diag_error(s->d, e->span, "integer overflow: the value of this constant does not fit in i32");
      return fail(s);
    }
    mark_int_dim(t);
  } else if (a->is_dim && b->is_dim && (e->op == OP_ADD || e->op == OP_SUB || e->op == OP_MUL)) {
    /* n * 1, n + 0 and similar keep the symbol; other symbolic arithmetic is not a dimension */
    if (b->is_const && ((e->op == OP_MUL && b->value == 1) || (e->op != OP_MUL && b->value == 0))) t->is_dim = true, t->dim = a->dim;
    else if (a->is_const && e->op == OP_MUL && a->value == 1) t->is_dim = true, t->dim = b->dim;
  }
  return t;
}

static Type *check_unary(Sema *s, Expr *e) {
  Type *a = check_expr(s, e->lhs);
  if (is_err(a)) return a;
  if (!is_tensor(a) || !dt_numeric(a->dt)) {
    diag_error(s->d, e->span, "cannot negate a value of type %s", T(s, a));
    return fail(s);
  }
  Type *t = ty_alloc(s);
  *t = *a;
  t->is_dim = false;
  if (t->is_const) {
    t->value = -t->value;
    mark_int_dim(t);
  }
  return t;
}

/* Constant integer of an expression already checked; false if it is not one. */
static bool const_int(const Type *t, int64_t *out) {
  if (!t || !is_tensor(t) || !t->is_const || t->dt != DT_I32 || t->rank != 0) return false;
  if (!(t->value >= -2147483648.0 && t->value <= 2147483647.0)) return false; /* folding keeps i32 in range */
  *out = (int64_t)t->value;
  return true;
}

/* An expression used as a dimension: a positive integer constant or a
 * symbolic dimension name. */
static bool eval_dim(Sema *s, Expr *e, Dim *out) {
  Type *t = check_expr(s, e);
  if (is_err(t)) return false;
  if (is_tensor(t) && t->is_dim && (t->dim.sym || t->dim.size > 0)) {
    *out = t->dim;
    return true;
  }
  if (is_tensor(t) && t->is_const && t->dt == DT_I32)
    diag_error(s->d, e->span, "dimension must be positive, but this is %.0f", t->value);
  else
    diag_error(s->d, e->span, "a dimension must be an integer constant or a dimension name, not a value of type %s",
               T(s, t));
  return false;
}

static Type *check_index(Sema *s, Expr *e) {
  Type *b = check_expr(s, e->base);
  bool ok = !is_err(b);
  if (ok && !is_tensor(b)) {
    diag_error(s->d, e->base->span, "cannot index a value of type %s", T(s, b));
    ok = false;
  }
  if (ok && e->nidx > b->rank) {
    diag_error(s->d, e->span, "too many indices: %s has %d ax%s, but %d indices are given", T(s, b), b->rank,
               b->rank == 1 ? "is" : "es", e->nidx);
    ok = false;
  }
  Dim dims[MAX_RANK];
  int rank = 0;
  for (int i = 0; i < e->nidx; i++) {
    IndexArg *ix = &e->idx[i];
    Type *lo = ix->lo ? check_expr(s, ix->lo) : NULL;
    Type *hi = ix->hi ? check_expr(s, ix->hi) : NULL;
    if (!ok || (lo && is_err(lo)) || (hi && is_err(hi))) {
      ok = false;
      continue;
    }
    Dim d = b->dims[i];
    if (!ix->is_slice) {
      if (!is_tensor(lo) || lo->rank != 0 || lo->dt != DT_I32) {
        diag_error(s->d, ix->lo->span, "an index must be an i32 scalar, not %s", T(s, lo));
        ok = false;
        continue;
      }
      int64_t k;
      if (const_int(lo, &k) && !d.sym && (k >= d.size || k < -d.size)) {
        diag_error(s->d, ix->lo->span, "index %lld is out of range for axis %d of %s", (long long)k, i, T(s, b));
        ok = false;
      }
      continue; /* the axis is dropped */
    }
    /* a slice lo:hi keeps the axis with length hi - lo */
    int64_t l = 0, h = d.size;
    bool lo_ok = !lo || const_int(lo, &l), hi_ok = !hi || const_int(hi, &h);
    if (hi && !hi_ok && hi->is_dim && dim_equal(hi->dim, d)) hi_ok = true, h = d.size;
    if (!lo_ok || !hi_ok) {
      diag_error(s->d, ix->span, "slice bounds must be integer constants");
      ok = false;
      continue;
    }
    if (d.sym) {
      if (l != 0 || (hi && !(hi->is_dim && dim_equal(hi->dim, d)))) {
        diag_error(s->d, ix->span, "cannot slice axis %d of %s: its length %s is not a constant", i, T(s, b), d.sym);
        diag_hint(s->d, "only the whole axis (`:`) of a symbolic dimension can be sliced");
        ok = false;
      }
      dims[rank++] = d;
      continue;
    }
    if (l < 0) l += d.size;
    if (h < 0) h += d.size;
    if (l < 0 || h > d.size || l >= h) {
      diag_error(s->d, ix->span, "slice %lld:%lld is empty or out of range for axis %d of %s", (long long)l,
                 (long long)h, i, T(s, b));
      ok = false;
      continue;
    }
    dims[rank++] = dim_const(h - l);
  }
  if (!ok) return fail(s);
  for (int i = e->nidx; i < b->rank; i++) dims[rank++] = b->dims[i];
  return ty_tensor(s, b->dt, rank, dims);
}

static Type *check_tuple(Sema *s, Expr *e) {
  Type *t = ty_alloc(s);
  t->kind = TY_TUPLE;
  t->nelems = e->nelems;
  t->elems = arena_alloc(s->a, sizeof(Type *) * (size_t)e->nelems);
  bool ok = true;
  for (int i = 0; i < e->nelems; i++) {
    t->elems[i] = check_expr(s, e->elems[i]);
    ok &= !is_err(t->elems[i]);
  }
  return ok ? t : fail(s);
}

/* ---- calls ------------------------------------------------------------------ */

/* Losses that take logits and apply their activation themselves:
 * cross_entropy(softmax(z), y) applies softmax twice, and still trains,
 * only worse, so it is easy to miss. */
static void warn_activation_twice(Sema *s, Expr *arg, const char *loss, int activation) {
  Expr *r = through_lets(arg);
  if (!r || r->kind != EX_CALL || r->ref != REF_BUILTIN || r->builtin != activation) return;
  const char *act = builtin_info(activation)->name;
  diag_warning(s->d, arg->span, "`%s` applies %s to its first argument itself, so %s is applied twice", loss, act, act);
  diag_hint(s->d, "pass the scores before %s (the logits): %s(z, ...), not %s(%s(z), ...)", act, loss, loss, act);
}

/* Bind call arguments to parameter names: positional first, then named.
 * `bound` gets one slot per parameter (NULL when omitted); a variadic last
 * parameter collects the rest into `rest`. */
typedef struct Bound {
  Expr *arg[MAX_CALL_PARAMS];
  Expr **rest;
  int nrest, caprest;
} Bound;

static bool bind_args(Sema *s, Expr *call, const char *callee, const char *const *names, const bool *optional,
                      int nparams, bool variadic, Bound *out) {
  memset(out, 0, sizeof *out);
  bool ok = true, seen_named = false;
  int pos = 0;
  for (int i = 0; i < call->nargs; i++) {
    Arg *a = &call->args[i];
    if (!a->name) {
      if (seen_named) {
        diag_error(s->d, a->value->span, "positional argument after a named argument in call to `%s`", callee);
        ok = false;
        continue;
      }
      if (variadic && pos >= nparams - 1) {
        ARENA_PUSH(s->a, out->rest, out->nrest, out->caprest, a->value);
        continue;
      }
      if (pos >= nparams) {
        diag_error(s->d, a->value->span, "too many arguments to `%s`: it takes %s%d", callee,
                   nparams && optional[nparams - 1] ? "at most " : "", nparams);
        ok = false;
        break;
      }
      out->arg[pos++] = a->value;
      continue;
    }
    seen_named = true;
    int k = -1;
    for (int j = 0; j < nparams; j++)
      if (strcmp(names[j], a->name) == 0 && !(variadic && j == nparams - 1)) k = j;
    if (k < 0) {
      Suggest g = suggest_start(s->d, a->name);
      for (int j = 0; j < nparams; j++) suggest_consider(&g, names[j]);
      if (!g.best) g.best = other_library_name(a->name, names, nparams);
      diag_error(s->d, a->name_span, "`%s` has no parameter named `%s`%s", callee, a->name, did_you_mean(s, g.best));
      ok = false;
      continue;
    }
    if (out->arg[k]) {
      diag_error(s->d, a->name_span, "argument `%s` is given twice in call to `%s`", a->name, callee);
      ok = false;
      continue;
    }
    out->arg[k] = a->value;
  }
  for (int j = 0; j < nparams && ok; j++) {
    if (variadic && j == nparams - 1) {
      if (out->nrest == 0 && !optional[j]) {
        diag_error(s->d, call->span, "`%s` needs at least one `%s` argument", callee, names[j]);
        ok = false;
      }
    } else if (!out->arg[j] && !optional[j]) {
      diag_error(s->d, call->span, "missing argument `%s` in call to `%s`", names[j], callee);
      ok = false;
    }
  }
  return ok;
}

/* Unification of a callee's signature with argument types. */
enum { MAX_SYMS = 32 };

typedef struct Subst {
  const char *sym[MAX_SYMS];
  Dim dim[MAX_SYMS];
  Span from[MAX_SYMS];
  int n;
  DType real;
  bool real_bound;
  Span real_from;
} Subst;

static Dim subst_dim(const Subst *u, Dim d) {
  if (!d.sym) return d;
  for (int i = 0; i < u->n; i++)
    if (strcmp(u->sym[i], d.sym) == 0) return u->dim[i];
  return d;
}

static Type *subst_type(Sema *s, const Subst *u, const Type *t) {
  if (is_err(t)) return fail(s);
  Type *r = ty_alloc(s);
  *r = *t;
  if (t->kind == TY_TUPLE) {
    r->elems = arena_alloc(s->a, sizeof(Type *) * (size_t)t->nelems);
    for (int i = 0; i < t->nelems; i++) r->elems[i] = subst_type(s, u, t->elems[i]);
    return r;
  }
  if (r->dt == DT_REAL && u->real_bound) r->dt = u->real;
  for (int i = 0; i < r->rank; i++) r->dims[i] = subst_dim(u, r->dims[i]);
  r->is_const = r->is_dim = false;
  return r;
}

static bool unify_arg(Sema *s, Subst *u, const char *callee, const Param *p, const Type *want, Expr *arg,
                      const Type *got) {
  if (is_err(got)) return false;
  if (!is_tensor(got)) {
    diag_error(s->d, arg->span, "argument `%s` of `%s` must be %s, not %s", p->name, callee, T(s, want), T(s, got));
    return false;
  }
  bool ok = true;
  DType dt = want->dt;
  if (dt == DT_REAL) {
    if (got->weak && dt_numeric(got->dt)) dt = u->real_bound ? u->real : DT_F32; /* a literal: any real */
    else if (!dt_float(got->dt)) ok = false;
    else if (u->real_bound && u->real != got->dt) {
      Type w = *want;
      w.dt = u->real;
      for (int i = 0; i < w.rank; i++) /* symbols not bound yet take the argument's size */
        w.dims[i] = w.dims[i].sym && subst_dim(u, w.dims[i]).sym == w.dims[i].sym && i < got->rank
                        ? got->dims[i] : subst_dim(u, w.dims[i]);
      diag_error(s->d, arg->span, "argument `%s` of `%s` must be %s, not %s", p->name, callee, T(s, &w), T(s, got));
      diag_note(s->d, u->real_from, "`real` is %s because of this argument", dtype_name(u->real));
      return false;
    } else {
      u->real = got->dt, u->real_bound = true, dt = got->dt;
      u->real_from = arg->span;
    }
  } else if (got->weak) {
    ok = dt_numeric(dt) && got->rank == 0 && (dt_float(dt) || got->dt == DT_I32);
  } else {
    ok = dt == got->dt;
  }
  if (ok && got->rank != want->rank) ok = false;
  for (int i = 0; ok && i < want->rank; i++) {
    Dim w = want->dims[i], g = got->dims[i];
    if (!w.sym) {
      ok = dim_equal(w, g);
      continue;
    }
    int k = 0;
    while (k < u->n && strcmp(u->sym[k], w.sym) != 0) k++;
    if (k == u->n) {
      if (u->n == MAX_SYMS) {
        diag_error(s->d, arg->span, "`%s` has more than %d symbolic dimensions, which calls do not support", callee,
                   MAX_SYMS);
        return false;
      }
      u->sym[u->n] = w.sym;
      u->dim[u->n] = g;
      u->from[u->n] = arg->span;
      u->n++;
      continue;
    }
    if (!dim_equal(u->dim[k], g)) {
      diag_error(s->d, arg->span,
                 "in call to `%s`: dimension %s of argument `%s` is %s here, but %s from an earlier argument",
                 callee, w.sym, p->name, D(s, g), D(s, u->dim[k]));
      diag_note(s->d, u->from[k], "%s = %s comes from this argument", w.sym, D(s, u->dim[k]));
      return false;
    }
  }
  if (!ok) {
    diag_error(s->d, arg->span, "argument `%s` of `%s` must be %s, not %s", p->name, callee, T(s, want), T(s, got));
    return false;
  }
  return true;
}

static Type *check_user_call(Sema *s, Expr *e, Item *fn) {
  e->ref = REF_FN;
  e->item = fn;
  if (fn->checking) {
    if (s->fn && s->fn != fn)
      diag_error(s->d, e->span, "`%s` calls itself through `%s`: functions are inlined, so recursion is not allowed",
                 fn->name, s->fn->name);
    else
      diag_error(s->d, e->span, "`%s` calls itself: functions are inlined, so recursion is not allowed", fn->name);
    diag_hint(s->d, "write the repetition as a `for` loop");
    for (int i = 0; i < e->nargs; i++) check_expr(s, e->args[i].value);
    return fail(s);
  }
  check_fn(s, fn);
  const char *names[MAX_CALL_PARAMS];
  bool optional[MAX_CALL_PARAMS] = {0};
  if (fn->nparams > MAX_CALL_PARAMS) {
    diag_error(s->d, e->span, "`%s` has more than %d parameters, which calls do not support yet", fn->name,
               MAX_CALL_PARAMS);
    return fail(s);
  }
  for (int i = 0; i < fn->nparams; i++) names[i] = fn->params[i].name;
  Bound bd;
  Type *arg_types[MAX_CALL_PARAMS] = {0};
  bool ok = true;
  for (int i = 0; i < e->nargs; i++) ok &= !is_err(check_expr(s, e->args[i].value));
  if (!bind_args(s, e, fn->name, names, optional, fn->nparams, false, &bd) || !ok) return fail(s);
  if (!fn->param_types) return fail(s);
  Subst u = {.n = 0};
  e->bound = arena_alloc(s->a, sizeof(Expr *) * (size_t)(fn->nparams + 1));
  for (int i = 0; i < fn->nparams; i++) {
    e->bound[i] = bd.arg[i];
    arg_types[i] = bd.arg[i]->type;
    if (is_err(fn->param_types[i])) ok = false;
    else if (ok) ok = unify_arg(s, &u, fn->name, &fn->params[i], fn->param_types[i], bd.arg[i], arg_types[i]);
  }
  if (!ok || is_err(fn->ty)) return fail(s);
  if (fn->from_stdlib && strcmp(fn->name, "soft_cross_entropy") == 0) warn_activation_twice(s, e->bound[0], fn->name, BI_SOFTMAX);
  if (fn->from_stdlib && strcmp(fn->name, "bce") == 0) warn_activation_twice(s, e->bound[0], fn->name, BI_SIGMOID);
  if (!u.real_bound) { /* only literals met `real`: they are the model's float */
    u.real = s->opt.model_float;
    u.real_bound = true;
  }
  return subst_type(s, &u, fn->ty);
}

static Type *check_cast(Sema *s, Expr *e) {
  e->ref = REF_CAST;
  if (e->nargs != 1 || e->args[0].name) {
    for (int i = 0; i < e->nargs; i++) check_expr(s, e->args[i].value);
    diag_error(s->d, e->span, "a conversion `%s(...)` takes exactly one positional argument", dtype_name(e->cast));
    return fail(s);
  }
  Type *a = check_expr(s, e->args[0].value);
  if (is_err(a)) return a;
  if (!is_tensor(a) || e->cast == DT_REAL) {
    diag_error(s->d, e->span, "cannot convert %s to %s", T(s, a), dtype_name(e->cast));
    return fail(s);
  }
  DType to = e->cast == DT_F32 ? s->opt.model_float : e->cast; /* --dtype f64 rebuilds f32 as f64 */
  Type *t = ty_with_dtype(s, a, to);
  if (a->is_const) {
    t->is_const = true;
    t->value = e->cast == DT_I32 ? trunc(a->value) : e->cast == DT_BOOL ? (a->value != 0) : a->value;
    mark_int_dim(t);
  }
  return t;
}

/* The builtin rules. Each gets the bound arguments (already checked). */
typedef struct BCall {
  Sema *s;
  Expr *e;
  const BuiltinInfo *info;
  int id;
  Expr **arg;       /* per parameter, NULL when omitted */
  Expr **rest;      /* variadic arguments */
  int nrest;
} BCall;

static Type *argt(BCall *c, int i) { return c->arg[i] ? c->arg[i]->type : NULL; }

static bool need_tensor(BCall *c, int i, bool want_float) {
  Sema *s = c->s;
  Type *t = argt(c, i);
  const char *pname = c->info->params[i].name;
  if (want_float && is_tensor(t) && t->weak && t->dt == DT_I32) { /* exp(1): the literal is a float */
    Type *f = ty_alloc(s);
    *f = *t;
    f->dt = DT_F32;
    f->is_dim = false;
    c->arg[i]->type = f;
    return true;
  }
  if (!is_tensor(t) || (want_float ? !dt_float(t->dt) : !dt_numeric(t->dt))) {
    diag_error(s->d, c->arg[i]->span, "`%s` needs a %s tensor for `%s`, not %s", c->info->name,
               want_float ? "float" : "numeric", pname, T(s, t));
    if (is_tensor(t) && t->dt == DT_I32) diag_hint(s->d, "convert it with f32(...)");
    return false;
  }
  return true;
}

/* A constant integer argument such as an axis or a kernel size. */
static bool int_arg(BCall *c, int i, int64_t *out, int64_t dflt) {
  if (!c->arg[i]) {
    *out = dflt;
    return true;
  }
  if (const_int(argt(c, i), out)) return true;
  diag_error(c->s->d, c->arg[i]->span, "`%s` of `%s` must be an integer constant", c->info->params[i].name,
             c->info->name);
  return false;
}

/* An integer or a pair (h, w) of integers: conv/pool strides, pads, kernels. */
static bool pair_arg(BCall *c, int i, int64_t out[2], int64_t dflt) {
  Expr *a = c->arg[i];
  if (a && a->kind == EX_TUPLE && a->nelems == 2 && const_int(a->elems[0]->type, &out[0]) &&
      const_int(a->elems[1]->type, &out[1]))
    return true;
  if (a && a->kind == EX_TUPLE) {
    diag_error(c->s->d, a->span, "`%s` of `%s` must be an integer or a pair of integers (h, w)",
               c->info->params[i].name, c->info->name);
    return false;
  }
  if (!int_arg(c, i, &out[0], dflt)) return false;
  out[1] = out[0];
  return true;
}

static bool axis_arg(BCall *c, int i, int rank, int64_t dflt, int *axis) {
  int64_t k;
  if (!int_arg(c, i, &k, dflt)) return false;
  if (k < -rank || k >= rank) {
    diag_error(c->s->d, c->arg[i] ? c->arg[i]->span : c->e->span, "axis %lld is out of range for %s (rank %d)",
               (long long)k, T(c->s, argt(c, 0)), rank);
    return false;
  }
  *axis = (int)(k < 0 ? k + rank : k);
  return true;
}

static bool bool_arg(BCall *c, int i, bool *out) {
  if (!c->arg[i]) {
    *out = false;
    return true;
  }
  Type *t = argt(c, i);
  if (is_tensor(t) && t->dt == DT_BOOL && t->is_const) {
    *out = t->value != 0;
    return true;
  }
  diag_error(c->s->d, c->arg[i]->span, "`%s` of `%s` must be `true` or `false`", c->info->params[i].name,
             c->info->name);
  return false;
}

static Type *same(BCall *c, int i) {
  Type *t = ty_alloc(c->s);
  *t = *argt(c, i);
  t->is_const = t->is_dim = false;
  return t;
}

/* The common dtype of arguments i and j, reported at the call as the
 * operator form would be. */
static bool unify_args(BCall *c, int i, int j, const char *what, DType *dt, bool *weak) {
  Expr at = *c->e;
  at.lhs = c->arg[i];
  at.rhs = c->arg[j];
  return unify_dtypes(c->s, &at, what, argt(c, i), argt(c, j), dt, weak);
}

static Type *rule_unary_float(BCall *c) { return need_tensor(c, 0, true) ? same(c, 0) : fail(c->s); }
static Type *rule_unary_numeric(BCall *c) { return need_tensor(c, 0, false) ? same(c, 0) : fail(c->s); }

static Type *rule_binary_numeric(BCall *c) {
  if (!need_tensor(c, 0, false) || !need_tensor(c, 1, false)) return fail(c->s);
  DType dt;
  bool weak;
  const char *what = arena_printf(c->s->a, "`%s`", c->info->name);
  if (!unify_args(c, 0, 1, what, &dt, &weak)) return fail(c->s);
  Type *t = broadcast_or_fail(c->s, c->e, what, argt(c, 0), argt(c, 1), dt);
  if (!is_err(t)) t->weak = weak; /* maximum(1, 2) still adapts like a literal */
  return t;
}

static Type *rule_select(BCall *c) {
  Sema *s = c->s;
  Type *cond = argt(c, 0);
  if (!is_tensor(cond) || cond->dt != DT_BOOL) {
    diag_error(s->d, c->arg[0]->span, "the condition of `select` must be bool, not %s", T(s, cond));
    diag_hint(s->d, "write a comparison, e.g. select(x > 0, x, 0)");
    return fail(s);
  }
  if (!need_tensor(c, 1, false) || !need_tensor(c, 2, false)) return fail(s);
  DType dt;
  bool weak;
  if (!unify_args(c, 1, 2, "`select`", &dt, &weak)) return fail(s);
  Type *ab = broadcast_or_fail(s, c->e, "`select`", argt(c, 1), argt(c, 2), dt);
  if (is_err(ab)) return ab;
  Type *t = broadcast_or_fail(s, c->e, "`select`", cond, ab, dt);
  if (!is_err(t)) t->weak = weak; /* a choice between literals adapts like one */
  return t;
}

static Type *rule_clip(BCall *c) {
  if (!need_tensor(c, 0, false) || !need_tensor(c, 1, false) || !need_tensor(c, 2, false)) return fail(c->s);
  for (int i = 1; i <= 2; i++) {
    if (argt(c, i)->rank != 0) {
      diag_error(c->s->d, c->arg[i]->span, "the bounds of `clip` must be scalars, not %s", T(c->s, argt(c, i)));
      return fail(c->s);
    }
    DType dt;
    bool weak;
    if (!unify_args(c, 0, i, "`clip`", &dt, &weak)) return fail(c->s);
  }
  return same(c, 0);
}

static Type *reduce_common(BCall *c, bool want_float) {
  Sema *s = c->s;
  if (!need_tensor(c, 0, want_float)) return fail(s);
  Type *x = argt(c, 0);
  bool keep;
  if (!bool_arg(c, 2, &keep)) return fail(s);
  if (!c->arg[1]) {
    if (!keep) return ty_scalar(s, x->dt);
    Dim ones[MAX_RANK];
    for (int i = 0; i < x->rank; i++) ones[i] = dim_const(1);
    return ty_tensor(s, x->dt, x->rank, ones);
  }
  if (x->rank == 0) {
    diag_error(s->d, c->arg[1]->span, "`%s` of a scalar has no axis to reduce", c->info->name);
    return fail(s);
  }
  int axis;
  if (!axis_arg(c, 1, x->rank, 0, &axis)) return fail(s);
  Type *t = same(c, 0);
  if (keep) {
    t->dims[axis] = dim_const(1);
  } else {
    for (int i = axis; i + 1 < t->rank; i++) t->dims[i] = t->dims[i + 1];
    t->rank--;
  }
  return t;
}

static Type *rule_reduce(BCall *c) { return reduce_common(c, false); }
static Type *rule_reduce_float(BCall *c) { return reduce_common(c, true); }

static Type *rule_argreduce(BCall *c) {
  if (!need_tensor(c, 0, false)) return fail(c->s);
  Type *x = argt(c, 0);
  int axis;
  if (x->rank == 0) {
    diag_error(c->s->d, c->e->span, "`%s` needs at least one axis, not %s", c->info->name, T(c->s, x));
    return fail(c->s);
  }
  if (!axis_arg(c, 1, x->rank, -1, &axis)) return fail(c->s);
  Type *t = ty_with_dtype(c->s, x, DT_I32);
  for (int i = axis; i + 1 < t->rank; i++) t->dims[i] = t->dims[i + 1];
  t->rank--;
  return t;
}

static Type *rule_softmax(BCall *c) {
  if (!need_tensor(c, 0, true)) return fail(c->s);
  Type *x = argt(c, 0);
  int axis;
  if (x->rank == 0) {
    diag_error(c->s->d, c->e->span, "`%s` needs at least one axis, not %s", c->info->name, T(c->s, x));
    return fail(c->s);
  }
  return axis_arg(c, 1, x->rank, -1, &axis) ? same(c, 0) : fail(c->s);
}

static Type *rule_transpose(BCall *c) {
  if (!need_tensor(c, 0, false)) return fail(c->s);
  Type *t = same(c, 0);
  if (t->rank < 2) {
    diag_error(c->s->d, c->e->span, "`transpose` needs at least two axes, not %s", T(c->s, t));
    return fail(c->s);
  }
  Dim d = t->dims[t->rank - 1];
  t->dims[t->rank - 1] = t->dims[t->rank - 2];
  t->dims[t->rank - 2] = d;
  return t;
}

/* Number of elements as a constant times a product of symbols, so that
 * reshape can compare [n, 8, 8] with [n, 64]. */
typedef struct Volume {
  int64_t coef;
  const char *syms[MAX_RANK];
  int nsyms;
} Volume;

/* coef saturates at -1 when the element count overflows: never equal */
static Volume volume(const Dim *dims, int rank) {
  Volume v = {1, {0}, 0};
  for (int i = 0; i < rank; i++) {
    if (dims[i].sym) v.syms[v.nsyms++] = dims[i].sym;
    else if (v.coef >= 0 && __builtin_mul_overflow(v.coef, dims[i].size, &v.coef)) v.coef = -1;
  }
  return v;
}

static bool volume_equal(Volume a, Volume b) {
  if (a.coef != b.coef || a.nsyms != b.nsyms) return false;
  bool used[MAX_RANK] = {0};
  for (int i = 0; i < a.nsyms; i++) {
    int j = 0;
    while (j < b.nsyms && (used[j] || strcmp(a.syms[i], b.syms[j]) != 0)) j++;
    if (j == b.nsyms) return false;
    used[j] = true;
  }
  return true;
}

static bool dims_from_args(BCall *c, Dim *dims, int *rank) {
  if (c->nrest > MAX_RANK) {
    diag_error(c->s->d, c->e->span, "`%s` supports at most %d dimensions", c->info->name, MAX_RANK);
    return false;
  }
  bool ok = true;
  for (int i = 0; i < c->nrest; i++) {
    Type *t = c->rest[i]->type;
    if (is_err(t)) return false;
    if (is_tensor(t) && t->is_dim && (t->dim.sym || t->dim.size > 0)) {
      dims[i] = t->dim;
    } else {
      diag_error(c->s->d, c->rest[i]->span,
                 "a dimension of `%s` must be a positive integer constant or a dimension name, not %s",
                 c->info->name,
                 is_tensor(t) && t->is_const && t->dt == DT_I32 ? arena_printf(c->s->a, "%g", t->value)
                 : is_tensor(t) && t->is_const ? arena_printf(c->s->a, "the %s constant %g", dtype_name(t->dt), t->value)
                                               : T(c->s, t));
      ok = false;
    }
  }
  *rank = c->nrest;
  return ok;
}

static Type *rule_reshape(BCall *c) {
  Sema *s = c->s;
  if (!need_tensor(c, 0, false)) return fail(s);
  Dim dims[MAX_RANK];
  int rank;
  if (!dims_from_args(c, dims, &rank)) return fail(s);
  Type *x = argt(c, 0);
  Type *t = ty_tensor(s, x->dt, rank, dims);
  t->weak = x->weak;
  if (!volume_equal(volume(x->dims, x->rank), volume(dims, rank))) {
    diag_error(s->d, c->e->span, "cannot reshape %s to %s: the number of elements differs", T(s, x), T(s, t));
    return fail(s);
  }
  return t;
}

static Type *rule_flatten(BCall *c) {
  Sema *s = c->s;
  if (!need_tensor(c, 0, false)) return fail(s);
  Type *x = argt(c, 0);
  if (x->rank < 2) return same(c, 0);
  int64_t n = 1;
  for (int i = 1; i < x->rank; i++) {
    if (x->dims[i].sym) {
      diag_error(s->d, c->e->span, "cannot flatten %s: axis %d has symbolic length %s", T(s, x), i, x->dims[i].sym);
      return fail(s);
    }
    if (__builtin_mul_overflow(n, x->dims[i].size, &n) || n > 2147483647) {
      diag_error(s->d, c->e->span, "cannot flatten %s: the flattened axis would be longer than 2^31 - 1", T(s, x));
      return fail(s);
    }
  }
  Dim dims[2] = {x->dims[0], dim_const(n)};
  Type *t = ty_tensor(s, x->dt, 2, dims);
  t->weak = x->weak;
  return t;
}

static Type *rule_broadcast_to(BCall *c) {
  Sema *s = c->s;
  if (!need_tensor(c, 0, false)) return fail(s);
  Dim dims[MAX_RANK], out[MAX_RANK];
  int rank, r, ba, bb;
  if (!dims_from_args(c, dims, &rank)) return fail(s);
  Type *x = argt(c, 0);
  DType dt = x->weak && dt_float(x->dt) ? s->opt.model_float : x->dt; /* a literal takes the model's type */
  Type *t = ty_tensor(s, dt, rank, dims);
  if (!broadcast(x, t, out, &r, &ba, &bb) || r != rank || !type_equal(ty_tensor(s, dt, r, out), t)) {
    diag_error(s->d, c->e->span, "cannot broadcast %s to %s", T(s, x), T(s, t));
    return fail(s);
  }
  t->weak = x->weak; /* a broadcast literal or size still adapts its dtype */
  return t;
}

static Type *rule_sum_to(BCall *c) {
  Sema *s = c->s;
  if (!need_tensor(c, 0, false)) return fail(s);
  Dim dims[MAX_RANK], out[MAX_RANK];
  int rank, r, ba, bb;
  if (!dims_from_args(c, dims, &rank)) return fail(s);
  Type *x = argt(c, 0), *t = ty_tensor(s, x->dt, rank, dims);
  if (!broadcast(t, x, out, &r, &ba, &bb) || r != x->rank || !type_equal(ty_tensor(s, x->dt, r, out), x)) {
    diag_error(s->d, c->e->span, "cannot sum %s to %s: %s does not broadcast to %s", T(s, x), T(s, t), T(s, t),
               T(s, x));
    return fail(s);
  }
  t->weak = x->weak;
  return t;
}

static Type *rule_fill(BCall *c) {
  Dim dims[MAX_RANK];
  int rank;
  if (!dims_from_args(c, dims, &rank)) return fail(c->s);
  return ty_tensor(c->s, c->s->opt.model_float, rank, dims);
}

static Type *rule_full(BCall *c) {
  Type *v = argt(c, 0);
  if (!is_tensor(v) || v->rank != 0 || !dt_numeric(v->dt)) {
    diag_error(c->s->d, c->arg[0]->span, "the value of `full` must be a numeric scalar, not %s", T(c->s, v));
    return fail(c->s);
  }
  Dim dims[MAX_RANK];
  int rank;
  if (!dims_from_args(c, dims, &rank)) return fail(c->s);
  return ty_tensor(c->s, v->weak ? c->s->opt.model_float : v->dt, rank, dims);
}

static Type *rule_like(BCall *c) { return need_tensor(c, 0, false) ? same(c, 0) : fail(c->s); }

static Type *rule_eye(BCall *c) {
  Type *t = argt(c, 0);
  if (!is_tensor(t) || !t->is_dim || (!t->dim.sym && t->dim.size <= 0)) {
    diag_error(c->s->d, c->arg[0]->span, "the size of `eye` must be a positive integer constant or a dimension name");
    return fail(c->s);
  }
  Dim dims[2] = {t->dim, t->dim};
  return ty_tensor(c->s, c->s->opt.model_float, 2, dims);
}

/* out = floor((in + 2 pad - k) / stride) + 1, as PyTorch. A symbolic input
 * size passes through only where the window preserves it (stride 1 and
 * "same" padding), since the arithmetic cannot be written on a symbol. */
static bool window_out(BCall *c, const Dim in[2], const int64_t k[2], const int64_t st[2], const int64_t pad[2],
                       Dim out[2]) {
  for (int i = 0; i < 2; i++) {
    if (k[i] <= 0 || st[i] <= 0 || pad[i] < 0 || pad[i] > 65536 || k[i] > 65536) {
      diag_error(c->s->d, c->e->span,
                 "`%s` needs positive kernel sizes and strides and non-negative padding (at most 65536)", c->info->name);
      return false;
    }
    if (in[i].sym) {
      if (st[i] == 1 && 2 * pad[i] == k[i] - 1) {
        out[i] = in[i];
        continue;
      }
      diag_error(c->s->d, c->arg[0]->span,
                 "`%s` needs constant spatial sizes here, but the input has symbolic size %s", c->info->name,
                 in[i].sym);
      diag_hint(c->s->d, "a symbolic size is kept only by stride 1 with \"same\" padding (pad = (k - 1) / 2)");
      return false;
    }
    int64_t span = in[i].size + 2 * pad[i] - k[i];
    if (span < 0) {
      if (pad[0] || pad[1])
        diag_error(c->s->d, c->e->span, "the %lldx%lld window of `%s` is larger than the padded input %lldx%lld",
                   (long long)k[0], (long long)k[1], c->info->name, (long long)(in[0].size + 2 * pad[0]),
                   (long long)(in[1].size + 2 * pad[1]));
      else
        diag_error(c->s->d, c->e->span, "the %lldx%lld window of `%s` is larger than the input %sx%s",
                   (long long)k[0], (long long)k[1], c->info->name, D(c->s, in[0]), D(c->s, in[1]));
      return false;
    }
    out[i] = dim_const(span / st[i] + 1);
  }
  return true;
}

static Type *rule_conv2d(BCall *c) {
  Sema *s = c->s;
  if (!need_tensor(c, 0, true) || !need_tensor(c, 1, true)) return fail(s);
  Type *x = argt(c, 0), *w = argt(c, 1);
  if (x->rank != 4) {
    diag_error(s->d, c->arg[0]->span, "`conv2d` input must be [batch, channels, height, width], not %s", T(s, x));
    return fail(s);
  }
  if (w->rank != 4) {
    diag_error(s->d, c->arg[1]->span, "`conv2d` weights must be [out_channels, in_channels, kh, kw], not %s",
               T(s, w));
    return fail(s);
  }
  if (x->dt != w->dt) {
    diag_error(s->d, c->e->span, "mismatched types %s and %s in `conv2d`", T(s, x), T(s, w));
    return fail(s);
  }
  if (!dim_equal(x->dims[1], w->dims[1])) {
    diag_error(s->d, c->e->span, "`conv2d` input %s has %s channel%s but the weights %s expect %s", T(s, x),
               D(s, x->dims[1]), is_one(x->dims[1]) ? "" : "s", T(s, w), D(s, w->dims[1]));
    return fail(s);
  }
  int64_t k[2], st[2], pad[2];
  Dim in[2] = {x->dims[2], x->dims[3]}, out[2];
  if (!pair_arg(c, 2, st, 1) || !pair_arg(c, 3, pad, 0)) return fail(s);
  if (w->dims[2].sym || w->dims[3].sym) {
    diag_error(s->d, c->arg[1]->span, "`conv2d` needs a constant kernel size, not %s", T(s, w));
    return fail(s);
  }
  k[0] = w->dims[2].size;
  k[1] = w->dims[3].size;
  if (!window_out(c, in, k, st, pad, out)) return fail(s);
  Dim dims[4] = {x->dims[0], w->dims[0], out[0], out[1]};
  return ty_tensor(s, x->dt, 4, dims);
}

static Type *rule_pool2d(BCall *c) {
  Sema *s = c->s;
  if (!need_tensor(c, 0, true)) return fail(s);
  Type *x = argt(c, 0);
  if (x->rank != 4) {
    diag_error(s->d, c->arg[0]->span, "`%s` input must be [batch, channels, height, width], not %s", c->info->name,
               T(s, x));
    return fail(s);
  }
  int64_t k[2], st[2], pad[2];
  Dim in[2] = {x->dims[2], x->dims[3]}, out[2];
  if (!pair_arg(c, 1, k, 1)) return fail(s);
  if (!pair_arg(c, 2, st, k[0]) || !pair_arg(c, 3, pad, 0)) return fail(s);
  if (!c->arg[2]) st[1] = k[1];
  if (pad[0] > k[0] || pad[1] > k[1] || pad[0] * 2 > k[0] || pad[1] * 2 > k[1]) {
    diag_error(s->d, c->arg[3]->span, "padding of `%s` must be at most half the window", c->info->name);
    return fail(s);
  }
  if (!window_out(c, in, k, st, pad, out)) return fail(s);
  Dim dims[4] = {x->dims[0], x->dims[1], out[0], out[1]};
  return ty_tensor(s, x->dt, 4, dims);
}

static bool fits(const Type *want, const Type *got);

/* The backward builtins check that the adjoint g has the shape the forward
 * operation gives for x and w, and return the type of x (or w). */
static Type *rule_conv2d_backward(BCall *c) {
  Sema *s = c->s;
  bool for_input = c->id == BI_CONV2D_BACKWARD_INPUT;
  for (int i = 0; i < 3; i++)
    if (!need_tensor(c, i, true)) return fail(s);
  Expr *x = for_input ? c->arg[2] : c->arg[0], *w = for_input ? c->arg[1] : c->arg[2], *g = c->arg[for_input ? 0 : 1];
  Expr *bound[8] = {x, w, c->arg[3], c->arg[4]}; /* checked as the forward call */
  BCall f = {s, c->e, builtin_info(BI_CONV2D), BI_CONV2D, bound, NULL, 0};
  Type *out = rule_conv2d(&f);
  if (is_err(out)) return out;
  if (!fits(out, g->type)) {
    diag_error(s->d, g->span, "`%s` needs an adjoint of the convolution's shape %s, not %s", c->info->name, T(s, out),
               T(s, g->type));
    return fail(s);
  }
  return same(c, 2); /* x, or w */
}

static Type *rule_pool2d_backward(BCall *c) {
  Sema *s = c->s;
  bool max = c->id == BI_MAXPOOL2D_BACKWARD;
  if (!need_tensor(c, 0, true) || !need_tensor(c, 1, true)) return fail(s);
  Expr *x = c->arg[max ? 0 : 1], *g = c->arg[max ? 1 : 0];
  Expr *bound[8] = {x, c->arg[2], c->arg[3], c->arg[4]};
  BCall f = {s, c->e, builtin_info(max ? BI_MAXPOOL2D : BI_AVGPOOL2D), max ? BI_MAXPOOL2D : BI_AVGPOOL2D, bound, NULL, 0};
  Type *out = rule_pool2d(&f);
  if (is_err(out)) return out;
  if (!fits(out, g->type)) {
    diag_error(s->d, g->span, "`%s` needs an adjoint of the pooling's shape %s, not %s", c->info->name, T(s, out),
               T(s, g->type));
    return fail(s);
  }
  return same(c, max ? 0 : 1);
}

/* maxpool2d_gather(x, t, ...): t shaped like x; the result like maxpool2d(x, ...) */
static Type *rule_pool2d_gather(BCall *c) {
  Sema *s = c->s;
  if (!need_tensor(c, 0, true) || !need_tensor(c, 1, true)) return fail(s);
  Expr *bound[8] = {c->arg[0], c->arg[2], c->arg[3], c->arg[4]};
  BCall f = {s, c->e, builtin_info(BI_MAXPOOL2D), BI_MAXPOOL2D, bound, NULL, 0};
  Type *out = rule_pool2d(&f);
  if (is_err(out)) return out;
  if (!fits(c->arg[0]->type, c->arg[1]->type)) {
    diag_error(s->d, c->arg[1]->span, "`%s` needs values of the input's shape %s, not %s", c->info->name,
               T(s, c->arg[0]->type), T(s, c->arg[1]->type));
    return fail(s);
  }
  return out;
}

static Type *rule_onehot(BCall *c) {
  Sema *s = c->s;
  Type *y = argt(c, 0), *k = argt(c, 1);
  if (!is_tensor(y) || y->dt != DT_I32) {
    diag_error(s->d, c->arg[0]->span, "the labels of `onehot` must be i32, not %s", T(s, y));
    return fail(s);
  }
  if (!is_tensor(k) || !k->is_dim || (!k->dim.sym && k->dim.size <= 0)) {
    diag_error(s->d, c->arg[1]->span, "the class count of `onehot` must be a positive integer constant");
    return fail(s);
  }
  if (y->rank >= MAX_RANK) return fail(s);
  Type *t = ty_with_dtype(s, y, s->opt.model_float);
  t->dims[t->rank++] = k->dim;
  return t;
}

/* Labels y (i32) shaped like x without its last axis: one per row. */
static bool one_label_per_row(Sema *s, const Type *x, const Type *y) {
  Type lead = *x;
  lead.rank = x->rank - 1;
  lead.dt = DT_I32;
  return x->rank >= 1 && type_equal(&lead, ty_with_dtype(s, y, DT_I32));
}

static Type *rule_pick(BCall *c) {
  Sema *s = c->s;
  if (!need_tensor(c, 0, true)) return fail(s);
  Type *x = argt(c, 0), *y = argt(c, 1);
  if (!is_tensor(y) || y->dt != DT_I32) {
    diag_error(s->d, c->arg[1]->span, "the labels of `pick` must be i32, not %s", T(s, y));
    return fail(s);
  }
  if (!one_label_per_row(s, x, y)) {
    diag_error(s->d, c->e->span, "`pick` needs labels shaped like the values without their last axis: %s and %s",
               T(s, x), T(s, y));
    return fail(s);
  }
  return ty_with_dtype(s, y, x->dt);
}

static Type *rule_cross_entropy(BCall *c) {
  Sema *s = c->s;
  if (!need_tensor(c, 0, true)) return fail(s);
  Type *z = argt(c, 0), *y = argt(c, 1);
  if (!is_tensor(y) || y->dt != DT_I32) {
    diag_error(s->d, c->arg[1]->span, "the labels of `cross_entropy` must be i32, not %s", T(s, y));
    return fail(s);
  }
  if (!one_label_per_row(s, z, y)) {
    diag_error(s->d, c->e->span,
               "`cross_entropy` needs one label per row of logits: logits %s need labels shaped like them "
               "without their last axis, not %s",
               T(s, z), T(s, y));
    return fail(s);
  }
  return ty_scalar(s, z->dt);
}

static Type *rule_mse(BCall *c) {
  Sema *s = c->s;
  if (!need_tensor(c, 0, true) || !need_tensor(c, 1, true)) return fail(s);
  Type *p = argt(c, 0), *t = argt(c, 1);
  DType dt;
  bool weak;
  if (!unify_args(c, 0, 1, "`mse`", &dt, &weak)) return fail(s);
  Type pt = *p, tt = *t;
  pt.dt = tt.dt = dt;
  if (!type_equal(&pt, &tt)) {
    diag_error(s->d, c->e->span, "`mse` needs a prediction and a target of the same shape, not %s and %s", T(s, p),
               T(s, t));
    diag_hint(s->d, "reshape one side; broadcasting here would silently compare every pair");
    return fail(s);
  }
  return ty_scalar(s, dt);
}

static Type *rule_norms(BCall *c) {
  Sema *s = c->s;
  DType dt = DT_F32;
  bool have = false;
  for (int i = 0; i < c->nrest; i++) {
    Type *t = c->rest[i]->type;
    if (is_err(t)) return fail(s);
    if (!is_tensor(t) || !dt_float(t->dt)) {
      diag_error(s->d, c->rest[i]->span, "`%s` needs float tensors, not %s", c->info->name, T(s, t));
      return fail(s);
    }
    if (have && t->dt != dt) {
      diag_error(s->d, c->rest[i]->span, "`%s` arguments have different types: %s and %s", c->info->name,
                 dtype_name(dt), dtype_name(t->dt));
      return fail(s);
    }
    dt = t->dt;
    have = true;
  }
  return ty_scalar(s, dt);
}

typedef Type *(*Rule)(BCall *);
static const Rule rules[BI_COUNT] = {
#define BUILTIN(id, name, params, rule, doc) rule_##rule,
#include "builtins.def"
#undef BUILTIN
};

static Type *check_builtin_call(Sema *s, Expr *e, int id) {
  const BuiltinInfo *info = builtin_info(id);
  e->ref = REF_BUILTIN;
  e->builtin = id;
  bool ok = true;
  for (int i = 0; i < e->nargs; i++) ok &= !is_err(check_expr(s, e->args[i].value));
  const char *names[8];
  bool optional[8];
  for (int i = 0; i < info->nparams; i++) {
    names[i] = info->params[i].name;
    optional[i] = info->params[i].optional;
  }
  bool variadic = info->nparams && info->params[info->nparams - 1].variadic;
  Bound bd;
  if (!bind_args(s, e, info->name, names, optional, info->nparams, variadic, &bd) || !ok) return fail(s);
  if ((id == BI_MAX || id == BI_MIN) && e->nargs >= 2 && !e->args[1].name) {
    diag_warning(s->d, e->span, "`%s(x, k)` reduces over axis k; it is not the elementwise %s", info->name,
                 id == BI_MAX ? "maximum" : "minimum");
    diag_hint(s->d, "write %s(x, axis = k) for the reduction, or %s(x, y) for the elementwise one", info->name,
              id == BI_MAX ? "maximum" : "minimum");
  }
  for (int i = 0; i < bd.nrest; i++)
    if (is_err(bd.rest[i]->type)) return fail(s);
  e->bound = arena_alloc(s->a, sizeof(Expr *) * 8);
  memcpy(e->bound, bd.arg, sizeof(Expr *) * 8);
  BCall c = {s, e, info, id, e->bound, bd.rest, bd.nrest};
  Type *t = rules[id](&c);
  if (id == BI_CROSS_ENTROPY && !is_err(t)) warn_activation_twice(s, e->bound[0], info->name, BI_SOFTMAX);
  /* made only of weak values (literals), a float result stays weak too:
   * sum(select(c, 1.0, 0.0)) adapts to f32 or f64 like the literals */
  bool all_weak = true, any = false;
  for (int i = 0; i < 8; i++)
    if (c.arg[i] && is_tensor(c.arg[i]->type) && dt_numeric(c.arg[i]->type->dt))
      any = true, all_weak &= c.arg[i]->type->weak;
  for (int i = 0; i < c.nrest; i++)
    if (is_tensor(c.rest[i]->type) && dt_numeric(c.rest[i]->type->dt)) any = true, all_weak &= c.rest[i]->type->weak;
  if (!is_err(t) && is_tensor(t) && any && all_weak && dt_float(t->dt) && id != BI_ZEROS && id != BI_ONES &&
      id != BI_EYE && id != BI_ONEHOT) {
    if (t->is_const || t->is_dim) { /* keep the shared constant types intact */
      Type *w = ty_alloc(s);
      *w = *t;
      t = w;
    }
    t->weak = true;
  }
  return t;
}

/* ---- grad, hvp, hessian ---------------------------------------------------------
 * They take a function and the arguments to call it with, and differentiate
 * the call with respect to its first argument x: grad(f, x, ...) is shaped
 * like x, hvp(f, x, ..., v) too (v shaped like x), hessian(f, x, ...) is
 * [d, d] for x of shape [d] (a scalar for a scalar x). f must return one
 * float scalar. The call itself is checked as any call, and kept in
 * e->inner for lowering. */

static const char *const deriv_names[] = {"grad", "hvp", "hessian"};

static int deriv_lookup(const char *name) {
  for (int k = 0; k < 3; k++)
    if (strcmp(name, deriv_names[k]) == 0) return k;
  return -1;
}

static Type *check_derivative(Sema *s, Expr *e, DerivKind k) {
  const char *name = deriv_names[k];
  e->ref = REF_DERIV;
  e->deriv = k;
  int want = k == DERIV_HVP ? 3 : 2; /* f, x, (v) */
  Expr *fe = e->nargs ? e->args[0].value : NULL;
  if (e->nargs < want || e->args[0].name || fe->kind != EX_NAME || (k == DERIV_HVP && e->args[e->nargs - 1].name)) {
    for (int i = 0; i < e->nargs; i++)
      if (i || !fe || fe->kind != EX_NAME) check_expr(s, e->args[i].value);
    diag_error(s->d, e->span, "`%s` takes a function and the arguments to call it with: %s", name,
               k == DERIV_HVP ? "hvp(f, x, ..., v), v last and positional" : k == DERIV_GRAD ? "grad(f, x, ...)"
                                                                            : "hessian(f, x, ...)");
    return fail(s);
  }
  Item *fn = global_find(s, fe->name);
  if (!fn || fn->kind != IT_FN || scope_find(s, fe->name)) {
    for (int i = 1; i < e->nargs; i++) check_expr(s, e->args[i].value);
    const char *what = scope_find(s, fe->name) || fn ? "is a value"
                       : builtin_lookup(fe->name) >= 0 || deriv_lookup(fe->name) >= 0 ? "is a builtin: wrap it in a fn"
                                                                                         : "is not defined";
    diag_error(s->d, fe->span, "the first argument of `%s` must name a function (fn), and `%s` %s", name, fe->name, what);
    return fail(s);
  }
  Expr *call = ARENA_NEW(s->a, Expr);
  *call = *e;
  call->ref = REF_NONE;
  call->name = fe->name;
  call->name_span = fe->span;
  call->args = e->args + 1;
  call->nargs = e->nargs - 1 - (k == DERIV_HVP);
  e->inner = call;
  Type *rt = check_user_call(s, call, fn);
  Type *vt = k == DERIV_HVP ? check_expr(s, e->args[e->nargs - 1].value) : NULL;
  if (is_err(rt) || (vt && is_err(vt))) return fail(s);
  if (!is_tensor(rt) || rt->rank != 0 || !dt_float(rt->dt)) {
    diag_error(s->d, e->span, "`%s` needs a function with one float scalar result; `%s` returns %s", name, fn->name,
               T(s, rt));
    return fail(s);
  }
  const Type *xt = call->bound[0]->type;
  const char *xname = fn->params[0].name;
  if (!is_tensor(xt) || !(dt_float(xt->dt) || (xt->weak && xt->dt == DT_I32))) { /* a literal 2 is 2.0, as in a call */
    diag_error(s->d, call->bound[0]->span, "`%s` differentiates `%s` with respect to its first argument `%s`, which "
               "must be a float tensor, not %s", name, fn->name, xname, T(s, xt));
    return fail(s);
  }
  DType pdt = fn->param_types[0]->dt; /* x as f receives it */
  DType dt = pdt == DT_F32 || pdt == DT_F64 ? pdt : xt->weak ? s->opt.model_float : xt->dt;
  Type *out = ty_with_dtype(s, xt, dt);
  bool v_numeric = vt && is_tensor(vt) && (dt_float(vt->dt) || (vt->weak && vt->dt == DT_I32));
  if (vt && !(v_numeric && vt->rank == xt->rank && type_equal(ty_with_dtype(s, vt, dt), out))) {
    diag_error(s->d, e->args[e->nargs - 1].value->span, "the direction of `hvp` must have the shape of `%s`, %s, not %s",
               xname, T(s, out), T(s, vt));
    return fail(s);
  }
  if (k == DERIV_HESSIAN) {
    if (xt->rank > 1) {
      diag_error(s->d, call->bound[0]->span, "`hessian` needs a scalar or vector `%s`, not %s", xname, T(s, xt));
      diag_hint(s->d, "pass it as a vector, reshape(x, size), to a function that takes one");
      return fail(s);
    }
    if (xt->rank == 1) {
      Dim d2[2] = {xt->dims[0], xt->dims[0]};
      out = ty_tensor(s, dt, 2, d2);
    }
  }
  return out;
}

static Type *check_call(Sema *s, Expr *e) {
  if (e->is_cast) return check_cast(s, e);
  Binding *b = scope_find(s, e->name);
  Item *it = global_find(s, e->name);
  if (b || (it && (it->kind == IT_CONST || it->kind == IT_PARAM))) {
    diag_error(s->d, e->name_span, "`%s` is not a function", e->name);
    for (int i = 0; i < e->nargs; i++) check_expr(s, e->args[i].value);
    return fail(s);
  }
  if (it && it->kind == IT_FN) return check_user_call(s, e, it);
  if (it && it->kind == IT_LOSS) {
    diag_error(s->d, e->name_span, "the loss cannot be called from DML code");
    return fail(s);
  }
  int dk = deriv_lookup(e->name);
  if (dk >= 0) return check_derivative(s, e, (DerivKind)dk);
  int id = builtin_lookup(e->name);
  if (id >= 0) return check_builtin_call(s, e, id);
  for (int i = 0; i < e->nargs; i++) check_expr(s, e->args[i].value);
  Suggest g = suggest_start(s->d, e->name);
  for (int i = 0; i < BI_COUNT; i++) suggest_consider(&g, builtin_info(i)->name);
  for (int i = 0; i < s->globals.cap && g.budget > 0; i++)
    if (s->globals.slots[i] && s->globals.slots[i]->kind == IT_FN) suggest_consider(&g, s->globals.slots[i]->name);
  diag_error(s->d, e->name_span, "unknown function `%s`%s", e->name, did_you_mean(s, g.best));
  if (!g.best && (strcmp(e->name, "dense") == 0 || strcmp(e->name, "bce") == 0 || strcmp(e->name, "accuracy") == 0))
    diag_hint(s->d, "`%s` is defined in the standard library: add `use nn`", e->name);
  return fail(s);
}

static Type *check_expr(Sema *s, Expr *e) {
  Type *t;
  switch (e->kind) {
  case EX_NUM:
    t = ty_scalar(s, e->is_int ? DT_I32 : DT_F32);
    t->weak = t->is_const = true;
    t->value = e->num;
    if (e->is_int && e->num > 2147483647.0) {
      diag_error(s->d, e->span, "integer literal is too large for i32");
      t = fail(s);
    } else {
      mark_int_dim(t);
    }
    break;
  case EX_BOOL:
    t = ty_scalar(s, DT_BOOL);
    t->is_const = true;
    t->value = e->boolean;
    break;
  case EX_STR:
    t = ty_alloc(s);
    t->kind = TY_STRING;
    break;
  case EX_NAME: t = check_name(s, e); break;
  case EX_UNARY: t = check_unary(s, e); break;
  case EX_BINARY: t = check_binary(s, e); break;
  case EX_CALL: t = check_call(s, e); break;
  case EX_INDEX: t = check_index(s, e); break;
  case EX_TUPLE: t = check_tuple(s, e); break;
  default: t = fail(s); break;
  }
  if (t && t->kind == TY_STRING && s->fn) {
    diag_error(s->d, e->span, "strings are only allowed in the train block");
    t = fail(s);
  }
  e->type = t;
  return t;
}

/* ---- types written in the source ------------------------------------------- */

/* In a signature (sig_mode), an unknown name in a shape declares a new
 * symbolic dimension; elsewhere it must already exist. */
static Type *resolve_type(Sema *s, TypeExpr *te) {
  if (te->elems) {
    Type *t = ty_alloc(s);
    t->kind = TY_TUPLE;
    t->nelems = te->nelems;
    t->elems = arena_alloc(s->a, sizeof(Type *) * (size_t)te->nelems);
    bool ok = true;
    for (int i = 0; i < te->nelems; i++) ok &= !is_err(t->elems[i] = resolve_type(s, te->elems[i]));
    return ok ? t : fail(s);
  }
  if (te->ndims > MAX_RANK) {
    diag_error(s->d, te->span, "at most %d dimensions are supported, but this type has %d", MAX_RANK, te->ndims);
    return fail(s);
  }
  Dim dims[MAX_RANK];
  bool ok = true;
  for (int i = 0; i < te->ndims; i++) ok &= eval_dim(s, te->dims[i], &dims[i]);
  if (!ok) return fail(s);
  DType dt = te->dtype == DT_F32 ? s->opt.model_float : te->dtype;
  return ty_tensor(s, dt, te->ndims, dims);
}

/* ---- statements ------------------------------------------------------------- */

/* A value matches a declared type exactly; weak values (literals and what
 * is made of them alone) adapt their dtype. Tuples match elementwise. */
static bool fits(const Type *want, const Type *got) {
  if (is_err(want) || is_err(got)) return true;
  if (type_equal(want, got)) return true;
  if (want->kind == TY_TUPLE && got->kind == TY_TUPLE && want->nelems == got->nelems) {
    for (int i = 0; i < want->nelems; i++)
      if (!fits(want->elems[i], got->elems[i])) return false;
    return true;
  }
  if (got->weak && want->kind == TY_TENSOR && got->kind == TY_TENSOR) {
    Type same_dt = *got;
    same_dt.dt = want->dt;
    return type_equal(want, &same_dt) && (dt_float(want->dt) || got->dt == DT_I32);
  }
  return false;
}

static void check_let(Sema *s, Stmt *st) {
  Type *v = check_expr(s, st->value);
  Type *t = v;
  if (st->type) {
    Type *want = resolve_type(s, st->type);
    if (!fits(want, v)) {
      diag_error(s->d, st->value->span, "`%s` is declared as %s, but the value has type %s", st->name, T(s, want),
                 T(s, v));
    }
    t = want;
  } else if (!is_err(v) && (v->weak || v->is_const)) {
    /* a let of a literal keeps the literal's flexible dtype and value */
    t = v;
  }
  if (!is_err(t) && t->kind == TY_STRING) t = fail(s);
  st->binding = declare(s, st->name, st->name_span, t, st->kind == ST_LET ? B_LET : B_VAR);
  if (st->kind == ST_LET) st->binding->value = st->value;
  if (st->kind == ST_VAR && !is_err(t) && t->weak) {
    /* a var holds a value of one fixed type */
    Type *fixed = ty_alloc(s);
    *fixed = *t;
    fixed->weak = fixed->is_const = fixed->is_dim = false;
    if (fixed->dt == DT_F32) fixed->dt = s->opt.model_float;
    st->binding->type = fixed;
  }
}

static void check_assign(Sema *s, Stmt *st) {
  Expr *target = st->target;
  Expr *root = target->kind == EX_INDEX ? target->base : target;
  Type *v = check_expr(s, st->value);
  if (root->kind != EX_NAME) {
    diag_error(s->d, target->span, "cannot assign to this expression");
    diag_hint(s->d, "the left side of `=` must be a `var` or an element of one, like `ys[t]`");
    return;
  }
  Binding *b = scope_find(s, root->name);
  if (!b) {
    Item *it = global_find(s, root->name);
    if (it) {
      diag_error(s->d, root->span, "cannot assign to the %s `%s`", item_kind_word(it), root->name);
      if (it->kind == IT_PARAM) diag_hint(s->d, "params change only through the optimizer");
    } else {
      check_expr(s, root);
    }
    return;
  }
  if (b->kind != B_VAR) {
    static const char *what[] = {"declared with `let`", "", "a function parameter", "a loop variable"};
    diag_error(s->d, root->span, "cannot assign to `%s`: it is %s", root->name, what[b->kind]);
    diag_note(s->d, b->span, "`%s` is declared here", root->name);
    if (b->kind == B_LET) diag_hint(s->d, "declare it with `var` to make it assignable");
    return;
  }
  bool was_used = b->used;
  Type *t = check_expr(s, target);
  if (target->kind == EX_NAME) b->used = was_used; /* writing is not reading */
  if (is_err(t) || is_err(v)) return;
  Type *result = v;
  if (st->assign_op != OP_ASSIGN) {
    Expr tmp = {.kind = EX_BINARY, .span = st->span, .op = st->assign_op, .lhs = target, .rhs = st->value};
    result = check_binary(s, &tmp);
    if (is_err(result)) return;
  }
  if (!fits(t, result)) {
    if (target->kind == EX_INDEX)
      diag_error(s->d, st->value->span, "cannot store %s into `%s`, an element of type %s", T(s, result),
                 root->name, T(s, t));
    else
      diag_error(s->d, st->value->span, "cannot assign %s to `%s` of type %s", T(s, result), root->name, T(s, t));
    diag_note(s->d, b->span, "`%s` is declared here", root->name);
  }
}

static bool is_int_scalar(const Type *t) {
  return is_tensor(t) && t->rank == 0 && t->dt == DT_I32;
}

static void check_for(Sema *s, Stmt *st) {
  Type *lo = check_expr(s, st->lo), *hi = check_expr(s, st->hi);
  if (!is_err(lo) && !is_int_scalar(lo))
    diag_error(s->d, st->lo->span, "loop bounds must be integers, but this has type %s", T(s, lo));
  if (!is_err(hi) && !is_int_scalar(hi))
    diag_error(s->d, st->hi->span, "loop bounds must be integers, but this has type %s", T(s, hi));
  int64_t a, b;
  if (const_int(lo, &a) && const_int(hi, &b) && b <= a)
    diag_warning(s->d, span_join(st->lo->span, st->hi->span), "the loop range %lld..%lld is empty", (long long)a,
                 (long long)b);
  Binding *saved = s->scope;
  s->depth++;
  s->loop_depth++;
  Type *it = ty_scalar(s, DT_I32);
  st->binding = declare(s, st->name, st->name_span, it, B_LOOP);
  st->binding->used = true;
  check_block(s, &st->body, false);
  s->loop_depth--;
  pop_scope(s, saved);
  s->depth--;
}

/* Checks a block; for a function body (is_body) returns the value of its last
 * statement (a trailing expression or a return). */
static Type *check_block(Sema *s, Block *b, bool is_body) {
  Binding *saved = s->scope;
  if (!is_body) s->depth++;
  Type *value = NULL;
  for (int i = 0; i < b->n; i++) {
    Stmt *st = b->stmts[i];
    bool last = i == b->n - 1;
    switch (st->kind) {
    case ST_LET:
    case ST_VAR: check_let(s, st); break;
    case ST_ASSIGN: check_assign(s, st); break;
    case ST_FOR: check_for(s, st); break;
    case ST_RETURN:
    case ST_EXPR: {
      Type *t = check_expr(s, st->value);
      if (st->kind == ST_RETURN && (!is_body || s->loop_depth)) {
        diag_error(s->d, st->span, "`return` is only allowed as the last statement of a function");
      } else if (st->kind == ST_RETURN && !last) {
        diag_error(s->d, b->stmts[i + 1]->span, "unreachable statement after `return`");
      } else if (!last || !is_body) {
        if (st->kind == ST_EXPR && !is_err(t))
          diag_warning(s->d, st->value->span, "the value of this expression is unused");
      } else {
        value = t;
      }
      break;
    }
    case ST_ERROR: value = fail(s); break;
    }
  }
  if (is_body && !value) {
    Span end = b->span;
    end.lo = end.hi > end.lo ? end.hi - 1 : end.lo;
    diag_error(s->d, end, "`%s` has no result: end its body with an expression", s->fn ? s->fn->name : "?");
    Stmt *last = b->n ? b->stmts[b->n - 1] : NULL;
    if (last && (last->kind == ST_LET || last->kind == ST_VAR) && last->binding) {
      diag_hint(s->d, "to return `%s`, end the body with a line holding just `%s`", last->name, last->name);
      last->binding->used = true;
    }
    value = fail(s);
  }
  pop_scope(s, saved);
  if (!is_body) s->depth--;
  return value;
}

/* ---- items ---------------------------------------------------------------- */

static Span result_span(Item *fn) {
  if (fn->body.n) {
    Stmt *last = fn->body.stmts[fn->body.n - 1];
    if (last->value) return last->value->span;
  }
  return fn->name_span;
}

/* The data must still provide an input the loss never reads. */
static void warn_unused_inputs(Sema *s, Item *loss) {
  for (int i = 0; i < loss->nparams; i++) {
    Binding *b = loss->param_bindings[i];
    if (b->used || b->name[0] == '_' || is_err(b->type)) continue;
    diag_warning(s->d, b->span, "loss input `%s` is not used by the loss", b->name);
    diag_hint(s->d, "remove it, or start its name with `_` if it is meant to be unused");
  }
}

static void check_fn(Sema *s, Item *fn) {
  if (fn->checked || fn->checking) return;
  Sema saved = *s;
  s->fn = fn;
  s->scope = NULL;
  s->locals = (LocalTable){0};
  s->depth = 0;
  s->loop_depth = 0;
  s->syms = NULL;
  s->nsyms = s->capsyms = 0;
  fn->checking = true;
  fn->param_types = arena_alloc(s->a, sizeof(Type *) * (size_t)(fn->nparams + 1));
  fn->param_bindings = arena_alloc(s->a, sizeof(Binding *) * (size_t)(fn->nparams + 1));
  s->sig_mode = true;
  for (int i = 0; i < fn->nparams; i++) fn->param_types[i] = resolve_type(s, fn->params[i].type);
  s->sig_mode = false;
  for (int i = 0; i < fn->nparams; i++) {
    Param *p = &fn->params[i];
    if (!is_err(fn->param_types[i]) && fn->param_types[i]->kind != TY_TENSOR) {
      diag_error(s->d, p->type->span, "a parameter must be a tensor, not %s", T(s, fn->param_types[i]));
      fn->param_types[i] = fail(s);
    }
    Binding *b = declare(s, p->name, p->span, fn->param_types[i], B_ARG);
    b->used = fn->kind != IT_LOSS; /* a loss input the loss never reads is warned about below */
    fn->param_bindings[i] = b;
  }
  s->in_result_type = true;
  Type *declared = fn->ret ? resolve_type(s, fn->ret) : NULL;
  s->in_result_type = false;
  Type *value = check_block(s, &fn->body, true);
  if (fn->kind == IT_LOSS) warn_unused_inputs(s, fn);
  if (fn->kind == IT_LOSS) {
    if (!is_err(value) && (!is_tensor(value) || value->rank != 0 || !dt_float(value->dt))) {
      diag_error(s->d, result_span(fn), "the loss must be a float scalar, but its value has type %s", T(s, value));
      if (is_tensor(value) && value->rank) diag_hint(s->d, "reduce it, e.g. with mean(...) or sum(...)");
    }
  } else if (declared && !is_err(declared) && !is_err(value) && !fits(declared, value)) {
    diag_error(s->d, result_span(fn), "`%s` is declared to return %s, but its body has type %s", fn->name,
               T(s, declared), T(s, value));
  }
  fn->ty = declared ? declared : value;
  if (!is_err(fn->ty) && fn->ty->weak) { /* a literal result takes the model's float type */
    Type *t = ty_alloc(s);
    *t = *fn->ty;
    t->weak = t->is_const = t->is_dim = false;
    if (t->dt == DT_F32) t->dt = s->opt.model_float;
    fn->ty = t;
  }
  fn->dim_syms = s->syms;
  fn->ndim_syms = s->nsyms;
  fn->checking = false;
  fn->checked = true;
  Diags *d = s->d;
  Program *p = s->prog;
  GlobalTable g = s->globals;
  pop_scope(s, NULL);
  *s = saved;
  s->d = d;
  s->prog = p;
  s->globals = g;
}

static void check_const(Sema *s, Item *it) {
  if (it->checked) return;
  if (it->checking) {
    diag_error(s->d, it->name_span, "the value of const `%s` depends on itself", it->name);
    it->ty = fail(s);
    return;
  }
  it->checking = true;
  /* consts may refer to later consts: check them on demand */
  Type *v = check_expr(s, it->value);
  if (!is_err(v) && (!is_tensor(v) || !v->is_const)) {
    diag_error(s->d, it->value->span, "the value of const `%s` must be known at compile time", it->name);
    diag_hint(s->d, "a const is a number or arithmetic on numbers and other consts");
    v = fail(s);
  }
  if (!is_err(v) && it->type) {
    Type *want = resolve_type(s, it->type);
    if (!is_err(want) && (want->rank != 0 || !fits(want, v))) {
      diag_error(s->d, it->value->span, "const `%s` is declared as %s, but its value has type %s", it->name,
                 T(s, want), T(s, v));
      v = fail(s);
    } else if (!is_err(want) && want->dt == DT_REAL) {
      diag_error(s->d, it->type->span, "`real` is only allowed in function signatures");
      v = fail(s);
    } else if (!is_err(want)) {
      Type *t = ty_alloc(s);
      *t = *v;
      t->dt = want->dt;
      t->weak = false;
      t->is_dim = false;
      mark_int_dim(t); /* only an integer const is a dimension */
      v = t;
    }
  }
  it->ty = v;
  if (!is_err(v)) it->const_value = v->value;
  it->checking = false;
  it->checked = true;
}

/* Initialisers: a name or a call, with what each accepts. */
static const struct {
  const char *name;
  const char *params[3];
} initialisers[] = {
    {"zeros", {0}},         {"ones", {0}},          {"constant", {"value"}},   {"normal", {"mean", "std"}},
    {"uniform", {"lo", "hi"}}, {"glorot", {0}},     {"xavier", {0}},           {"glorot_normal", {0}},
    {"he", {0}},            {"kaiming", {0}},       {"he_uniform", {0}},
};

static void check_initialiser(Sema *s, Item *it) {
  Expr *e = it->value;
  if (!e) return;
  const char *name = e->kind == EX_NAME || (e->kind == EX_CALL && !e->is_cast) ? e->name : NULL;
  int k = -1, n = (int)(sizeof initialisers / sizeof initialisers[0]);
  for (int i = 0; name && i < n; i++)
    if (strcmp(initialisers[i].name, name) == 0) k = i;
  if (k < 0) {
    Suggest g = suggest_start(s->d, name ? name : "");
    for (int i = 0; name && i < n; i++) suggest_consider(&g, initialisers[i].name);
    diag_error(s->d, e->kind == EX_CALL ? e->name_span : e->span, "unknown initialiser%s%s%s%s",
               name ? " `" : "", name ? name : "", name ? "`" : "", did_you_mean(s, g.best));
    diag_hint(s->d, "initialisers: zeros, ones, constant(v), normal(mean, std), uniform(lo, hi), glorot, "
                    "glorot_normal, he, he_uniform");
    return;
  }
  int nparams = 0;
  while (nparams < 3 && initialisers[k].params[nparams]) nparams++;
  if (e->kind == EX_NAME) {
    if (nparams && strcmp(name, "constant") == 0) {
      diag_error(s->d, e->span, "the initialiser `constant` needs a value: constant(0.1)");
    }
    return;
  }
  Bound bd;
  bool optional[3] = {true, true, true};
  if (strcmp(name, "constant") == 0) optional[0] = false;
  for (int i = 0; i < e->nargs; i++) {
    Type *t = check_expr(s, e->args[i].value);
    if (!is_err(t) && (!is_tensor(t) || !t->is_const || !dt_numeric(t->dt)))
      diag_error(s->d, e->args[i].value->span, "initialiser arguments must be numeric constants");
  }
  bind_args(s, e, name, initialisers[k].params, optional, nparams, false, &bd);
  Type *std = bd.arg[1] ? bd.arg[1]->type : NULL;
  if (strcmp(name, "normal") == 0 && std && is_tensor(std) && std->is_const && std->value < 0)
    diag_error(s->d, bd.arg[1]->span, "the standard deviation of `normal` must not be negative");
  Type *lo = bd.arg[0] ? bd.arg[0]->type : NULL, *hi = bd.arg[1] ? bd.arg[1]->type : NULL;
  if (strcmp(name, "uniform") == 0 && lo && hi && is_tensor(lo) && is_tensor(hi) && lo->is_const &&
      hi->is_const && lo->value >= hi->value)
    diag_error(s->d, e->span, "`uniform` needs lo < hi");
}

static void check_param(Sema *s, Item *it) {
  if (it->ty || it->checking) return;
  it->checking = true;
  s->shape_of_param = it->name;
  Item *saved_fn = s->fn;
  s->fn = NULL; /* a param's shape sees every const */
  Type *t = resolve_type(s, it->type);
  s->fn = saved_fn;
  s->shape_of_param = NULL;
  it->checking = false;
  if (!is_err(t) && t->kind != TY_TENSOR) {
    diag_error(s->d, it->type->span, "a param must be a tensor, not %s", T(s, t));
    t = fail(s);
  }
  if (!is_err(t) && !dt_float(t->dt)) {
    diag_error(s->d, it->type->span, "a param must have a float type (f32 or f64), not %s", T(s, t));
    t = fail(s);
  }
  if (!is_err(t) && t->dt == DT_REAL) {
    diag_error(s->d, it->type->span, "`real` is only allowed in function signatures");
    t = fail(s);
  }
  it->ty = t;
  check_initialiser(s, it);
}

/* ---- which params the loss uses ------------------------------------------------ */

static void mark_used_block(Sema *s, Block *b);

static void mark_used_expr(Sema *s, Expr *e) {
  if (!e) return;
  if (e->ref == REF_PARAM && e->item) e->item->used_by_loss = true;
  if (e->ref == REF_FN && e->item && !e->item->used_by_loss) {
    e->item->used_by_loss = true; /* visited */
    mark_used_block(s, &e->item->body);
  }
  mark_used_expr(s, e->inner); /* grad(f, ...): f's params */
  mark_used_expr(s, e->lhs);
  mark_used_expr(s, e->rhs);
  mark_used_expr(s, e->base);
  for (int i = 0; i < e->nargs; i++) mark_used_expr(s, e->args[i].value);
  for (int i = 0; i < e->nidx; i++) {
    mark_used_expr(s, e->idx[i].lo);
    mark_used_expr(s, e->idx[i].hi);
  }
  for (int i = 0; i < e->nelems; i++) mark_used_expr(s, e->elems[i]);
}

static void mark_used_block(Sema *s, Block *b) {
  for (int i = 0; i < b->n; i++) {
    Stmt *st = b->stmts[i];
    mark_used_expr(s, st->target);
    mark_used_expr(s, st->value);
    mark_used_expr(s, st->lo);
    mark_used_expr(s, st->hi);
    if (st->kind == ST_FOR) mark_used_block(s, &st->body);
  }
}

/* One warning per param the loss does not use; one for the loss when it
 * uses none, since then nothing can be trained at all (unless the program
 * has errors: a loss cut short by one says nothing about its params). */
static void warn_unused_params(Sema *s, bool clean) {
  int nparams = 0, nused = 0;
  for (int i = 0; i < s->prog->nitems; i++) {
    Item *it = s->prog->items[i];
    if (it->kind != IT_PARAM || it->from_stdlib) continue;
    nparams++;
    nused += it->used_by_loss;
  }
  if (nused == 0) {
    if (!clean) return;
    if (nparams) diag_warning(s->d, s->loss->name_span, "the loss uses none of the params, so training changes nothing");
    else diag_warning(s->d, s->loss->name_span, "the program has no param, so the loss has nothing to train");
    diag_hint(s->d, "declare the weights with `param` and use them in the loss");
    return;
  }
  for (int i = 0; i < s->prog->nitems; i++) {
    Item *it = s->prog->items[i];
    if (it->kind == IT_PARAM && !it->used_by_loss && !it->from_stdlib)
      diag_warning(s->d, it->name_span, "param `%s` is not used by the loss, so it will not be trained", it->name);
  }
}

/* ---- the train block ------------------------------------------------------------ */

void sema_check_train(Sema *s, Item *train, Item *loss);

/* ---- driver ---------------------------------------------------------------------- */

static void collect_globals(Sema *s) {
  for (int i = 0; i < s->prog->nitems; i++) {
    Item *it = s->prog->items[i];
    if (it->kind == IT_USE) continue;
    if (it->kind == IT_LOSS || it->kind == IT_TRAIN) {
      Item **slot = it->kind == IT_LOSS ? &s->loss : &s->train;
      if (*slot) {
        diag_error(s->d, it->name_span, "a program has one `%s`, but this is a second one", it->name);
        diag_note(s->d, (*slot)->name_span, "the first `%s` is here", it->name);
        continue;
      }
      *slot = it;
      if (it->kind == IT_TRAIN) continue;
    }
    Item *prev = global_lookup(s, it->name);
    if (prev) {
      diag_error(s->d, it->name_span, "`%s` is already defined", it->name);
      diag_note(s->d, prev->name_span, "previous definition of `%s` is here", it->name);
      continue;
    }
    if (it->kind != IT_LOSS && (builtin_lookup(it->name) >= 0 || deriv_lookup(it->name) >= 0)) {
      diag_error(s->d, it->name_span, "`%s` is the name of a builtin function", it->name);
      diag_hint(s->d, "choose another name");
      continue;
    }
    global_insert(s, it);
  }
}

bool sema_check(Program *p, Arena *a, Diags *d, SemaOptions opt) {
  Sema s = {0};
  s.a = a;
  s.d = d;
  s.prog = p;
  s.opt = opt;
  s.error = ARENA_NEW(a, Type);
  s.error->kind = TY_ERROR;
  int errors_before = d->nerrors;
  collect_globals(&s);
  for (int i = 0; i < p->nitems; i++)
    if (p->items[i]->kind == IT_CONST && global_lookup(&s, p->items[i]->name) == p->items[i]) check_const(&s, p->items[i]);
  for (int i = 0; i < p->nitems; i++)
    if (p->items[i]->kind == IT_PARAM && global_lookup(&s, p->items[i]->name) == p->items[i]) check_param(&s, p->items[i]);
  int nparams = 0;
  for (int i = 0; i < p->nitems; i++)
    if (p->items[i]->kind == IT_PARAM) p->items[i]->index = nparams++;
  for (int i = 0; i < p->nitems; i++) {
    Item *it = p->items[i];
    if ((it->kind == IT_FN && global_lookup(&s, it->name) == it) || it == s.loss) check_fn(&s, it);
  }
  if (s.loss) {
    for (int i = 0; i < p->nitems; i++)
      if (p->items[i]->kind == IT_FN) p->items[i]->used_by_loss = false;
    mark_used_block(&s, &s.loss->body);
    warn_unused_params(&s, d->nerrors == errors_before);
  }
  if (s.train) sema_check_train(&s, s.train, s.loss);
  return d->nerrors == errors_before;
}

/* ---- train block ------------------------------------------------------------ */

typedef enum {
  TK_DATA,       // csv(...), npy(...), idx(...)
  TK_FRACTION,   // 0 < x < 1
  TK_POS_INT,    // integer > 0
  TK_INT,        // any integer
  TK_POS_NUM,    // number > 0
  TK_NONNEG_NUM, // number >= 0
  TK_BOOL,       // true / false
  TK_OPTIMIZER,  // sgd(...), adam(...), ...
  TK_SCHEDULE,   // constant, step(...), cosine, warmup(...)
  TK_METRIC,     // accuracy, rmse, none
} TrainKeyKind;

static const struct {
  const char *key;
  TrainKeyKind kind;
} train_keys[] = {
    {"data", TK_DATA},         {"val_data", TK_DATA},     {"split", TK_FRACTION},
    {"optimizer", TK_OPTIMIZER}, {"batch", TK_POS_INT},   {"epochs", TK_POS_INT},
    {"seed", TK_INT},          {"lr", TK_POS_NUM},        {"schedule", TK_SCHEDULE},
    {"clip", TK_POS_NUM},      {"weight_decay", TK_NONNEG_NUM}, {"l1", TK_NONNEG_NUM},
    {"standardize", TK_BOOL},  {"max_iters", TK_POS_INT}, {"tol", TK_POS_NUM},
    {"metric", TK_METRIC},
};

typedef struct NamedSpec {
  const char *name;
  const char *params[6];
} NamedSpec;

/* Argument kinds by suffix: `#` a positive integer, `~` a number >= 0,
 * `%` a number in [0, 1), none a positive number. */
static const NamedSpec optimizers[] = {
    {"sgd", {"lr"}},
    {"momentum", {"lr", "momentum%"}},
    {"nesterov", {"lr", "momentum%"}},
    {"adam", {"lr", "beta1%", "beta2%", "eps"}},
    {"adamw", {"lr", "beta1%", "beta2%", "eps", "weight_decay~"}},
    {"rmsprop", {"lr", "alpha%", "eps"}},
    {"lbfgs", {"history#", "tol", "max_iters#"}},
    {"newton", {"damping~", "tol", "max_iters#"}},
    {"newton_cg", {"tol", "cg_iters#", "max_iters#"}},
};

static const NamedSpec schedules[] = {
    {"constant", {0}},
    {"step", {"every#", "gamma"}},
    {"cosine", {"min_lr~"}},
    {"warmup", {"epochs#"}},
};

static const NamedSpec metrics[] = {{"accuracy", {0}}, {"rmse", {0}}, {"none", {0}}};

const char *sema_spec_param(Arena *a, const char *what, const char *name, int i) {
  const NamedSpec *table = strcmp(what, "optimizer") == 0 ? optimizers : schedules;
  int n = strcmp(what, "optimizer") == 0 ? (int)(sizeof optimizers / sizeof optimizers[0])
                                         : (int)(sizeof schedules / sizeof schedules[0]);
  for (int k = 0; k < n; k++) {
    if (strcmp(table[k].name, name) != 0) continue;
    for (int j = 0; j < 6 && table[k].params[j]; j++) {
      if (j != i) continue;
      const char *p = table[k].params[j];
      size_t len = strlen(p);
      return strchr("#~%", p[len - 1]) ? arena_strndup(a, p, len - 1) : p;
    }
  }
  return NULL;
}

static bool const_number(Type *t, double *v) {
  if (!is_tensor(t) || !t->is_const || t->rank != 0 || !dt_numeric(t->dt)) return false;
  *v = t->value;
  return true;
}

/* name or name(args) from a table; numeric constant arguments, each > 0 */
static void check_named_spec(Sema *s, Expr *e, const char *what, const NamedSpec *table, int n) {
  const char *name = (e->kind == EX_NAME || (e->kind == EX_CALL && !e->is_cast)) ? e->name : NULL;
  int k = -1;
  for (int i = 0; name && i < n; i++)
    if (strcmp(table[i].name, name) == 0) k = i;
  if (k < 0) {
    Suggest g = suggest_start(s->d, name ? name : "");
    for (int i = 0; name && i < n; i++) suggest_consider(&g, table[i].name);
    char list[256] = "";
    for (int i = 0; i < n; i++) {
      strcat(list, i ? ", " : "");
      strcat(list, table[i].name);
    }
    diag_error(s->d, e->kind == EX_CALL ? e->name_span : e->span, "unknown %s%s%s%s%s", what, name ? " `" : "",
               name ? name : "", name ? "`" : "", did_you_mean(s, g.best));
    diag_hint(s->d, "the %ss are: %s", what, list);
    return;
  }
  if (e->kind != EX_CALL) return;
  int np = 0;
  bool optional[6] = {true, true, true, true, true, true};
  const char *names[6];
  char kinds[6];
  while (np < 6 && table[k].params[np]) {
    const char *p = table[k].params[np];
    size_t len = strlen(p);
    kinds[np] = strchr("#~%", p[len - 1]) ? p[len - 1] : 0;
    names[np] = kinds[np] ? arena_strndup(s->a, p, len - 1) : p;
    np++;
  }
  Bound bd;
  for (int i = 0; i < e->nargs; i++) check_expr(s, e->args[i].value);
  if (!bind_args(s, e, name, names, optional, np, false, &bd)) return;
  for (int i = 0; i < np; i++) {
    double v;
    if (!bd.arg[i] || is_err(bd.arg[i]->type)) continue;
    bool num = const_number(bd.arg[i]->type, &v);
    bool ok = kinds[i] == '#'   ? num && bd.arg[i]->type->dt == DT_I32 && v > 0
              : kinds[i] == '~' ? num && v >= 0
              : kinds[i] == '%' ? num && v >= 0 && v < 1
                                : num && v > 0;
    static const char *want[] = {"a positive number", "a positive integer", "a number >= 0", "a number in [0, 1)"};
    if (!ok)
      diag_error(s->d, bd.arg[i]->span, "`%s` of `%s` must be %s", names[i], name,
                 want[kinds[i] == '#' ? 1 : kinds[i] == '~' ? 2 : kinds[i] == '%' ? 3 : 0]);
  }
}

static Param *loss_param(Item *loss, const char *name) {
  for (int i = 0; loss && i < loss->nparams; i++)
    if (strcmp(loss->params[i].name, name) == 0) return &loss->params[i];
  return NULL;
}

/* Elements per example of a loss input (all axes but the first). */
static bool per_example(const Type *t, int64_t *n) {
  *n = 1;
  for (int i = 1; i < t->rank; i++) {
    if (t->dims[i].sym || __builtin_mul_overflow(*n, t->dims[i].size, n)) return false;
  }
  return true;
}

static void check_columns(Sema *s, Expr *sel, Param *p, Type *pt) {
  bool is_cols = sel->kind == EX_CALL && strcmp(sel->name, "cols") == 0 && sel->nargs == 2;
  bool is_col = sel->kind == EX_CALL && strcmp(sel->name, "col") == 0 && sel->nargs == 1;
  if (!is_cols && !is_col) {
    diag_error(s->d, sel->span, "the data for `%s` must be col(k) or cols(first, end)", p->name);
    return;
  }
  int64_t v[2] = {0, 0};
  for (int i = 0; i < sel->nargs; i++) {
    Type *t = check_expr(s, sel->args[i].value);
    if (!const_int(t, &v[i]) || v[i] < 0 || sel->args[i].name) {
      diag_error(s->d, sel->args[i].value->span, "a column number must be a non-negative integer constant");
      return;
    }
  }
  int64_t count = is_col ? 1 : v[1] - v[0];
  if (count <= 0) {
    diag_error(s->d, sel->span, "cols(%lld, %lld) selects no column", (long long)v[0], (long long)v[1]);
    return;
  }
  int64_t want;
  if (is_err(pt) || pt->rank == 0 || !pt->dims[0].sym) return; /* reported by check_batch_dims */
  if (!per_example(pt, &want)) return;
  if (want != count) {
    diag_error(s->d, sel->span, "loss input `%s` has %lld value%s per example (%s), but %lld column%s selected",
               p->name, (long long)want, want == 1 ? "" : "s", T(s, pt), (long long)count,
               count == 1 ? " is" : "s are");
  }
}

static void check_data_source(Sema *s, Expr *e, Item *loss) {
  const char *kind = e->kind == EX_CALL && !e->is_cast ? e->name : NULL;
  bool csv = kind && strcmp(kind, "csv") == 0, npy = kind && strcmp(kind, "npy") == 0,
       idx = kind && strcmp(kind, "idx") == 0;
  if (!csv && !npy && !idx) {
    diag_error(s->d, e->span, "data must be csv(...), npy(...) or idx(...)");
    return;
  }
  bool bound[16] = {0};
  int npos = 0;
  for (int i = 0; i < e->nargs; i++) {
    Arg *a = &e->args[i];
    Expr *v = a->value;
    if (!a->name) {
      if (csv && npos++ == 0 && v->kind == EX_STR) continue;
      diag_error(s->d, v->span, csv ? "csv(...) takes the file name first, then named arguments"
                                    : "the inputs of %s(...) are named: %s(x = \"file\", ...)", kind, kind);
      continue;
    }
    if (csv && strcmp(a->name, "header") == 0) {
      if (v->kind != EX_BOOL) diag_error(s->d, v->span, "`header` must be `true` or `false`");
      continue;
    }
    if (csv && strcmp(a->name, "delimiter") == 0) {
      if (v->kind != EX_STR || strlen(v->name) != 1)
        diag_error(s->d, v->span, "`delimiter` must be a one-character string such as \" \" or \";\"");
      continue;
    }
    Param *p = loss_param(loss, a->name);
    if (!p) {
      Suggest g = suggest_start(s->d, a->name);
      for (int k = 0; loss && k < loss->nparams; k++) suggest_consider(&g, loss->params[k].name);
      diag_error(s->d, a->name_span, "the loss has no input named `%s`%s", a->name, did_you_mean(s, g.best));
      Param *meant = g.best ? loss_param(loss, g.best) : NULL;
      if (meant && meant - loss->params < 16) bound[meant - loss->params] = true; /* one error for one typo */
      continue;
    }
    int pi = (int)(p - loss->params);
    if (pi < 16) bound[pi] = true;
    Type *pt = loss->param_types ? loss->param_types[pi] : NULL;
    if (csv) check_columns(s, v, p, pt);
    else if (v->kind != EX_STR) diag_error(s->d, v->span, "the input `%s` must be a file name string", a->name);
  }
  if (csv && (e->nargs == 0 || e->args[0].name || e->args[0].value->kind != EX_STR))
    diag_error(s->d, e->span, "csv(...) needs a file name: csv(\"data.csv\", x = cols(0, 4), y = col(4))");
  for (int i = 0; loss && i < loss->nparams && i < 16; i++)
    if (!bound[i])
      diag_error(s->d, e->span, "the data does not provide the loss input `%s`", loss->params[i].name);
}

/* Every loss input is a batch of examples: its first axis is the batch size,
 * the same symbol for all inputs. */
static void check_batch_dims(Sema *s, Item *loss) {
  const char *batch = NULL;
  for (int i = 0; i < loss->nparams; i++) {
    Type *t = loss->param_types ? loss->param_types[i] : NULL;
    if (is_err(t)) continue;
    if (t->rank == 0 || !t->dims[0].sym || (batch && strcmp(batch, t->dims[0].sym) != 0)) {
      diag_error(s->d, loss->params[i].type->span,
                 "to train, every loss input needs the batch dimension first%s%s%s, but `%s` has type %s",
                 batch ? " (`" : "", batch ? batch : "", batch ? "`)" : "", loss->params[i].name, T(s, t));
      const char *dt = is_tensor(t) ? dtype_name(t->dt) : "f32", *n = batch ? batch : "n";
      if (is_tensor(t) && t->rank == 0)
        diag_hint(s->d, "one value per example is written %s: %s[%s]", loss->params[i].name, dt, n);
      else
        diag_hint(s->d, "declare it like %s: %s[%s, ...]", loss->params[i].name, dt, n);
      continue;
    }
    batch = t->dims[0].sym;
  }
}

void sema_check_train(Sema *s, Item *train, Item *loss) {
  if (!loss) {
    diag_error(s->d, train->name_span, "a train block needs a loss to minimise");
    return;
  }
  check_batch_dims(s, loss);
  enum { NKEYS = sizeof train_keys / sizeof train_keys[0] };
  int nkeys = NKEYS;
  TrainEntry *first[NKEYS] = {0};
  for (int i = 0; i < train->nentries; i++) {
    TrainEntry *en = &train->entries[i];
    int k = -1;
    for (int j = 0; j < nkeys; j++)
      if (strcmp(train_keys[j].key, en->key) == 0) k = j;
    if (k >= 0 && first[k]) {
      diag_error(s->d, en->key_span, "`%s` is set twice in the train block", en->key);
      diag_note(s->d, first[k]->key_span, "first set here");
      continue;
    }
    if (k >= 0) first[k] = en;
    if (k < 0) {
      Suggest g = suggest_start(s->d, en->key);
      for (int j = 0; j < nkeys; j++) suggest_consider(&g, train_keys[j].key);
      diag_error(s->d, en->key_span, "unknown train setting `%s`%s", en->key, did_you_mean(s, g.best));
      continue;
    }
    Expr *v = en->value;
    double num;
    switch (train_keys[k].kind) {
    case TK_DATA: check_data_source(s, v, loss); break;
    case TK_OPTIMIZER:
      check_named_spec(s, v, "optimizer", optimizers, (int)(sizeof optimizers / sizeof optimizers[0]));
      break;
    case TK_SCHEDULE:
      check_named_spec(s, v, "schedule", schedules, (int)(sizeof schedules / sizeof schedules[0]));
      break;
    case TK_METRIC: check_named_spec(s, v, "metric", metrics, 3); break;
    case TK_BOOL:
      if (v->kind != EX_BOOL) diag_error(s->d, v->span, "`%s` must be `true` or `false`", en->key);
      break;
    default: {
      Type *t = check_expr(s, v);
      if (is_err(t)) break;
      bool is_num = const_number(t, &num);
      bool ok = is_num;
      const char *want = "a number";
      switch (train_keys[k].kind) {
      case TK_FRACTION: ok = is_num && num > 0 && num < 1; want = "a number between 0 and 1"; break;
      case TK_POS_INT: ok = is_num && t->dt == DT_I32 && num > 0; want = "a positive integer"; break;
      case TK_INT: ok = is_num && t->dt == DT_I32; want = "an integer"; break;
      case TK_POS_NUM: ok = is_num && num > 0; want = "a positive number"; break;
      case TK_NONNEG_NUM: ok = is_num && num >= 0; want = "a non-negative number"; break;
      default: break;
      }
      if (!ok) diag_error(s->d, v->span, "`%s` must be %s", en->key, want);
    }
    }
  }
}
