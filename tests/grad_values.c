/* grad_values - loss_grad and loss_hvp at given points against expected
 * numbers, in the reference interpreter and natively, f64 and f32.
 *
 * gradcheck draws random points, which never land exactly where a rule
 * has a convention to keep: a ^ b at a = 0, a branch of select that was
 * not taken and whose derivative is inf or NaN there. These files name
 * the point and the numbers:
 *
 *   // at: NAME = v0 v1 ...      a param, an input of the loss, or v_P (the
 *                               direction for param P in loss_hvp); row-major;
 *                               what is not given is 0
 *   // expect: NAME = v0 v1 ...  loss, d_P (loss_grad), Hv_P (loss_hvp)
 *
 * Shapes must be static. Every expected value must be matched, to 1e-9
 * (f64) or 1e-5 (f32) relative to max(1, |expected|), by both the
 * interpreter and the native code: a NaN or an inf matches nothing.
 * Usage: grad_values FILE.dml... */
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "build.h"
#include "codegen/link.h"
#include "front.h"
#include "interp.h"

enum { MAX_NAMED = 64, MAX_VALUES = 256 };

typedef struct Named {
  char name[64];
  double v[MAX_VALUES];
  int n;
} Named;

typedef struct Spec {
  Named at[MAX_NAMED], expect[MAX_NAMED];
  int nat, nexpect;
} Spec;

typedef int32_t (*EntryFn)(const int64_t *, void *const *, void *const *, void *const *, void *);
typedef int64_t (*WorkspaceFn)(const int64_t *);

static int failures;

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("FAIL ", stdout);
  vprintf(fmt, ap);
  putchar('\n');
  va_end(ap);
  failures++;
}

/* "NAME = v0 v1 ..." after a tag */
static bool parse_named(const char *s, Named *out) {
  int k = 0;
  while (*s == ' ') s++;
  while (*s && *s != ' ' && *s != '=' && k < (int)sizeof out->name - 1) out->name[k++] = *s++;
  out->name[k] = 0;
  while (*s == ' ') s++;
  if (!k || *s++ != '=') return false;
  out->n = 0;
  for (char *end;; s = end) {
    double x = strtod(s, &end);
    if (end == s) break;
    if (out->n == MAX_VALUES) return false;
    out->v[out->n++] = x;
  }
  while (*s == ' ' || *s == '\n') s++;
  return *s == 0 && out->n > 0;
}

static bool read_spec(const char *path, Spec *sp) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    return false;
  }
  char line[4096];
  int lineno = 0;
  bool ok = true;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    bool at = strncmp(line, "// at:", 6) == 0, ex = strncmp(line, "// expect:", 10) == 0;
    if (!at && !ex) continue;
    int *n = at ? &sp->nat : &sp->nexpect;
    Named *dst = at ? &sp->at[*n] : &sp->expect[*n];
    if (*n == MAX_NAMED || !parse_named(line + (at ? 6 : 10), dst)) {
      fprintf(stderr, "%s:%d: expected `// at: NAME = numbers` or `// expect: NAME = numbers`\n", path, lineno);
      ok = false;
      continue;
    }
    (*n)++;
  }
  fclose(f);
  if (ok && !sp->nexpect) {
    fprintf(stderr, "%s: no `// expect:` line\n", path);
    ok = false;
  }
  return ok;
}

static const Named *find(const Named *list, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(list[i].name, name) == 0) return &list[i];
  return NULL;
}

/* A tensor of type t with the values given for `name` (zeros if none). */
static bool given(const char *path, const Spec *sp, const char *name, const IrType *t, Tensor *out) {
  int64_t dims[MAX_RANK];
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i].sym) {
      fprintf(stderr, "%s: `%s` has a symbolic dimension; give static shapes\n", path, name);
      return false;
    }
    dims[i] = t->dims[i].size;
  }
  *out = tensor_new(t->dt, t->rank, dims);
  const Named *g = find(sp->at, sp->nat, name);
  if (!g) return true;
  if (g->n != out->size) {
    fprintf(stderr, "%s: %d values for `%s`, which has %lld\n", path, g->n, name, (long long)out->size);
    return false;
  }
  for (int64_t i = 0; i < out->size; i++) out->data[i] = t->dt == DT_F32 ? (double)(float)g->v[i] : g->v[i];
  return true;
}

/* The name of result r of loss_grad or loss_hvp. */
static const char *result_name(const IrFunc *f, int r, char *buf, size_t len) {
  bool hvp = strcmp(f->name, "loss_hvp") == 0;
  if (!hvp && r == 0) return "loss";
  int p = f->grad_params[hvp ? r : r - 1];
  snprintf(buf, len, "%s_%s", hvp ? "Hv" : "d", f->params[p].name);
  return buf;
}

