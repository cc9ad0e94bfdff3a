/* data.c - training data: CSV text, NumPy .npy and IDX (MNIST) files, loaded
 * into one column of `type` values per model input.
 *
 * Files are read whole into memory. Every malformed byte becomes a message
 * naming the file (and, for text, the line and the byte column) instead of
 * a crash: sizes from headers are checked against the bytes that are really
 * there before anything is allocated, and products of dimensions are
 * checked for overflow. CSV columns grow by doubling as rows are accepted,
 * so memory follows the valid data, not what a broken file claims. */
#define _GNU_SOURCE /* strtod_l, strtof_l */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "dml_runtime.h"

enum { MAX_DIMS = 32, SHOWN_TEXT = 40 };

/* ---- small helpers ------------------------------------------------------------ */

/* malloc/realloc that do not return NULL for a request of zero bytes. */
static void *alloc_bytes(size_t n) { return malloc(n ? n : 1); }
static void *realloc_bytes(void *p, size_t n) { return realloc(p, n ? n : 1); }

/* a * b * c in size_t, false on overflow or a negative factor. */
static bool byte_count(int64_t a, int64_t b, size_t c, size_t *out) {
  size_t ab;
  if (a < 0 || b < 0) return false;
  return !__builtin_mul_overflow((uint64_t)a, (uint64_t)b, &ab) && !__builtin_mul_overflow(ab, c, out);
}

static const char *plural(int64_t n, const char *one, const char *many) { return n == 1 ? one : many; }

/* The C locale, so that a program that called setlocale still reads "1.5". */
static locale_t c_locale(void) {
  static locale_t loc;
  if (!loc) loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  return loc;
}

static double text_to_double(const char *s, char **stop) {
  return c_locale() ? strtod_l(s, stop, c_locale()) : strtod(s, stop);
}

static float text_to_float(const char *s, char **stop) {
  return c_locale() ? strtof_l(s, stop, c_locale()) : strtof(s, stop);
}

/* Field text for a message: at most SHOWN_TEXT bytes, control bytes as '?'. */
static const char *shown_text(const char *s, const char *e, char buf[SHOWN_TEXT + 4]) {
  size_t n = (size_t)(e - s), k = n > SHOWN_TEXT ? SHOWN_TEXT : n;
  for (size_t i = 0; i < k; i++) buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
  strcpy(buf + k, n > k ? "..." : "");
  return buf;
}

/* The shortest text that reads back as v (as a float when `single`), for
 * messages about values that came from binary files. */
static const char *shown_value(double v, bool single, char buf[40]) {
  if (v == trunc(v) && fabs(v) < 1e17) {
    snprintf(buf, 40, "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; precision++) {
    snprintf(buf, 40, "%.*g", precision, v);
    double back = strtod(buf, NULL);
    if (single ? fabs(back) <= FLT_MAX && (float)back == (float)v : back == v) break;
  }
  return buf;
}

/* ---- reading a file ------------------------------------------------------------ */

typedef struct Buffer {
  char *data; /* len bytes and a NUL after them */
  size_t len;
} Buffer;

static bool read_whole_file(const char *path, Buffer *b) {
  *b = (Buffer){0};
  FILE *f = fopen(path, "rb");
  if (!f) return rt_error_at(path, 0, 0, "cannot open: %s", strerror(errno));
  /* Room for the whole of a regular file plus the NUL, so that reading it
   * needs no copy; anything else (a pipe) grows by doubling. */
  size_t cap = 1 << 16, len = 0;
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size < SIZE_MAX / 2)
    cap = (size_t)st.st_size + 2;
  char *data = malloc(cap);
  if (!data) {
    fclose(f);
    return rt_error_at(path, 0, 0, "out of memory reading %zu bytes", cap);
  }
  for (;;) {
    if (cap - len < 2) {
      char *bigger = cap <= SIZE_MAX / 2 ? realloc(data, cap * 2) : NULL;
      if (!bigger) {
        free(data);
        fclose(f);
        return rt_error_at(path, 0, 0, "out of memory reading more than %zu bytes", len);
      }
      data = bigger;
      cap *= 2;
    }
    size_t want = cap - len - 1, got = fread(data + len, 1, want, f);
    len += got;
    if (got < want) break; /* the end of the file, or an error */
  }
  if (ferror(f)) {
    int err = errno;
    free(data);
    fclose(f);
    return rt_error_at(path, 0, 0, "cannot read: %s", strerror(err));
  }
  fclose(f);
  data[len] = '\0';
  b->data = data;
  b->len = len;
  return true;
}

/* ---- storing one value ----------------------------------------------------------- */

typedef enum {
  VALUE_OK,
  VALUE_NOT_FINITE,
  VALUE_TOO_BIG_FOR_F32,
  LABEL_NOT_INTEGER,
  LABEL_OUT_OF_RANGE, /* outside 0..classes-1 */
  LABEL_NOT_I32,      /* no class count, but outside int32_t */
} ValueProblem;

