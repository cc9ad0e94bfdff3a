/* time_hvp - time loss, loss_grad and loss_hvp of a model built with
 * `dmlc build --lib`, in one process (a companion of time_model.c).
 *
 * Usage: time_hvp LIB.so MODEL BATCH [ITERS] [FEATURES] [LABELS]
 *   ITERS     timed rounds (default 1000)
 *   FEATURES  columns of the input x: float[n, FEATURES] (default 64)
 *   LABELS    classes:K  i32 labels in 0..K-1 (default classes:10)
 *             binary     float targets 0 or 1 (of the model's float type)
 * environment:
 *   PARAMS    the param shapes in declaration order, e.g. '64,64;64;64,10;10'
 *             (a scalar param: an empty field); required
 *   DTYPE     f32 (default) or f64: the model's float type
 *   REF       an f64 build of the same model (`dmlc build --dtype f64 --lib`)
 *             for the check of an f32 model
 *   ONLY      loss, grad or hvp: no check, no alternation; call that entry
 *             point ITERS times and print the median (for `perf record`)
 *
 * The loss inputs must be (x: float[n, FEATURES], y: labels[n]); the
 * loss_hvp inputs are those followed by one direction per param.
 *
 * Inputs, params and directions are random (fixed seed; x like the
 * examples' pixels 0..16 for class labels, standardised-like -2..2 for
 * binary targets). After a warm-up, each round calls MODEL_loss,
 * MODEL_loss_grad and MODEL_loss_hvp once, one after another, so all three
 * see the same machine noise; it prints the median time per call of each,
 * the ratios of the medians, and the median of the per-round ratio
 * hvp/grad.
 *
 * Before timing it checks that loss_hvp computes H v, as the largest error
 * relative to the largest |H v| entry:
 *   f64 model: against central differences of loss_grad along v,
 *              (g(p + e v) - g(p - e v)) / 2e with e = 1e-5; limit 1e-5.
 *   f32 model with REF: against REF's loss_hvp at the same point (the f32
 *              values widened to f64); limit 1e-4. Differences of an f32
 *              gradient are no check: through relu a step large enough to
 *              beat rounding crosses kinks (errors of 50-100 % on the MLP).
 *   f32 model without REF: no check.
 * A failed check makes it exit with status 1 (after timing). */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int (*EntryFn)(const long long *, void *const *, void *const *, void *const *, void *);
typedef long long (*WsFn)(const long long *);

enum { MAXP = 16 };

/* one loaded model library */
typedef struct {
  int f64;
  EntryFn loss, grad, hvp;
  void *ws_loss, *ws_grad, *ws_hvp;
} Model;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double urand(void) { return rand() / (double)RAND_MAX; }

static void *xmalloc(size_t size) {
  void *p = calloc(size ? size : 1, 1);
  if (!p) {
    fprintf(stderr, "time_hvp: out of memory\n");
    exit(1);
  }
  return p;
}

/* a float buffer of the model's type holding the values of src[0..count) */
static void *fbuf(int f64, const double *src, long long count) {
  void *p = xmalloc((size_t)count * (f64 ? sizeof(double) : sizeof(float)));
  if (src)
    for (long long i = 0; i < count; i++) {
      if (f64)
        ((double *)p)[i] = src[i];
      else
        ((float *)p)[i] = (float)src[i];
    }
  return p;
}
static double fget(int f64, const void *p, long long i) {
  return f64 ? ((const double *)p)[i] : ((const float *)p)[i];
}

static void *workspace(WsFn ws, const long long *dims) {
  long long bytes = ws(dims);
  size_t size = (size_t)((bytes + 127) / 64 * 64);
  void *p = aligned_alloc(64, size ? size : 64);
  if (!p) {
    fprintf(stderr, "time_hvp: out of memory\n");
    exit(1);
  }
  return p;
}

static void *sym(void *lib, const char *path, const char *model, const char *suffix) {
  char name[256];
  snprintf(name, sizeof name, "%s_%s", model, suffix);
  void *p = dlsym(lib, name);
  if (!p) {
    fprintf(stderr, "time_hvp: %s has no %s\n", path, name);
    exit(1);
  }
  return p;
}

static Model load(const char *path, const char *model, int f64, const long long *dims) {
  /* RTLD_LOCAL: a reference library of the same model defines the same names */
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "time_hvp: %s\n", dlerror());
    exit(1);
  }
  Model m;
  m.f64 = f64;
  m.loss = (EntryFn)sym(lib, path, model, "loss");
  m.grad = (EntryFn)sym(lib, path, model, "loss_grad");
  m.hvp = (EntryFn)sym(lib, path, model, "loss_hvp");
  m.ws_loss = workspace((WsFn)sym(lib, path, model, "loss_workspace"), dims);
  m.ws_grad = workspace((WsFn)sym(lib, path, model, "loss_grad_workspace"), dims);
  m.ws_hvp = workspace((WsFn)sym(lib, path, model, "loss_hvp_workspace"), dims);
  return m;
}

