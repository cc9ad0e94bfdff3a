/* lexer.re - turns source bytes into tokens (re2c).
 *
 * One rule block over a NUL-terminated buffer, keywords before identifiers.
 * The one idea: newlines end statements, as in Go. A newline becomes a SEP
 * token when the token before it can end an expression (a name, a literal,
 * a closing bracket) and we are not inside ( ) or [ ]; so a line ending in an
 * operator or a comma continues on the next one. Bad bytes, invalid UTF-8,
 * unterminated strings and comments are reported with their position and
 * skipped, so lexing always reaches the end of the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "parser.h"

void lexer_init(Lexer *lx, const Source *src, Arena *a, Diags *d) {
  memset(lx, 0, sizeof *lx);
  lx->src = src;
  lx->cur = (const unsigned char *)src->text;
  lx->lim = lx->cur + src->len;
  if (src->len >= 3 && memcmp(lx->cur, "\xEF\xBB\xBF", 3) == 0) lx->cur += 3; /* a UTF-8 BOM, as editors write */
  lx->ab.arena = a;
  lx->ab.diags = d;
  lx->prog = ARENA_NEW(a, Program);
  lx->last = SEP;
}

static Span span_at(Lexer *lx, const unsigned char *lo, const unsigned char *hi) {
  const unsigned char *base = (const unsigned char *)lx->src->text;
  Span s = {lx->src, (uint32_t)(lo - base), (uint32_t)(hi - base)};
  return s;
}

/* Comments and strings may hold any UTF-8 text; report the first bad byte. */
static void check_utf8(Lexer *lx, const unsigned char *p, const unsigned char *end) {
  while (p < end) {
    int n = utf8_sequence_length(p, end);
    if (n == 0) {
      diag_error(lx->ab.diags, span_at(lx, p, p + 1), "invalid UTF-8 byte 0x%02X", *p);
      return;
    }
    p += n;
  }
}

static void stray_byte(Lexer *lx) {
  const unsigned char *p = lx->tok;
  int n = utf8_sequence_length(p, lx->lim);
  Diags *d = lx->ab.diags;
  if (*p == 0) {
    diag_error(d, span_at(lx, p, p + 1), "unexpected NUL byte");
  } else if (n == 0) {
    diag_error(d, span_at(lx, p, p + 1), "invalid UTF-8 byte 0x%02X", *p);
  } else if (n > 1) {
    unsigned cp = p[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) cp = (cp << 6) | (p[i] & 0x3F);
    diag_error(d, span_at(lx, p, p + n), "unexpected character `%.*s` (U+%04X)", n, (const char *)p, cp);
    lx->cur = p + n;
  } else if (*p >= 32 && *p < 127) {
    diag_error(d, span_at(lx, p, p + 1), "unexpected character `%c`", *p);
    if (*p == '.') diag_hint(d, "ranges are written `a..b`; numbers need a digit on both sides of the point, as in `0.5`");
  } else {
    diag_error(d, span_at(lx, p, p + 1), "unexpected control byte 0x%02X", *p);
  }
}

/* `W.T`, `x.sum()`: there is no member access; say what to write. */
static void member_access(Lexer *lx) {
  const unsigned char *name = lx->tok + 1, *end = name;
  while (end < lx->cur && (*end == '_' || (unsigned)((*end | 32) - 'a') < 26 || (unsigned)(*end - '0') < 10)) end++;
  int len = (int)(end - name);
  const char *base = lx->src->text;
  bool named = lx->last == IDENT && lx->prev_end - lx->prev_lo < 64;
  int olen = named ? (int)(lx->prev_end - lx->prev_lo) : 3;
  const char *obj = named ? base + lx->prev_lo : "...";
  Diags *d = lx->ab.diags;
  diag_error(d, span_at(lx, lx->tok, lx->cur), "there is no member access `.%.*s` in DML", len, (const char *)name);
  if ((len == 1 && (*name == 'T' || *name == 't')) || (len == 9 && memcmp(name, "transpose", 9) == 0) ||
      (len == 2 && memcmp(name, "mT", 2) == 0))
    diag_hint(d, "transpose a matrix with `transpose(%.*s)`", olen, obj);
  else
    diag_hint(d, "functions take the value as an argument, as in `%.*s(%.*s)`", len, (const char *)name, olen, obj);
}

/* Operators of other languages: `**`, `&&`, `||`, `&`, `|`. */
static void foreign_operator(Lexer *lx) {
  int len = (int)(lx->cur - lx->tok);
  Diags *d = lx->ab.diags;
  diag_error(d, span_at(lx, lx->tok, lx->cur), "there is no `%.*s` operator in DML", len, (const char *)lx->tok);
  if (lx->tok[0] == '*')
    diag_hint(d, "a power is written with `^`, as in `x ^ 2`");
  else if (lx->tok[0] == '&')
    diag_hint(d, "to choose x where both a and b hold, nest the choices: `select(a, select(b, x, y), y)`");
  else
    diag_hint(d, "to choose x where a or b holds, nest the choices: `select(a, x, select(b, x, y))`");
}

