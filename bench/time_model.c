/* time_model - time the entry points of a model built with `dmlc build --lib`.
 * Usage: time_model LIB.so MODEL BATCH [ITERS]
 * Calls MODEL_loss and MODEL_loss_grad on random inputs (labels in range)
 * and random params, ITERS times each after a warm-up, alternating so both
 * see the same machine noise, and prints the median time per call and the
 * ratio. Shapes come from the library's entry points: inputs are sized from
 * BATCH and the digits-style layout [n, features] + i32 labels [n] or
 * float targets [n]. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*EntryFn)(const long long *, void *const *, void *const *, void *const *, void *);
typedef long long (*WsFn)(const long long *);
typedef struct { const char *name; const char *dtype; int rank; long long dims[8]; const char *init; } ParamInfo;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: time_model LIB.so MODEL BATCH [ITERS] [FEATURES] [CLASSES]\n");
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  const char *model = argv[2];
  long long n = atoll(argv[3]);
  int iters = argc > 4 ? atoi(argv[4]) : 200;
  long long features = argc > 5 ? atoll(argv[5]) : 64, classes = argc > 6 ? atoll(argv[6]) : 10;
  char name[256];
  snprintf(name, sizeof name, "%s_loss", model);
  EntryFn loss = (EntryFn)dlsym(lib, name);
  snprintf(name, sizeof name, "%s_loss_workspace", model);
  WsFn loss_ws = (WsFn)dlsym(lib, name);
  snprintf(name, sizeof name, "%s_loss_grad", model);
  EntryFn grad = (EntryFn)dlsym(lib, name);
  snprintf(name, sizeof name, "%s_loss_grad_workspace", model);
  WsFn grad_ws = (WsFn)dlsym(lib, name);
  if (!loss || !grad) {
    fprintf(stderr, "no %s_loss / %s_loss_grad in %s\n", model, model, argv[1]);
    return 1;
  }
  /* params: sizes from the header's descriptor are not in the library, so
   * the caller passes them as PARAMS=dim,dim;dim... in the environment */
  const char *spec = getenv("PARAMS");
  if (!spec) {
    fprintf(stderr, "set PARAMS, e.g. PARAMS='64,64;64;64,10;10'\n");
    return 2;
  }
  void *params[16], *grads[16];
  int np = 0;
  char *copy = strdup(spec);
  for (char *save = NULL, *p = strtok_r(copy, ";", &save); p && np < 16; p = strtok_r(NULL, ";", &save)) {
    long long size = 1;
    for (char *s2 = NULL, *d = strtok_r(p, ",", &s2); d; d = strtok_r(NULL, ",", &s2)) size *= atoll(d);
    float *w = malloc(sizeof(float) * (size_t)size);
    for (long long i = 0; i < size; i++) w[i] = (float)((rand() / (double)RAND_MAX - 0.5) * 0.2);
    params[np] = w;
    grads[np++] = malloc(sizeof(float) * (size_t)size);
  }
  float *x = malloc(sizeof(float) * (size_t)(n * features));
  for (long long i = 0; i < n * features; i++) x[i] = (float)(rand() % 17);
  int *y = malloc(sizeof(int) * (size_t)n);
  for (long long i = 0; i < n; i++) y[i] = rand() % (int)classes;
  long long dims[1] = {n};
  void *inputs[2] = {x, y};
  float value;
  void *louts[1] = {&value}, *gouts[17];
  gouts[0] = &value;
  for (int i = 0; i < np; i++) gouts[i + 1] = grads[i];
  void *ws1 = aligned_alloc(64, (size_t)((loss_ws(dims) + 127) / 64 * 64));
  void *ws2 = aligned_alloc(64, (size_t)((grad_ws(dims) + 127) / 64 * 64));
  double *tl = malloc(sizeof(double) * (size_t)iters), *tg = malloc(sizeof(double) * (size_t)iters);
  for (int w = 0; w < 20; w++) {
    loss(dims, inputs, params, louts, ws1);
    grad(dims, inputs, params, gouts, ws2);
  }
  for (int i = 0; i < iters; i++) {
    double t0 = now();
    loss(dims, inputs, params, louts, ws1);
    double t1 = now();
    grad(dims, inputs, params, gouts, ws2);
    double t2 = now();
    tl[i] = t1 - t0;
    tg[i] = t2 - t1;
  }
  qsort(tl, (size_t)iters, sizeof(double), cmp);
  qsort(tg, (size_t)iters, sizeof(double), cmp);
  printf("%s n=%lld: loss %.1f us, loss_grad %.1f us, ratio %.2f\n", model, n, tl[iters / 2] * 1e6, tg[iters / 2] * 1e6,
         tg[iters / 2] / tl[iters / 2]);
  return 0;
}