/* the problem, in f64 (for an f32 model rounded to f32 values first, so a
 * reference sees the same point) */
static int np;
static long long sizes[MAXP], n, features;
static double *P[MAXP], *V[MAXP], *X, *Yf;
static int *Yi, binary;

/* the buffers of one model: inputs, params, outputs */
typedef struct {
  void *x, *y, *params[MAXP], *dirs[MAXP], *grads[MAXP], *hv[MAXP];
  void *inputs[2], *hinputs[2 + MAXP], *louts[1], *gouts[1 + MAXP], *houts[MAXP];
  double value[1]; /* the loss; room for f64 */
} Bufs;

static void bufs_init(Bufs *b, int f64) {
  b->x = fbuf(f64, X, n * features);
  b->y = binary ? fbuf(f64, Yf, n) : (void *)Yi;
  b->inputs[0] = b->hinputs[0] = b->x;
  b->inputs[1] = b->hinputs[1] = b->y;
  b->louts[0] = b->gouts[0] = b->value;
  for (int i = 0; i < np; i++) {
    b->params[i] = fbuf(f64, P[i], sizes[i]);
    b->dirs[i] = fbuf(f64, V[i], sizes[i]);
    b->grads[i] = fbuf(f64, NULL, sizes[i]);
    b->hv[i] = fbuf(f64, NULL, sizes[i]);
    b->hinputs[2 + i] = b->dirs[i];
    b->gouts[1 + i] = b->grads[i];
    b->houts[i] = b->hv[i];
  }
}

static void run(const char *what, int rc) {
  if (rc) {
    fprintf(stderr, "time_hvp: %s failed\n", what);
    exit(1);
  }
}

