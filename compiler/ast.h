/* ast.h - the syntax tree the parser builds and sema annotates.
 *
 * A program is a list of items (use, const, param, fn, loss, train). Function
 * bodies are blocks of statements; statements hold expressions. Every node
 * carries the span of the source text it came from. Sema fills in the
 * `type` and resolution fields; nothing else changes the tree. */
#ifndef DMLC_AST_H
#define DMLC_AST_H
#include <stdbool.h>
#include <stdint.h>
#include "arena.h"
#include "diag.h"

typedef struct Type Type;
typedef struct Expr Expr;
typedef struct Stmt Stmt;
typedef struct Item Item;
typedef struct Binding Binding;

/* Element types. DT_REAL appears only in function signatures: it stands for
 * whichever float type (f32 or f64) the caller passes. */
typedef enum {
  DT_F32,   // f32
  DT_F64,   // f64
  DT_I32,   // i32
  DT_BOOL,  // bool: results of comparisons
  DT_REAL,  // real: f32 or f64, fixed per call
} DType;

typedef enum {
  OP_ADD,    // a + b
  OP_SUB,    // a - b
  OP_MUL,    // a * b   (elementwise)
  OP_DIV,    // a / b
  OP_MATMUL, // a @ b
  OP_POW,    // a ^ b
  OP_LT,     // a < b   (comparisons: OP_LT..OP_NE)
  OP_LE,     // a <= b
  OP_GT,     // a > b
  OP_GE,     // a >= b
  OP_EQ,     // a == b
  OP_NE,     // a != b
  OP_NEG,    // -a      (unary)
  OP_ASSIGN, // =       (statements only; compound forms use OP_ADD..OP_DIV)
} BinOp;

const char *binop_text(BinOp op);
static inline bool binop_is_comparison(BinOp op) { return op >= OP_LT && op <= OP_NE; }

/* A type as written: `f32`, `f32[n, 64]`, `(f32, f32[H])`. */
typedef struct TypeExpr {
  Span span;
  DType dtype;
  bool has_dims;          /* `f32[]` is written-rank-0, `f32` is scalar too */
  Expr **dims;            /* each an integer constant expression or a name */
  int ndims;
  struct TypeExpr **elems; /* tuple: elems != NULL */
  int nelems;
} TypeExpr;

typedef enum {
  EX_NUM,    // 3, 1e-3
  EX_BOOL,   // true, false
  EX_STR,    // "text" (train block values, use paths)
  EX_NAME,   // identifier
  EX_UNARY,  // -x
  EX_BINARY, // x op y
  EX_CALL,   // f(a, b, name = c); casts f32(x) are calls with a dtype callee
  EX_INDEX,  // x[i], x[a:b, :]
  EX_TUPLE,  // (a, b)
  EX_ERROR,  // placeholder after a syntax error
} ExprKind;

typedef struct Arg {
  const char *name;       /* NULL: positional */
  Span name_span;
  Expr *value;
} Arg;

typedef struct IndexArg {
  bool is_slice;          /* a:b (either bound may be NULL) */
  Expr *lo, *hi;          /* for a plain index, lo is the index */
  Span span;
} IndexArg;

/* How sema resolved a name or a callee. */
typedef enum {
  REF_NONE,
  REF_LOCAL,   // let/var/fn argument/loop variable
  REF_CONST,   // const
  REF_PARAM,   // param
  REF_DIM,     // a symbolic dimension used as a value (`n`)
  REF_FN,      // user function
  REF_BUILTIN, // builtin function
  REF_CAST,    // f32(x), f64(x), i32(x)
  REF_DERIV,   // grad(f, x, ...), hvp(f, x, ..., v), hessian(f, x, ...): see `inner`
} RefKind;

/* The derivative builtins: they take a function, not a value. */
typedef enum {
  DERIV_GRAD,    // grad(f, x, ...): d f(x, ...) / d x, shaped like x
  DERIV_HVP,     // hvp(f, x, ..., v): the Hessian of f in x, times v
  DERIV_HESSIAN, // hessian(f, x, ...): that Hessian, for a scalar or vector x
} DerivKind;