static bool close_to(double got, double want, double tol) { return fabs(got - want) <= tol * fmax(1, fabs(want)); }

/* results (read through `at`) against the expectations for f's results */
static void compare(const char *path, const char *who, const IrFunc *f, const Spec *sp, double tol,
                    double (*at)(const void *, int, int64_t), const void *res) {
  for (int r = 0; r < f->nresults; r++) {
    char buf[96];
    const char *name = result_name(f, r, buf, sizeof buf);
    const Named *e = find(sp->expect, sp->nexpect, name);
    if (!e) continue;
    if (e->n != at(res, r, -1)) {
      fail("%s: %s: %d values expected for %s, which has %g", path, who, e->n, name, at(res, r, -1));
      continue;
    }
    for (int i = 0; i < e->n; i++) {
      double got = at(res, r, i);
      if (!close_to(got, e->v[i], tol)) {
        fail("%s: %s: %s[%d] = %.12g, expected %.12g", path, who, name, i, got, e->v[i]);
        break;
      }
    }
  }
}

/* entry i of result r; i = -1: the number of entries */
static double tensor_at(const void *res, int r, int64_t i) {
  const Tensor *t = &((const Tensor *)res)[r];
  return i < 0 ? (double)t->size : i < t->size ? t->data[i] : NAN;
}

typedef struct Native {
  void **out;
  DType *dt;
  int64_t *size;
} Native;

static double native_at(const void *res, int r, int64_t i) {
  const Native *n = res;
  if (i < 0) return (double)n->size[r];
  if (i >= n->size[r]) return NAN;
  if (n->dt[r] == DT_F64) return ((const double *)n->out[r])[i];
  if (n->dt[r] == DT_F32) return ((const float *)n->out[r])[i];
  return NAN;
}

static void *to_native(const Tensor *t) {
  void *p = calloc((size_t)(t->size ? t->size : 1), 8);
  for (int64_t i = 0; i < t->size; i++) {
    if (t->dt == DT_F64) ((double *)p)[i] = t->data[i];
    else if (t->dt == DT_I32) ((int32_t *)p)[i] = (int32_t)t->data[i];
    else if (t->dt == DT_BOOL) ((uint8_t *)p)[i] = t->data[i] != 0;
    else ((float *)p)[i] = (float)t->data[i];
  }
  return p;
}

/* One entry point: the interpreter and the native code at the given point. */
static void check_unit(const char *path, void *lib, const CgUnit *u, const Spec *sp, double tol) {
  const IrFunc *f = u->f;
  Tensor in[IR_MAX_ARGS + 8] = {{0}}, *par = calloc((size_t)f->nparams + 1, sizeof(Tensor));
  bool ok = f->ninputs <= IR_MAX_ARGS + 8;
  for (int i = 0; i < f->ninputs && ok; i++) ok = given(path, sp, f->input_names[i], &f->input_types[i], &in[i]);
  for (int i = 0; i < f->nparams && ok; i++) ok = given(path, sp, f->params[i].name, &f->params[i].ty, &par[i]);
  Tensor *want = calloc((size_t)f->nresults + 1, sizeof(Tensor));
  char err[512], who[128];
  DimEnv env = {0};
  if (ok && !interp_run(f, in, par, &env, want, err, sizeof err)) {
    fail("%s: %s: interpreter: %s", path, u->name, err);
    ok = false;
  }
  snprintf(who, sizeof who, "%s, interpreter", u->name);
  if (ok) compare(path, who, f, sp, tol, tensor_at, want);
  EntryFn entry = (EntryFn)dlsym(lib, u->name);
  char wsname[256];
  snprintf(wsname, sizeof wsname, "%s_workspace", u->name);
  WorkspaceFn wsfn = (WorkspaceFn)dlsym(lib, wsname);
  if (ok && (!entry || !wsfn)) {
    fail("%s: %s: not in the library", path, u->name);
    ok = false;
  }
  if (ok) {
    void *nin[IR_MAX_ARGS + 8], **npar = calloc((size_t)f->nparams + 1, sizeof(void *));
    Native res = {calloc((size_t)f->nresults, sizeof(void *)), calloc((size_t)f->nresults, sizeof(DType)),
                  calloc((size_t)f->nresults, sizeof(int64_t))};
    for (int i = 0; i < f->ninputs; i++) nin[i] = to_native(&in[i]);
    for (int i = 0; i < f->nparams; i++) npar[i] = to_native(&par[i]);
    for (int r = 0; r < f->nresults; r++) {
      res.dt[r] = want[r].dt;
      res.size[r] = want[r].size;
      res.out[r] = calloc((size_t)want[r].size + 1, 8);
    }
    int64_t dims[1] = {0};
    int64_t bytes = wsfn(dims);
    void *ws = aligned_alloc(64, (size_t)((bytes + 63) / 64 * 64 + 64));
    snprintf(who, sizeof who, "%s, native", u->name);
    if (entry(dims, nin, npar, res.out, ws) != 0) fail("%s: %s: the native call failed", path, u->name);
    else compare(path, who, f, sp, tol, native_at, &res);
    free(ws);
    for (int i = 0; i < f->ninputs; i++) free(nin[i]);
    for (int i = 0; i < f->nparams; i++) free(npar[i]);
    for (int r = 0; r < f->nresults; r++) free(res.out[r]);
    free(res.out);
    free(res.dt);
    free(res.size);
    free(npar);
  }
  for (int r = 0; r < f->nresults; r++) tensor_free(&want[r]);
  for (int i = 0; i < f->ninputs; i++) tensor_free(&in[i]);
  for (int i = 0; i < f->nparams; i++) tensor_free(&par[i]);
  free(want);
  free(par);
}

