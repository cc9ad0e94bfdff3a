/* json.c - a strict RFC 8259 JSON reader and a string writer, for model
 * descriptions and safetensors headers.
 *
 * The reader is recursive descent over a byte range that need not be
 * NUL-terminated. It refuses what a lenient reader would guess at: trailing
 * commas, comments, leading zeros, NaN, raw control characters, bad UTF-8,
 * lone surrogates, \u0000 (our strings are NUL-terminated), duplicate keys,
 * trailing garbage. Errors point at the offending byte as LINE:COL, both
 * 1-based, the column counted in bytes; they are computed only when an error
 * happens, so the parse itself stays linear. */
#define _GNU_SOURCE /* strtod_l */
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "dml_runtime.h"

enum { JSON_MAX_DEPTH = 256 };

typedef struct Parser {
  const char *text;
  size_t len, pos;
  const char *what;
} Parser;

/* ---- errors ------------------------------------------------------------------- */

/* Report `fmt` at byte offset `at`, converted to a line and column. */
static bool __attribute__((format(printf, 3, 4))) fail_at(const Parser *p, size_t at, const char *fmt, ...) {
  long line = 1, col = 1;
  for (size_t i = 0; i < at && i < p->len; i++) {
    if (p->text[i] == '\n') line++, col = 1;
    else col++;
  }
  char message[1536];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  return rt_error_at(p->what, line, col, "%s", message);
}

/* "`x`", "byte 0xNN" or "the end of the text", for "found ..." messages. */
static const char *describe_byte(const Parser *p, size_t at, char buf[16]) {
  if (at >= p->len) return "the end of the text";
  unsigned char c = (unsigned char)p->text[at];
  if (c > 0x20 && c < 0x7f) snprintf(buf, 16, "`%c`", c);
  else snprintf(buf, 16, "byte 0x%02X", c);
  return buf;
}

/* ---- freeing ------------------------------------------------------------------ */

