/* diag.c - see diag.h.
 *
 * Columns are 1-based byte offsets within the line (as GCC's -fdiagnostics-
 * column-unit=byte); the underline is drawn in display columns, so tabs,
 * UTF-8 text and invalid bytes (shown escaped) before the span do not shift
 * the caret. */
#include "diag.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAX_SOURCE_BYTES = 64 << 20 };

static int sources_loaded;

static void index_lines(Arena *a, Source *s) {
  int n = 1;
  for (uint32_t i = 0; i < s->len; i++)
    if (s->text[i] == '\n') n++;
  s->line_starts = arena_alloc(a, sizeof(uint32_t) * (size_t)n);
  s->line_starts[0] = 0;
  int k = 1;
  for (uint32_t i = 0; i < s->len; i++)
    if (s->text[i] == '\n') s->line_starts[k++] = i + 1;
  s->nlines = n;
  s->order = sources_loaded++;
}

Source *source_from_memory(Arena *a, const char *name, const char *text, size_t len) {
  Source *s = ARENA_NEW(a, Source);
  s->name = arena_strndup(a, name, strlen(name));
  s->text = arena_alloc(a, len + 1);
  memcpy(s->text, text, len);
  s->text[len] = 0;
  s->len = (uint32_t)len;
  index_lines(a, s);
  return s;
}

Source *source_from_file(Arena *a, const char *path, char **why) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    *why = arena_printf(a, "cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fclose(f);
    *why = arena_printf(a, "cannot read %s: it is a directory", path);
    return NULL;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
    len += got;
    if (len > MAX_SOURCE_BYTES) break;
    if (len == cap) buf = realloc(buf, cap *= 2);
  }
  bool failed = !buf || ferror(f);
  fclose(f);
  if (failed || len > MAX_SOURCE_BYTES) {
    free(buf);
    *why = failed ? arena_printf(a, "cannot read %s", path)
                  : arena_printf(a, "%s is larger than %d MiB", path, MAX_SOURCE_BYTES >> 20);
    return NULL;
  }
  Source *s = source_from_memory(a, path, buf, len);
  free(buf);
  return s;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is invalid. */
int utf8_sequence_length(const unsigned char *p, const unsigned char *lim) {
  unsigned c = p[0];
  int n;
  unsigned lo = 0x80, hi = 0xBF;
  if (c < 0x80) return 1;
  else if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) { n = 3; lo = 0xA0; }
  else if (c >= 0xE1 && c <= 0xEF) { n = 3; if (c == 0xED) hi = 0x9F; }
  else if (c == 0xF0) { n = 4; lo = 0x90; }
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else if (c == 0xF4) { n = 4; hi = 0x8F; }
  else return 0;
  if (lim - p < n) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (int i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  return n;
}