struct Expr {
  ExprKind kind;
  Span span;
  int depth;              /* nesting depth, bounded by the parser */
  /* EX_NUM */
  double num;
  bool is_int;
  /* EX_BOOL */
  bool boolean;
  /* EX_STR (value), EX_NAME and EX_CALL (callee name) */
  const char *name;
  Span name_span;
  DType cast;             /* EX_CALL with a dtype callee */
  bool is_cast;
  /* EX_UNARY, EX_BINARY */
  BinOp op;
  Expr *lhs, *rhs;
  /* EX_CALL */
  Arg *args;
  int nargs;
  /* EX_INDEX */
  Expr *base;
  IndexArg *idx;
  int nidx;
  /* EX_TUPLE */
  Expr **elems;
  int nelems;
  /* filled by sema */
  Type *type;
  RefKind ref;
  Binding *local;         /* REF_LOCAL */
  Item *item;             /* REF_CONST, REF_PARAM, REF_FN */
  int builtin;            /* REF_BUILTIN: a Builtin id */
  Expr **bound;           /* REF_BUILTIN/REF_FN: arguments in parameter order */
  DerivKind deriv;        /* REF_DERIV */
  Expr *inner;            /* REF_DERIV: the call f(x, ...) it differentiates; for hvp, v is args[nargs-1] */
};

typedef enum {
  ST_LET,    // let x: T = e
  ST_VAR,    // var x: T = e
  ST_ASSIGN, // x = e, x[i] = e, x += e
  ST_FOR,    // for i in a..b { ... }
  ST_RETURN, // return e
  ST_EXPR,   // e  (the block's value when last)
  ST_ERROR,  // placeholder after a syntax error
} StmtKind;

typedef struct Block {
  Stmt **stmts;
  int n;
  Span span;
} Block;

struct Stmt {
  StmtKind kind;
  Span span;
  const char *name;       /* let/var/for variable */
  Span name_span;
  TypeExpr *type;         /* optional annotation */
  Expr *target;           /* ST_ASSIGN: a name or an index expression */
  BinOp assign_op;        /* OP_ASSIGN or OP_ADD.. for compound assignment */
  Expr *value;            /* let/var/assign/return/expr */
  Expr *lo, *hi;          /* ST_FOR bounds */
  Block body;             /* ST_FOR */
  Binding *binding;       /* sema: the variable declared */
};

typedef struct Param {
  const char *name;
  Span span;
  TypeExpr *type;
} Param;

typedef struct TrainEntry {
  const char *key;
  Span key_span;
  Expr *value;
} TrainEntry;

typedef enum {
  IT_USE,   // use nn | use "file.dml"
  IT_CONST, // const H = 64
  IT_PARAM, // param W: f32[64, H] = glorot
  IT_FN,    // fn f(x: f32[n]) -> f32 { ... }
  IT_LOSS,  // loss(x: ..., y: ...) { ... }
  IT_TRAIN, // train { key = value ... }
} ItemKind;

struct Item {
  ItemKind kind;
  Span span;
  const char *name;       /* use: module; const/param/fn: name; loss: "loss" */
  Span name_span;
  bool use_path;          /* use "file.dml" */
  TypeExpr *type;         /* const/param type; NULL if omitted for const */
  Expr *value;            /* const value; param initialiser (may be NULL) */
  Param *params;          /* fn/loss */
  int nparams;
  TypeExpr *ret;          /* fn: declared return type, may be NULL */
  Block body;
  TrainEntry *entries;
  int nentries;
  bool from_stdlib;       /* loaded by `use` */
  /* filled by sema */
  Type *ty;               /* const/param type; fn return type */
  Type **param_types;     /* fn/loss: resolved parameter types */
  Binding **param_bindings; /* fn/loss: the parameters' bindings in the body */
  const char **dim_syms;  /* fn/loss: symbolic dimensions of the signature */
  int ndim_syms;
  double const_value;     /* const */
  bool checked, checking, used_by_loss;
  int index;              /* param: position among params */
};

typedef struct Program {
  Item **items;
  int nitems, cap;
} Program;

/* Constructors used by the parser. Depth bookkeeping lives here: a node
 * nested deeper than AST_MAX_DEPTH becomes an EX_ERROR leaf so that no later
 * pass can recurse without bound. */
enum { AST_MAX_DEPTH = 512 };

typedef struct AstBuilder {
  Arena *arena;
  Diags *diags;
} AstBuilder;

Expr *ast_expr(AstBuilder *b, ExprKind k, Span sp);
Expr *ast_binary(AstBuilder *b, BinOp op, Expr *l, Expr *r, Span sp);
Expr *ast_unary(AstBuilder *b, BinOp op, Expr *e, Span sp);
Expr *ast_finish(AstBuilder *b, Expr *e); /* apply the depth bound to a built node */

void ast_dump(FILE *out, const Program *p);          /* `dmlc emit ast` */
void ast_print_source(FILE *out, const Program *p);  /* back to DML text */
void ast_print_expr(FILE *out, const Expr *e);
const char *dtype_name(DType t);
void format_float(char *buf, size_t n, double x);

#endif