/* After the opening quote: read to the closing quote, unescaping. */
static int lex_string(Lexer *lx, YYSTYPE *val) {
  const unsigned char *p = lx->cur;
  size_t cap = 16, len = 0;
  char *buf = arena_alloc(lx->ab.arena, cap);
  for (;;) {
    if (p >= lx->lim || *p == '\n') {
      diag_error(lx->ab.diags, span_at(lx, lx->tok, lx->tok + 1), "unterminated string");
      diag_hint(lx->ab.diags, "close the string with `\"` before the end of the line");
      lx->cur = p;
      val->str = buf;
      return STRING;
    }
    char c = (char)*p;
    if (c == '"') break;
    if (c == '\\' && (p + 1 >= lx->lim || p[1] == '\n')) { /* nothing to escape: unterminated */
      p++;
      continue;
    }
    if (c == '\\') {
      char e = (char)p[1];
      const char *from = "nt\\\"0", *to = "\n\t\\\"";
      const char *k = (e && p + 1 < lx->lim) ? strchr(from, e) : NULL;
      if (!k || e == '0') {
        diag_error(lx->ab.diags, span_at(lx, p, p + 2 <= lx->lim ? p + 2 : p + 1),
                   "unknown escape sequence in string");
        diag_hint(lx->ab.diags, "the escapes are \\n, \\t, \\\\ and \\\"");
        c = e ? e : '\\';
      } else {
        c = to[k - from];
      }
      p++;
    }
    if (len + 2 > cap) {
      char *nb = arena_alloc(lx->ab.arena, cap * 2);
      memcpy(nb, buf, len);
      buf = nb;
      cap *= 2;
    }
    buf[len++] = c;
    p++;
  }
  check_utf8(lx, lx->cur, p);
  buf[len] = 0;
  lx->cur = p + 1;
  val->str = buf;
  return STRING;
}

/* Returns whether the comment spans lines: then it ends a statement as the
 * newline it contains would. */
static bool skip_block_comment(Lexer *lx) {
  const unsigned char *p = lx->cur;
  while (p + 1 < lx->lim && !(p[0] == '*' && p[1] == '/')) p++;
  bool multiline = memchr(lx->cur, '\n', (size_t)(p - lx->cur)) != NULL;
  if (p + 1 >= lx->lim) {
    diag_error(lx->ab.diags, span_at(lx, lx->tok, lx->tok + 2), "unterminated comment");
    diag_hint(lx->ab.diags, "a `/*` comment ends with `*/`");
    check_utf8(lx, lx->cur, lx->lim);
    lx->cur = lx->lim;
    return false;
  }
  check_utf8(lx, lx->cur, p);
  lx->cur = p + 2;
  return multiline;
}

/* These keywords only ever start a statement or item. Seeing one means a
 * bracket was left open or a line was cut short: newlines end statements
 * again, and a separator is inserted before the keyword so the parser
 * reports the cut line and resumes at the keyword, not after it. */
static int statement_keyword(Lexer *lx, int tok) {
  lx->paren_depth = 0;
  if (lx->last != SEP && lx->last != '{') {
    lx->pending = tok;
    return SEP;
  }
  return tok;
}

static bool ends_expression(int tok) {
  return tok == IDENT || tok == NUMBER || tok == STRING || tok == TRUE || tok == FALSE || tok == RESERVED ||
         tok == ')' || tok == ']' || tok == '}';
}

