/* test_rng.c - the generator's state as a checkpoint stores it (64 hex
 * digits, all zero refused), and shuffling that ends whatever the state:
 * an all-zero state, which xoshiro never leaves, once made rng_below loop
 * for ever on `--resume` of a checkpoint whose "rng" was zeros. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dml_runtime.h"

static int failures;

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                               \
    }                                                                           \
  } while (0)

static bool is_permutation(const int64_t *a, int64_t n) {
  char *seen = calloc((size_t)n, 1);
  bool ok = true;
  for (int64_t i = 0; i < n; i++) {
    if (a[i] < 0 || a[i] >= n || seen[a[i]]) ok = false;
    else seen[a[i]] = 1;
  }
  free(seen);
  return ok;
}

static void test_hex(void) {
  Rng r, back;
  rng_seed(&r, 42);
  char hex[65];
  rng_to_hex(&r, hex);
  CHECK(strlen(hex) == 64);
  CHECK(rng_from_hex(&back, hex) == NULL && !memcmp(&r, &back, sizeof r));
  Rng upper;
  for (char *c = hex; *c; c++) *c = (char)(*c >= 'a' ? *c - 32 : *c);
  CHECK(rng_from_hex(&upper, hex) == NULL && !memcmp(&r, &upper, sizeof r));
  char zeros[65];
  memset(zeros, '0', 64);
  zeros[64] = 0;
  Rng kept = r;
  CHECK(rng_from_hex(&r, zeros) && !strcmp(rng_from_hex(&r, zeros), "all zero, a state the generator never leaves"));
  CHECK(!memcmp(&r, &kept, sizeof r)); /* a refused state changes nothing */
  const char *bad[] = {"", "abc", "zz225c18e4a24997b491af2c68f1bb51925bb9b0dc0bab6c868a3b8012da5857",
                       "ec225c18e4a24997b491af2c68f1bb51925bb9b0dc0bab6c868a3b8012da58570",
                       "ec225c18e4a24997b491af2c68f1bb51925bb9b0dc0bab6c868a3b8012da585 ",
                       "-c225c18e4a24997b491af2c68f1bb51925bb9b0dc0bab6c868a3b8012da5857"};
  for (int i = 0; i < 6; i++) CHECK(rng_from_hex(&r, bad[i]) && !strcmp(rng_from_hex(&r, bad[i]), "not 64 hexadecimal digits"));
}

/* Lemire's method without a bound on the rejections, as rng.c had it: the
 * bounded one must draw the same numbers from any working state. */
static uint64_t below_unbounded(Rng *r, uint64_t n) {
  __uint128_t m = (__uint128_t)rng_next(r) * n;
  uint64_t low = (uint64_t)m;
  if (low < n) {
    uint64_t floor = -n % n;
    while (low < floor) {
      m = (__uint128_t)rng_next(r) * n;
      low = (uint64_t)m;
    }
  }
  return (uint64_t)(m >> 64);
}

static void test_shuffle(void) {
  enum { N = 1000 };
  int64_t a[N], b[N];
  for (int i = 0; i < N; i++) a[i] = b[i] = i;
  Rng r, ref;
  rng_seed(&r, 7);
  ref = r;
  rng_shuffle(&r, a, N);
  for (int64_t i = N - 1; i > 0; i--) {
    int64_t j = (int64_t)below_unbounded(&ref, (uint64_t)i + 1), t = b[i];
    b[i] = b[j];
    b[j] = t;
  }
  CHECK(!memcmp(a, b, sizeof a));
  CHECK(!memcmp(&r, &ref, sizeof r));
  /* the state xoshiro never leaves: shuffling must still end */
  Rng zero = {{0, 0, 0, 0}};
  alarm(10); /* a hang kills the test (SIGALRM) instead of stalling the suite */
  rng_shuffle(&zero, a, N);
  alarm(0);
  CHECK(is_permutation(a, N));
}

int main(void) {
  test_hex();
  test_shuffle();
  if (failures) fprintf(stderr, "test_rng: %d check(s) failed\n", failures);
  else printf("test_rng: all checks passed\n");
  return failures ? 1 : 0;
}
