/* rng.c - one seeded generator for everything random in a run
 * (initialisation, shuffling, the split): xoshiro256** seeded through
 * splitmix64, so the same seed gives the same run bit for bit. */
#include <math.h>
#include <stdio.h>
#include "dml_runtime.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(Rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double rng_uniform(Rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* Box-Muller without caching the second value, so the stream depends only
 * on how many normals were drawn. */
double rng_normal(Rng *r) {
  double u = 1.0 - rng_uniform(r), v = rng_uniform(r); /* u in (0, 1] */
  return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* A uniform integer in [0, n) without modulo bias (Lemire's method). A
 * draw is rejected with probability below n / 2^64, so 64 rejections in a
 * row mean a broken state (all zero gives 0 forever): then the biased
 * draw is taken rather than looping for ever. */
static uint64_t rng_below(Rng *r, uint64_t n) {
  __uint128_t m = (__uint128_t)rng_next(r) * n;
  uint64_t low = (uint64_t)m;
  if (low < n) {
    uint64_t floor = -n % n;
    for (int tries = 0; low < floor && tries < 64; tries++) {
      m = (__uint128_t)rng_next(r) * n;
      low = (uint64_t)m;
    }
  }
  return (uint64_t)(m >> 64);
}

void rng_shuffle(Rng *r, int64_t *a, int64_t n) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)rng_below(r, (uint64_t)i + 1);
    int64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

void rng_to_hex(const Rng *r, char hex[65]) {
  for (int k = 0; k < 4; k++) snprintf(hex + 16 * k, 17, "%016llx", (unsigned long long)r->s[k]);
}

const char *rng_from_hex(Rng *r, const char *hex) {
  uint64_t s[4] = {0};
  for (int i = 0; i < 64; i++) {
    char c = hex[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return "not 64 hexadecimal digits";
    s[i / 16] = s[i / 16] << 4 | (uint64_t)d;
  }
  if (hex[64]) return "not 64 hexadecimal digits";
  if (!(s[0] | s[1] | s[2] | s[3])) return "all zero, a state the generator never leaves";
  for (int k = 0; k < 4; k++) r->s[k] = s[k];
  return NULL;
}