static int lex_token(Lexer *lx, YYSTYPE *val) {
  for (;;) {
    lx->tok = lx->cur;
    /*!re2c
      re2c:define:YYCTYPE = "unsigned char";
      re2c:define:YYCURSOR = "lx->cur";
      re2c:define:YYMARKER = "lx->mark";
      re2c:yyfill:enable = 0;

      digit = [0-9];
      ident = [a-zA-Z_][a-zA-Z_0-9]*;
      exponent = [eE] [+-]? digit+;
      integer = digit+;
      float = digit+ "." digit+ exponent? | digit+ exponent;

      "\x00" {
        if (lx->tok >= lx->lim) { lx->cur = lx->tok; return YYEOF; }
        stray_byte(lx);
        return YYerror;
      }
      [ \t\r\v\f]+ { continue; }
      "\n" {
        if (lx->paren_depth == 0 && ends_expression(lx->last)) return SEP;
        continue;
      }
      "//" [^\n\x00]* { check_utf8(lx, lx->tok + 2, lx->cur); continue; }
      "/*" {
        if (skip_block_comment(lx) && lx->paren_depth == 0 && ends_expression(lx->last)) return SEP;
        continue;
      }
      ["] { return lex_string(lx, val); }

      "use"    { return statement_keyword(lx, USE); }
      "const"  { return statement_keyword(lx, CONST); }
      "param"  { return statement_keyword(lx, PARAM); }
      "fn"     { return statement_keyword(lx, FN); }
      "loss"   { return statement_keyword(lx, LOSS); }
      "train"  { return statement_keyword(lx, TRAIN); }
      "let"    { return statement_keyword(lx, LET); }
      "var"    { return statement_keyword(lx, VAR); }
      "for"    { return statement_keyword(lx, FOR); }
      "in"     { return IN; }
      "return" { return statement_keyword(lx, RETURN); }
      "true"   { return TRUE; }
      "false"  { return FALSE; }
      "f32"    { val->dtype = DT_F32; return DTYPE; }
      "f64"    { val->dtype = DT_F64; return DTYPE; }
      "i32"    { val->dtype = DT_I32; return DTYPE; }
      "bool"   { val->dtype = DT_BOOL; return DTYPE; }
      "real"   { val->dtype = DT_REAL; return DTYPE; }
      "if" | "else" | "while" | "break" | "continue" | "match" | "struct" {
        val->str = arena_strndup(lx->ab.arena, (const char *)lx->tok, (size_t)(lx->cur - lx->tok));
        return RESERVED;
      }

      ident {
        val->str = arena_strndup(lx->ab.arena, (const char *)lx->tok, (size_t)(lx->cur - lx->tok));
        return IDENT;
      }
      integer | float {
        char *text = arena_strndup(lx->ab.arena, (const char *)lx->tok, (size_t)(lx->cur - lx->tok));
        val->num.value = strtod(text, NULL);
        val->num.is_int = strpbrk(text, ".eE") == NULL;
        return NUMBER;
      }
      integer ident | float ident {
        diag_error(lx->ab.diags, span_at(lx, lx->tok, lx->cur),
                   "invalid number `%.*s`", (int)(lx->cur - lx->tok), (const char *)lx->tok);
        diag_hint(lx->ab.diags, "put an operator between a number and a name, as in `2 * x`");
        val->num.value = 0;
        val->num.is_int = true;
        return NUMBER;
      }

      "." ident ("(" [ \t]* ")")? {
        if (!ends_expression(lx->last) || lx->last == NUMBER) { /* `1.e5`: a number's point */
          lx->cur = lx->tok + 1;
          stray_byte(lx);
          return YYerror;
        }
        member_access(lx);
        return YYerror;
      }
      "**" { foreign_operator(lx); return '^'; } /* read on as the power it meant */
      "&&" | "||" | "&" | "|" { foreign_operator(lx); return YYerror; }

      "->" { return ARROW; }
      ".." { return DOTDOT; }
      "<=" { return LE; }
      ">=" { return GE; }
      "==" { return EQ; }
      "!=" { return NE; }
      "+=" { return PLUS_ASSIGN; }
      "-=" { return MINUS_ASSIGN; }
      "*=" { return STAR_ASSIGN; }
      "/=" { return SLASH_ASSIGN; }
      ";"  { return SEP; }
      "(" | "[" { lx->paren_depth++; return lx->tok[0]; }
      ")" | "]" { if (lx->paren_depth > 0) lx->paren_depth--; return lx->tok[0]; }
      "{" {
        lx->paren_depth = 0;
        if (lx->nbraces < MAX_BRACES) lx->braces[lx->nbraces] = (uint32_t)(lx->tok - (const unsigned char *)lx->src->text);
        lx->nbraces++;
        return '{';
      }
      "}" {
        lx->paren_depth = 0;
        if (lx->nbraces > 0) lx->nbraces--;
        return '}';
      }
      [-+*/@^<>=,:] { return lx->tok[0]; }

      * { stray_byte(lx); return YYerror; } /* reported: the parser recovers silently */
    */
  }
}

int yylex(YYSTYPE *val, Span *loc, Lexer *lx) {
  if (lx->pending) {
    int tok = lx->pending;
    lx->pending = 0;
    *loc = lx->pending_loc;
    lx->last = tok;
    return tok;
  }
  int tok = lex_token(lx, val);
  *loc = span_at(lx, lx->tok, lx->cur);
  if (lx->pending) { /* an inserted separator: zero width, where the cut line ends */
    lx->pending_loc = *loc;
    loc->lo = loc->hi = lx->prev_end;
  }
  if (tok == YYEOF) {
    loc->lo = loc->hi = lx->prev_end; /* point after the last token, not at an empty line */
    /* A last statement without a newline still needs its separator. */
    if (lx->paren_depth == 0 && ends_expression(lx->last)) tok = SEP;
  }
  lx->last = tok;
  if (tok != SEP) lx->prev_lo = loc->lo, lx->prev_end = loc->hi;
  return tok;
}