/* Store v as element `at` of the input's column, or say why it cannot be. */
static ValueProblem store_value(double v, const DataInput *in, void *data, int64_t at) {
  if (!isfinite(v)) return VALUE_NOT_FINITE;
  switch (in->type) {
  case RT_F32:
    if (fabs(v) > FLT_MAX) return VALUE_TOO_BIG_FOR_F32; /* converting it would be undefined */
    ((float *)data)[at] = (float)v;
    return VALUE_OK;
  case RT_F64:
    ((double *)data)[at] = v;
    return VALUE_OK;
  case RT_I32:
    if (v != trunc(v)) return LABEL_NOT_INTEGER;
    if (in->classes > 0 && (v < 0 || v >= in->classes)) return LABEL_OUT_OF_RANGE;
    if (v < INT32_MIN || v > INT32_MAX) return LABEL_NOT_I32;
    ((int32_t *)data)[at] = (int32_t)v;
    return VALUE_OK;
  }
  return VALUE_OK;
}

/* Allocate the columns of a dataset (data still NULL). */
static bool new_dataset(const DataSource *src, const char *file, Dataset *d) {
  *d = (Dataset){0};
  d->cols = calloc(src->ninputs ? (size_t)src->ninputs : 1, sizeof *d->cols);
  if (!d->cols) return rt_error_at(file, 0, 0, "out of memory");
  d->ncols = src->ninputs;
  for (int i = 0; i < src->ninputs; i++) {
    d->cols[i].name = src->inputs[i].name;
    d->cols[i].type = src->inputs[i].type;
  }
  return true;
}

/* ---- CSV: lines and fields ---------------------------------------------------------- */

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

typedef struct Lines {
  char *p, *end; /* what is left to read */
  long number;   /* 1-based number of the line last returned */
} Lines;

/* The next line that is not blank, as [*start, *stop) without its "\r\n";
 * false at the end of the text. Blank lines still count for the numbers. */
static bool next_line(Lines *ls, char **start, char **stop) {
  while (ls->p < ls->end) {
    char *s = ls->p, *nl = memchr(s, '\n', (size_t)(ls->end - s)), *e = nl ? nl : ls->end;
    ls->p = nl ? nl + 1 : ls->end;
    ls->number++;
    if (e > s && e[-1] == '\r') e--;
    char *q = s;
    while (q < e && is_blank(*q)) q++;
    if (q < e) {
      *start = s;
      *stop = e;
      return true;
    }
  }
  return false;
}

typedef struct Field {
  char *start, *end; /* without surrounding blanks; quotes still on */
} Field;

/* The fields of one line. Only the first `keep` are stored (the rest are
 * counted), so a line of a million commas costs no million-entry array; the
 * start of field number `mark` is remembered for "too many fields". */
typedef struct Fields {
  Field *items;
  size_t n, cap;   /* stored */
  int64_t count;   /* in the line */
  int64_t keep, mark;
  char *mark_start;
  char *open_quote; /* a quote the line leaves open, else NULL */
} Fields;

static Field trimmed(char *s, char *e) {
  while (s < e && is_blank(*s)) s++;
  while (e > s && is_blank(e[-1])) e--;
  return (Field){s, e};
}

static bool add_field(Fields *fs, Field f) {
  if (fs->count == fs->mark) fs->mark_start = f.start;
  fs->count++;
  if ((int64_t)fs->n >= fs->keep) return true;
  if (fs->n == fs->cap) {
    size_t cap = fs->cap ? fs->cap * 2 : 64;
    Field *bigger = realloc(fs->items, cap * sizeof *bigger);
    if (!bigger) return false;
    fs->items = bigger;
    fs->cap = cap;
  }
  fs->items[fs->n++] = f;
  return true;
}

/* Split [s, e) at the delimiter, or at runs of blanks when it is ' ' (then
 * leading and trailing blanks separate nothing). Between double quotes the
 * delimiter does not split, so "1,5" stays one field (and is not a number). */
static bool split_fields(char *s, char *e, char delimiter, Fields *fs) {
  bool blanks = delimiter == ' ';
  fs->n = 0;
  fs->count = 0;
  fs->mark_start = NULL;
  fs->open_quote = NULL;
  if (blanks)
    while (s < e && is_blank(*s)) s++;
  for (;;) {
    char *begin = s;
    char *quote = NULL; /* the quote that opened the quoted part we are in */
    for (; s < e; s++) {
      if (*s == '"') quote = quote ? NULL : s;
      else if (!quote && (blanks ? is_blank(*s) : *s == delimiter)) break;
    }
    if (quote) fs->open_quote = quote; /* only at the end of the line */
    if (!add_field(fs, trimmed(begin, s))) return false;
    if (s == e) return true;
    s++;
    if (blanks) {
      while (s < e && is_blank(*s)) s++;
      if (s == e) return true;
    }
  }
}

/* ---- CSV: numbers ------------------------------------------------------------------ */

typedef enum { NUM_OK, NUM_EMPTY, NUM_BAD, NUM_NOT_DECIMAL, NUM_NOT_FINITE, NUM_TOO_BIG_FOR_F32 } NumStatus;

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static const char *skip_digits(const char *s, const char *e) {
  while (s < e && is_digit(*s)) s++;
  return s;
}

/* The number grammar of the docs (language.md, section 15.1), exactly:
 * [+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits]. strtod reads
 * more (hexadecimal, nan(...), leading white space), which we refuse. */