/* Line of byte offset `off`: binary search over line starts. */
static int line_of(const Source *s, uint32_t off) {
  int lo = 0, hi = s->nlines - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (s->line_starts[mid] <= off) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

void span_line_col(Span sp, int *line, int *col) {
  int l = line_of(sp.src, sp.lo);
  *line = l + 1;
  *col = (int)(sp.lo - sp.src->line_starts[l]) + 1;
}

Span span_join(Span a, Span b) {
  if (!a.src) return b;
  if (!b.src || a.src != b.src) return a;
  Span s = a;
  if (b.lo < s.lo) s.lo = b.lo;
  if (b.hi > s.hi) s.hi = b.hi;
  return s;
}

void diag_init(Diags *d, Arena *a) {
  memset(d, 0, sizeof *d);
  d->arena = a;
  d->limit = DIAG_DEFAULT_LIMIT;
}

bool diag_saturated(const Diags *d) { return d->limit && d->nerrors >= d->limit; }

static Diag *make(Diags *d, DiagLevel lv, Span at, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  char *msg = arena_alloc(d->arena, (size_t)n + 1);
  vsnprintf(msg, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  Diag *g = ARENA_NEW(d->arena, Diag);
  g->level = lv;
  g->span = at;
  g->msg = msg;
  return g;
}

/* The same message at the same place is reported once. */
static bool is_duplicate(Diags *d, Diag *g) {
  for (int i = d->len - 1; i >= 0 && i >= d->len - 64; i--) {
    Diag *o = d->list[i];
    if (o->level == g->level && o->span.src == g->span.src && o->span.lo == g->span.lo &&
        strcmp(o->msg, g->msg) == 0)
      return true;
  }
  return false;
}

static void add_top(Diags *d, Diag *g) {
  if (is_duplicate(d, g)) {
    d->last = NULL; /* notes of a dropped duplicate are dropped too */
    return;
  }
  bool is_error = g->level == DIAG_ERROR;
  if (d->limit && (is_error ? d->nerrors : d->nwarnings) >= d->limit) {
    /* counted for the summary and the exit status, not kept */
    if (is_error) d->nerrors++, d->dropped_errors++;
    else d->nwarnings++, d->dropped_warnings++;
    d->last = NULL;
    return;
  }
  g->seq = d->len;
  ARENA_PUSH(d->arena, d->list, d->len, d->cap, g);
  d->last = g;
  if (g->level == DIAG_ERROR) d->nerrors++;
  else d->nwarnings++;
}

void diag_error(Diags *d, Span at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  add_top(d, make(d, DIAG_ERROR, at, fmt, ap));
  va_end(ap);
}

void diag_warning(Diags *d, Span at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  add_top(d, make(d, d->werror ? DIAG_ERROR : DIAG_WARNING, at, fmt, ap));
  va_end(ap);
}

static void attach(Diags *d, Diag *g) {
  if (!d->last) return;
  Diag **p = &d->last->notes;
  while (*p) p = &(*p)->next;
  *p = g;
}

void diag_note(Diags *d, Span at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  attach(d, make(d, DIAG_NOTE, at, fmt, ap));
  va_end(ap);
}

void diag_hint(Diags *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  Span none = {0};
  attach(d, make(d, DIAG_HINT, none, fmt, ap));
  va_end(ap);
}

static int compare_diags(const void *pa, const void *pb) {
  const Diag *a = *(Diag *const *)pa, *b = *(Diag *const *)pb;
  int oa = a->span.src ? a->span.src->order : -1, ob = b->span.src ? b->span.src->order : -1;
  if (oa != ob) return oa < ob ? -1 : 1;
  if (a->span.lo != b->span.lo) return a->span.lo < b->span.lo ? -1 : 1;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static const char *color(Diags *d, const char *code) { return d->color ? code : ""; }

/* How a unit of the line is shown: a valid UTF-8 character as itself (one
 * column), an invalid byte escaped as \xFF (four), a control byte as `?`,
 * a tab as a tab. The line and the underline below it walk the same units,
 * so the caret stays under its span whatever comes before it. */
typedef struct Shown {
  int bytes;   /* of the source */
  int width;   /* columns on screen; 0 for a tab, which is copied */
} Shown;

static Shown shown_unit(const unsigned char *p, const unsigned char *lim) {
  if (*p == '\t') return (Shown){1, 0};
  if (*p < 32 || *p == 127) return (Shown){1, 1};
  int n = utf8_sequence_length(p, lim);
  return n ? (Shown){n, 1} : (Shown){1, 4};
}

static void print_unit(FILE *out, const unsigned char *p, Shown u) {
  if (u.width == 4) fprintf(out, "\\x%02X", *p);
  else if (*p == '\t' || (*p >= 32 && *p != 127)) fwrite(p, 1, (size_t)u.bytes, out);
  else fputc('?', out);
}

/* The source line, then spaces up to the span and `^~~~` under it. Only the
 * first line of a multi-line span is shown. */
static void print_excerpt(Diags *d, FILE *out, Span sp) {
  const Source *s = sp.src;
  int l = line_of(s, sp.lo);
  enum { MAX_SHOWN = 240 };
  uint32_t start = s->line_starts[l];
  uint32_t end = start;
  /* a huge line is shown only in part: do not scan all of it */
  while (end < s->len && end - start <= MAX_SHOWN && s->text[end] != '\n') end++;
  if (end > start && s->text[end - 1] == '\r') end--;
  uint32_t shown_end = end - start > MAX_SHOWN ? start + MAX_SHOWN : end;
  if (sp.lo > shown_end) return; /* the span starts off screen on a huge line */
  const unsigned char *text = (const unsigned char *)s->text, *lim = text + shown_end;
  fputs("    ", out);
  for (uint32_t i = start; i < shown_end;) {
    Shown u = shown_unit(text + i, lim);
    print_unit(out, text + i, u);
    i += (uint32_t)u.bytes;
  }
  fputc('\n', out);
  fputs("    ", out);
  uint32_t i = start;
  while (i < sp.lo) {
    Shown u = shown_unit(text + i, lim);
    if (!u.width) fputc('\t', out);
    for (int k = 0; k < u.width; k++) fputc(' ', out);
    i += (uint32_t)u.bytes;
  }
  uint32_t hi = sp.hi > shown_end ? shown_end : sp.hi;
  fputs(color(d, "\033[1;32m"), out);
  int columns = 0; /* of the span; a tab in it counts one */
  for (uint32_t k = i; k < hi;) {
    Shown u = shown_unit(text + k, lim);
    columns += u.width ? u.width : 1;
    k += (uint32_t)u.bytes;
  }
  fputc('^', out);
  for (int c = 1; c < columns; c++) fputc('~', out);
  fputs(color(d, "\033[0m"), out);
  fputc('\n', out);
}

static void print_one(Diags *d, FILE *out, const Diag *g) {
  static const char *names[] = {"error", "warning", "note", "hint"};
  static const char *colors[] = {"\033[1;31m", "\033[1;35m", "\033[1;36m", "\033[1;36m"};
  if (g->span.src) {
    int line, col;
    span_line_col(g->span, &line, &col);
    fprintf(out, "%s%s:%d:%d:%s ", color(d, "\033[1m"), g->span.src->name, line, col,
            color(d, "\033[0m"));
  }
  fprintf(out, "%s%s:%s %s%s%s\n", color(d, colors[g->level]), names[g->level],
          color(d, "\033[0m"), color(d, "\033[1m"), g->msg, color(d, "\033[0m"));
  if (g->span.src) print_excerpt(d, out, g->span);
}

int diag_flush(Diags *d, FILE *out) {
  if (d->len) qsort(d->list, (size_t)d->len, sizeof(Diag *), compare_diags);
  for (int i = 0; i < d->len; i++) {
    print_one(d, out, d->list[i]);
    for (const Diag *n = d->list[i]->notes; n; n = n->next) print_one(d, out, n);
  }
  if (d->dropped_errors || d->dropped_warnings)
    fprintf(out, "%d more error%s and %d more warning%s not shown (the first %d of each are)\n", d->dropped_errors,
            d->dropped_errors == 1 ? "" : "s", d->dropped_warnings, d->dropped_warnings == 1 ? "" : "s", d->limit);
  if (d->nerrors || d->nwarnings) {
    if (d->nerrors && d->nwarnings)
      fprintf(out, "%d error%s and %d warning%s generated.\n", d->nerrors,
              d->nerrors == 1 ? "" : "s", d->nwarnings, d->nwarnings == 1 ? "" : "s");
    else if (d->nerrors)
      fprintf(out, "%d error%s generated.\n", d->nerrors, d->nerrors == 1 ? "" : "s");
    else
      fprintf(out, "%d warning%s generated.\n", d->nwarnings, d->nwarnings == 1 ? "" : "s");
  }
  int n = d->nerrors;
  d->len = 0;
  d->nerrors = d->nwarnings = 0;
  d->dropped_errors = d->dropped_warnings = 0;
  d->last = NULL;
  return n;
}
