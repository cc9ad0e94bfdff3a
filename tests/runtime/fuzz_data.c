/* fuzz_data.c - fuzz data_load (runtime/data.c) on arbitrary file contents.
 *
 * The first two bytes of an input choose how it is read (CSV with a header
 * or not, one of four delimiters, f32/f64/i32 inputs over some columns, a
 * label count; or NPY; or IDX), the rest is written to a file that
 * data_load then reads. A successful load is checked for consistency and
 * put through data_take. Not a test_*.c file: CMake does not build it.
 *
 * libFuzzer (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iruntime tests/runtime/fuzz_data.c \
 *     runtime/data.c runtime/error.c -lm -o /tmp/fuzz_data
 *   /tmp/fuzz_data -max_len=4096 CORPUS_DIR
 * Without libFuzzer (any compiler): add -DFUZZ_DATA_MAIN, drop "fuzzer,", then
 *   /tmp/fuzz_data ITERATIONS SEED_FILE...
 * mutates the seed files (each prefixed with two random mode bytes) at random. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dml_runtime.h"

static char file[64];

static void write_input(const uint8_t *data, size_t size) {
  if (!file[0]) snprintf(file, sizeof file, "/tmp/fuzz_data.%d", (int)getpid());
  FILE *f = fopen(file, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror(file);
    abort();
  }
}

/* A loaded dataset must be what was asked for, and take must copy it. */
static void check_dataset(const DataSource *src, const Dataset *d) {
  if (d->n <= 0 || d->ncols != src->ninputs) abort();
  for (int i = 0; i < d->ncols; i++) {
    const DataColumn *c = &d->cols[i];
    if (!c->data || c->width <= 0 || c->type != src->inputs[i].type) abort();
    if (src->inputs[i].width >= 0 && c->width != src->inputs[i].width) abort();
    if (c->type == RT_I32 && src->inputs[i].classes > 0)
      for (int64_t k = 0; k < d->n * c->width; k++)
        if (((int32_t *)c->data)[k] < 0 || ((int32_t *)c->data)[k] >= src->inputs[i].classes) abort();
  }
  int64_t idx[3] = {d->n - 1, 0, d->n / 2};
  Dataset t;
  if (!data_take(d, idx, 3, &t)) abort();
  data_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  uint8_t mode = data[0], shape = data[1];
  static const char delimiters[] = {',', ' ', ';', '\t'};
  static const RtType types[] = {RT_F32, RT_F64, RT_I32, RT_F32};
  int k = 1 + (shape & 7);
  DataInput in[2] = {
      {.name = "x", .type = types[(mode >> 5) & 3], .width = shape & 8 ? k : -1, .classes = shape & 16 ? 0 : 300,
       .first = 0, .end = k, .file = file},
      {.name = "y", .type = RT_I32, .width = 1, .classes = mode & 0x80 ? 10 : 0, .first = k, .end = k + 1,
       .file = file},
  };
  DataSource src = {.kind = (DataKind)(mode % 3), .file = file, .header = mode & 4,
                    .delimiter = delimiters[(mode >> 3) & 3], .inputs = in, .ninputs = shape & 32 ? 2 : 1};
  if (src.kind != DATA_CSV) in[1].width = -1;
  write_input(data + 2, size - 2);
  Dataset d = {.n = 7};
  if (data_load(&src, &d)) {
    check_dataset(&src, &d);
    data_free(&d);
  } else if (d.n || d.cols || !rt_message()[0]) {
    abort(); /* a failure leaves an empty dataset and a message */
  }
  return 0;
}

#ifdef FUZZ_DATA_MAIN
static uint64_t state = 88172645463325252ull;

static uint64_t next_random(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

/* A few random edits: flip, overwrite, insert, delete, duplicate a stretch. */
static size_t mutate(uint8_t *buf, size_t len, size_t cap) {
  int edits = 1 + (int)(next_random() % 8);
  for (int e = 0; e < edits; e++) {
    size_t at = len ? next_random() % len : 0, n = 1 + next_random() % 16;
    static const char interesting[] = ",\n\r \"\t.-e0123456789naifNA\x93\xff";
    switch (next_random() % 6) {
    case 0: if (len) buf[at] ^= (uint8_t)(1u << (next_random() % 8)); break;
    case 1: if (len) buf[at] = (uint8_t)interesting[next_random() % (sizeof interesting - 1)]; break;
    case 2: if (len) buf[at] = (uint8_t)next_random(); break;
    case 3:
      if (len < cap) {
        memmove(buf + at + 1, buf + at, len - at);
        buf[at] = (uint8_t)interesting[next_random() % (sizeof interesting - 1)];
        len++;
      }
      break;
    case 4:
      if (n > len - at) n = len - at;
      memmove(buf + at, buf + at + n, len - at - n);
      len -= n;
      break;
    default:
      if (n > len - at) n = len - at;
      if (len + n <= cap) {
        memmove(buf + at + n, buf + at, len - at);
        len += n;
      }
      break;
    }
  }
  return len;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: fuzz_data ITERATIONS SEED_FILE...\n");
    return 2;
  }
  long iterations = atol(argv[1]);
  enum { CAP = 1 << 16 };
  static uint8_t seed[CAP], buf[CAP + 2];
  for (long i = 0; i < iterations; i++) {
    FILE *f = fopen(argv[2 + i % (argc - 2)], "rb");
    if (!f) {
      perror(argv[2 + i % (argc - 2)]);
      return 2;
    }
    size_t len = fread(seed, 1, CAP / 2, f);
    fclose(f);
    buf[0] = (uint8_t)next_random();
    buf[1] = (uint8_t)next_random();
    memcpy(buf + 2, seed, len);
    len = mutate(buf + 2, len, CAP) + 2;
    LLVMFuzzerTestOneInput(buf, len);
  }
  unlink(file);
  printf("fuzz_data: %ld inputs\n", iterations);
  return 0;
}
#endif
