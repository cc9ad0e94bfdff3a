/* fuzz_ckpt.c - a mutation loop over ckpt_load and json_parse (not a ctest
 * case: not named test_*). Build it with the sanitizers and run it:
 *
 *   cc -std=gnu11 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -Iruntime \
 *     tests/runtime/fuzz_ckpt.c runtime/json.c runtime/checkpoint.c runtime/error.c -lm -o /tmp/fuzz_ckpt
 *   /tmp/fuzz_ckpt [ITERATIONS [SEED]]
 *
 * Besides "no crash, no leak", it checks two properties: a JSON text that
 * parses prints back to a text that parses to the same print, and a
 * checkpoint that loads saves back to a file that loads and saves to the
 * same bytes. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dml_runtime.h"

static uint64_t state;
static long loaded, refused;
static bool verbose; /* FUZZ_VERBOSE=1: print every refusal, to see what the mutations reach */

static uint64_t next_random(void) {
  state ^= state << 13, state ^= state >> 7, state ^= state << 17;
  return state;
}

static size_t below(size_t n) { return n ? (size_t)(next_random() % n) : 0; }

/* ---- JSON print, for the round-trip property ---------------------------------- */

static void print_json(FILE *f, const Json *j) {
  switch (j->kind) {
  case JSON_NULL: fputs("null", f); break;
  case JSON_BOOL: fputs(j->boolean ? "true" : "false", f); break;
  case JSON_NUM: fprintf(f, "%.17g", j->num); break;
  case JSON_STR: json_write_string(f, j->str); break;
  case JSON_ARR:
  case JSON_OBJ:
    putc(j->kind == JSON_ARR ? '[' : '{', f);
    for (int i = 0; i < j->n; i++) {
      if (i) putc(',', f);
      if (j->kind == JSON_OBJ) json_write_string(f, j->keys[i]), putc(':', f);
      print_json(f, &j->items[i]);
    }
    putc(j->kind == JSON_ARR ? ']' : '}', f);
    break;
  }
}

static char *printed(const Json *j, size_t *len) {
  char *s = NULL;
  FILE *f = open_memstream(&s, len);
  print_json(f, j);
  fclose(f);
  return s;
}

static void check_json(const unsigned char *p, size_t n) {
  Json *j = json_parse((const char *)p, n, "fuzz.json");
  if (!j) {
    if (strncmp(rt_message(), "fuzz.json:", 10)) fprintf(stderr, "odd message: %s\n", rt_message()), abort();
    return;
  }
  size_t len1, len2;
  char *once = printed(j, &len1);
  Json *again = json_parse(once, len1, "printed");
  if (!again) fprintf(stderr, "printed JSON does not parse: %s\n%s\n", rt_message(), once), abort();
  char *twice = printed(again, &len2);
  if (len1 != len2 || memcmp(once, twice, len1)) fprintf(stderr, "print not stable:\n%s\n%s\n", once, twice), abort();
  free(once);
  free(twice);
  json_free(j);
  json_free(again);
}

/* ---- checkpoints -------------------------------------------------------------- */

static void write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f)) perror(path), exit(2);
}

static unsigned char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) perror(path), exit(2);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  rewind(f);
  unsigned char *p = malloc(*n + 1);
  if (fread(p, 1, *n, f) != *n) exit(2);
  fclose(f);
  return p;
}

static void check_checkpoint(const char *dir, const unsigned char *p, size_t n) {
  char path[256], again[256];
  snprintf(path, sizeof path, "%s/in.safetensors", dir);
  snprintf(again, sizeof again, "%s/again.safetensors", dir);
  write_file(path, p, n);
  Checkpoint c, d;
  if (!ckpt_load(path, &c)) {
    if (!strstr(rt_message(), path)) fprintf(stderr, "message without the file: %s\n", rt_message()), abort();
    if (verbose) fprintf(stderr, "%s\n", rt_message());
    refused++;
    return;
  }
  loaded++;
  if (!ckpt_save(again, c.tensors, c.ntensors, c.meta, c.nmeta)) fprintf(stderr, "%s\n", rt_message()), abort();
  size_t n1, n2;
  unsigned char *first = read_file(again, &n1);
  if (!ckpt_load(again, &d)) fprintf(stderr, "resaved file refused: %s\n", rt_message()), abort();
  if (!ckpt_save(again, d.tensors, d.ntensors, d.meta, d.nmeta)) fprintf(stderr, "%s\n", rt_message()), abort();
  unsigned char *second = read_file(again, &n2);
  if (n1 != n2 || memcmp(first, second, n1)) fprintf(stderr, "save not stable\n"), abort();
  free(first);
  free(second);
  ckpt_free(&c);
  ckpt_free(&d);
}

/* ---- mutations ---------------------------------------------------------------- */

