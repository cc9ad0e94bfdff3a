/* codegen_diff - native code against the reference interpreter.
 *
 * For a model file: build every entry point (each fn, the loss, loss_grad)
 * in f32 and in f64, compile them through LLVM, link a shared library,
 * load it, and evaluate each entry point natively and with the
 * interpreter on the same random inputs at two batch sizes. Results must
 * agree to 1e-10 (f64) or 2e-4 (f32, relative to the largest magnitude of
 * the result). Usage: codegen_diff FILE.dml */
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "build.h"
#include "codegen/link.h"
#include "front.h"
#include "gradcheck.h"
#include "interp.h"

typedef int32_t (*EntryFn)(const int64_t *, void *const *, void *const *, void *const *, void *);
typedef int64_t (*WorkspaceFn)(const int64_t *);

static size_t elem_size(DType dt) { return dt == DT_F64 ? 8 : dt == DT_BOOL ? 1 : 4; }

static void *to_native(const Tensor *t) {
  void *p = calloc((size_t)(t->size ? t->size : 1), elem_size(t->dt));
  for (int64_t i = 0; i < t->size; i++) {
    switch (t->dt) {
    case DT_F64: ((double *)p)[i] = t->data[i]; break;
    case DT_I32: ((int32_t *)p)[i] = (int32_t)t->data[i]; break;
    case DT_BOOL: ((uint8_t *)p)[i] = t->data[i] != 0; break;
    default: ((float *)p)[i] = (float)t->data[i]; break;
    }
  }
  return p;
}

static double native_at(const void *p, DType dt, int64_t i) {
  switch (dt) {
  case DT_F64: return ((const double *)p)[i];
  case DT_I32: return ((const int32_t *)p)[i];
  case DT_BOOL: return ((const uint8_t *)p)[i];
  default: return ((const float *)p)[i];
  }
}

/* f32 inputs are rounded before the interpreter sees them, so both sides
 * start from the same numbers. */
static void round_like_native(Tensor *t) {
  if (t->dt == DT_F32)
    for (int64_t i = 0; i < t->size; i++) t->data[i] = (double)(float)t->data[i];
}

