/* test_checkpoint.c - safetensors checkpoints: round trips that keep every
 * bit, the exact byte layout, every malformed file refused with its
 * message, atomic saving. Files go to a fresh folder under /tmp. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dml_runtime.h"

static int failures;
static char folder[] = "/tmp/test_checkpoint-XXXXXX";

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                               \
    }                                                                           \
  } while (0)

/* ---- files -------------------------------------------------------------------- */

static const char *path_in(const char *name) {
  static char paths[4][512];
  static int next;
  char *p = paths[next++ % 4];
  snprintf(p, 512, "%s/%s", folder, name);
  return p;
}

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "cannot write test file %s\n", path);
    exit(2);
  }
}

static unsigned char *read_bytes(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  rewind(f);
  unsigned char *p = malloc(*n + 1);
  if (fread(p, 1, *n, f) != *n) *n = 0;
  fclose(f);
  return p;
}

/* A safetensors file from a header text and raw data bytes, unpadded. */
static void write_safetensors(const char *path, const char *header, const void *data, size_t data_len) {
  size_t h = strlen(header), n = 8 + h + data_len;
  unsigned char *p = malloc(n);
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)((uint64_t)h >> (8 * i));
  memcpy(p + 8, header, h);
  if (data_len) memcpy(p + 8 + h, data, data_len);
  write_bytes(path, p, n);
  free(p);
}

/* Names in the test folder that contain `part`. */
static int count_files_with(const char *part) {
  DIR *d = opendir(folder);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    if (strstr(e->d_name, part)) n++;
  if (d) closedir(d);
  return n;
}

/* ---- expectations ------------------------------------------------------------- */

static void __attribute__((format(printf, 3, 4))) expect_load_error(int line, const char *path, const char *fmt, ...) {
  char expected[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(expected, sizeof expected, fmt, ap);
  va_end(ap);
  Checkpoint c;
  memset(&c, 0x55, sizeof c); /* ckpt_load must reset it */
  if (ckpt_load(path, &c)) {
    fprintf(stderr, "%s:%d: loaded, but should fail with: %s\n", __FILE__, line, expected);
    failures++;
  } else if (strcmp(rt_message(), expected)) {
    fprintf(stderr, "%s:%d:\n  got      %s\n  expected %s\n", __FILE__, line, rt_message(), expected);
    failures++;
  }
  CHECK(c.tensors == NULL && c.ntensors == 0 && c.meta == NULL && c.nmeta == 0);
  ckpt_free(&c);
}

#define EXPECT_LOAD_ERROR(path, ...) expect_load_error(__LINE__, path, __VA_ARGS__)

/* A file with this header and data_len zero bytes must fail with "PATH: error: MESSAGE". */
static void expect_header_error(int line, const char *header, size_t data_len, const char *message) {
  const char *path = path_in("bad.safetensors");
  unsigned char data[256] = {0};
  write_safetensors(path, header, data, data_len);
  expect_load_error(line, path, "%s: error: %s", path, message);
}

#define EXPECT_HEADER_ERROR(header, data_len, message) expect_header_error(__LINE__, header, data_len, message)

/* ---- round trip --------------------------------------------------------------- */

static CkTensor tensor(const char *name, RtType type, int rank, const int64_t *dims) {
  CkTensor t = {.name = (char *)name, .type = type, .rank = rank};
  int64_t n = 1;
  for (int d = 0; d < rank; d++) n *= (t.dims[d] = dims[d]);
  t.data = n ? malloc((size_t)n * rt_type_size(type)) : NULL;
  /* Fill with bit patterns, including NaN payloads and negative zero. */
  unsigned char *p = t.data;
  for (size_t i = 0; i < (size_t)n * rt_type_size(type); i++) p[i] = (unsigned char)(i * 37 + 11 + name[0]);
  return t;
}

static size_t tensor_size(const CkTensor *t) {
  size_t n = rt_type_size(t->type);
  for (int d = 0; d < t->rank; d++) n *= (size_t)t->dims[d];
  return n;
}

static bool same_tensor(const CkTensor *a, const CkTensor *b) {
  if (strcmp(a->name, b->name) || a->type != b->type || a->rank != b->rank) return false;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d] != b->dims[d]) return false;
  size_t n = tensor_size(a);
  return n == 0 || !memcmp(a->data, b->data, n);
}

