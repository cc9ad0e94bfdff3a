/* diag.h - sources, spans and diagnostics.
 *
 * Every phase reports problems through a Diags collector instead of printing:
 * the driver sorts them by position and prints them all at the end, in the
 * GCC/Clang form `file:line:col: error: message`, followed by the source line,
 * an underline under the offending span, and any notes or hints. */
#ifndef DMLC_DIAG_H
#define DMLC_DIAG_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "arena.h"

typedef struct Source {
  const char *name;     /* path as the user wrote it */
  char *text;           /* contents, NUL-terminated (may hold NULs inside) */
  uint32_t len;
  uint32_t *line_starts; /* byte offset of each line's first byte */
  int nlines;
  int order;            /* load order: sorts diagnostics across files */
} Source;

/* A half-open byte range [lo, hi) of one source. */
typedef struct Span {
  const Source *src;
  uint32_t lo, hi;
} Span;

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE, DIAG_HINT } DiagLevel;

typedef struct Diag {
  DiagLevel level;
  Span span;            /* src == NULL: no location (hints, whole-run errors) */
  const char *msg;
  struct Diag *notes;   /* notes and hints attached to an error/warning */
  struct Diag *next;
  int seq;              /* report order: ties in position keep it */
} Diag;

typedef struct Diags {
  Arena *arena;
  Diag **list;
  int len, cap;
  Diag *last;           /* where diag_note attaches */
  int nerrors, nwarnings;
  bool color;
  bool werror;          /* treat warnings as errors */
  int limit;            /* errors (and warnings) kept for printing; 0: all */
  int dropped_errors, dropped_warnings;
} Diags;

enum { DIAG_DEFAULT_LIMIT = 100 };

/* True once the error limit is reached: callers may skip costly work that
 * only improves messages nobody will see (did-you-mean searches). */
bool diag_saturated(const Diags *d);

Source *source_from_file(Arena *a, const char *path, char **why);
Source *source_from_memory(Arena *a, const char *name, const char *text, size_t len);
void span_line_col(Span s, int *line, int *col);
/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is invalid. */
int utf8_sequence_length(const unsigned char *p, const unsigned char *lim);
Span span_join(Span a, Span b);

void diag_init(Diags *d, Arena *a);
void diag_error(Diags *d, Span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_warning(Diags *d, Span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A note with its own location, attached to the last error or warning. */
void diag_note(Diags *d, Span at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A hint line without location, attached to the last error or warning. */
void diag_hint(Diags *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print everything sorted by position plus a summary line; returns nerrors. */
int diag_flush(Diags *d, FILE *out);

#endif
