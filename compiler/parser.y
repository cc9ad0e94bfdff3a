/* parser.y - tokens to AST (Bison, pure, with locations).
 *
 * The grammar is LALR(1) with no conflicts (%expect 0). Precedence, from
 * loosest to tightest: comparisons (non-associative), `+ -`, `* / @`, unary
 * minus, `^` (right-associative, so -x^2 is -(x^2)), then calls and indexing.
 * Error recovery resynchronises at the end of a statement or item, so one
 * run reports every independent syntax error; messages say what was expected
 * in words (see yyreport_syntax_error at the bottom). */
%require "3.8"
%define api.pure full
%define api.location.type {Span}
%define parse.error custom
%define parse.lac full
%define lr.default-reduction accepting
%locations
%param {Lexer *lx}
%expect 0

%code requires {
#include "lexer.h"
}

%code provides {
int yylex(YYSTYPE *val, Span *loc, Lexer *lx);
}

%code {
#include <string.h>

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                   \
  do {                                                                \
    if (N) {                                                          \
      (Cur).src = YYRHSLOC(Rhs, 1).src;                               \
      (Cur).lo = YYRHSLOC(Rhs, 1).lo;                                 \
      (Cur).hi = YYRHSLOC(Rhs, N).hi;                                 \
    } else {                                                          \
      (Cur).src = YYRHSLOC(Rhs, 0).src;                               \
      (Cur).lo = (Cur).hi = YYRHSLOC(Rhs, 0).hi;                      \
    }                                                                 \
  } while (0)

#define A (lx->ab.arena)
#define B (&lx->ab)

/* Growable arena lists used while parsing. */
typedef struct ExprList { Expr **v; int n, cap; } ExprList;
typedef struct ArgList { Arg *v; int n, cap; } ArgList;
typedef struct IdxList { IndexArg *v; int n, cap; } IdxList;
typedef struct StmtList { Stmt **v; int n, cap; } StmtList;
typedef struct ParamList { Param *v; int n, cap; } ParamList;
typedef struct EntryList { TrainEntry *v; int n, cap; } EntryList;
typedef struct TypeList { TypeExpr **v; int n, cap; } TypeList;

static void yyerror(Span *loc, Lexer *lx, const char *msg) {
  /* Only "memory exhausted" arrives here: the parser stack is full. */
  (void)msg;
  diag_error(lx->ab.diags, *loc, "program nested too deeply for the parser");
}

static Stmt *new_stmt(Lexer *lx, StmtKind k, Span sp) {
  Stmt *s = ARENA_NEW(A, Stmt);
  s->kind = k;
  s->span = sp;
  return s;
}

static Item *new_item(Lexer *lx, ItemKind k, Span sp) {
  Item *it = ARENA_NEW(A, Item);
  it->kind = k;
  it->span = sp;
  return it;
}

/* if c { } else { } and while c { }: parsed whole, so that one message
 * covers them and recovery need not guess where they end. */
static void report_reserved(Lexer *lx, const char *word, Span at);

static Stmt *reserved_construct(Lexer *lx, const char *word, Span at) {
  report_reserved(lx, word, at);
  return new_stmt(lx, ST_ERROR, at);
}

static TypeExpr *new_type(Lexer *lx, Span sp, DType dt) {
  TypeExpr *t = ARENA_NEW(A, TypeExpr);
  t->span = sp;
  t->dtype = dt;
  return t;
}
}

%union {
  const char *str;
  struct { double value; bool is_int; } num;
  DType dtype;
  BinOp op;
  Expr *expr;
  Stmt *stmt;
  Item *item;
  TypeExpr *type;
  Block block;
  struct ExprList *exprs;
  struct ArgList *args;
  struct IdxList *idxs;
  struct StmtList *stmts;
  struct ParamList *params;
  struct EntryList *entries;
  struct TypeList *types;
  Arg arg;
  IndexArg idx;
  Param param;
  TrainEntry entry;
}

%token <str> IDENT "name"
%token <num> NUMBER "number"
%token <str> STRING "string"
%token <dtype> DTYPE "type name"
%token USE "`use`" CONST "`const`" PARAM "`param`" FN "`fn`" LOSS "`loss`" TRAIN "`train`"
%token LET "`let`" VAR "`var`" FOR "`for`" IN "`in`" RETURN "`return`"
%token TRUE "`true`" FALSE "`false`"
%token ARROW "`->`" DOTDOT "`..`" LE "`<=`" GE "`>=`" EQ "`==`" NE "`!=`"
%token PLUS_ASSIGN "`+=`" MINUS_ASSIGN "`-=`" STAR_ASSIGN "`*=`" SLASH_ASSIGN "`/=`"
%token SEP "end of line"
%token <str> RESERVED "reserved word"