static void test_round_trip(void) {
  const int64_t d1[] = {5}, d2[] = {3, 4}, d3[] = {2, 3, 4}, d4[] = {2, 1, 3, 2}, empty[] = {3, 0}, none[] = {0};
  CkTensor t[] = {
    tensor("scalar", RT_F32, 0, NULL),       tensor("v", RT_F64, 1, d1),
    tensor("m", RT_I32, 2, d2),              tensor("layer\"1\"/w \xc3\xa9\n", RT_F32, 3, d3),
    tensor("t4", RT_F64, 4, d4),             tensor("empty", RT_F32, 2, empty),
    tensor("nothing", RT_I32, 1, none),      tensor("t4_i32", RT_I32, 4, d4),
    tensor("after_empty", RT_F64, 2, d2),
  };
  int n = (int)(sizeof t / sizeof t[0]);
  double *v = t[1].data;
  v[0] = -0.0, v[1] = NAN, v[2] = INFINITY, v[3] = 4.9e-324, v[4] = -1.5;
  int32_t *m = t[2].data;
  m[0] = INT32_MIN, m[1] = INT32_MAX, m[2] = -1;
  CkMeta meta[] = {{"format", "dml"}, {"epoch", "12"}, {"note", "a \"quote\"\nand \\ a \xe2\x82\xac"}, {"", ""}};
  const char *path = path_in("round.safetensors");
  CHECK(ckpt_save(path, t, n, meta, 4));

  size_t len;
  unsigned char *bytes = read_bytes(path, &len);
  uint64_t header_len;
  memcpy(&header_len, bytes, 8);
  CHECK(header_len % 8 == 0 && len >= 8 + header_len);
  free(bytes);

  Checkpoint c;
  CHECK(ckpt_load(path, &c));
  CHECK(c.ntensors == n && c.nmeta == 4);
  for (int i = 0; i < n && i < c.ntensors; i++) {
    CHECK(same_tensor(&t[i], &c.tensors[i])); /* order by offset = the order saved */
    CHECK((uintptr_t)c.tensors[i].data % 64 == 0);
    CHECK(ckpt_find(&c, t[i].name) == &c.tensors[i]);
  }
  for (int i = 0; i < 4 && i < c.nmeta; i++) {
    CHECK(!strcmp(c.meta[i].key, meta[i].key) && !strcmp(c.meta[i].value, meta[i].value));
    CHECK(ckpt_meta(&c, meta[i].key) && !strcmp(ckpt_meta(&c, meta[i].key), meta[i].value));
  }
  CHECK(!ckpt_find(&c, "missing") && !ckpt_meta(&c, "missing"));
  ckpt_free(&c);
  CHECK(c.tensors == NULL && c.ntensors == 0);
  ckpt_free(&c); /* twice is fine: it zeroes */
  for (int i = 0; i < n; i++) free(t[i].data);

  /* Nothing at all: "{}" padded to 8 bytes. */
  path = path_in("nothing.safetensors");
  CHECK(ckpt_save(path, NULL, 0, NULL, 0));
  bytes = read_bytes(path, &len);
  CHECK(len == 16 && !memcmp(bytes, "\x08\0\0\0\0\0\0\0{}      ", 16));
  free(bytes);
  CHECK(ckpt_load(path, &c) && c.ntensors == 0 && c.nmeta == 0);
  ckpt_free(&c);
  CHECK(count_files_with(".tmp.") == 0);
}

/* The exact bytes of a tiny file, worked out by hand. */
static void test_layout(void) {
  float a[2] = {1.0f, -2.0f};
  CkTensor t = {.name = "a", .type = RT_F32, .rank = 1, .dims = {2}, .data = a};
  CkMeta meta = {"k", "v"};
  const char *path = path_in("tiny.safetensors");
  CHECK(ckpt_save(path, &t, 1, &meta, 1));
  /* The header is 79 bytes of JSON plus one space of padding: 80 = 0x50. */
  static const unsigned char expected[] =
    "\x50\0\0\0\0\0\0\0"
    "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} "
    "\x00\x00\x80\x3f"  /* 1.0f */
    "\x00\x00\x00\xc0"; /* -2.0f */
  size_t len;
  unsigned char *bytes = read_bytes(path, &len);
  CHECK(bytes && len == sizeof expected - 1 && !memcmp(bytes, expected, len));

  /* A flipped byte in the header: the ':' after "__metadata__" becomes ';'. */
  bytes[8 + 15] = ';';
  write_bytes(path, bytes, len);
  EXPECT_LOAD_ERROR(path, "%s:1:16: error: expected `:` after an object key", path);
  free(bytes);
}

