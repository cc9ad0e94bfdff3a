/* sema.h - names, dtypes and shapes.
 *
 * Takes the parsed Program (the user's file plus the modules it uses) and
 * checks it: every name resolves, every expression gets a Type (dtype plus a
 * shape of constant or symbolic dimensions), every call matches its callee,
 * the loss is a scalar and the train block names real data and optimizers.
 * All problems go to Diags; the tree is annotated in place. */
#ifndef DMLC_SEMA_H
#define DMLC_SEMA_H
#include "ast.h"

enum { MAX_RANK = 8, MAX_CALL_PARAMS = 16 }; /* parameters of a function or builtin a call can bind */

/* A dimension: a constant size, or a symbol (`n`) bound when the model runs. */
typedef struct Dim {
  int64_t size;     /* when sym == NULL */
  const char *sym;
} Dim;

typedef enum {
  TY_TENSOR, // dtype + shape (rank 0 is a scalar)
  TY_TUPLE,  // (T1, T2, ...)
  TY_STRING, // a string literal
  TY_ERROR,  // already reported: absorbs further errors
} TypeKind;

struct Type {
  TypeKind kind;
  DType dt;
  int rank;
  Dim dims[MAX_RANK];
  bool weak;        /* an untyped literal or const: adapts to the other operand */
  bool is_const;    /* value known at compile time */
  double value;
  bool is_dim;      /* an integer usable as a dimension (constant or symbolic) */
  Dim dim;
  Type **elems;     /* TY_TUPLE */
  int nelems;
};

/* Builtins, in builtins.def order. */
typedef enum {
#define BUILTIN(id, name, params, rule, doc) BI_##id,
#include "builtins.def"
#undef BUILTIN
  BI_COUNT
} BuiltinId;

typedef struct BuiltinParam {
  const char *name;
  bool optional;
  bool variadic;
  const char *default_text;
} BuiltinParam;

typedef struct BuiltinInfo {
  const char *name;
  const char *params_text;
  const char *doc;
  BuiltinParam params[6];
  int nparams;
} BuiltinInfo;

const BuiltinInfo *builtin_info(int id); /* parsed on first use */
int builtin_lookup(const char *name);    /* -1 if none */

/* A local name: let, var, function parameter or loop variable. */
typedef enum {
  B_LET,  // let x = ...
  B_VAR,  // var x = ... (assignable)
  B_ARG,  // function parameter
  B_LOOP, // for loop variable
} BindKind;

struct Binding {
  const char *name;
  Span span;
  Type *type;
  BindKind kind;
  int depth;              /* block nesting level where declared */
  bool used;
  Expr *value;            /* B_LET: its value, for hints that look through names */
  Binding *next;          /* the enclosing binding: scopes are a chain */
  Binding *prev_same;     /* the binding of the same name this one hides */
};

typedef struct SemaOptions {
  DType model_float;   /* f32, or f64 for `--dtype f64` */
} SemaOptions;

/* Returns true when the program has no errors. */
bool sema_check(Program *p, Arena *a, Diags *d, SemaOptions opt);

/* The i-th parameter name of an optimizer or schedule (`what` is
 * "optimizer" or "schedule"), NULL past the last. */
const char *sema_spec_param(Arena *a, const char *what, const char *name, int i);

/* Print a type as messages show it: f32[n,64], (f32, f32[10]). */
const char *type_str(Arena *a, const Type *t);
bool type_equal(const Type *a, const Type *b);

#endif