%nonassoc '<' '>' LE GE EQ NE
%left '+' '-'
%left '*' '/' '@'
%precedence UMINUS
%right '^'

%type <expr> expr postfix primary call
%type <exprs> exprs_ne
%type <args> args args_ne
%type <arg> arg
%type <idxs> indices
%type <idx> index
%type <stmt> stmt
%type <stmts> stmts
%type <block> block
%type <item> item
%type <params> params params_ne
%type <param> param
%type <entries> entries entries_ne
%type <entry> entry
%type <type> type opt_type
%type <types> types_ne
%type <op> assign_op

%%

/* No empty rule runs before the first item or statement of a list: an
 * error there must meet a state that can shift `error` at once. */
program
  : %empty
  | seps
  | items opt_seps
  | seps items opt_seps
  ;

items
  : item            { if ($1) ARENA_PUSH(A, lx->prog->items, lx->prog->nitems, lx->prog->cap, $1); }
  | items seps item { if ($3) ARENA_PUSH(A, lx->prog->items, lx->prog->nitems, lx->prog->cap, $3); }
  ;

opt_seps: %empty | seps ;
seps: SEP | seps SEP ;

item
  : USE IDENT {
      $$ = new_item(lx, IT_USE, @$); $$->name = $2; $$->name_span = @2;
    }
  | USE STRING {
      $$ = new_item(lx, IT_USE, @$); $$->name = $2; $$->name_span = @2; $$->use_path = true;
    }
  | CONST IDENT opt_type '=' expr {
      $$ = new_item(lx, IT_CONST, @$); $$->name = $2; $$->name_span = @2;
      $$->type = $3; $$->value = $5;
    }
  | PARAM IDENT ':' type {
      $$ = new_item(lx, IT_PARAM, @$); $$->name = $2; $$->name_span = @2; $$->type = $4;
    }
  | PARAM IDENT ':' type '=' expr {
      $$ = new_item(lx, IT_PARAM, @$); $$->name = $2; $$->name_span = @2;
      $$->type = $4; $$->value = $6;
    }
  | FN IDENT '(' params ')' block {
      $$ = new_item(lx, IT_FN, @$); $$->name = $2; $$->name_span = @2;
      $$->params = $4->v; $$->nparams = $4->n; $$->body = $6;
    }
  | FN IDENT '(' params ')' ARROW type block {
      $$ = new_item(lx, IT_FN, @$); $$->name = $2; $$->name_span = @2;
      $$->params = $4->v; $$->nparams = $4->n; $$->ret = $7; $$->body = $8;
    }
  | LOSS '(' params ')' block {
      $$ = new_item(lx, IT_LOSS, @$); $$->name = "loss"; $$->name_span = @1;
      $$->params = $3->v; $$->nparams = $3->n; $$->body = $5;
    }
  | TRAIN '{' entries '}' {
      $$ = new_item(lx, IT_TRAIN, @$); $$->name = "train"; $$->name_span = @1;
      $$->entries = $3->v; $$->nentries = $3->n;
    }
  | FN error block  { $$ = NULL; yyerrok; }
  | LOSS error block { $$ = NULL; yyerrok; }
  | error           { $$ = NULL; yyerrok; } /* reduced at the end of the line: what follows is new */
  ;

params
  : %empty          { $$ = ARENA_NEW(A, struct ParamList); }
  | params_ne       { $$ = $1; }
  | params_ne ','   { $$ = $1; }
  ;

params_ne
  : param                { $$ = ARENA_NEW(A, struct ParamList); ARENA_PUSH(A, $$->v, $$->n, $$->cap, $1); }
  | params_ne ',' param  { $$ = $1; ARENA_PUSH(A, $$->v, $$->n, $$->cap, $3); }
  ;

param
  : IDENT ':' type { $$.name = $1; $$.span = @1; $$.type = $3; }
  ;

opt_type
  : %empty    { $$ = NULL; }
  | ':' type  { $$ = $2; }
  ;