/* Every proper prefix of a valid file is refused as truncated. */
static void test_truncation(void) {
  const int64_t d2[] = {2, 3}, d1[] = {4};
  CkTensor t[] = {tensor("w", RT_F32, 2, d2), tensor("b", RT_F64, 1, d1)};
  CkMeta meta = {"epoch", "3"};
  const char *path = path_in("full.safetensors"), *cut = path_in("cut.safetensors");
  CHECK(ckpt_save(path, t, 2, &meta, 1));
  size_t len;
  unsigned char *bytes = read_bytes(path, &len);
  CHECK(len == 8 + 144 + 24 + 32); /* 141 bytes of header JSON, padded to 144 */
  for (size_t n = 0; n < len; n++) {
    write_bytes(cut, bytes, n);
    Checkpoint c;
    bool loaded = ckpt_load(cut, &c);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s: error: truncated checkpoint: ", cut);
    if (loaded || strncmp(rt_message(), prefix, strlen(prefix))) {
      fprintf(stderr, "prefix of %zu bytes: %s\n", n, loaded ? "loaded" : rt_message());
      failures++;
    }
    ckpt_free(&c);
  }
  write_bytes(cut, bytes, 5);
  EXPECT_LOAD_ERROR(cut, "%s: error: truncated checkpoint: the file has 5 bytes, fewer than the 8 of the header size",
                    cut);
  write_bytes(cut, bytes, 8 + 50);
  EXPECT_LOAD_ERROR(cut, "%s: error: truncated checkpoint: the header says 144 bytes but only 50 follow", cut);
  write_bytes(cut, bytes, len - 1);
  EXPECT_LOAD_ERROR(cut, "%s: error: truncated checkpoint: the tensors need 56 bytes of data but the file has 55", cut);
  /* One byte more is not covered by any tensor. */
  bytes = realloc(bytes, len + 1);
  bytes[len] = 0;
  write_bytes(cut, bytes, len + 1);
  EXPECT_LOAD_ERROR(cut, "%s: error: data bytes [56, 57) belong to no tensor", cut);
  free(bytes);
  free(t[0].data);
  free(t[1].data);
}