static const char *const tokens[] = {
  "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\uD800", "\\uDC00", "\\u0000", "0", "-1", "1e999", "1.5",
  "4294967296", "null", "true", "\"F32\"", "\"F64\"", "\"I32\"", "\"BF16\"", "\"dtype\"", "\"shape\"",
  "\"data_offsets\"", "\"__metadata__\"", "[0,0]", "[]", " ", "\n", "\xc3\xa9", "\xed\xa0\x80", "\xff",
};

/* Apply 1..4 random edits to buf[0..*n), which has room for cap bytes. */
static void mutate(unsigned char *buf, size_t *n, size_t cap) {
  int edits = 1 + (int)below(4);
  for (int e = 0; e < edits; e++) {
    size_t at = below(*n + 1);
    switch (below(6)) {
    case 0: if (*n) buf[below(*n)] ^= (unsigned char)(1u << below(8)); break;
    case 1: if (*n) buf[below(*n)] = (unsigned char)next_random(); break;
    case 2: if (at < *n) *n = at; break; /* truncate */
    case 3: { /* delete a run */
      size_t k = 1 + below(8);
      if (at + k <= *n) memmove(buf + at, buf + at + k, *n - at - k), *n -= k;
      break;
    }
    default: { /* insert a token */
      const char *t = tokens[below(sizeof tokens / sizeof *tokens)];
      size_t k = strlen(t);
      if (*n + k <= cap) memmove(buf + at + k, buf + at, *n - at), memcpy(buf + at, t, k), *n += k;
      break;
    }
    }
  }
}

/* Mutations inside the header also fix up the 8-byte length now and then,
 * so that most inputs get past the first check. */
static void fix_length(unsigned char *buf, size_t n, size_t data_len) {
  if (n < 8 + data_len || below(2)) return;
  uint64_t h = n - 8 - data_len;
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(h >> (8 * i));
}

static void make_seed(const char *dir, int which, unsigned char **p, size_t *n) {
  char path[256];
  snprintf(path, sizeof path, "%s/seed.safetensors", dir);
  float a[6] = {1, 2, 3, 4, 5, 6};
  double b[2] = {-1, 0.5};
  int32_t c[3] = {7, 8, 9};
  CkTensor t[] = {{.name = "w", .type = RT_F32, .rank = 2, .dims = {2, 3}, .data = a},
                  {.name = "b", .type = RT_F64, .rank = 1, .dims = {2}, .data = b},
                  {.name = "e", .type = RT_F32, .rank = 1, .dims = {0}, .data = NULL},
                  {.name = "i", .type = RT_I32, .rank = 1, .dims = {3}, .data = c}};
  CkMeta m[] = {{"epoch", "1"}, {"k\xc3\xa9y", "v\n"}};
  if (!ckpt_save(path, t + which % 2, 4 - which % 2, m, which % 3)) fprintf(stderr, "%s\n", rt_message()), exit(2);
  *p = read_file(path, n);
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 100000;
  state = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9E3779B97F4A7C15ull;
  if (!state) state = 1;
  verbose = getenv("FUZZ_VERBOSE") != NULL;
  /* On tmpfs the fsyncs of every save cost nothing. */
  char dir[64];
  snprintf(dir, sizeof dir, "%s/fuzz_ckpt-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  if (!mkdtemp(dir)) return perror("mkdtemp"), 2;
  unsigned char *seeds[6];
  size_t seed_len[6], data_len[6];
  for (int s = 0; s < 6; s++) {
    make_seed(dir, s, &seeds[s], &seed_len[s]);
    uint64_t h;
    memcpy(&h, seeds[s], 8);
    data_len[s] = seed_len[s] - 8 - h;
  }
  enum { CAP = 4096 };
  unsigned char *buf = malloc(CAP);
  for (long it = 0; it < iterations; it++) {
    int s = (int)below(6);
    size_t n = seed_len[s];
    memcpy(buf, seeds[s], n);
    mutate(buf, &n, CAP);
    fix_length(buf, n, data_len[s]);
    check_checkpoint(dir, buf, n);
    /* The header alone, and the mutated header text, as JSON. */
    if (n > 8) check_json(buf + 8, n - 8 > data_len[s] ? n - 8 - data_len[s] : n - 8);
    check_json(buf, n);
    if (it && it % 20000 == 0) fprintf(stderr, "%ld iterations\n", it);
  }
  for (int s = 0; s < 6; s++) free(seeds[s]);
  free(buf);
  char path[256];
  const char *names[] = {"in", "again", "seed"};
  for (int i = 0; i < 3; i++) snprintf(path, sizeof path, "%s/%s.safetensors", dir, names[i]), unlink(path);
  rmdir(dir);
  printf("fuzz_ckpt: %ld iterations, no failure (%ld files loaded, %ld refused)\n", iterations, loaded, refused);
  return 0;
}