static bool decimal_syntax(const char *s, const char *e) {
  if (s < e && (*s == '+' || *s == '-')) s++;
  const char *digits = s;
  s = skip_digits(s, e);
  bool whole = s > digits;
  if (s < e && *s == '.') {
    const char *frac = ++s;
    s = skip_digits(s, e);
    if (!whole && s == frac) return false;
  } else if (!whole) {
    return false;
  }
  if (s < e && (*s == 'e' || *s == 'E')) {
    s++;
    if (s < e && (*s == '+' || *s == '-')) s++;
    const char *exp = s;
    s = skip_digits(s, e);
    if (s == exp) return false;
  }
  return s == e;
}

/* [+-] inf, infinity or nan, in any case: refused as not finite. */
static bool non_finite_word(const char *s, const char *e) {
  if (s < e && (*s == '+' || *s == '-')) s++;
  size_t n = (size_t)(e - s);
  return (n == 3 && (!strncasecmp(s, "inf", 3) || !strncasecmp(s, "nan", 3))) ||
         (n == 8 && !strncasecmp(s, "infinity", 8));
}

/* Plain decimals ("-12", "17.99", ".5"): the digits as an integer and how
 * many of them follow the point. False for anything else (exponents, hex,
 * nan) and for more than 19 digits, which strtod then reads. */
static bool split_decimal(const char *s, const char *e, bool *negative, uint64_t *digits, int *decimals) {
  *negative = false;
  if (s < e && (*s == '-' || *s == '+')) *negative = *s++ == '-';
  uint64_t m = 0;
  int count = 0, after_point = 0;
  bool point = false;
  for (; s < e; s++) {
    if (*s >= '0' && *s <= '9') {
      if (++count > 19) return false;
      m = m * 10 + (uint64_t)(*s - '0');
      after_point += point;
    } else if (*s == '.' && !point) {
      point = true;
    } else {
      return false;
    }
  }
  *digits = m;
  *decimals = after_point;
  return count > 0;
}

/* Whether float and double arithmetic is done in the type itself, not in
 * x87 extended precision: FLT_EVAL_METHOD 0, or 16 (C23, which gcc gives
 * on CPUs with AVX512-FP16: only _Float16 is evaluated wider). A plain
 * `if` on it, not `#if`, so every path compiles on every CPU. */
#define EVAL_IN_OWN_TYPE (FLT_EVAL_METHOD == 0 || FLT_EVAL_METHOD == 16)

/* Exact without strtod when digits and power of ten are both exact in the
 * type: one correctly rounded division (Clinger's fast path). */
static bool fast_double(const char *s, const char *e, double *out) {
  static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  bool negative;
  uint64_t m;
  int decimals;
  if (!EVAL_IN_OWN_TYPE || !split_decimal(s, e, &negative, &m, &decimals) || m > (1ull << 53) || decimals > 22)
    return false;
  double v = decimals ? (double)m / p10[decimals] : (double)m;
  *out = negative ? -v : v;
  return true;
}