static void test_bad_files(void) {
  /* Another writer's file: no padding, any member order, metadata last. Loaded in offset order. */
  const char *path = path_in("other.safetensors");
  const char *other = "{ \"b\": {\"shape\": [2], \"dtype\": \"I32\", \"data_offsets\": [8, 16]},\n"
                      "  \"a\": {\"data_offsets\": [0, 8], \"dtype\": \"F32\", \"shape\": [2]},\n"
                      "  \"__metadata__\": {\"x\": \"y\"} }";
  unsigned char data[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  write_safetensors(path, other, data, 16);
  Checkpoint c;
  CHECK(ckpt_load(path, &c));
  CHECK(c.ntensors == 2 && !strcmp(c.tensors[0].name, "a") && !strcmp(c.tensors[1].name, "b"));
  CHECK(c.ntensors == 2 && !memcmp(c.tensors[1].data, data + 8, 8) && c.tensors[1].type == RT_I32);
  CHECK(ckpt_meta(&c, "x") && !strcmp(ckpt_meta(&c, "x"), "y"));
  ckpt_free(&c);

  /* Empty tensors may sit anywhere between others, also several at one offset. */
  write_safetensors(path,
                    "{\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
                    "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                    "\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                    "\"w\":{\"dtype\":\"F64\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                    data, 8);
  CHECK(ckpt_load(path, &c));
  CHECK(c.ntensors == 4 && !strcmp(c.tensors[0].name, "x") && !strcmp(c.tensors[1].name, "z") &&
        !strcmp(c.tensors[2].name, "w") && !strcmp(c.tensors[3].name, "y"));
  ckpt_free(&c);

  const char *A = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
  char h[512];
  EXPECT_HEADER_ERROR("{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                      "tensor \"w\": unsupported dtype \"BF16\" (only F32, F64 and I32 are supported)");
  EXPECT_HEADER_ERROR("{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "tensor \"w\": unsupported dtype \"f32\" (only F32, F64 and I32 are supported)");
  snprintf(h, sizeof h, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", A);
  EXPECT_HEADER_ERROR(h, 12, "tensors \"a\" and \"b\" overlap: \"a\" ends at byte 8 and \"b\" begins at 4");
  snprintf(h, sizeof h, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", A);
  EXPECT_HEADER_ERROR(h, 8, "tensors \"a\" and \"b\" overlap: \"a\" ends at byte 8 and \"b\" begins at 0");
  snprintf(h, sizeof h, "{%s,\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", A);
  EXPECT_HEADER_ERROR(h, 8, "tensors \"a\" and \"e\" overlap: \"a\" ends at byte 8 and \"e\" begins at 4");
  snprintf(h, sizeof h, "{%s,\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", A);
  EXPECT_HEADER_ERROR(h, 20, "data bytes [8, 12) belong to no tensor");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                      "data bytes [0, 4) belong to no tensor");
  snprintf(h, sizeof h, "{%s}", A);
  EXPECT_HEADER_ERROR(h, 12, "data bytes [8, 12) belong to no tensor");
  EXPECT_HEADER_ERROR(h, 4, "truncated checkpoint: the tensors need 8 bytes of data but the file has 4");
  EXPECT_HEADER_ERROR("{}", 4, "data bytes [0, 4) belong to no tensor");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                      "tensor \"a\": data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16,
                      "tensor \"a\": data_offsets [0, 16] hold 16 bytes but shape [2, 2] of F64 needs 32");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}",
                      8, "tensor \"a\": shape [4294967296, 4294967296, 4294967296] is too large");
  EXPECT_HEADER_ERROR("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor \"a\": missing \"dtype\"");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "tensor \"a\": missing \"shape\"");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "tensor \"a\": missing \"data_offsets\"");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "tensor \"a\": \"dtype\" must be a string");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8,
                      "tensor \"a\": \"shape\" must be an array");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8,
                      "tensor \"a\": shape[1] must be a non-negative integer");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8,
                      "tensor \"a\": shape[0] must be a non-negative integer");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
                      "tensor \"a\": shape[0] must be a non-negative integer");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,8]}}", 8,
                      "tensor \"a\": shape[0] must be a non-negative integer");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                      "tensor \"a\": rank 9 is more than the 8 supported");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 0,
                      "truncated checkpoint: the tensors need 8 bytes of data but the file has 0");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
                      "tensor \"a\": data_offsets [8, 0] end before they begin");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8,
                      "tensor \"a\": \"data_offsets\" must be [begin, end] with non-negative integers");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8,
                      "tensor \"a\": \"data_offsets\" must be [begin, end] with non-negative integers");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{\"begin\":0}}}", 8,
                      "tensor \"a\": \"data_offsets\" must be [begin, end] with non-negative integers");
  EXPECT_HEADER_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"offset\":0}}", 8,
                      "tensor \"a\": unknown field \"offset\"");
  EXPECT_HEADER_ERROR("{\"a\":[1]}", 0, "tensor \"a\": expected an object");
  EXPECT_HEADER_ERROR("[]", 0, "the header is not a JSON object");
  EXPECT_HEADER_ERROR("{\"__metadata__\":[]}", 0, "\"__metadata__\" must be an object of strings");
  EXPECT_HEADER_ERROR("{\"__metadata__\":{\"epoch\":3}}", 0,
                      "\"__metadata__\": the value of \"epoch\" must be a string");

  /* JSON errors come through with the line and column inside the header. */
  write_safetensors(path, "{\"a\":\n  {\"dtype\":\"F32\",}}", NULL, 0);
  EXPECT_LOAD_ERROR(path, "%s:2:18: error: expected a string key in an object, found `}`", path);
  write_safetensors(path, "", NULL, 0);
  EXPECT_LOAD_ERROR(path, "%s:1:1: error: expected a value, found the end of the text", path);
  write_safetensors(path, "{\"a\":1,\"a\":2}", NULL, 0);
  EXPECT_LOAD_ERROR(path, "%s:1:8: error: duplicate key \"a\" in an object", path);

  /* Header sizes: absurd, or larger than the file. */
  unsigned char absurd[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
  write_bytes(path, absurd, 16);
  EXPECT_LOAD_ERROR(path, "%s: error: not a checkpoint: the header size 9223372036854775807 is absurd (over 100 MB)",
                    path);
  unsigned char over[16] = {0x01, 0xe1, 0xf5, 0x05, 0, 0, 0, 0, '{', '}'}; /* 100000001 */
  write_bytes(path, over, 16);
  EXPECT_LOAD_ERROR(path, "%s: error: not a checkpoint: the header size 100000001 is absurd (over 100 MB)", path);
  unsigned char bigger[16] = {0x09, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
  write_bytes(path, bigger, 16);
  EXPECT_LOAD_ERROR(path, "%s: error: truncated checkpoint: the header says 9 bytes but only 8 follow", path);

  const char *missing = path_in("missing.safetensors");
  EXPECT_LOAD_ERROR(missing, "error: cannot read %s: No such file or directory", missing);
  EXPECT_LOAD_ERROR(folder, "%s: error: not a regular file", folder);
}

/* ---- atomic saving ------------------------------------------------------------ */

static void test_atomic(void) {
  float x[3] = {1, 2, 3};
  CkTensor t = {.name = "x", .type = RT_F32, .rank = 1, .dims = {3}, .data = x};
  Checkpoint c;

  /* A folder that does not exist: an error, and nothing created. */
  const char *nowhere = path_in("no/such/folder.safetensors");
  CHECK(!ckpt_save(nowhere, &t, 1, NULL, 0));
  char expected[600];
  snprintf(expected, sizeof expected, "error: cannot write %s: No such file or directory", nowhere);
  CHECK(!strcmp(rt_message(), expected));
  struct stat st;
  CHECK(stat(path_in("no"), &st) != 0 && errno == ENOENT);

  /* Saving over an existing file replaces it. */
  const char *path = path_in("replace.safetensors");
  write_bytes(path, "not a checkpoint at all, just text", 34);
  CHECK(ckpt_save(path, &t, 1, NULL, 0));
  CHECK(ckpt_load(path, &c) && c.ntensors == 1 && !memcmp(c.tensors[0].data, x, sizeof x));
  ckpt_free(&c);
  x[0] = 42;
  CHECK(ckpt_save(path, &t, 1, NULL, 0));
  CHECK(ckpt_load(path, &c) && c.ntensors == 1 && ((float *)c.tensors[0].data)[0] == 42);
  ckpt_free(&c);
  CHECK(count_files_with(".tmp.") == 0);

  /* A write failing half way (the file size limit) leaves the old file and no temporary. */
  size_t old_len, len;
  unsigned char *old = read_bytes(path, &old_len);
  int64_t big_dims[] = {1 << 20};
  CkTensor big = {.name = "big", .type = RT_F32, .rank = 1, .dims = {big_dims[0]}, .data = calloc(1 << 20, 4)};
  struct rlimit saved, small;
  getrlimit(RLIMIT_FSIZE, &saved);
  small = saved;
  small.rlim_cur = 64 * 1024;
  signal(SIGXFSZ, SIG_IGN);
  if (setrlimit(RLIMIT_FSIZE, &small) == 0) {
    bool ok = ckpt_save(path, &big, 1, NULL, 0);
    setrlimit(RLIMIT_FSIZE, &saved);
    CHECK(!ok);
    snprintf(expected, sizeof expected, "error: cannot write %s: File too large", path);
    CHECK(!strcmp(rt_message(), expected));
    if (strcmp(rt_message(), expected)) fprintf(stderr, "  got %s\n", rt_message());
    unsigned char *now = read_bytes(path, &len);
    CHECK(now && len == old_len && !memcmp(now, old, len));
    free(now);
    CHECK(count_files_with(".tmp.") == 0);
  }
  free(big.data);
  free(old);

  /* Arguments the loader would refuse are refused before anything is written. */
  CkTensor twice[] = {t, t};
  const char *dup = path_in("dup.safetensors");
  CHECK(!ckpt_save(dup, twice, 2, NULL, 0));
  snprintf(expected, sizeof expected, "error: cannot write %s: two tensors are called \"x\"", dup);
  CHECK(!strcmp(rt_message(), expected));
  CkMeta meta[] = {{"k", "1"}, {"k", "2"}};
  CHECK(!ckpt_save(dup, &t, 1, meta, 2));
  snprintf(expected, sizeof expected, "error: cannot write %s: the metadata key \"k\" occurs twice", dup);
  CHECK(!strcmp(rt_message(), expected));
  CkTensor reserved = t;
  reserved.name = "__metadata__";
  CHECK(!ckpt_save(dup, &reserved, 1, NULL, 0));
  snprintf(expected, sizeof expected, "error: cannot write %s: a tensor may not be called \"__metadata__\"", dup);
  CHECK(!strcmp(rt_message(), expected));
  CkTensor negative = t;
  negative.dims[0] = -3;
  CHECK(!ckpt_save(dup, &negative, 1, NULL, 0));
  snprintf(expected, sizeof expected, "error: cannot write %s: tensor \"x\" has a negative or too large shape", dup);
  CHECK(!strcmp(rt_message(), expected));
  CHECK(count_files_with("dup") == 0);
}

/* ---- what the path names (outfile.c; test_outfile checks every case) ------------ */

static void test_targets(void) {
  float x[3] = {1, 2, 3};
  CkTensor t = {.name = "x", .type = RT_F32, .rank = 1, .dims = {3}, .data = x};
  Checkpoint c;
  struct stat st;
  /* a symbolic link is followed: the file it names is replaced, the link stays */
  write_bytes(path_in("real.st"), "old", 3);
  CHECK(symlink("real.st", path_in("link.st")) == 0);
  CHECK(ckpt_save(path_in("link.st"), &t, 1, NULL, 0));
  CHECK(lstat(path_in("link.st"), &st) == 0 && S_ISLNK(st.st_mode));
  CHECK(ckpt_load(path_in("real.st"), &c) && c.ntensors == 1);
  ckpt_free(&c);
  /* a device is written in place and stays a device (`--save /dev/null` as root) */
  if (mknod(path_in("null"), S_IFCHR | 0666, makedev(1, 3)) == 0) {
    CHECK(ckpt_save(path_in("null"), &t, 1, NULL, 0));
    CHECK(lstat(path_in("null"), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
  } else {
    printf("test_checkpoint: the device node case is skipped: mknod: %s (run as root)\n", strerror(errno));
  }
  /* the temporary of a save that was killed is removed by the next save */
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  char stale[64];
  snprintf(stale, sizeof stale, "real.st.tmp.%d", (int)pid);
  write_bytes(path_in(stale), "half a checkpoint", 17);
  CHECK(ckpt_save(path_in("link.st"), &t, 1, NULL, 0));
  CHECK(access(path_in(stale), F_OK) != 0);
  CHECK(count_files_with(".tmp.") == 0);
}

/* ---- metadata values -------------------------------------------------------------- */

static void test_meta_values(void) {
  CkMeta meta[] = {{"epoch", "12"}, {"spaced", "2 "}, {"negative", "-5"}, {"huge", "2147483648"},
                   {"plus", "+3"},  {"zeros", "007"}, {"empty", ""},      {"control", "1\033[2J"}};
  Checkpoint c = {.meta = meta, .nmeta = 8};
  int64_t v = -1;
  char expected[600];
  const char *f = "ck.st";
  CHECK(ckpt_meta_int(&c, f, "epoch", 0, 100, &v) && v == 12);
  CHECK(!ckpt_meta_int(&c, f, "missing", 0, 100, &v));
  CHECK(!strcmp(rt_message(), "ck.st: error: the checkpoint's metadata has no \"missing\""));
  const char *malformed[] = {"spaced", "plus", "zeros", "empty"};
  for (int i = 0; i < 4; i++) {
    CHECK(!ckpt_meta_int(&c, f, malformed[i], 0, 100, &v));
    snprintf(expected, sizeof expected, "ck.st: error: metadata \"%s\" is \"%s\": not a whole number", malformed[i],
             ckpt_meta(&c, malformed[i]));
    CHECK(!strcmp(rt_message(), expected));
  }
  CHECK(!ckpt_meta_int(&c, f, "negative", 0, 2147483647, &v));
  CHECK(!strcmp(rt_message(), "ck.st: error: metadata \"negative\" is \"-5\": not in 0..2147483647"));
  CHECK(!ckpt_meta_int(&c, f, "huge", 0, 2147483647, &v));
  CHECK(!strcmp(rt_message(), "ck.st: error: metadata \"huge\" is \"2147483648\": not in 0..2147483647"));
  CHECK(!ckpt_meta_int(&c, f, "control", 0, 100, &v)); /* no escape sequence reaches the terminal */
  CHECK(!strcmp(rt_message(), "ck.st: error: metadata \"control\" is \"1?[2J\": not a whole number"));
  CHECK(v == 12);
}

/* ---- main --------------------------------------------------------------------- */

static void remove_folder(void) {
  DIR *d = opendir(folder);
  for (struct dirent *e; d && (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(path_in(e->d_name));
  if (d) closedir(d);
  rmdir(folder);
}

int main(void) {
  if (!mkdtemp(folder)) {
    perror("mkdtemp");
    return 2;
  }
  test_round_trip();
  test_layout();
  test_truncation();
  test_bad_files();
  test_atomic();
  test_targets();
  test_meta_values();
  remove_folder();
  if (failures) fprintf(stderr, "test_checkpoint: %d check(s) failed\n", failures);
  else printf("test_checkpoint: all checks passed\n");
  return failures ? 1 : 0;
}
