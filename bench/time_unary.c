/* time_unary - nanoseconds per element of exp, sigmoid and tanh as dmlc
 * compiles them (bench/models/unary.dml built with --lib, f32), against a
 * plain C loop over the C library's expf, 1 / (1 + expf(-x)) and tanhf.
 * Usage: time_unary LIB.so [N]  (N elements, default 1 << 16, uniform in
 * [-10, 10]); prints the median of 101 calls of each, alternating. */
#define _POSIX_C_SOURCE 199309L
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int32_t (*EntryFn)(const int64_t *, void *const *, void *const *, void *const *, void *);

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void libm_loop(int which, const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    y[i] = which == 0 ? expf(x[i]) : which == 1 ? 1 / (1 + expf(-x[i])) : tanhf(x[i]);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: time_unary LIB.so [N]\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  int64_t n = argc > 2 ? atoll(argv[2]) : 1 << 16;
  float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++) x[i] = (float)(rand() / (double)RAND_MAX * 20 - 10);
  static const char *const names[3] = {"unary_f_exp", "unary_f_sigmoid", "unary_f_tanh"};
  static const char *const libm[3] = {"expf", "1/(1+expf(-x))", "tanhf"};
  enum { CALLS = 101 };
  for (int f = 0; f < 3; f++) {
    EntryFn fn = (EntryFn)dlsym(lib, names[f]);
    if (!fn) {
      fprintf(stderr, "no %s in %s\n", names[f], argv[1]);
      return 1;
    }
    int64_t dims[1] = {n};
    void *in[1] = {x}, *out[1] = {y};
    static _Alignas(64) char ws[64];
    double t_dml[CALLS], t_libm[CALLS];
    for (int c = 0; c < CALLS; c++) {
      double t0 = now();
      fn(dims, in, NULL, out, ws);
      double t1 = now();
      libm_loop(f, x, y, n);
      double t2 = now();
      t_dml[c] = t1 - t0;
      t_libm[c] = t2 - t1;
    }
    qsort(t_dml, CALLS, sizeof(double), cmp);
    qsort(t_libm, CALLS, sizeof(double), cmp);
    printf("%-8s dmlc %.2f ns/element, C loop over %s %.2f ns/element (x%.1f)\n", names[f] + 8,
           t_dml[CALLS / 2] / (double)n * 1e9, libm[f], t_libm[CALLS / 2] / (double)n * 1e9,
           t_libm[CALLS / 2] / t_dml[CALLS / 2]);
  }
  return 0;
}