/* Every expectation names a result of loss_grad or loss_hvp, every given
 * value an input or a param. */
static void check_names(const char *path, const CgUnit *units, int n, const Spec *sp) {
  for (int a = 0; a < sp->nat; a++) {
    bool found = false;
    for (int i = 0; i < n && !found; i++) {
      const IrFunc *f = units[i].f;
      for (int k = 0; k < f->ninputs && !found; k++) found = strcmp(f->input_names[k], sp->at[a].name) == 0;
      for (int k = 0; k < f->nparams && !found; k++) found = strcmp(f->params[k].name, sp->at[a].name) == 0;
    }
    if (!found) fail("%s: `%s` is no input or param", path, sp->at[a].name);
  }
  for (int e = 0; e < sp->nexpect; e++) {
    bool found = false;
    for (int i = 0; i < n && !found; i++) {
      const IrFunc *f = units[i].f;
      if (strcmp(f->name, "loss_grad") != 0 && strcmp(f->name, "loss_hvp") != 0) continue;
      for (int r = 0; r < f->nresults && !found; r++) {
        char buf[96];
        found = strcmp(result_name(f, r, buf, sizeof buf), sp->expect[e].name) == 0;
      }
    }
    if (!found) fail("%s: `%s` is no result of loss_grad or loss_hvp", path, sp->expect[e].name);
  }
}

static void run(const char *path, const Spec *sp, DType model_float) {
  SemaOptions so = {.model_float = model_float};
  Front fr;
  front_init(&fr, DMLC_STDLIB_DIR);
  CgUnit *units = NULL;
  int n = 0;
  const char *prefix = model_float == DT_F64 ? "v64" : "v32";
  if (!front_parse_file(&fr, path) || !front_check(&fr, so) ||
      !build_units(&fr.prog, &fr.arena, &fr.diags, so, prefix, HVP_IF_POSSIBLE, &units, &n)) {
    diag_flush(&fr.diags, stderr);
    fail("%s: does not build", path);
    front_free(&fr);
    return;
  }
  char dir[] = "/tmp/dmlc-gradvalues-XXXXXX";
  if (!mkdtemp(dir)) {
    fail("%s: mkdtemp", path);
    front_free(&fr);
    return;
  }
  char *obj = arena_printf(&fr.arena, "%s/model.o", dir), *so_path = arena_printf(&fr.arena, "%s/libmodel.so", dir);
  CgOptions co = {.opt_level = 2, .pic = true, .emit = CG_EMIT_OBJECT, .output = obj, .module_name = path};
  void *lib = NULL;
  if (cg_compile(units, n, &co, &fr.arena, &fr.diags) && link_with_runtime(obj, so_path, true, &fr.arena, &fr.diags))
    lib = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    diag_flush(&fr.diags, stderr);
    fail("%s: no native library", path);
  } else {
    int before = failures;
    check_names(path, units, n, sp);
    double tol = model_float == DT_F64 ? 1e-9 : 1e-5;
    for (int i = 0; i < n; i++)
      if (strcmp(units[i].f->name, "loss_grad") == 0 || strcmp(units[i].f->name, "loss_hvp") == 0)
        check_unit(path, lib, &units[i], sp, tol);
    if (failures == before) printf("ok   %s: %d values agree (%s, interpreter and native)\n", path, sp->nexpect, dtype_name(model_float));
    dlclose(lib);
  }
  unlink(obj);
  unlink(so_path);
  rmdir(dir);
  front_free(&fr);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: grad_values FILE.dml...\n");
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    Spec *sp = calloc(1, sizeof(Spec));
    if (!read_spec(argv[i], sp)) {
      free(sp);
      return 2;
    }
    run(argv[i], sp, DT_F64);
    run(argv[i], sp, DT_F32);
    free(sp);
  }
  return failures ? 1 : 0;
}