/* the largest |a - b| over all params relative to the largest |b| */
static double rel_error(int fa, void *const *a, int fb, void *const *b) {
  double maxerr = 0, maxb = 0;
  for (int i = 0; i < np; i++)
    for (long long k = 0; k < sizes[i]; k++) {
      double u = fget(fa, a[i], k), w = fget(fb, b[i], k);
      if (!(fabs(u - w) <= maxerr)) maxerr = fabs(u - w); /* NaN sticks */
      if (fabs(w) > maxb) maxb = fabs(w);
    }
  return maxerr / (maxb > 0 ? maxb : 1);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: time_hvp LIB.so MODEL BATCH [ITERS] [FEATURES] [classes:K|binary]\n");
    return 2;
  }
  const char *path = argv[1], *model = argv[2];
  n = atoll(argv[3]);
  int iters = argc > 4 ? atoi(argv[4]) : 1000;
  features = argc > 5 ? atoll(argv[5]) : 64;
  const char *labels = argc > 6 ? argv[6] : "classes:10";
  long long classes = 0;
  binary = strcmp(labels, "binary") == 0;
  if (!binary && (strncmp(labels, "classes:", 8) != 0 || (classes = atoll(labels + 8)) < 1)) {
    fprintf(stderr, "time_hvp: labels must be classes:K or binary, not %s\n", labels);
    return 2;
  }
  if (n < 1 || iters < 1 || features < 1) {
    fprintf(stderr, "time_hvp: BATCH, ITERS and FEATURES must be positive\n");
    return 2;
  }
  const char *dtype = getenv("DTYPE"), *spec = getenv("PARAMS"), *ref_path = getenv("REF");
  int f64 = dtype && strcmp(dtype, "f64") == 0;
  if (!spec) {
    fprintf(stderr, "time_hvp: set PARAMS, e.g. PARAMS='64,64;64;64,10;10'\n");
    return 2;
  }

  /* the problem */
  srand(1);
  char *copy = strdup(spec);
  for (char *rest = copy, *p; (p = strsep(&rest, ";")) != NULL;) { /* strsep keeps empty fields */
    if (np == MAXP) {
      fprintf(stderr, "time_hvp: more than %d params\n", MAXP);
      return 2;
    }
    long long size = 1;
    for (char *rest2 = p, *d; (d = strsep(&rest2, ",")) != NULL;)
      if (*d) size *= atoll(d);
    sizes[np] = size;
    P[np] = xmalloc(sizeof(double) * (size_t)size);
    V[np] = xmalloc(sizeof(double) * (size_t)size);
    for (long long i = 0; i < size; i++) {
      P[np][i] = (urand() - 0.5) * 0.2;
      V[np][i] = urand() - 0.5;
    }
    np++;
  }
  free(copy);
  X = xmalloc(sizeof(double) * (size_t)(n * features));
  for (long long i = 0; i < n * features; i++) X[i] = binary ? urand() * 4 - 2 : (double)(rand() % 17);
  if (binary) {
    Yf = xmalloc(sizeof(double) * (size_t)n);
    for (long long i = 0; i < n; i++) Yf[i] = rand() % 2;
  } else {
    Yi = xmalloc(sizeof(int) * (size_t)n);
    for (long long i = 0; i < n; i++) Yi[i] = rand() % (int)classes;
  }
  if (!f64) { /* the point an f32 model sees */
    for (int i = 0; i < np; i++)
      for (long long k = 0; k < sizes[i]; k++) P[i][k] = (float)P[i][k], V[i][k] = (float)V[i][k];
    for (long long i = 0; i < n * features; i++) X[i] = (float)X[i];
  }

  long long dims[1] = {n};
  Model m = load(path, model, f64, dims);
  Bufs b;
  bufs_init(&b, f64);

  const char *only = getenv("ONLY");
  if (only && *only) {
    EntryFn f = strcmp(only, "loss") == 0 ? m.loss : strcmp(only, "grad") == 0 ? m.grad : strcmp(only, "hvp") == 0 ? m.hvp : NULL;
    if (!f) {
      fprintf(stderr, "time_hvp: ONLY must be loss, grad or hvp, not %s\n", only);
      return 2;
    }
    void *const *in = f == m.hvp ? b.hinputs : b.inputs, *const *out = f == m.loss ? b.louts : f == m.grad ? b.gouts : b.houts;
    void *ws = f == m.loss ? m.ws_loss : f == m.grad ? m.ws_grad : m.ws_hvp;
    double *t = xmalloc(sizeof(double) * (size_t)iters);
    for (int i = 0; i < iters; i++) {
      double t0 = now();
      run(only, f(dims, in, b.params, out, ws));
      t[i] = now() - t0;
    }
    printf("%s n=%lld %s: %s only, %.2f us per call\n", model, n, f64 ? "f64" : "f32", only, median(t, iters) * 1e6);
    return 0;
  }

  /* the check */
  run("loss_hvp", m.hvp(dims, b.hinputs, b.params, b.houts, m.ws_hvp));
  double relerr = -1, limit = 0;
  const char *against = "none";
  if (f64) {
    double eps = 1e-5;
    Bufs s[2]; /* params shifted by -eps v and +eps v */
    for (int k = 0; k < 2; k++) {
      bufs_init(&s[k], 1);
      for (int i = 0; i < np; i++)
        for (long long j = 0; j < sizes[i]; j++) ((double *)s[k].params[i])[j] += (2 * k - 1) * eps * V[i][j];
      run("loss_grad", m.grad(dims, s[k].inputs, s[k].params, s[k].gouts, m.ws_grad));
    }
    for (int i = 0; i < np; i++)
      for (long long j = 0; j < sizes[i]; j++) {
        double *d = s[0].grads[i];
        d[j] = (((double *)s[1].grads[i])[j] - d[j]) / (2 * eps);
      }
    relerr = rel_error(1, b.houts, 1, s[0].grads);
    limit = 1e-5;
    against = "differences of loss_grad";
  } else if (ref_path && *ref_path) {
    Model r = load(ref_path, model, 1, dims);
    Bufs rb;
    bufs_init(&rb, 1);
    run("reference loss_hvp", r.hvp(dims, rb.hinputs, rb.params, rb.houts, r.ws_hvp));
    relerr = rel_error(0, b.houts, 1, rb.houts);
    limit = 1e-4;
    against = "f64 loss_hvp";
  }
  int bad = relerr >= 0 && !(relerr <= limit);

  /* the timing */
  double *tl = xmalloc(sizeof(double) * (size_t)iters), *tg = xmalloc(sizeof(double) * (size_t)iters),
         *th = xmalloc(sizeof(double) * (size_t)iters), *tr = xmalloc(sizeof(double) * (size_t)iters);
  for (int w = 0; w < 50; w++) {
    run("loss", m.loss(dims, b.inputs, b.params, b.louts, m.ws_loss));
    run("loss_grad", m.grad(dims, b.inputs, b.params, b.gouts, m.ws_grad));
    run("loss_hvp", m.hvp(dims, b.hinputs, b.params, b.houts, m.ws_hvp));
  }
  for (int i = 0; i < iters; i++) {
    double t0 = now();
    m.loss(dims, b.inputs, b.params, b.louts, m.ws_loss);
    double t1 = now();
    m.grad(dims, b.inputs, b.params, b.gouts, m.ws_grad);
    double t2 = now();
    m.hvp(dims, b.hinputs, b.params, b.houts, m.ws_hvp);
    double t3 = now();
    tl[i] = t1 - t0;
    tg[i] = t2 - t1;
    th[i] = t3 - t2;
    tr[i] = th[i] / tg[i];
  }
  double ml = median(tl, iters), mg = median(tg, iters), mh = median(th, iters), mr = median(tr, iters);
  printf("%s n=%lld %s: loss %.2f us  loss_grad %.2f us  loss_hvp %.2f us  grad/loss %.2f  hvp/grad %.2f "
         "(per round %.2f)  hvp/loss %.2f  ",
         model, n, f64 ? "f64" : "f32", ml * 1e6, mg * 1e6, mh * 1e6, mg / ml, mh / mg, mr, mh / ml);
  if (relerr < 0)
    printf("check: none\n");
  else
    printf("check vs %s: %.1e%s\n", against, relerr, bad ? " FAILED" : "");
  return bad;
}