type
  : DTYPE                  { $$ = new_type(lx, @$, $1); }
  | DTYPE '[' ']'          { $$ = new_type(lx, @$, $1); $$->has_dims = true; }
  | DTYPE '[' exprs_ne ']' {
      $$ = new_type(lx, @$, $1); $$->has_dims = true; $$->dims = $3->v; $$->ndims = $3->n;
    }
  | DTYPE '[' exprs_ne ',' ']' {
      $$ = new_type(lx, @$, $1); $$->has_dims = true; $$->dims = $3->v; $$->ndims = $3->n;
    }
  | '(' types_ne ')' {
      $$ = new_type(lx, @$, DT_F32); $$->elems = $2->v; $$->nelems = $2->n;
    }
  ;

types_ne
  : type ',' type     { $$ = ARENA_NEW(A, struct TypeList); ARENA_PUSH(A, $$->v, $$->n, $$->cap, $1);
                        ARENA_PUSH(A, $$->v, $$->n, $$->cap, $3); }
  | types_ne ',' type { $$ = $1; ARENA_PUSH(A, $$->v, $$->n, $$->cap, $3); }
  ;

entries
  : %empty                  { $$ = ARENA_NEW(A, struct EntryList); }
  | seps                    { $$ = ARENA_NEW(A, struct EntryList); }
  | entries_ne              { $$ = $1; }
  | seps entries_ne         { $$ = $2; }
  | entry                   { $$ = ARENA_NEW(A, struct EntryList); ARENA_PUSH(A, $$->v, $$->n, $$->cap, $1); }
  | seps entry              { $$ = ARENA_NEW(A, struct EntryList); ARENA_PUSH(A, $$->v, $$->n, $$->cap, $2); }
  | entries_ne entry        { $$ = $1; ARENA_PUSH(A, $$->v, $$->n, $$->cap, $2); }
  | seps entries_ne entry   { $$ = $2; ARENA_PUSH(A, $$->v, $$->n, $$->cap, $3); }
  ;

entries_ne
  : entry seps              { $$ = ARENA_NEW(A, struct EntryList); ARENA_PUSH(A, $$->v, $$->n, $$->cap, $1); }
  | error seps              { $$ = ARENA_NEW(A, struct EntryList); yyerrok; }
  | entries_ne entry seps   { $$ = $1; ARENA_PUSH(A, $$->v, $$->n, $$->cap, $2); }
  | entries_ne error seps   { $$ = $1; yyerrok; }
  ;

entry
  : IDENT '=' expr { $$.key = $1; $$.key_span = @1; $$.value = $3; }
  ;

block
  : '{' '}'                        { $$.stmts = NULL; $$.n = 0; $$.span = @$; }
  | '{' seps '}'                   { $$.stmts = NULL; $$.n = 0; $$.span = @$; }
  | '{' stmts opt_seps '}'         { $$.stmts = $2->v; $$.n = $2->n; $$.span = @$; }
  | '{' seps stmts opt_seps '}'    { $$.stmts = $3->v; $$.n = $3->n; $$.span = @$; }
  ;

stmts
  : stmt           { $$ = ARENA_NEW(A, struct StmtList); ARENA_PUSH(A, $$->v, $$->n, $$->cap, $1); }
  | stmts seps stmt { $$ = $1; ARENA_PUSH(A, $$->v, $$->n, $$->cap, $3); }
  ;

stmt
  : LET IDENT opt_type '=' expr {
      $$ = new_stmt(lx, ST_LET, @$); $$->name = $2; $$->name_span = @2; $$->type = $3; $$->value = $5;
    }
  | VAR IDENT opt_type '=' expr {
      $$ = new_stmt(lx, ST_VAR, @$); $$->name = $2; $$->name_span = @2; $$->type = $3; $$->value = $5;
    }
  | expr assign_op expr {
      $$ = new_stmt(lx, ST_ASSIGN, @$); $$->target = $1; $$->assign_op = $2; $$->value = $3;
    }
  | FOR IDENT IN expr DOTDOT expr block {
      $$ = new_stmt(lx, ST_FOR, @$); $$->name = $2; $$->name_span = @2;
      $$->lo = $4; $$->hi = $6; $$->body = $7;
    }
  | RETURN expr   { $$ = new_stmt(lx, ST_RETURN, @$); $$->value = $2; }
  | expr          { $$ = new_stmt(lx, ST_EXPR, @$); $$->value = $1; }
  | RESERVED                       { $$ = reserved_construct(lx, $1, @1); } /* break, continue */
  | RESERVED expr block            { $$ = reserved_construct(lx, $1, @1); }
  | RESERVED expr block RESERVED block { $$ = reserved_construct(lx, $1, @1); }
  | error         { $$ = new_stmt(lx, ST_ERROR, @$); yyerrok; }
  | error block   { $$ = new_stmt(lx, ST_ERROR, @$); yyerrok; } /* skip a whole unknown construct: if x { ... } */
  ;