static int check_unit(void *lib, const CgUnit *u, int64_t batch, uint64_t seed, DType model_float) {
  const IrFunc *f = u->f;
  EntryFn entry = (EntryFn)dlsym(lib, u->name);
  char wsname[256];
  snprintf(wsname, sizeof wsname, "%s_workspace", u->name);
  WorkspaceFn wsfn = (WorkspaceFn)dlsym(lib, wsname);
  if (!entry || !wsfn) {
    fprintf(stderr, "%s: symbol missing from the library\n", u->name);
    return 1;
  }
  DimEnv env = {0};
  for (int i = 0; i < f->ndim_syms; i++) dimenv_bind(&env, f->dim_syms[i], batch + i);
  Tensor *in, *par;
  gc_alloc_point(f, &env, &in, &par);
  uint64_t st = seed;
  gc_draw_point(f, &env, &st, in, par);
  for (int i = 0; i < f->ninputs; i++) round_like_native(&in[i]);
  for (int i = 0; i < f->nparams; i++) round_like_native(&par[i]);
  Tensor *want = calloc((size_t)f->nresults + 1, sizeof(Tensor));
  char err[512];
  if (!interp_run(f, in, par, &env, want, err, sizeof err)) {
    fprintf(stderr, "%s: interpreter: %s\n", u->name, err);
    return 1;
  }
  int64_t dims[16];
  for (int i = 0; i < f->ndim_syms; i++) {
    IrType t = {.rank = 1, .dims = {{0, f->dim_syms[i]}}};
    int64_t d[1], sz;
    dimenv_resolve(&env, &t, d, &sz);
    dims[i] = d[0];
  }
  void **nin = calloc((size_t)f->ninputs + 1, sizeof(void *)), **npar = calloc((size_t)f->nparams + 1, sizeof(void *));
  void **nout = calloc((size_t)f->nresults + 1, sizeof(void *));
  for (int i = 0; i < f->ninputs; i++) nin[i] = to_native(&in[i]);
  for (int i = 0; i < f->nparams; i++) npar[i] = to_native(&par[i]);
  for (int i = 0; i < f->nresults; i++) nout[i] = calloc((size_t)(want[i].size + 1), 8);
  int64_t wbytes = wsfn(dims);
  void *ws = aligned_alloc(64, (size_t)((wbytes + 63) / 64 * 64 + 64));
  int failures = 0;
  if (entry(dims, nin, npar, nout, ws) != 0) {
    fprintf(stderr, "%s: native call failed\n", u->name);
    failures++;
  }
  for (int r = 0; r < f->nresults && !failures; r++) {
    DType dt = f->v[f->results[r]].ty.dt;
    double scale = 0;
    for (int64_t i = 0; i < want[r].size; i++) scale = fmax(scale, fabs(want[r].data[i]));
    /* an f64 result of an f32 model carries f32 rounding from before its cast */
    bool f32_path = dt == DT_F32 || (dt == DT_F64 && model_float == DT_F32);
    double tol = f32_path ? 2e-4 * (1 + scale) : dt == DT_F64 ? 1e-10 * (1 + scale) : 0;
    for (int64_t i = 0; i < want[r].size; i++) {
      double x = native_at(nout[r], dt, i), y = want[r].data[i];
      if (!(fabs(x - y) <= tol)) {
        fprintf(stderr, "%s (batch %lld): result %d entry %lld: native %.10g, interpreter %.10g\n", u->name,
                (long long)batch, r, (long long)i, x, y);
        failures++;
        break;
      }
    }
  }
  for (int i = 0; i < f->ninputs; i++) free(nin[i]);
  for (int i = 0; i < f->nparams; i++) free(npar[i]);
  for (int i = 0; i < f->nresults; i++) {
    free(nout[i]);
    tensor_free(&want[i]);
  }
  free(nin);
  free(npar);
  free(nout);
  free(want);
  free(ws);
  gc_free_point(f, in, par);
  return failures;
}

static int run(const char *path, DType model_float) {
  SemaOptions so = {.model_float = model_float};
  Front fr;
  front_init(&fr, DMLC_STDLIB_DIR);
  CgUnit *units;
  int n;
  if (!front_parse_file(&fr, path) || !front_check(&fr, so) ||
      !build_units(&fr.prog, &fr.arena, &fr.diags, so, model_float == DT_F64 ? "m64" : "m32", HVP_IF_POSSIBLE, &units, &n)) {
    diag_flush(&fr.diags, stderr);
    return 1;
  }
  char dir[] = "/tmp/dmlc-cgdiff-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char *obj = arena_printf(&fr.arena, "%s/model.o", dir), *so_path = arena_printf(&fr.arena, "%s/libmodel.so", dir);
  CgOptions co = {.opt_level = 2, .pic = true, .emit = CG_EMIT_OBJECT, .output = obj, .module_name = path};
  if (!cg_compile(units, n, &co, &fr.arena, &fr.diags) || !link_with_runtime(obj, so_path, true, &fr.arena, &fr.diags)) {
    diag_flush(&fr.diags, stderr);
    return 1;
  }
  void *lib = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  int failures = 0;
  for (int i = 0; i < n; i++)
    for (int64_t batch = 1; batch <= 5; batch += 4) failures += check_unit(lib, &units[i], batch, 7 + (uint64_t)batch, model_float);
  dlclose(lib);
  unlink(obj);
  unlink(so_path);
  rmdir(dir);
  if (!failures) printf("%s: %d entry points agree with the interpreter (%s, batch 1 and 5)\n", path, n, dtype_name(model_float));
  front_free(&fr);
  return failures ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: codegen_diff FILE.dml\n");
    return 2;
  }
  int status = run(argv[1], DT_F64);
  status |= run(argv[1], DT_F32);
  return status;
}