static bool fast_float(const char *s, const char *e, float *out) {
  static const float p10[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
  bool negative;
  uint64_t m;
  int decimals;
  if (!EVAL_IN_OWN_TYPE || !split_decimal(s, e, &negative, &m, &decimals) || m > (1u << 24) || decimals > 10)
    return false;
  float v = decimals ? (float)m / p10[decimals] : (float)m;
  *out = negative ? -v : v;
  return true;
}

/* Read [s, e) as a number. `single`: round once from the text to a float
 * (the result is that float's value). The byte at e is replaced by a NUL
 * for strtod and put back. */
static NumStatus parse_number(char *s, char *e, bool single, double *out) {
  if (s == e) return NUM_EMPTY;
  float f;
  if (single ? fast_float(s, e, &f) : fast_double(s, e, out)) {
    if (single) *out = f;
    return NUM_OK;
  }
  bool decimal = decimal_syntax(s, e);
  if (!decimal && non_finite_word(s, e)) return NUM_NOT_FINITE;
  if (isspace((unsigned char)*s)) return NUM_BAD; /* strtod would skip it */
  char saved = *e, *stop;
  *e = '\0';
  double v = single ? text_to_float(s, &stop) : text_to_double(s, &stop);
  bool finite_text = single && !isfinite(v) && isfinite(text_to_double(s, NULL));
  *e = saved;
  if (stop != e) return NUM_BAD;
  if (!decimal) return NUM_NOT_DECIMAL; /* 0x10, 0x1p-3, nan(1): strtod's, not ours */
  if (!isfinite(v)) return finite_text ? NUM_TOO_BIG_FOR_F32 : NUM_NOT_FINITE;
  *out = v;
  return NUM_OK;
}

/* ---- CSV: loading ------------------------------------------------------------------- */

typedef struct Csv {
  const DataSource *src;
  Dataset d;
  int64_t rows, capacity; /* rows stored, rows the columns have room for */
  Fields fields;
  int64_t expected;       /* fields per row, from the first data row; -1 before it */
  char *line;             /* the current line, for columns */
  long number;            /* its number */
} Csv;

static long column_of(const Csv *c, const char *p) { return (long)(p - c->line) + 1; }

/* The column selections make sense and agree with the model's widths. */
static bool check_selections(const DataSource *src) {
  for (int i = 0; i < src->ninputs; i++) {
    const DataInput *in = &src->inputs[i];
    if (in->first < 0 || in->end <= in->first)
      return rt_error_at(src->file, 0, 0, "input `%s` selects no columns (cols(%d, %d))", in->name, in->first,
                         in->end);
    int64_t selected = (int64_t)in->end - in->first;
    if (in->width >= 0 && in->width != selected) {
      char selection[64];
      if (selected == 1) snprintf(selection, sizeof selection, "col(%d)", in->first);
      else snprintf(selection, sizeof selection, "cols(%d, %d)", in->first, in->end);
      return rt_error_at(src->file, 0, 0, "input `%s` has %lld values per example, but %s selects %lld %s", in->name,
                         (long long)in->width, selection, (long long)selected, plural(selected, "column", "columns"));
    }
  }
  return true;
}

/* Room for at least one more row in every column (doubling). */
static bool grow_columns(Csv *c) {
  if (c->rows < c->capacity) return true;
  int64_t capacity = c->capacity ? c->capacity * 2 : 256;
  for (int i = 0; i < c->d.ncols; i++) {
    DataColumn *col = &c->d.cols[i];
    size_t bytes;
    void *bigger = NULL;
    if (byte_count(capacity, col->width, rt_type_size(col->type), &bytes)) bigger = realloc_bytes(col->data, bytes);
    if (!bigger)
      return rt_error_at(c->src->file, c->number, 0, "out of memory for %lld rows of `%s`", (long long)capacity,
                         col->name);
    col->data = bigger;
  }
  c->capacity = capacity;
  return true;
}

/* The first data row fixes the number of fields; every selection must fit. */
static bool check_first_row(Csv *c) {
  c->expected = c->fields.count;
  c->fields.mark = c->expected; /* where a longer row's first extra field starts */
  for (int i = 0; i < c->src->ninputs; i++) {
    const DataInput *in = &c->src->inputs[i];
    if (in->end > c->expected)
      return rt_error_at(c->src->file, c->number, 0,
                         "column %d is selected for `%s` but the row has only %lld %s (columns 0..%lld)", in->end - 1,
                         in->name, (long long)c->expected, plural(c->expected, "field", "fields"),
                         (long long)c->expected - 1);
  }
  return true;
}

static bool check_field_count(Csv *c, char *stop) {
  int64_t n = c->fields.count;
  if (n == c->expected) return true;
  /* Point at the first field too many, or at the end of a short row. */
  long col = n > c->expected ? column_of(c, c->fields.mark_start) : column_of(c, stop);
  return rt_error_at(c->src->file, c->number, col, "row has %lld %s, but the first row has %lld", (long long)n,
                     plural(n, "field", "fields"), (long long)c->expected);
}

static bool number_error(const Csv *c, NumStatus status, long col, const char *s, const char *e, int column,
                         const DataInput *in) {
  char text[SHOWN_TEXT + 4];
  const char *file = c->src->file;
  switch (status) {
  case NUM_EMPTY:
    return rt_error_at(file, c->number, col, "an empty field is not a number (column %d, for input `%s`)", column,
                       in->name);
  case NUM_NOT_FINITE:
    return rt_error_at(file, c->number, col, "`%s` is not a finite number (column %d, for input `%s`)",
                       shown_text(s, e, text), column, in->name);
  case NUM_TOO_BIG_FOR_F32:
    return rt_error_at(file, c->number, col, "`%s` does not fit in f32 (column %d, for input `%s`)",
                       shown_text(s, e, text), column, in->name);
  case NUM_NOT_DECIMAL:
    return rt_error_at(file, c->number, col, "`%s` is not a decimal number (column %d, for input `%s`)",
                       shown_text(s, e, text), column, in->name);
  default:
    return rt_error_at(file, c->number, col, "`%s` is not a number (column %d, for input `%s`)",
                       shown_text(s, e, text), column, in->name);
  }
}

static bool value_error(const Csv *c, ValueProblem problem, long col, const char *s, const char *e, int column,
                        const DataInput *in) {
  char text[SHOWN_TEXT + 4];
  const char *file = c->src->file;
  shown_text(s, e, text);
  switch (problem) {
  case LABEL_NOT_INTEGER:
    return rt_error_at(file, c->number, col, "%s is not an integer label for `%s`", text, in->name);
  case LABEL_OUT_OF_RANGE:
    return rt_error_at(file, c->number, col, "label %s is out of range 0..%d for `%s`", text, in->classes - 1,
                       in->name);
  case LABEL_NOT_I32:
    return rt_error_at(file, c->number, col, "label %s does not fit in i32 for `%s`", text, in->name);
  case VALUE_TOO_BIG_FOR_F32:
    return number_error(c, NUM_TOO_BIG_FOR_F32, col, s, e, column, in);
  default:
    return number_error(c, NUM_NOT_FINITE, col, s, e, column, in);
  }
}

/* Parse field `column` of the current row into the input's column. */
static bool store_field(Csv *c, const DataInput *in, DataColumn *col, int column) {
  Field f = c->fields.items[column];
  long at_col = column_of(c, f.start);
  char *s = f.start, *e = f.end;
  if (e - s >= 2 && *s == '"' && e[-1] == '"') {
    Field inner = trimmed(s + 1, e - 1);
    s = inner.start;
    e = inner.end;
  }
  double v;
  NumStatus status = parse_number(s, e, in->type == RT_F32, &v);
  if (status != NUM_OK) return number_error(c, status, at_col, s, e, column, in);
  ValueProblem problem = store_value(v, in, col->data, c->rows * col->width + (column - in->first));
  return problem == VALUE_OK || value_error(c, problem, at_col, s, e, column, in);
}

static bool load_row(Csv *c, char *start, char *stop) {
  c->line = start;
  if (!split_fields(start, stop, c->src->delimiter ? c->src->delimiter : ',', &c->fields))
    return rt_error_at(c->src->file, c->number, 0, "out of memory");
  if (c->fields.open_quote) /* a field that runs to the end of the line: say why, not how many fields */
    return rt_error_at(c->src->file, c->number, column_of(c, c->fields.open_quote),
                       "unterminated quote: this `\"` is not closed before the end of the line");
  if (c->expected < 0 ? !check_first_row(c) : !check_field_count(c, stop)) return false;
  if (!grow_columns(c)) return false;
  for (int i = 0; i < c->src->ninputs; i++) {
    const DataInput *in = &c->src->inputs[i];
    for (int column = in->first; column < in->end; column++)
      if (!store_field(c, in, &c->d.cols[i], column)) return false;
  }
  c->rows++;
  return true;
}

/* Keep only the room the rows need. */
static void shrink_columns(Csv *c) {
  for (int i = 0; i < c->d.ncols; i++) {
    DataColumn *col = &c->d.cols[i];
    size_t bytes = (size_t)c->rows * (size_t)col->width * rt_type_size(col->type); /* no larger than now */
    void *smaller = realloc_bytes(col->data, bytes);
    if (smaller) col->data = smaller;
  }
}

static bool parse_csv(Csv *c, char *text, size_t len) {
  Lines lines = {text, text + len, 0};
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) lines.p += 3; /* a UTF-8 byte order mark */
  char *start, *stop;
  if (c->src->header) next_line(&lines, &start, &stop);
  while (next_line(&lines, &start, &stop)) {
    c->number = lines.number;
    if (!load_row(c, start, stop)) return false;
  }
  if (c->rows == 0) return rt_error_at(c->src->file, 0, 0, "no data rows");
  c->d.n = c->rows;
  shrink_columns(c);
  return true;
}