assign_op
  : '='          { $$ = OP_ASSIGN; }
  | PLUS_ASSIGN  { $$ = OP_ADD; }
  | MINUS_ASSIGN { $$ = OP_SUB; }
  | STAR_ASSIGN  { $$ = OP_MUL; }
  | SLASH_ASSIGN { $$ = OP_DIV; }
  ;

expr
  : postfix                   { $$ = $1; }
  | '-' expr %prec UMINUS     { $$ = ast_unary(B, OP_NEG, $2, @$); }
  | expr '^' expr             { $$ = ast_binary(B, OP_POW, $1, $3, @$); }
  | expr '*' expr             { $$ = ast_binary(B, OP_MUL, $1, $3, @$); }
  | expr '/' expr             { $$ = ast_binary(B, OP_DIV, $1, $3, @$); }
  | expr '@' expr             { $$ = ast_binary(B, OP_MATMUL, $1, $3, @$); }
  | expr '+' expr             { $$ = ast_binary(B, OP_ADD, $1, $3, @$); }
  | expr '-' expr             { $$ = ast_binary(B, OP_SUB, $1, $3, @$); }
  | expr '<' expr             { $$ = ast_binary(B, OP_LT, $1, $3, @$); }
  | expr '>' expr             { $$ = ast_binary(B, OP_GT, $1, $3, @$); }
  | expr LE expr              { $$ = ast_binary(B, OP_LE, $1, $3, @$); }
  | expr GE expr              { $$ = ast_binary(B, OP_GE, $1, $3, @$); }
  | expr EQ expr              { $$ = ast_binary(B, OP_EQ, $1, $3, @$); }
  | expr NE expr              { $$ = ast_binary(B, OP_NE, $1, $3, @$); }
  ;

postfix
  : primary                   { $$ = $1; }
  | postfix '[' indices ']'   {
      $$ = ast_expr(B, EX_INDEX, @$); $$->base = $1; $$->idx = $3->v; $$->nidx = $3->n;
      $$->depth = $1->depth;
      for (int i = 0; i < $3->n; i++) {
        if ($3->v[i].lo && $3->v[i].lo->depth > $$->depth) $$->depth = $3->v[i].lo->depth;
        if ($3->v[i].hi && $3->v[i].hi->depth > $$->depth) $$->depth = $3->v[i].hi->depth;
      }
      $$->depth++;
      $$ = ast_finish(B, $$);
    }
  ;

indices
  : index              { $$ = ARENA_NEW(A, struct IdxList); ARENA_PUSH(A, $$->v, $$->n, $$->cap, $1); }
  | indices ',' index  { $$ = $1; ARENA_PUSH(A, $$->v, $$->n, $$->cap, $3); }
  ;

index
  : expr              { memset(&$$, 0, sizeof $$); $$.lo = $1; $$.span = @$; }
  | ':'               { memset(&$$, 0, sizeof $$); $$.is_slice = true; $$.span = @$; }
  | expr ':'          { memset(&$$, 0, sizeof $$); $$.is_slice = true; $$.lo = $1; $$.span = @$; }
  | ':' expr          { memset(&$$, 0, sizeof $$); $$.is_slice = true; $$.hi = $2; $$.span = @$; }
  | expr ':' expr     { memset(&$$, 0, sizeof $$); $$.is_slice = true; $$.lo = $1; $$.hi = $3; $$.span = @$; }
  ;

