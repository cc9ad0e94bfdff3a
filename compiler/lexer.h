/* lexer.h - the lexer state, shared by lexer.re and parser.y.
 *
 * The parser is pure and reentrant: all its state, and the lexer's, lives in
 * this struct, passed to yylex and yyparse through Bison's %param. */
#ifndef DMLC_LEXER_H
#define DMLC_LEXER_H
#include "ast.h"

typedef struct Lexer {
  const Source *src;
  const unsigned char *cur, *tok, *mark, *lim;
  int paren_depth;       /* newlines inside ( ) and [ ] do not end statements */
  int last;              /* previous token kind, for newline insertion */
  AstBuilder ab;         /* arena and diagnostics for the parser actions */
  Program *prog;         /* the parser's result */
  bool too_deep_reported;
  int pending;           /* a token to return next (after an inserted SEP) */
  uint32_t prev_lo, prev_end; /* where the previous token started and ended */
  Span pending_loc;
  uint32_t braces[64];   /* offsets of the innermost open `{`, for messages */
  int nbraces;           /* may exceed 64; only the last 64 are kept */
} Lexer;

enum { MAX_BRACES = 64 };

void lexer_init(Lexer *lx, const Source *src, Arena *a, Diags *d);
/* Parse a whole source into lx->prog; errors go to the Diags. */
void parse_source(Lexer *lx);
/* For `dmlc emit tokens`: the token's name as the parser's messages use it. */
const char *token_name(int tok);

#endif