static void free_contents(Json *j) {
  if (j->kind == JSON_STR) free(j->str);
  if (j->kind == JSON_ARR || j->kind == JSON_OBJ) {
    for (int i = 0; i < j->n; i++) {
      free_contents(&j->items[i]);
      if (j->keys) free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
  }
  memset(j, 0, sizeof *j);
}

void json_free(Json *j) {
  if (!j) return;
  free_contents(j);
  free(j);
}

/* ---- lexical helpers ---------------------------------------------------------- */

static void skip_whitespace(Parser *p) {
  while (p->pos < p->len) {
    char c = p->text[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    p->pos++;
  }
}

static int peek(const Parser *p) { return p->pos < p->len ? (unsigned char)p->text[p->pos] : -1; }

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

static int hex_value(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Grow *items (and *keys when not NULL) to hold at least n + 1 entries. */
static bool grow(Json **items, char ***keys, int n, int *cap) {
  if (n < *cap) return true;
  if (*cap > (1 << 29)) return false;
  int new_cap = *cap ? *cap * 2 : 4;
  Json *it = realloc(*items, (size_t)new_cap * sizeof *it);
  if (!it) return false;
  *items = it;
  if (keys) {
    char **k = realloc(*keys, (size_t)new_cap * sizeof *k);
    if (!k) return false;
    *keys = k;
  }
  *cap = new_cap;
  return true;
}

/* ---- strings ------------------------------------------------------------------ */

static void put_utf8(char **out, uint32_t cp) {
  char *o = *out;
  if (cp < 0x80) {
    *o++ = (char)cp;
  } else if (cp < 0x800) {
    *o++ = (char)(0xC0 | (cp >> 6));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *o++ = (char)(0xE0 | (cp >> 12));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *o++ = (char)(0xF0 | (cp >> 18));
    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *o++ = (char)(0x80 | (cp & 0x3F));
  }
  *out = o;
}

/* Four hex digits after "\u" at p->pos (which points at the backslash). */
static bool read_hex4(Parser *p, uint32_t *cp) {
  if (p->len - p->pos < 6) return fail_at(p, p->pos, "`\\u` must be followed by 4 hex digits");
  uint32_t v = 0;
  for (int i = 2; i < 6; i++) {
    int h = hex_value((unsigned char)p->text[p->pos + (size_t)i]);
    if (h < 0) return fail_at(p, p->pos, "`\\u` must be followed by 4 hex digits");
    v = v << 4 | (uint32_t)h;
  }
  *cp = v;
  return true;
}

/* A \uXXXX escape, or a surrogate pair of two, at p->pos; appends UTF-8. */
static bool read_unicode_escape(Parser *p, char **out) {
  size_t start = p->pos;
  uint32_t cp;
  if (!read_hex4(p, &cp)) return false;
  p->pos += 6;
  if (cp == 0) return fail_at(p, start, "`\\u0000` is not allowed in a string");
  if (cp >= 0xDC00 && cp <= 0xDFFF) return fail_at(p, start, "unpaired surrogate `\\u%04X` in a string", cp);
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    uint32_t low = 0;
    bool paired = p->len - p->pos >= 6 && p->text[p->pos] == '\\' && p->text[p->pos + 1] == 'u' &&
                  read_hex4(p, &low) && low >= 0xDC00 && low <= 0xDFFF;
    if (!paired) return fail_at(p, start, "unpaired surrogate `\\u%04X` in a string", cp);
    p->pos += 6;
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
  }
  put_utf8(out, cp);
  return true;
}

/* The length of the well-formed UTF-8 sequence at s[0..n), 0 if it is not
 * one (overlong forms, encoded surrogates and code points past U+10FFFF are
 * not well-formed). */
static size_t utf8_sequence_length(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp, min;
  if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07, min = 0x10000;
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

static bool read_escape(Parser *p, char **out) {
  if (p->pos + 1 >= p->len) return fail_at(p, p->pos, "unterminated string");
  char c = p->text[p->pos + 1], decoded;
  switch (c) {
  case '"': decoded = '"'; break;
  case '\\': decoded = '\\'; break;
  case '/': decoded = '/'; break;
  case 'b': decoded = '\b'; break;
  case 'f': decoded = '\f'; break;
  case 'n': decoded = '\n'; break;
  case 'r': decoded = '\r'; break;
  case 't': decoded = '\t'; break;
  case 'u': return read_unicode_escape(p, out);
  default: {
    char buf[16];
    return fail_at(p, p->pos, "invalid escape `\\` followed by %s in a string", describe_byte(p, p->pos + 1, buf));
  }
  }
  *(*out)++ = decoded;
  p->pos += 2;
  return true;
}

/* A string literal at p->pos (the opening quote) into a new NUL-terminated
 * buffer. A first pass finds the closing quote; decoding never lengthens
 * the text, so the raw length bounds the buffer. */
static bool parse_string(Parser *p, char **result) {
  size_t open = p->pos++, end = p->pos;
  while (end < p->len && p->text[end] != '"') end += p->text[end] == '\\' ? 2 : 1;
  if (end >= p->len) return fail_at(p, open, "unterminated string");
  char *buf = malloc(end - p->pos + 1), *out = buf;
  if (!buf) return fail_at(p, open, "out of memory");
  for (;;) {
    unsigned char c = (unsigned char)p->text[p->pos];
    if (c == '"') break;
    bool ok = true;
    if (c == '\\') {
      ok = read_escape(p, &out);
    } else if (c < 0x20) {
      ok = fail_at(p, p->pos, "control character 0x%02X must be escaped in a string", c);
    } else if (c < 0x80) {
      *out++ = (char)c;
      p->pos++;
    } else {
      size_t n = utf8_sequence_length((const unsigned char *)p->text + p->pos, p->len - p->pos);
      if (n == 0) ok = fail_at(p, p->pos, "invalid UTF-8 in a string");
      memcpy(out, p->text + p->pos, n);
      out += n, p->pos += n;
    }
    if (!ok) {
      free(buf);
      return false;
    }
  }
  p->pos++;
  *out = '\0';
  *result = buf;
  return true;
}

/* ---- numbers ------------------------------------------------------------------ */

/* The C locale, so that a program that called setlocale still reads "1.5". */
static locale_t c_locale(void) {
  static locale_t loc;
  if (!loc) loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  return loc;
}

static bool skip_digits(Parser *p) {
  size_t start = p->pos;
  while (is_digit(peek(p))) p->pos++;
  return p->pos > start;
}

/* Check the RFC 8259 number grammar, then let strtod compute the value. */
static bool parse_number(Parser *p, Json *out) {
  size_t start = p->pos;
  if (peek(p) == '-') p->pos++;
  if (peek(p) == '0') {
    p->pos++;
    if (is_digit(peek(p))) return fail_at(p, start, "invalid number: leading zeros are not allowed");
  } else if (!skip_digits(p)) {
    char buf[16];
    return fail_at(p, p->pos, "invalid number: expected a digit after `-`, found %s", describe_byte(p, p->pos, buf));
  }
  if (peek(p) == '.') {
    p->pos++;
    if (!skip_digits(p)) return fail_at(p, p->pos, "invalid number: expected a digit after the decimal point");
  }
  if (peek(p) == 'e' || peek(p) == 'E') {
    p->pos++;
    if (peek(p) == '+' || peek(p) == '-') p->pos++;
    if (!skip_digits(p)) return fail_at(p, p->pos, "invalid number: expected a digit in the exponent");
  }
  /* strtod needs a terminated copy: the input need not end in a NUL. */
  size_t n = p->pos - start;
  char small[64], *copy = n < sizeof small ? small : malloc(n + 1);
  if (!copy) return fail_at(p, start, "out of memory");
  memcpy(copy, p->text + start, n);
  copy[n] = '\0';
  double v = c_locale() ? strtod_l(copy, NULL, c_locale()) : strtod(copy, NULL);
  if (copy != small) free(copy);
  if (isinf(v)) return fail_at(p, start, "number out of range");
  out->kind = JSON_NUM;
  out->num = v;
  return true;
}

/* ---- values ------------------------------------------------------------------- */

static bool parse_value(Parser *p, Json *out, int depth);

/* The word at p->pos (letters, digits, underscores), for true/false/null
 * and for naming what was found instead of a value. */
static bool parse_word(Parser *p, Json *out) {
  size_t start = p->pos, end = start;
  while (end < p->len) {
    char c = p->text[end];
    if (!(c == '_' || is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) break;
    end++;
  }
  size_t n = end - start;
  const char *w = p->text + start;
  if (n == 4 && !memcmp(w, "null", 4)) out->kind = JSON_NULL;
  else if (n == 4 && !memcmp(w, "true", 4)) out->kind = JSON_BOOL, out->boolean = true;
  else if (n == 5 && !memcmp(w, "false", 5)) out->kind = JSON_BOOL, out->boolean = false;
  else return fail_at(p, start, "expected a value, found `%.*s`", (int)(n > 40 ? 40 : n), w);
  p->pos = end;
  return true;
}

static bool parse_array(Parser *p, Json *out, int depth) {
  out->kind = JSON_ARR;
  p->pos++;
  skip_whitespace(p);
  if (peek(p) == ']') {
    p->pos++;
    return true;
  }
  int cap = 0;
  for (;;) {
    if (!grow(&out->items, NULL, out->n, &cap)) return fail_at(p, p->pos, "out of memory");
    Json *item = &out->items[out->n];
    memset(item, 0, sizeof *item);
    if (!parse_value(p, item, depth + 1)) {
      free_contents(item);
      return false;
    }
    out->n++;
    skip_whitespace(p);
    int c = peek(p);
    p->pos++;
    if (c == ']') return true;
    if (c != ',') {
      char buf[16];
      return fail_at(p, p->pos - 1, "expected `,` or `]` after an array element, found %s",
                     describe_byte(p, p->pos - 1, buf));
    }
    skip_whitespace(p);
  }
}

/* ---- duplicate keys: an open-addressing set of key indices per object --------- */

typedef struct KeySet {
  int *slots; /* index into keys, -1 when empty */
  size_t mask;
} KeySet;

static size_t hash_key(const char *s) {
  size_t h = 1469598103934665603u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

/* Insert keys[i]; false if an equal key is present. */
static bool keyset_insert(KeySet *set, char **keys, int i) {
  size_t h = hash_key(keys[i]) & set->mask;
  while (set->slots[h] >= 0) {
    if (!strcmp(keys[set->slots[h]], keys[i])) return false;
    h = (h + 1) & set->mask;
  }
  set->slots[h] = i;
  return true;
}

/* Keep the table at most half full: rebuild it twice as large when the
 * n-th key arrives (n keys already stored). */
static bool keyset_reserve(KeySet *set, char **keys, int n) {
  if (set->slots && (size_t)(n + 1) * 2 <= set->mask + 1) return true;
  size_t size = set->slots ? (set->mask + 1) * 2 : 16;
  int *slots = malloc(size * sizeof *slots);
  if (!slots) return false;
  memset(slots, 0xff, size * sizeof *slots);
  free(set->slots);
  set->slots = slots;
  set->mask = size - 1;
  for (int i = 0; i < n; i++) keyset_insert(set, keys, i);
  return true;
}

/* s as a JSON literal for an error message, cut short if long. */
static const char *quote_for_message(const char *s, char buf[96]) {
  char *memory = NULL;
  size_t size = 0;
  FILE *m = open_memstream(&memory, &size);
  if (!m) return "\"...\"";
  json_write_string(m, s);
  fclose(m);
  if (size < 96) snprintf(buf, 96, "%s", memory);
  else snprintf(buf, 96, "%.88s...\"", memory);
  free(memory);
  return buf;
}

/* One "key": value member; on failure out->n counts only complete members. */
static bool parse_member(Parser *p, Json *out, KeySet *set, int *cap, int depth) {
  if (peek(p) != '"') {
    char buf[16];
    return fail_at(p, p->pos, "expected a string key in an object, found %s", describe_byte(p, p->pos, buf));
  }
  if (!grow(&out->items, &out->keys, out->n, cap) || !keyset_reserve(set, out->keys, out->n))
    return fail_at(p, p->pos, "out of memory");
  size_t key_at = p->pos;
  char *key;
  if (!parse_string(p, &key)) return false;
  out->keys[out->n] = key;
  if (!keyset_insert(set, out->keys, out->n)) {
    char buf[96];
    fail_at(p, key_at, "duplicate key %s in an object", quote_for_message(key, buf));
    free(key);
    return false;
  }
  skip_whitespace(p);
  if (peek(p) != ':') {
    free(key);
    return fail_at(p, p->pos, "expected `:` after an object key");
  }
  p->pos++;
  skip_whitespace(p);
  Json *value = &out->items[out->n];
  memset(value, 0, sizeof *value);
  if (!parse_value(p, value, depth + 1)) {
    free_contents(value);
    free(key);
    return false;
  }
  out->n++;
  return true;
}

static bool parse_object(Parser *p, Json *out, int depth) {
  out->kind = JSON_OBJ;
  p->pos++;
  skip_whitespace(p);
  if (peek(p) == '}') {
    p->pos++;
    return true;
  }
  KeySet set = {NULL, 0};
  int cap = 0;
  bool ok;
  for (;;) {
    ok = parse_member(p, out, &set, &cap, depth);
    if (!ok) break;
    skip_whitespace(p);
    int c = peek(p);
    p->pos++;
    if (c == '}') break;
    if (c != ',') {
      char buf[16];
      ok = fail_at(p, p->pos - 1, "expected `,` or `}` after an object member, found %s",
                   describe_byte(p, p->pos - 1, buf));
      break;
    }
    skip_whitespace(p);
  }
  free(set.slots);
  return ok;
}

/* One value at p->pos (whitespace already skipped). On failure *out may hold
 * a partial tree, which free_contents releases. */
static bool parse_value(Parser *p, Json *out, int depth) {
  char buf[16];
  int c = peek(p);
  if ((c == '[' || c == '{') && depth >= JSON_MAX_DEPTH)
    return fail_at(p, p->pos, "nesting deeper than %d levels", JSON_MAX_DEPTH);
  if (c == '{') return parse_object(p, out, depth);
  if (c == '[') return parse_array(p, out, depth);
  if (c == '"') {
    out->kind = JSON_STR;
    return parse_string(p, &out->str);
  }
  if (c == '-' || is_digit(c)) return parse_number(p, out);
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return parse_word(p, out);
  return fail_at(p, p->pos, "expected a value, found %s", describe_byte(p, p->pos, buf));
}

Json *json_parse(const char *text, size_t len, const char *what) {
  Parser p = {text, len, 0, what};
  const char *nul = memchr(text, '\0', len);
  if (nul) {
    fail_at(&p, (size_t)(nul - text), "NUL byte in the text");
    return NULL;
  }
  Json *root = calloc(1, sizeof *root);
  if (!root) {
    rt_error_at(what, 0, 0, "out of memory");
    return NULL;
  }
  skip_whitespace(&p);
  bool ok = parse_value(&p, root, 0);
  if (ok) {
    skip_whitespace(&p);
    char buf[16];
    if (p.pos < len) ok = fail_at(&p, p.pos, "unexpected %s after the JSON value", describe_byte(&p, p.pos, buf));
  }
  if (!ok) {
    json_free(root);
    return NULL;
  }
  return root;
}

const Json *json_get(const Json *obj, const char *key) {
  if (!obj || obj->kind != JSON_OBJ) return NULL;
  for (int i = 0; i < obj->n; i++)
    if (!strcmp(obj->keys[i], key)) return &obj->items[i];
  return NULL;
}

/* ---- writing ------------------------------------------------------------------ */

void json_write_string(FILE *out, const char *s) {
  putc('"', out);
  const char *run = s; /* the start of bytes that need no escape */
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    fwrite(run, 1, (size_t)(s - run), out);
    run = s + 1;
    switch (c) {
    case '"': fputs("\\\"", out); break;
    case '\\': fputs("\\\\", out); break;
    case '\n': fputs("\\n", out); break;
    case '\t': fputs("\\t", out); break;
    case '\r': fputs("\\r", out); break;
    case '\b': fputs("\\b", out); break;
    case '\f': fputs("\\f", out); break;
    default: fprintf(out, "\\u%04X", c); break;
    }
  }
  fwrite(run, 1, (size_t)(s - run), out);
  putc('"', out);
}
