/* test_data.c - data_load, data_take, data_gather (runtime/data.c).
 *
 * The shipped example CSVs are read from ../../examples/data (CMake runs
 * this in tests/runtime); every other file is written into a fresh
 * temporary folder by the test itself, so no binary fixture is committed.
 * Error messages are compared in full. Exits non-zero if a check fails. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dml_runtime.h"

#define EXAMPLES "../../examples/data/"

static int failures, checks;
static char folder[64];

#define CHECK(cond) check_that((cond), #cond, __LINE__)

static bool check_that(bool ok, const char *what, int line) {
  checks++;
  if (!ok) {
    fprintf(stderr, "test_data.c:%d: check failed: %s\n", line, what);
    failures++;
  }
  return ok;
}

/* ---- files in the temporary folder ---------------------------------------------- */

/* The path of `name` in the folder; a ring of buffers so a few can be live. */
static const char *path(const char *name) {
  static char ring[8][256];
  static int next;
  char *p = ring[next++ % 8];
  snprintf(p, 256, "%s/%s", folder, name);
  return p;
}

static const char *write_bytes(const char *name, const void *data, size_t len) {
  const char *p = path(name);
  FILE *f = fopen(p, "wb");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "test_data: cannot write %s\n", p);
    exit(2);
  }
  return p;
}

static const char *write_text(const char *name, const char *text) { return write_bytes(name, text, strlen(text)); }

/* A .npy file: magic, version, little-endian header length, the dict padded
 * with blanks to a multiple of 64 bytes, then `bytes` bytes of data. */
static const char *write_npy(const char *name, int version, const char *descr, bool fortran, const int64_t *dims,
                             int rank, const void *data, size_t bytes) {
  char shape[256] = "", dict[512];
  size_t k = 0;
  for (int i = 0; i < rank; i++)
    k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%lld", i ? ", " : "", (long long)dims[i]);
  if (rank == 1) strcat(shape, ",");
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }", descr,
                   fortran ? "True" : "False", shape);
  size_t prefix = version == 1 ? 10 : 12, total = prefix + (size_t)n + 1;
  size_t padded = (total + 63) / 64 * 64;
  while ((size_t)n + prefix + 1 < padded) dict[n++] = ' ';
  dict[n++] = '\n';
  unsigned char *file = malloc(prefix + (size_t)n + bytes);
  memcpy(file, "\x93NUMPY", 6);
  file[6] = (unsigned char)version;
  file[7] = 0;
  for (size_t i = 0; i < prefix - 8; i++) file[8 + i] = (unsigned char)((size_t)n >> (8 * i));
  memcpy(file + prefix, dict, (size_t)n);
  if (bytes) memcpy(file + prefix + n, data, bytes);
  const char *p = write_bytes(name, file, prefix + (size_t)n + bytes);
  free(file);
  return p;
}

/* An IDX file: 0, 0, type, rank, big-endian dims, then `data` as given
 * (the caller writes it big-endian). */
static const char *write_idx(const char *name, int type, const uint32_t *dims, int rank, const void *data,
                             size_t bytes) {
  unsigned char *file = malloc(4 + 4 * (size_t)rank + bytes);
  file[0] = file[1] = 0;
  file[2] = (unsigned char)type;
  file[3] = (unsigned char)rank;
  for (int i = 0; i < rank; i++)
    for (int b = 0; b < 4; b++) file[4 + 4 * i + b] = (unsigned char)(dims[i] >> (24 - 8 * b));
  if (bytes) memcpy(file + 4 + 4 * rank, data, bytes);
  const char *p = write_bytes(name, file, 4 + 4 * (size_t)rank + bytes);
  free(file);
  return p;
}

/* A version 1.0 .npy file whose header is `dict` as given, without data. */
static const char *write_npy_header(const char *name, const char *dict) {
  size_t n = strlen(dict);
  char file[512];
  memcpy(file, "\x93NUMPY\x01\x00", 8);
  file[8] = (char)(n & 0xff);
  file[9] = (char)(n >> 8);
  memcpy(file + 10, dict, n);
  return write_bytes(name, file, 10 + n);
}

static void big_endian(void *dst, const void *src, size_t size) {
  for (size_t i = 0; i < size; i++) ((unsigned char *)dst)[i] = ((const unsigned char *)src)[size - 1 - i];
}

/* ---- sources --------------------------------------------------------------------- */

static DataInput column(const char *name, RtType type, int64_t width, int classes, int first, int end) {
  return (DataInput){.name = name, .type = type, .width = width, .classes = classes, .first = first, .end = end};
}

static DataInput file_input(const char *name, RtType type, int64_t width, int classes, const char *file) {
  return (DataInput){.name = name, .type = type, .width = width, .classes = classes, .file = file};
}

static DataSource csv(const char *file, bool header, char delimiter, DataInput *inputs, int n) {
  return (DataSource){.kind = DATA_CSV, .file = file, .header = header, .delimiter = delimiter, .inputs = inputs,
                      .ninputs = n};
}

static DataSource arrays(DataKind kind, DataInput *inputs, int n) {
  return (DataSource){.kind = kind, .inputs = inputs, .ninputs = n};
}

static bool load(const DataSource *src, Dataset *d, int line) {
  if (data_load(src, d)) return true;
  fprintf(stderr, "test_data.c:%d: data_load failed: %s\n", line, rt_message());
  failures++;
  return false;
}
#define LOAD(src, d) load((src), (d), __LINE__)

/* data_load must fail with exactly the message printf(fmt, ...) and leave
 * an empty dataset behind. */