static bool load_csv(const DataSource *src, Dataset *out) {
  if (!src->file) return rt_error("the CSV data source names no file");
  char delimiter = src->delimiter ? src->delimiter : ',';
  if (delimiter == '"' || delimiter == '\n' || delimiter == '\r')
    return rt_error_at(src->file, 0, 0, "the delimiter cannot be a quote or a line break");
  if (!check_selections(src)) return false;
  Csv c = {.src = src, .expected = -1};
  int keep = 1; /* fields to store: up to the last selected one */
  for (int i = 0; i < src->ninputs; i++)
    if (src->inputs[i].end > keep) keep = src->inputs[i].end;
  c.fields.keep = keep;
  c.fields.mark = -1;
  Buffer b;
  if (!read_whole_file(src->file, &b)) return false;
  bool ok = new_dataset(src, src->file, &c.d);
  if (ok) {
    for (int i = 0; i < src->ninputs; i++) c.d.cols[i].width = src->inputs[i].end - src->inputs[i].first;
    ok = parse_csv(&c, b.data, b.len);
  }
  free(b.data);
  free(c.fields.items);
  if (!ok) {
    data_free(&c.d);
    return false;
  }
  *out = c.d;
  return true;
}

/* ---- binary arrays (NPY, IDX) ------------------------------------------------------ */

/* How one element is stored: 'f' IEEE float, 'i' signed or 'u' unsigned
 * integer, of `size` bytes. */
typedef struct RawFormat {
  char kind;
  int size;
  bool big_endian;
} RawFormat;

typedef struct RawArray {
  RawFormat format;
  int rank;
  int64_t dims[MAX_DIMS];
  int64_t n, width;
  const unsigned char *data; /* n * width elements, once checked */
  size_t available;          /* bytes from data to the end of the file */
} RawArray;

static double raw_value(const unsigned char *p, RawFormat f) {
  uint64_t bits = 0;
  for (int i = 0; i < f.size; i++) bits |= (uint64_t)p[f.big_endian ? f.size - 1 - i : i] << (8 * i);
  if (f.kind == 'f') {
    if (f.size == 4) {
      uint32_t b32 = (uint32_t)bits;
      float x;
      memcpy(&x, &b32, sizeof x);
      return x;
    }
    double x;
    memcpy(&x, &bits, sizeof x);
    return x;
  }
  if (f.kind == 'u') return (double)bits;
  if (f.size == 8) {
    int64_t x;
    memcpy(&x, &bits, sizeof x);
    return (double)x;
  }
  uint64_t sign = (uint64_t)1 << (8 * f.size - 1);
  return bits & sign ? (double)(int64_t)bits - (double)(sign << 1) : (double)bits;
}