primary
  : NUMBER   { $$ = ast_expr(B, EX_NUM, @$); $$->num = $1.value; $$->is_int = $1.is_int; }
  | TRUE     { $$ = ast_expr(B, EX_BOOL, @$); $$->boolean = true; }
  | FALSE    { $$ = ast_expr(B, EX_BOOL, @$); $$->boolean = false; }
  | STRING   { $$ = ast_expr(B, EX_STR, @$); $$->name = $1; }
  | IDENT    { $$ = ast_expr(B, EX_NAME, @$); $$->name = $1; $$->name_span = @1; }
  | call     { $$ = $1; }
  | '(' expr ')' {
      $$ = $2;
      $$->span = @$;
      if ($$->kind != EX_ERROR) { $$->depth++; $$ = ast_finish(B, $$); } /* collapsed already: reported */
    }
  | '(' expr ',' exprs_ne ')' {
      $$ = ast_expr(B, EX_TUPLE, @$);
      ExprList *l = ARENA_NEW(A, ExprList);
      ARENA_PUSH(A, l->v, l->n, l->cap, $2);
      for (int i = 0; i < $4->n; i++) ARENA_PUSH(A, l->v, l->n, l->cap, $4->v[i]);
      $$->elems = l->v; $$->nelems = l->n;
      for (int i = 0; i < l->n; i++) if (l->v[i]->depth > $$->depth) $$->depth = l->v[i]->depth;
      $$->depth++;
      $$ = ast_finish(B, $$);
    }
  ;

call
  : IDENT '(' args ')' {
      $$ = ast_expr(B, EX_CALL, @$); $$->name = $1; $$->name_span = @1;
      $$->args = $3->v; $$->nargs = $3->n;
      for (int i = 0; i < $3->n; i++) if ($3->v[i].value->depth > $$->depth) $$->depth = $3->v[i].value->depth;
      $$->depth++;
      $$ = ast_finish(B, $$);
    }
  | DTYPE '(' args ')' {
      $$ = ast_expr(B, EX_CALL, @$); $$->name = dtype_name($1); $$->name_span = @1;
      $$->is_cast = true; $$->cast = $1;
      $$->args = $3->v; $$->nargs = $3->n;
      for (int i = 0; i < $3->n; i++) if ($3->v[i].value->depth > $$->depth) $$->depth = $3->v[i].value->depth;
      $$->depth++;
      $$ = ast_finish(B, $$);
    }
  ;

exprs_ne
  : expr               { $$ = ARENA_NEW(A, struct ExprList); ARENA_PUSH(A, $$->v, $$->n, $$->cap, $1); }
  | exprs_ne ',' expr  { $$ = $1; ARENA_PUSH(A, $$->v, $$->n, $$->cap, $3); }
  ;

args
  : %empty        { $$ = ARENA_NEW(A, struct ArgList); }
  | args_ne       { $$ = $1; }
  | args_ne ','   { $$ = $1; }
  ;

args_ne
  : arg              { $$ = ARENA_NEW(A, struct ArgList); ARENA_PUSH(A, $$->v, $$->n, $$->cap, $1); }
  | args_ne ',' arg  { $$ = $1; ARENA_PUSH(A, $$->v, $$->n, $$->cap, $3); }
  ;

arg
  : expr             { $$.name = NULL; $$.value = $1; $$.name_span = @1; }
  | IDENT '=' expr   { $$.name = $1; $$.name_span = @1; $$.value = $3; }
  ;

%%

/* Names of tokens as messages print them: `)` rather than "')'". */
static const char *symbol_text(yysymbol_kind_t s) {
  const char *n = yysymbol_name(s);
  if (s == YYSYMBOL_YYEOF) return "end of file";
  if (n[0] == '\'' && n[2] == '\'' && n[3] == 0) {
    static const char *chars = "()[]{},:=+-*/@^<>";
    const char *p = strchr(chars, n[1]);
    static const char *quoted[] = {"`(`", "`)`", "`[`", "`]`", "`{`", "`}`", "`,`", "`:`",
                                   "`=`", "`+`", "`-`", "`*`", "`/`", "`@`", "`^`", "`<`", "`>`"};
    if (p) return quoted[p - chars];
  }
  if (n[0] == '"') return n + 1; /* never: Bison strips the quotes of aliases */
  return n;
}

const char *token_name(int tok) {
  if (tok == YYEOF) return "end of file";
  return symbol_text(YYTRANSLATE(tok));
}

static void report_reserved(Lexer *lx, const char *word, Span at) {
  diag_error(lx->ab.diags, at, "`%s` is not part of DML", word);
  if (strcmp(word, "if") == 0 || strcmp(word, "else") == 0)
    diag_hint(lx->ab.diags, "choose between values with select(cond, a, b); see docs/language.md");
  else if (strcmp(word, "while") == 0)
    diag_hint(lx->ab.diags, "loops run over a range: for i in 0..n { ... }");
  else
    diag_hint(lx->ab.diags, "`%s` is reserved for future use", word);
}