static void __attribute__((format(printf, 3, 4))) expect_error(int line, const DataSource *src, const char *fmt, ...) {
  char want[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(want, sizeof want, fmt, ap);
  va_end(ap);
  Dataset d = {.n = 99};
  checks++;
  if (data_load(src, &d)) {
    fprintf(stderr, "test_data.c:%d: loaded, but expected: %s\n", line, want);
    failures++;
    data_free(&d);
  } else if (strcmp(rt_message(), want) != 0) {
    fprintf(stderr, "test_data.c:%d: wrong message\n  got:  %s\n  want: %s\n", line, rt_message(), want);
    failures++;
  } else if (d.n != 0 || d.cols || d.ncols) {
    fprintf(stderr, "test_data.c:%d: a failed load left a dataset behind\n", line);
    failures++;
  }
}
#define EXPECT_ERROR(src, ...) expect_error(__LINE__, (src), __VA_ARGS__)

/* One CSV text with inputs x (f32, cols(xf, xe)) and, when ye > yf, y (i32
 * labels in 0..classes-1, cols(yf, ye)). */
static DataSource small_csv(const char *text, DataInput in[2], int xf, int xe, int yf, int ye, int classes) {
  const char *file = write_text("small.csv", text);
  in[0] = column("x", RT_F32, xe - xf, 0, xf, xe);
  in[1] = column("y", RT_I32, ye - yf, classes, yf, ye);
  return csv(file, false, ',', in, ye > yf ? 2 : 1);
}

#define F32(d, c, i) (((const float *)(d).cols[c].data)[i])
#define F64(d, c, i) (((const double *)(d).cols[c].data)[i])
#define I32(d, c, i) (((const int32_t *)(d).cols[c].data)[i])

/* ---- the shipped examples ---------------------------------------------------------- */

static void test_digits(void) {
  DataInput in[2] = {column("x", RT_F32, 64, 0, 0, 64), column("y", RT_I32, 1, 10, 64, 65)};
  DataSource src = csv(EXAMPLES "digits.csv", false, ',', in, 2);
  Dataset d;
  if (!LOAD(&src, &d)) return;
  CHECK(d.n == 1797 && d.ncols == 2);
  CHECK(d.cols[0].width == 64 && d.cols[0].type == RT_F32 && strcmp(d.cols[0].name, "x") == 0);
  CHECK(d.cols[1].width == 1 && d.cols[1].type == RT_I32 && d.cols[1].name == in[1].name);
  /* first row: 0,0,5,13,9,1,... label 0; last row: ...,8 at column 4, label 8 */
  CHECK(F32(d, 0, 0) == 0 && F32(d, 0, 2) == 5 && F32(d, 0, 3) == 13 && F32(d, 0, 4) == 9);
  CHECK(I32(d, 1, 0) == 0);
  CHECK(F32(d, 0, 1796 * 64 + 4) == 8 && F32(d, 0, 1796 * 64 + 63) == 0 && I32(d, 1, 1796) == 8);
  int per_class[10] = {0};
  bool in_range = true;
  for (int64_t i = 0; i < d.n; i++) {
    int32_t label = I32(d, 1, i);
    if (label < 0 || label > 9) in_range = false;
    else per_class[label]++;
  }
  CHECK(in_range && per_class[3] == 183 && per_class[0] == 178 && per_class[9] == 180);
  float largest = 0;
  for (int64_t i = 0; i < d.n * 64; i++) largest = fmaxf(largest, F32(d, 0, i));
  CHECK(largest == 16);

  /* data_take: rows may repeat; names are shared, not copied */
  int64_t idx[4] = {5, 0, 5, 1796};
  Dataset t;
  CHECK(data_take(&d, idx, 4, &t));
  CHECK(t.n == 4 && t.ncols == 2 && t.cols[0].name == d.cols[0].name && t.cols[1].name == d.cols[1].name);
  CHECK(t.cols[0].width == 64 && t.cols[1].type == RT_I32);
  bool same = true;
  for (int r = 0; r < 4; r++) {
    same &= memcmp(&F32(t, 0, r * 64), &F32(d, 0, idx[r] * 64), 64 * sizeof(float)) == 0;
    same &= I32(t, 1, r) == I32(d, 1, idx[r]);
  }
  CHECK(same && I32(t, 1, 3) == 8);
  data_free(&t);
  CHECK(t.n == 0 && t.cols == NULL);

  int64_t bad[2] = {1, 1797};
  CHECK(!data_take(&d, bad, 2, &t) && strcmp(rt_message(), "error: row 1797 is out of range 0..1796") == 0);
  CHECK(t.cols == NULL && t.n == 0);
  CHECK(data_take(&d, NULL, 0, &t) && t.n == 0 && t.ncols == 2);
  data_free(&t);

  int32_t labels[3];
  int64_t rows[3] = {1796, 0, 1796};
  data_gather(&d.cols[1], rows, 3, labels);
  CHECK(labels[0] == 8 && labels[1] == 0 && labels[2] == 8);
  data_free(&d);
}

static void test_diabetes(void) {
  /* space-separated: 59 2 32.1 101.0 157 93.2 38.0 4.0 4.8598 87 1.510000000000000000e+02 */
  DataInput in[2] = {column("x", RT_F64, 10, 0, 0, 10), column("y", RT_F64, 1, 0, 10, 11)};
  DataSource src = csv(EXAMPLES "diabetes.csv", false, ' ', in, 2);
  Dataset d;
  if (LOAD(&src, &d)) {
    CHECK(d.n == 442);
    CHECK(F64(d, 0, 0) == 59 && F64(d, 0, 2) == 32.1 && F64(d, 0, 8) == 4.8598 && F64(d, 1, 0) == 151);
    /* last row: 36 1 19.6 71.0 250 133.2 97.0 3.0 4.5951 92 5.7e+01 */
    CHECK(F64(d, 0, 441 * 10 + 2) == 19.6 && F64(d, 0, 441 * 10 + 9) == 92 && F64(d, 1, 441) == 57);
    data_free(&d);
  }
  in[0].type = RT_F32;
  if (LOAD(&src, &d)) {
    CHECK(F32(d, 0, 2) == 32.1f && F32(d, 0, 8) == 4.8598f && F64(d, 1, 0) == 151);
    data_free(&d);
  }
  /* with commas, each line is one field */
  src.delimiter = ',';
  EXPECT_ERROR(&src, EXAMPLES "diabetes.csv:1: error: column 9 is selected for `x` but the row has only 1 field "
                              "(columns 0..0)");
}

static void test_breast_cancer(void) {
  /* header "569,30,malignant,benign", then 30 features and the label */
  DataInput in[2] = {column("x", RT_F32, 30, 0, 0, 30), column("y", RT_I32, 1, 2, 30, 31)};
  DataSource src = csv(EXAMPLES "breast_cancer.csv", true, ',', in, 2);
  Dataset d;
  if (LOAD(&src, &d)) {
    CHECK(d.n == 569);
    CHECK(F32(d, 0, 0) == 17.99f && F32(d, 0, 1) == 10.38f && F32(d, 0, 29) == 0.1189f && I32(d, 1, 0) == 0);
    CHECK(F32(d, 0, 568 * 30) == 7.76f && F32(d, 0, 568 * 30 + 29) == 0.07039f && I32(d, 1, 568) == 1);
    int64_t ones = 0;
    for (int64_t i = 0; i < d.n; i++) ones += I32(d, 1, i);
    CHECK(ones == 357); /* benign */
    data_free(&d);
  }
  src.header = false;
  EXPECT_ERROR(&src, EXAMPLES "breast_cancer.csv:1: error: column 29 is selected for `x` but the row has only 4 "
                              "fields (columns 0..3)");
}

/* ---- CSV details ----------------------------------------------------------------- */

static void test_csv_layout(void) {
  DataInput in[2];
  Dataset d;
  /* BOM, CRLF, blank lines (counted), a header, quotes, no final newline */
  const char *text = "\xEF\xBB\xBF" "a,b,label\r\n\r\n1,\"2.5\",0\r\n  \r\n\" -3 \" , 4e1 ,\"1\"";
  DataSource src = small_csv(text, in, 0, 2, 2, 3, 2);
  src.header = true;
  if (LOAD(&src, &d)) {
    CHECK(d.n == 2 && F32(d, 0, 0) == 1 && F32(d, 0, 1) == 2.5f && F32(d, 0, 2) == -3 && F32(d, 0, 3) == 40);
    CHECK(I32(d, 1, 0) == 0 && I32(d, 1, 1) == 1);
    data_free(&d);
  }
  src = small_csv("\xEF\xBB\xBF" "a,b\r\n\r\n1,2\r\n \t\r\nx,4", in, 0, 2, 0, 0, 0);
  src.header = true;
  EXPECT_ERROR(&src, "%s:5:1: error: `x` is not a number (column 0, for input `x`)", src.file);
  /* the byte order mark is not part of the first column */
  src = small_csv("\xEF\xBB\xBF" "q,1\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:1: error: `q` is not a number (column 0, for input `x`)", src.file);

  /* unselected columns need not be numbers */
  src = small_csv("a,1,zz\nb,2,\n", in, 1, 2, 0, 0, 0);
  if (LOAD(&src, &d)) {
    CHECK(d.n == 2 && F32(d, 0, 0) == 1 && F32(d, 0, 1) == 2);
    data_free(&d);
  }
  /* other delimiters; ' ' takes any run of blanks and ignores them at the ends */
  src = small_csv("1;2;3\n4;-5;+6.25\n", in, 0, 3, 0, 0, 0);
  src.delimiter = ';';
  if (LOAD(&src, &d)) {
    CHECK(d.n == 2 && F32(d, 0, 4) == -5 && F32(d, 0, 5) == 6.25f);
    data_free(&d);
  }
  src = small_csv("  1\t 2   3  \n\t4 5 6\n", in, 0, 3, 0, 0, 0);
  src.delimiter = ' ';
  if (LOAD(&src, &d)) {
    CHECK(d.n == 2 && F32(d, 0, 0) == 1 && F32(d, 0, 2) == 3 && F32(d, 0, 3) == 4 && F32(d, 0, 5) == 6);
    data_free(&d);
  }
  src = small_csv("1 2 3\n4 5\n", in, 0, 2, 0, 0, 0);
  src.delimiter = ' ';
  EXPECT_ERROR(&src, "%s:2:4: error: row has 2 fields, but the first row has 3", src.file);
  /* a quoted delimiter does not split */
  src = small_csv("\"1,5\",2\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:1: error: `1,5` is not a number (column 0, for input `x`)", src.file);
  /* tab-separated */
  src = small_csv("1\t2\n3\t 4\n", in, 0, 2, 0, 0, 0);
  src.delimiter = '\t';
  if (LOAD(&src, &d)) {
    CHECK(d.n == 2 && F32(d, 0, 3) == 4);
    data_free(&d);
  }
  /* f64 keeps what f32 would round */
  src = small_csv("0.1,16777217\n", in, 0, 2, 0, 0, 0);
  in[0].type = RT_F64;
  if (LOAD(&src, &d)) {
    CHECK(F64(d, 0, 0) == 0.1 && F64(d, 0, 1) == 16777217.0);
    data_free(&d);
  }
  /* labels without a class count: any int32 */
  src = small_csv("1,-2147483648\n2,2147483647\n3,1e3\n", in, 0, 1, 1, 2, 0);
  if (LOAD(&src, &d)) {
    CHECK(I32(d, 1, 0) == INT32_MIN && I32(d, 1, 1) == INT32_MAX && I32(d, 1, 2) == 1000);
    data_free(&d);
  }
}

static void test_csv_errors(void) {
  DataInput in[2];
  DataSource src = small_csv("1,2,3\n4,5,6,7\n", in, 0, 3, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:2:7: error: row has 4 fields, but the first row has 3", src.file);
  src = small_csv("1,2,3\n4,5,6,\n", in, 0, 3, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:2:7: error: row has 4 fields, but the first row has 3", src.file);
  src = small_csv("1,2,3\n4,5\n", in, 0, 3, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:2:4: error: row has 2 fields, but the first row has 3", src.file);
  src = small_csv("1,2\n3\n", in, 0, 1, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:2:2: error: row has 1 field, but the first row has 2", src.file);
  src = small_csv("1,2,3\n", in, 0, 2, 3, 4, 10);
  EXPECT_ERROR(&src, "%s:1: error: column 3 is selected for `y` but the row has only 3 fields (columns 0..2)",
               src.file);
  src = small_csv("1,2\n3,abc\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:2:3: error: `abc` is not a number (column 1, for input `x`)", src.file);
  src = small_csv("1, 2x\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:4: error: `2x` is not a number (column 1, for input `x`)", src.file);
  src = small_csv("1,2 3\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: `2 3` is not a number (column 1, for input `x`)", src.file);
  src = small_csv("1,,3\n", in, 0, 3, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: an empty field is not a number (column 1, for input `x`)", src.file);
  src = small_csv("1,\"\"\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: an empty field is not a number (column 1, for input `x`)", src.file);
  src = small_csv("1,nan\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: `nan` is not a finite number (column 1, for input `x`)", src.file);
  src = small_csv("-inf,1\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:1: error: `-inf` is not a finite number (column 0, for input `x`)", src.file);
  src = small_csv("1,Infinity\n", in, 0, 1, 1, 2, 3);
  EXPECT_ERROR(&src, "%s:1:3: error: `Infinity` is not a finite number (column 1, for input `y`)", src.file);
  src = small_csv("1,1e999\n", in, 0, 2, 0, 0, 0);
  in[0].type = RT_F64;
  EXPECT_ERROR(&src, "%s:1:3: error: `1e999` is not a finite number (column 1, for input `x`)", src.file);
  src = small_csv("1,1e39\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: `1e39` does not fit in f32 (column 1, for input `x`)", src.file);
  src = small_csv("1,2.5\n", in, 0, 1, 1, 2, 3);
  EXPECT_ERROR(&src, "%s:1:3: error: 2.5 is not an integer label for `y`", src.file);
  src = small_csv("1,3\n1,10\n", in, 0, 1, 1, 2, 10);
  EXPECT_ERROR(&src, "%s:2:3: error: label 10 is out of range 0..9 for `y`", src.file);
  src = small_csv("1,-1\n", in, 0, 1, 1, 2, 10);
  EXPECT_ERROR(&src, "%s:1:3: error: label -1 is out of range 0..9 for `y`", src.file);
  src = small_csv("1,3e10\n", in, 0, 1, 1, 2, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: label 3e10 does not fit in i32 for `y`", src.file);
  src = small_csv("1,\"nan\"\n", in, 0, 1, 1, 2, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: `nan` is not a finite number (column 1, for input `y`)", src.file);

  /* a quote left open names the quote, not a count of fields */
  src = small_csv("1,2\n3,\"4\n5,6\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:2:3: error: unterminated quote: this `\"` is not closed before the end of the line", src.file);
  src = small_csv("\"1,2,3\n", in, 0, 1, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:1: error: unterminated quote: this `\"` is not closed before the end of the line", src.file);
  src = small_csv("1,\"2\"\"x\n", in, 0, 2, 0, 0, 0); /* "" closes and reopens */
  EXPECT_ERROR(&src, "%s:1:6: error: unterminated quote: this `\"` is not closed before the end of the line", src.file);
  /* the number grammar of the docs, not strtod's: no hexadecimal, no nan(...) */
  src = small_csv("1,0x10\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: `0x10` is not a decimal number (column 1, for input `x`)", src.file);
  src = small_csv("-0X1p3,1\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:1: error: `-0X1p3` is not a decimal number (column 0, for input `x`)", src.file);
  src = small_csv("1,0x1A\n", in, 0, 1, 1, 2, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: `0x1A` is not a decimal number (column 1, for input `y`)", src.file);
  src = small_csv("1,nan(7)\n", in, 0, 2, 0, 0, 0);
  in[0].type = RT_F64;
  EXPECT_ERROR(&src, "%s:1:3: error: `nan(7)` is not a decimal number (column 1, for input `x`)", src.file);
  src = small_csv("1,+INF\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: `+INF` is not a finite number (column 1, for input `x`)", src.file);
  src = small_csv("1,1e\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: `1e` is not a number (column 1, for input `x`)", src.file);
  src = small_csv("1,.\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: `.` is not a number (column 1, for input `x`)", src.file);
  src = small_csv("1,\"\v2\"\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s:1:3: error: `?2` is not a number (column 1, for input `x`)", src.file);
  /* every form the grammar has, in f32 and f64 */
  src = small_csv("+1.,-.5,2.5E+2,7e-1,-0,12345678901234567890123\n", in, 0, 6, 0, 0, 0);
  Dataset d;
  for (int t = 0; t < 2; t++) {
    in[0].type = t ? RT_F64 : RT_F32;
    if (LOAD(&src, &d)) {
      double want[6] = {1, -0.5, 250, 0.7, 0, 12345678901234567890123.0};
      for (int i = 0; i < 6; i++)
        CHECK(t ? F64(d, 0, i) == want[i] : F32(d, 0, i) == (float)want[i]);
      data_free(&d);
    }
  }

  src = small_csv("", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s: error: no data rows", src.file);
  src = small_csv("\n  \r\n\n", in, 0, 2, 0, 0, 0);
  EXPECT_ERROR(&src, "%s: error: no data rows", src.file);
  src = small_csv("a,b\r\n", in, 0, 2, 0, 0, 0);
  src.header = true;
  EXPECT_ERROR(&src, "%s: error: no data rows", src.file);

  src = small_csv("1,2\n", in, 0, 2, 0, 0, 0);
  src.file = path("missing.csv");
  EXPECT_ERROR(&src, "%s: error: cannot open: No such file or directory", src.file);
  src = small_csv("1,2\n", in, 0, 2, 0, 0, 0);
  in[0].width = 3;
  EXPECT_ERROR(&src, "%s: error: input `x` has 3 values per example, but cols(0, 2) selects 2 columns", src.file);
  src = small_csv("1,2\n", in, 0, 1, 1, 2, 0);
  in[1].width = 2;
  EXPECT_ERROR(&src, "%s: error: input `y` has 2 values per example, but col(1) selects 1 column", src.file);
}

/* Decimal text must read exactly as strtod/strtof read it, whichever path
 * data.c takes for it. */
static void test_csv_numbers_exact(void) {
  enum { ROWS = 4000, COLS = 5 };
  size_t cap = ROWS * COLS * 40, len = 0;
  char *text = malloc(cap);
  char(*fields)[40] = malloc(sizeof(char[40]) * ROWS * COLS);
  uint64_t state = 12345;
  for (int i = 0; i < ROWS * COLS; i++) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t r = state >> 11;
    int kind = (int)(r % 6), digits = (int)(r >> 8) % 20;
    unsigned long long whole = (r >> 16) % 100000000000ull, frac = (r >> 3) % 10000000000000ull;
    const char *sign = r & (1u << 20) ? "-" : "";
    switch (kind) {
    case 0: snprintf(fields[i], 40, "%s%llu", sign, whole); break;
    case 1: snprintf(fields[i], 40, "%s%llu.%0*llu", sign, whole % 1000, digits % 14 + 1, frac); break;
    case 2: snprintf(fields[i], 40, "%s0.%0*llu", sign, digits + 1, frac % 100000); break;
    case 3: snprintf(fields[i], 40, "%s%llu.%llue%d", sign, whole % 10, frac, (int)(r % 60) - 30); break;
    case 4: snprintf(fields[i], 40, "%s%llu%013llu", sign, whole, frac); break;
    default: snprintf(fields[i], 40, "%s%.*g", sign, digits % 17 + 1, (double)whole / (double)(frac + 1)); break;
    }
    len += (size_t)snprintf(text + len, cap - len, "%s%c", fields[i], i % COLS == COLS - 1 ? '\n' : ',');
  }
  const char *file = write_text("exact.csv", text);
  DataInput in[1] = {column("x", RT_F32, COLS, 0, 0, COLS)};
  DataSource src = csv(file, false, ',', in, 1);
  Dataset d;
  if (LOAD(&src, &d)) {
    int wrong = 0;
    for (int i = 0; i < ROWS * COLS; i++)
      if (memcmp(&F32(d, 0, i), &(float){strtof(fields[i], NULL)}, sizeof(float)) != 0 && wrong++ < 5)
        fprintf(stderr, "  f32 `%s`: got %.9g, strtof %.9g\n", fields[i], F32(d, 0, i), strtof(fields[i], NULL));
    CHECK(d.n == ROWS && wrong == 0);
    data_free(&d);
  }
  in[0].type = RT_F64;
  if (LOAD(&src, &d)) {
    int wrong = 0;
    for (int i = 0; i < ROWS * COLS; i++)
      if (memcmp(&F64(d, 0, i), &(double){strtod(fields[i], NULL)}, sizeof(double)) != 0 && wrong++ < 5)
        fprintf(stderr, "  f64 `%s`: got %.17g, strtod %.17g\n", fields[i], F64(d, 0, i), strtod(fields[i], NULL));
    CHECK(wrong == 0);
    data_free(&d);
  }
  free(fields);
  free(text);
}

/* ---- NPY ------------------------------------------------------------------------ */

static void test_npy(void) {
  Dataset d;
  float xf[12];
  for (int i = 0; i < 12; i++) xf[i] = (float)i * 0.5f - 1;
  double yd[3] = {0.25, -1e300, 3};
  int64_t x_dims[2] = {3, 4}, y_dims[1] = {3};
  DataInput in[2] = {file_input("x", RT_F32, 4, 0, write_npy("x_f4.npy", 1, "<f4", false, x_dims, 2, xf, sizeof xf)),
                     file_input("y", RT_F64, 1, 0, write_npy("y_f8.npy", 1, "<f8", false, y_dims, 1, yd, sizeof yd))};
  DataSource src = arrays(DATA_NPY, in, 2);
  if (LOAD(&src, &d)) {
    CHECK(d.n == 3 && d.cols[0].width == 4 && d.cols[1].width == 1);
    CHECK(memcmp(d.cols[0].data, xf, sizeof xf) == 0 && memcmp(d.cols[1].data, yd, sizeof yd) == 0);
    data_free(&d);
  }
  /* any width when the model does not fix it; f4 widened to f64 */
  in[0].width = -1;
  in[0].type = RT_F64;
  if (LOAD(&src, &d)) {
    CHECK(d.cols[0].width == 4 && F64(d, 0, 11) == 4.5 && F64(d, 0, 1) == -0.5);
    data_free(&d);
  }

  /* i4 in three dimensions: width 6 */
  int32_t xi[12] = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -2147483647 - 1};
  int64_t cube[3] = {2, 2, 3};
  in[0] = file_input("x", RT_I32, 6, 0, write_npy("x_i4.npy", 1, "<i4", false, cube, 3, xi, sizeof xi));
  src.ninputs = 1;
  if (LOAD(&src, &d)) {
    CHECK(d.n == 2 && d.cols[0].width == 6 && memcmp(d.cols[0].data, xi, sizeof xi) == 0);
    data_free(&d);
  }
  in[0].type = RT_F32;
  if (LOAD(&src, &d)) {
    CHECK(F32(d, 0, 1) == -2 && F32(d, 0, 11) == -2147483648.0f);
    data_free(&d);
  }
  /* i8 labels, 1-D, checked against the classes */
  int64_t yl[4] = {0, 4, 2, 1}, four[1] = {4};
  in[0] = file_input("y", RT_I32, 1, 5, write_npy("y_i8.npy", 1, "<i8", false, four, 1, yl, sizeof yl));
  if (LOAD(&src, &d)) {
    CHECK(d.n == 4 && I32(d, 0, 1) == 4 && I32(d, 0, 3) == 1);
    data_free(&d);
  }
  yl[2] = 7;
  write_npy("y_i8.npy", 1, "<i8", false, four, 1, yl, sizeof yl);
  EXPECT_ERROR(&src, "%s: error: element 2: label 7 is out of range 0..4 for `y`", in[0].file);
  yl[2] = 5000000000;
  in[0].classes = 0;
  write_npy("y_i8.npy", 1, "<i8", false, four, 1, yl, sizeof yl);
  EXPECT_ERROR(&src, "%s: error: element 2: label 5000000000 does not fit in i32 for `y`", in[0].file);

  /* bytes: |u1 and <u1 unsigned, |i1 signed; 3-D (2, 2, 2) */
  uint8_t bytes[8] = {0, 1, 127, 128, 200, 255, 16, 3};
  int64_t small[3] = {2, 2, 2};
  in[0] = file_input("x", RT_F32, 4, 0, write_npy("x_u1.npy", 1, "|u1", false, small, 3, bytes, sizeof bytes));
  if (LOAD(&src, &d)) {
    CHECK(d.n == 2 && d.cols[0].width == 4 && F32(d, 0, 3) == 128 && F32(d, 0, 5) == 255 && F32(d, 0, 7) == 3);
    data_free(&d);
  }
  in[0].file = write_npy("x_lu1.npy", 1, "<u1", false, small, 3, bytes, sizeof bytes);
  if (LOAD(&src, &d)) {
    CHECK(F32(d, 0, 4) == 200);
    data_free(&d);
  }
  in[0].file = write_npy("x_i1.npy", 1, "|i1", false, small, 3, bytes, sizeof bytes);
  if (LOAD(&src, &d)) {
    CHECK(F32(d, 0, 2) == 127 && F32(d, 0, 3) == -128 && F32(d, 0, 5) == -1);
    data_free(&d);
  }
  /* format versions 2.0 and 3.0, and a big-endian float */
  in[0] = file_input("x", RT_F32, 4, 0, write_npy("x_v2.npy", 2, "<f4", false, x_dims, 2, xf, sizeof xf));
  if (LOAD(&src, &d)) {
    CHECK(d.n == 3 && memcmp(d.cols[0].data, xf, sizeof xf) == 0);
    data_free(&d);
  }
  in[0].file = write_npy("x_v3.npy", 3, "<f4", false, x_dims, 2, xf, sizeof xf);
  if (LOAD(&src, &d)) {
    CHECK(d.n == 3 && memcmp(d.cols[0].data, xf, sizeof xf) == 0);
    data_free(&d);
  }
  float xbe[12];
  for (int i = 0; i < 12; i++) big_endian(&xbe[i], &xf[i], 4);
  in[0].file = write_npy("x_be.npy", 1, ">f4", false, x_dims, 2, xbe, sizeof xbe);
  if (LOAD(&src, &d)) {
    CHECK(memcmp(d.cols[0].data, xf, sizeof xf) == 0);
    data_free(&d);
  }
}

static void test_npy_errors(void) {
  float xf[12] = {0};
  int64_t x_dims[2] = {3, 4}, y_dims[1] = {2};
  DataInput in[2] = {file_input("x", RT_F32, 4, 0, NULL), file_input("y", RT_I32, 1, 3, NULL)};
  DataSource src = arrays(DATA_NPY, in, 1);

  in[0].file = write_npy("fortran.npy", 1, "<f4", true, x_dims, 2, xf, sizeof xf);
  EXPECT_ERROR(&src,
               "%s: error: Fortran-order arrays are not supported (save a C-order array, e.g. np.save(f, "
               "np.ascontiguousarray(a)))",
               in[0].file);
  in[0].file = write_npy("short.npy", 1, "<f4", false, x_dims, 2, xf, 40);
  EXPECT_ERROR(&src, "%s: error: truncated: shape (3, 4) needs 48 bytes of data, but the file has 40", in[0].file);
  in[0].file = write_npy("long.npy", 1, "<f4", false, x_dims, 2, xf, sizeof xf);
  in[0].width = 5;
  EXPECT_ERROR(&src, "%s: error: input `x` has 5 values per example, but the file has 4 (shape (3, 4))", in[0].file);
  in[0].width = 4;
  in[0].file = write_npy("cplx.npy", 1, "<c8", false, x_dims, 2, xf, sizeof xf);
  EXPECT_ERROR(&src, "%s: error: dtype '<c8' is not supported (f4, f8, i1, i2, i4, i8, u1, u2, u4, u8 are, in C order)",
               in[0].file);
  int64_t scalar[1] = {0};
  in[0].file = write_npy("scalar.npy", 1, "<f4", false, scalar, 0, xf, 4);
  EXPECT_ERROR(&src, "%s: error: a 0-dimensional array holds no examples", in[0].file);
  int64_t empty[2] = {0, 4};
  in[0].file = write_npy("empty.npy", 1, "<f4", false, empty, 2, NULL, 0);
  EXPECT_ERROR(&src, "%s: error: no examples (shape (0, 4))", in[0].file);
  int64_t three[1] = {3};
  in[0].width = 1;
  in[0].file = write_npy("extra.npy", 1, "<f4", false, three, 1, xf, 16);
  EXPECT_ERROR(&src, "%s: error: 4 bytes after the data of shape (3,)", in[0].file);
  in[0].width = 4;

  in[0].file = write_bytes("magic.npy", "\x93NUMPX\x01\x00\x10\x00", 10);
  EXPECT_ERROR(&src, "%s: error: not a .npy file (no \\x93NUMPY)", in[0].file);
  in[0].file = write_bytes("stub.npy", "\x93NUMPY\x01\x00", 8);
  EXPECT_ERROR(&src, "%s: error: truncated .npy header", in[0].file);
  in[0].file = write_bytes("cut.npy", "\x93NUMPY\x01\x00\x40\x00{'descr': '<f4', ", 26);
  EXPECT_ERROR(&src, "%s: error: truncated .npy header", in[0].file);
  in[0].file = write_bytes("v4.npy", "\x93NUMPY\x04\x00\x00\x00\x00\x00", 12);
  EXPECT_ERROR(&src, "%s: error: unsupported .npy format version 4.0", in[0].file);
  in[0].file = write_npy_header("dict.npy", "{'descr': '<f4' 'shape': (3,)}");
  EXPECT_ERROR(&src, "%s: error: malformed .npy header: expected `,` or `}` (at byte 16 of the header)", in[0].file);
  in[0].file = write_npy_header("noshape.npy", "{'descr': '<f4', 'fortran_order': False}");
  EXPECT_ERROR(&src, "%s: error: malformed .npy header: no 'shape'", in[0].file);

  /* values the input cannot take */
  float labels[3] = {0, 2.5f, 0.1f};
  int64_t l_dims[1] = {3};
  in[0] = file_input("y", RT_I32, 1, 3, write_npy("frac.npy", 1, "<f4", false, l_dims, 1, labels, sizeof labels));
  EXPECT_ERROR(&src, "%s: error: element 1: 2.5 is not an integer label for `y`", in[0].file);
  labels[1] = 2;
  in[0].file = write_npy("frac.npy", 1, "<f4", false, l_dims, 1, labels, sizeof labels);
  EXPECT_ERROR(&src, "%s: error: element 2: 0.1 is not an integer label for `y`", in[0].file);
  float bad[3] = {1, 2, NAN};
  in[0] = file_input("x", RT_F32, 1, 0, write_npy("nan.npy", 1, "<f4", false, l_dims, 1, bad, sizeof bad));
  EXPECT_ERROR(&src, "%s: error: element 2: nan is not a finite number (for input `x`)", in[0].file);
  double huge[3] = {1e300, 0, 0};
  in[0].file = write_npy("huge.npy", 1, "<f8", false, l_dims, 1, huge, sizeof huge);
  EXPECT_ERROR(&src, "%s: error: element 0: 1e+300 does not fit in f32 (for input `x`)", in[0].file);

  /* inputs of different lengths */
  float x[12] = {0};
  int32_t y[2] = {0, 1};
  in[0] = file_input("x", RT_F32, 4, 0, write_npy("x.npy", 1, "<f4", false, x_dims, 2, x, sizeof x));
  in[1] = file_input("y", RT_I32, 1, 3, write_npy("y.npy", 1, "<i4", false, y_dims, 1, y, sizeof y));
  src.ninputs = 2;
  EXPECT_ERROR(&src, "%s: error: has 2 examples but %s has 3", in[1].file, in[0].file);
  in[1].file = path("nothere.npy");
  EXPECT_ERROR(&src, "%s: error: cannot open: No such file or directory", in[1].file);
}

/* ---- IDX ------------------------------------------------------------------------ */

static void test_idx(void) {
  Dataset d;
  uint8_t pixels[12] = {0, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 128};
  uint32_t image_dims[3] = {2, 2, 3};
  DataInput in[2] = {file_input("x", RT_F32, 6, 0, write_idx("x.idx", 0x08, image_dims, 3, pixels, sizeof pixels)),
                     file_input("y", RT_I32, 1, 10, NULL)};
  uint8_t labels_be[8];
  int32_t labels[2] = {7, 0};
  for (int i = 0; i < 2; i++) big_endian(labels_be + 4 * i, &labels[i], 4);
  uint32_t label_dims[1] = {2};
  in[1].file = write_idx("y.idx", 0x0C, label_dims, 1, labels_be, sizeof labels_be);
  DataSource src = arrays(DATA_IDX, in, 2);
  if (LOAD(&src, &d)) {
    CHECK(d.n == 2 && d.cols[0].width == 6 && F32(d, 0, 1) == 255 && F32(d, 0, 11) == 128);
    CHECK(I32(d, 1, 0) == 7 && I32(d, 1, 1) == 0);
    data_free(&d);
  }
  /* f32 data, big-endian, (3, 2) */
  float values[6] = {0.5f, -1.25f, 3e10f, 1e-30f, 0, -0.0f};
  uint8_t values_be[24];
  for (int i = 0; i < 6; i++) big_endian(values_be + 4 * i, &values[i], 4);
  uint32_t value_dims[2] = {3, 2};
  in[0] = file_input("x", RT_F32, 2, 0, write_idx("f.idx", 0x0D, value_dims, 2, values_be, sizeof values_be));
  src.ninputs = 1;
  if (LOAD(&src, &d)) {
    CHECK(d.n == 3 && d.cols[0].width == 2 && memcmp(d.cols[0].data, values, sizeof values) == 0);
    data_free(&d);
  }
  /* i16 into f64; i8 */
  int16_t shorts[3] = {-300, 2, 32767};
  uint8_t shorts_be[6];
  for (int i = 0; i < 3; i++) big_endian(shorts_be + 2 * i, &shorts[i], 2);
  uint32_t three[1] = {3};
  in[0] = file_input("x", RT_F64, 1, 0, write_idx("s.idx", 0x0B, three, 1, shorts_be, sizeof shorts_be));
  if (LOAD(&src, &d)) {
    CHECK(F64(d, 0, 0) == -300 && F64(d, 0, 2) == 32767);
    data_free(&d);
  }
  double doubles[3] = {0.1, -2, 1e100};
  uint8_t doubles_be[24];
  for (int i = 0; i < 3; i++) big_endian(doubles_be + 8 * i, &doubles[i], 8);
  in[0].file = write_idx("d.idx", 0x0E, three, 1, doubles_be, sizeof doubles_be);
  if (LOAD(&src, &d)) {
    CHECK(memcmp(d.cols[0].data, doubles, sizeof doubles) == 0);
    data_free(&d);
  }

  /* errors */
  in[0] = file_input("x", RT_F32, 6, 0, write_idx("cut.idx", 0x08, image_dims, 3, pixels, 11));
  EXPECT_ERROR(&src, "%s: error: truncated: shape (2, 2, 3) needs 12 bytes of data, but the file has 11", in[0].file);
  in[0].file = write_bytes("head.idx", "\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00", 10);
  EXPECT_ERROR(&src, "%s: error: truncated IDX header", in[0].file);
  in[0].file = write_bytes("magic.idx", "\x01\x00\x08\x01\x00\x00\x00\x01\x05", 9);
  EXPECT_ERROR(&src, "%s: error: not an IDX file (it must start with two zero bytes)", in[0].file);
  in[0].file = write_bytes("type.idx", "\x00\x00\x0a\x01\x00\x00\x00\x01\x05", 9);
  EXPECT_ERROR(&src, "%s: error: unsupported IDX element type 0x0A", in[0].file);
  in[0].file = write_bytes("rank0.idx", "\x00\x00\x08\x00", 4);
  EXPECT_ERROR(&src, "%s: error: a 0-dimensional array holds no examples", in[0].file);
  in[0] = file_input("x", RT_F32, 5, 0, write_idx("x.idx", 0x08, image_dims, 3, pixels, sizeof pixels));
  EXPECT_ERROR(&src, "%s: error: input `x` has 5 values per example, but the file has 6 (shape (2, 2, 3))",
               in[0].file);
  in[0] = file_input("y", RT_I32, 6, 10, in[0].file);
  EXPECT_ERROR(&src, "%s: error: element 1: label 255 is out of range 0..9 for `y`", in[0].file);
  /* lengths differ between an IDX image file and its labels */
  uint32_t one[1] = {1};
  in[0] = file_input("x", RT_F32, 6, 0, in[0].file);
  in[1] = file_input("y", RT_I32, 1, 10, write_idx("y1.idx", 0x08, one, 1, pixels, 1));
  src.ninputs = 2;
  EXPECT_ERROR(&src, "%s: error: has 1 example but %s has 2", in[1].file, in[0].file);
}

/* ---- main ------------------------------------------------------------------------ */

static void remove_folder(void) {
  char command[128];
  snprintf(command, sizeof command, "rm -rf '%s'", folder);
  if (system(command) != 0) fprintf(stderr, "test_data: could not remove %s\n", folder);
}

int main(void) {
  snprintf(folder, sizeof folder, "%s", "/tmp/test_data.XXXXXX");
  if (!mkdtemp(folder)) {
    perror("test_data: mkdtemp");
    return 2;
  }
  test_digits();
  test_diabetes();
  test_breast_cancer();
  test_csv_layout();
  test_csv_errors();
  test_csv_numbers_exact();
  test_npy();
  test_npy_errors();
  test_idx();
  remove_folder();
  if (failures) {
    fprintf(stderr, "test_data: %d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("test_data: all %d checks passed\n", checks);
  return 0;
}