/* "(100, 28, 28)", or "(100,)" for one dimension, as NumPy prints it. */
static const char *shown_shape(const RawArray *a, char *buf, size_t size) {
  size_t k = 0;
  buf[0] = '\0';
  for (int i = 0; i < a->rank && k < size; i++) {
    int w = snprintf(buf + k, size - k, "%s%lld", i ? ", " : "(", (long long)a->dims[i]);
    if (w < 0) break;
    k += (size_t)w;
  }
  if (k < size) snprintf(buf + k, size - k, a->rank == 1 ? ",)" : ")");
  return buf;
}

/* n and width from the shape, and enough bytes for them (and no more). */
static bool check_array(const char *file, RawArray *a) {
  char shape[256];
  if (a->rank == 0) return rt_error_at(file, 0, 0, "a 0-dimensional array holds no examples");
  a->n = a->dims[0];
  a->width = 1;
  for (int i = 1; i < a->rank; i++)
    if (__builtin_mul_overflow(a->width, a->dims[i], &a->width))
      return rt_error_at(file, 0, 0, "the shape %s is too large", shown_shape(a, shape, sizeof shape));
  if (a->n == 0) return rt_error_at(file, 0, 0, "no examples (shape %s)", shown_shape(a, shape, sizeof shape));
  if (a->width == 0)
    return rt_error_at(file, 0, 0, "no values per example (shape %s)", shown_shape(a, shape, sizeof shape));
  size_t need;
  if (!byte_count(a->n, a->width, (size_t)a->format.size, &need))
    return rt_error_at(file, 0, 0, "the shape %s is too large", shown_shape(a, shape, sizeof shape));
  if (need > a->available)
    return rt_error_at(file, 0, 0, "truncated: shape %s needs %zu bytes of data, but the file has %zu",
                       shown_shape(a, shape, sizeof shape), need, a->available);
  if (need < a->available)
    return rt_error_at(file, 0, 0, "%zu bytes after the data of shape %s", a->available - need,
                       shown_shape(a, shape, sizeof shape));
  return true;
}

static bool element_error(const char *file, ValueProblem problem, int64_t at, double v, bool single,
                          const DataInput *in) {
  char text[40];
  shown_value(v, single, text);
  long long i = (long long)at;
  switch (problem) {
  case VALUE_TOO_BIG_FOR_F32:
    return rt_error_at(file, 0, 0, "element %lld: %s does not fit in f32 (for input `%s`)", i, text, in->name);
  case LABEL_NOT_INTEGER:
    return rt_error_at(file, 0, 0, "element %lld: %s is not an integer label for `%s`", i, text, in->name);
  case LABEL_OUT_OF_RANGE:
    return rt_error_at(file, 0, 0, "element %lld: label %s is out of range 0..%d for `%s`", i, text, in->classes - 1,
                       in->name);
  case LABEL_NOT_I32:
    return rt_error_at(file, 0, 0, "element %lld: label %s does not fit in i32 for `%s`", i, text, in->name);
  default:
    return rt_error_at(file, 0, 0, "element %lld: %s is not a finite number (for input `%s`)", i, text, in->name);
  }
}

/* Check the array against the input, then convert it into the column. */
static bool convert_array(const char *file, const RawArray *a, const DataInput *in, DataColumn *col) {
  char shape[256];
  if (in->width >= 0 && in->width != a->width)
    return rt_error_at(file, 0, 0, "input `%s` has %lld values per example, but the file has %lld (shape %s)",
                       in->name, (long long)in->width, (long long)a->width, shown_shape(a, shape, sizeof shape));
  size_t bytes;
  if (!byte_count(a->n, a->width, rt_type_size(in->type), &bytes) || !(col->data = alloc_bytes(bytes)))
    return rt_error_at(file, 0, 0, "out of memory for shape %s", shown_shape(a, shape, sizeof shape));
  col->width = a->width;
  int64_t count = a->n * a->width;
  bool single = a->format.kind == 'f' && a->format.size == 4;
  for (int64_t i = 0; i < count; i++) {
    double v = raw_value(a->data + i * a->format.size, a->format);
    ValueProblem problem = store_value(v, in, col->data, i);
    if (problem != VALUE_OK) return element_error(file, problem, i, v, single, in);
  }
  return true;
}

/* ---- NPY ------------------------------------------------------------------------- */

/* A cursor over the header, a Python dict literal such as
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } */
typedef struct Scan {
  const char *p, *end;
} Scan;

static void skip_spaces(Scan *s) {
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static bool accept(Scan *s, char c) {
  skip_spaces(s);
  if (s->p < s->end && *s->p == c) {
    s->p++;
    return true;
  }
  return false;
}

static bool accept_word(Scan *s, const char *word) {
  size_t n = strlen(word);
  skip_spaces(s);
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return false;
  s->p += n;
  return true;
}

/* A quoted string without escapes (all that NumPy writes). */
static bool scan_string(Scan *s, const char **text, size_t *len) {
  skip_spaces(s);
  if (s->p >= s->end || (*s->p != '\'' && *s->p != '"')) return false;
  char quote = *s->p++;
  const char *close = memchr(s->p, quote, (size_t)(s->end - s->p));
  if (!close) return false;
  *text = s->p;
  *len = (size_t)(close - s->p);
  s->p = close + 1;
  return true;
}

static bool scan_dim(Scan *s, int64_t *v) {
  skip_spaces(s);
  const char *start = s->p;
  int64_t x = 0;
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
    if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, *s->p - '0', &x)) return false;
    s->p++;
  }
  if (s->p == start) return false;
  if (s->p < s->end && *s->p == 'L') s->p++; /* Python 2 longs */
  *v = x;
  return true;
}