static bool is_char(yysymbol_kind_t s, char c) {
  const char *n = yysymbol_name(s);
  return n[0] == '\'' && n[1] == c && n[2] == '\'';
}

static bool expects_char(const yysymbol_kind_t *v, int n, char c) {
  for (int i = 0; i < n; i++)
    if (is_char(v[i], c)) return true;
  return false;
}

static bool expects(const yysymbol_kind_t *v, int n, yysymbol_kind_t s) {
  for (int i = 0; i < n; i++)
    if (v[i] == s) return true;
  return false;
}

/* "expected X, found Y": a set that admits an expression is summarised as
 * "an expression" instead of listing every token that may start one. */
static int yyreport_syntax_error(const yypcontext_t *ctx, Lexer *lx) {
  enum { MAX = 64 };
  yysymbol_kind_t exp[MAX];
  int n = yypcontext_expected_tokens(ctx, exp, MAX);
  if (n < 0) n = 0;
  yysymbol_kind_t got = yypcontext_token(ctx);
  const Span *loc = yypcontext_location(ctx);
  Arena *a = lx->ab.arena;
  const char *found;
  if (got == YYSYMBOL_IDENT || got == YYSYMBOL_NUMBER) {
    found = arena_printf(a, "%s `%.*s`", symbol_text(got), (int)(loc->hi - loc->lo),
                         loc->src->text + loc->lo);
  } else if (got == YYSYMBOL_DTYPE || got == YYSYMBOL_STRING) {
    found = arena_printf(a, "`%.*s`", (int)(loc->hi - loc->lo), loc->src->text + loc->lo);
  } else {
    found = symbol_text(got);
  }
  bool expr_start = expects(exp, n, YYSYMBOL_NUMBER) && expects(exp, n, YYSYMBOL_IDENT);
  bool operators = expects_char(exp, n, '+');
  const char *items[MAX + 2];
  int nitems = 0;
  bool eol = expects(exp, n, YYSYMBOL_SEP);
  for (int i = 0; i < n; i++) {
    yysymbol_kind_t s = exp[i];
    if (expr_start && (s == YYSYMBOL_NUMBER || s == YYSYMBOL_IDENT || s == YYSYMBOL_STRING ||
                       s == YYSYMBOL_TRUE || s == YYSYMBOL_FALSE || s == YYSYMBOL_DTYPE ||
                       is_char(s, '(') || (is_char(s, '-') && !operators)))
      continue;
    if (operators && (s == YYSYMBOL_LE || s == YYSYMBOL_GE || s == YYSYMBOL_EQ || s == YYSYMBOL_NE ||
                      (yysymbol_name(s)[0] == '\'' && strchr("+-*/@^<>[", yysymbol_name(s)[1]))))
      continue;
    if (s == YYSYMBOL_YYEOF && eol) continue; /* "end of line" says it */
    if (s == YYSYMBOL_RESERVED) continue;     /* never what anyone should write */
    items[nitems++] = symbol_text(s);
  }
  if (expr_start) items[nitems++] = "an expression";
  if (operators) items[nitems++] = "an operator";
  if (got == YYSYMBOL_RESERVED) {
    report_reserved(lx, arena_printf(a, "%.*s", (int)(loc->hi - loc->lo), loc->src->text + loc->lo), *loc);
    return 0;
  }
  if (got == YYSYMBOL_YYEOF && expects_char(exp, n, '}') && lx->nbraces > 0) {
    diag_error(lx->ab.diags, *loc, "expected `}` to close the block; found end of file");
    uint32_t open = lx->braces[(lx->nbraces > MAX_BRACES ? MAX_BRACES : lx->nbraces) - 1];
    Span at = {loc->src, open, open + 1};
    diag_note(lx->ab.diags, at, "the block opened here");
    return 0;
  }
  if (nitems == 0 || n == MAX) {
    diag_error(lx->ab.diags, *loc, "unexpected %s", found);
    return 0;
  }
  char buf[512];
  int len = 0;
  for (int i = 0; i < nitems && len < 400; i++)
    len += snprintf(buf + len, sizeof buf - (size_t)len, "%s%s", i == 0 ? "" : i == nitems - 1 ? " or " : ", ",
                    items[i]);
  diag_error(lx->ab.diags, *loc, "expected %s; found %s", buf, found);
  return 0;
}

void parse_source(Lexer *lx) {
  yyparse(lx);
}