static bool scan_shape(Scan *s, RawArray *a) {
  if (!accept(s, '(')) return false;
  a->rank = 0;
  if (accept(s, ')')) return true;
  for (;;) {
    if (a->rank == MAX_DIMS || !scan_dim(s, &a->dims[a->rank])) return false;
    a->rank++;
    bool comma = accept(s, ',');
    if (accept(s, ')')) return true;
    if (!comma) return false;
  }
}

/* '<f4', '|u1', '>i8', ...: floats of 4 or 8 bytes, integers of 1, 2, 4, 8. */
static bool parse_descr(const char *t, size_t len, RawFormat *f) {
  if (len != 3 || !strchr("<>|=", t[0]) || !strchr("fiu", t[1]) || !strchr("1248", t[2])) return false;
  f->kind = t[1];
  f->size = t[2] - '0';
  if (f->kind == 'f' && f->size < 4) return false;
  if (t[0] == '|' && f->size != 1) return false;
  f->big_endian = t[0] == '>' || (t[0] == '=' && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
  return true;
}

static bool header_error(const char *file, const Scan *s, const char *header, const char *what) {
  return rt_error_at(file, 0, 0, "malformed .npy header: %s (at byte %ld of the header)", what,
                     (long)(s->p - header));
}

static bool parse_npy_dict(const char *file, const char *header, size_t len, RawArray *a) {
  Scan s = {header, header + len};
  bool have_descr = false, have_order = false, have_shape = false;
  if (!accept(&s, '{')) return header_error(file, &s, header, "expected `{`");
  while (!accept(&s, '}')) {
    const char *key;
    size_t n;
    if (!scan_string(&s, &key, &n)) return header_error(file, &s, header, "expected a quoted key");
    if (!accept(&s, ':')) return header_error(file, &s, header, "expected `:`");
    if (n == 5 && memcmp(key, "descr", 5) == 0) {
      const char *t;
      size_t tn;
      if (!scan_string(&s, &t, &tn)) return header_error(file, &s, header, "expected a dtype string");
      if (!parse_descr(t, tn, &a->format)) {
        char text[SHOWN_TEXT + 4];
        return rt_error_at(file, 0, 0,
                           "dtype '%s' is not supported (f4, f8, i1, i2, i4, i8, u1, u2, u4, u8 are, in C order)",
                           shown_text(t, t + tn, text));
      }
      have_descr = true;
    } else if (n == 13 && memcmp(key, "fortran_order", 13) == 0) {
      if (accept_word(&s, "True"))
        return rt_error_at(file, 0, 0, "Fortran-order arrays are not supported (save a C-order array, "
                                       "e.g. np.save(f, np.ascontiguousarray(a)))");
      if (!accept_word(&s, "False")) return header_error(file, &s, header, "expected True or False");
      have_order = true;
    } else if (n == 5 && memcmp(key, "shape", 5) == 0) {
      if (!scan_shape(&s, a)) return header_error(file, &s, header, "expected a tuple of dimensions");
      have_shape = true;
    } else {
      return header_error(file, &s, header, "unexpected key");
    }
    if (accept(&s, '}')) break;
    if (!accept(&s, ',')) return header_error(file, &s, header, "expected `,` or `}`");
  }
  if (!have_descr || !have_order || !have_shape)
    return rt_error_at(file, 0, 0, "malformed .npy header: no '%s'",
                       !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
  return true;
}

static uint32_t little_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool parse_npy(const char *file, const Buffer *b, RawArray *a) {
  const unsigned char *p = (const unsigned char *)b->data;
  if (b->len < 6 || memcmp(p, "\x93NUMPY", 6) != 0) return rt_error_at(file, 0, 0, "not a .npy file (no \\x93NUMPY)");
  if (b->len < 10) return rt_error_at(file, 0, 0, "truncated .npy header");
  size_t start, len;
  if (p[6] == 1) {
    start = 10;
    len = (size_t)p[8] | (size_t)p[9] << 8;
  } else if (p[6] == 2 || p[6] == 3) {
    if (b->len < 12) return rt_error_at(file, 0, 0, "truncated .npy header");
    start = 12;
    len = little_u32(p + 8);
  } else {
    return rt_error_at(file, 0, 0, "unsupported .npy format version %d.%d", p[6], p[7]);
  }
  if (len > b->len - start) return rt_error_at(file, 0, 0, "truncated .npy header");
  if (!parse_npy_dict(file, b->data + start, len, a)) return false;
  a->data = p + start + len;
  a->available = b->len - start - len;
  return true;
}

/* ---- IDX -------------------------------------------------------------------------- */

static bool parse_idx(const char *file, const Buffer *b, RawArray *a) {
  const unsigned char *p = (const unsigned char *)b->data;
  if (b->len < 4 || p[0] != 0 || p[1] != 0)
    return rt_error_at(file, 0, 0, "not an IDX file (it must start with two zero bytes)");
  static const struct {
    unsigned char code;
    RawFormat format;
  } types[] = {{0x08, {'u', 1, true}}, {0x09, {'i', 1, true}}, {0x0B, {'i', 2, true}},
               {0x0C, {'i', 4, true}}, {0x0D, {'f', 4, true}}, {0x0E, {'f', 8, true}}};
  int t = 0;
  while (t < 6 && types[t].code != p[2]) t++;
  if (t == 6) return rt_error_at(file, 0, 0, "unsupported IDX element type 0x%02X", p[2]);
  a->format = types[t].format;
  a->rank = p[3];
  if (a->rank > MAX_DIMS) return rt_error_at(file, 0, 0, "%d dimensions are too many (at most %d)", a->rank, MAX_DIMS);
  size_t start = 4 + 4 * (size_t)a->rank;
  if (b->len < start) return rt_error_at(file, 0, 0, "truncated IDX header");
  for (int i = 0; i < a->rank; i++) {
    const unsigned char *d = p + 4 + 4 * i;
    a->dims[i] = (int64_t)((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3]);
  }
  a->data = p + start;
  a->available = b->len - start;
  return true;
}

/* ---- NPY and IDX: one file per input ------------------------------------------------ */

static bool load_input_file(const DataSource *src, int i, Dataset *d) {
  const DataInput *in = &src->inputs[i];
  Buffer b;
  if (!read_whole_file(in->file, &b)) return false;
  RawArray a = {0};
  bool ok = (src->kind == DATA_NPY ? parse_npy(in->file, &b, &a) : parse_idx(in->file, &b, &a)) &&
            check_array(in->file, &a) && convert_array(in->file, &a, in, &d->cols[i]);
  free(b.data);
  if (!ok) return false;
  if (i == 0) d->n = a.n;
  else if (a.n != d->n)
    return rt_error_at(in->file, 0, 0, "has %lld %s but %s has %lld", (long long)a.n,
                       plural(a.n, "example", "examples"), src->inputs[0].file, (long long)d->n);
  return true;
}

static bool load_arrays(const DataSource *src, Dataset *out) {
  for (int i = 0; i < src->ninputs; i++)
    if (!src->inputs[i].file) return rt_error("no file is given for input `%s`", src->inputs[i].name);
  Dataset d;
  if (!new_dataset(src, src->ninputs ? src->inputs[0].file : "data", &d)) return false;
  for (int i = 0; i < src->ninputs; i++)
    if (!load_input_file(src, i, &d)) {
      data_free(&d);
      return false;
    }
  *out = d;
  return true;
}

/* ---- the interface ---------------------------------------------------------------- */

bool data_load(const DataSource *src, Dataset *out) {
  *out = (Dataset){0};
  if (src->ninputs < 0 || (src->ninputs > 0 && !src->inputs)) return rt_error("the data source has no inputs");
  switch (src->kind) {
  case DATA_CSV: return load_csv(src, out);
  case DATA_NPY:
  case DATA_IDX: return load_arrays(src, out);
  }
  return rt_error("unknown kind of data source %d", (int)src->kind);
}

void data_free(Dataset *d) {
  if (!d) return;
  for (int i = 0; i < d->ncols; i++) free(d->cols[i].data);
  free(d->cols);
  *d = (Dataset){0};
}

void data_gather(const DataColumn *c, const int64_t *idx, int64_t k, void *dst) {
  size_t row = (size_t)c->width * rt_type_size(c->type);
  if (row == 0) return;
  char *to = dst;
  const char *from = c->data;
  for (int64_t i = 0; i < k; i++) memcpy(to + (size_t)i * row, from + (size_t)idx[i] * row, row);
}

bool data_take(const Dataset *d, const int64_t *idx, int64_t k, Dataset *out) {
  *out = (Dataset){0};
  if (k < 0) return rt_error("cannot take %lld rows", (long long)k);
  for (int64_t i = 0; i < k; i++)
    if (idx[i] < 0 || idx[i] >= d->n)
      return rt_error("row %lld is out of range 0..%lld", (long long)idx[i], (long long)d->n - 1);
  Dataset t = {.n = k, .ncols = d->ncols, .cols = calloc(d->ncols > 0 ? (size_t)d->ncols : 1, sizeof *t.cols)};
  if (!t.cols) return rt_error("out of memory");
  for (int c = 0; c < d->ncols; c++) {
    const DataColumn *from = &d->cols[c];
    DataColumn *to = &t.cols[c];
    *to = (DataColumn){.name = from->name, .type = from->type, .width = from->width};
    size_t bytes;
    if (!byte_count(k, from->width, rt_type_size(from->type), &bytes) || !(to->data = alloc_bytes(bytes))) {
      data_free(&t);
      return rt_error("out of memory taking %lld rows of `%s`", (long long)k, from->name);
    }
    data_gather(from, idx, k, to->data);
  }
  *out = t;
  return true;
}
