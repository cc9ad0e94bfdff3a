/* math_sweep - exp, sigmoid, tanh (and softplus, log(sigmoid)) as compiled
 * by dmlc, against the formula in higher precision, over the whole range.
 *
 * One small DML program (one fn per function, `real[n] -> real[n]`) is
 * built in f32 and in f64, for the host CPU and for plain x86-64 (SSE2, no
 * FMA), as shared libraries that keep subnormals (CgOptions.keep_subnormals:
 * the entry points' flush-to-zero would hide the subnormal range; it has its
 * own test in tests/lib). Each library evaluates a sweep of points: every
 * exponent of the format with both signs and a few mantissas each, the
 * boundaries (overflow and underflow thresholds, the subnormal range, the
 * polynomial switch of tanh, +-0, +-inf, NaN) with their neighbours, and a
 * dense sample (every 4093rd f32 bit pattern; a million f64 values). The
 * error of each result is measured in ulps of the exact value (computed in
 * double for f32, in long double for f64) and must stay under the bounds
 * below; host and x86-64 results must be bit-identical (no fmuladd in these
 * functions), and the interpreter (which computes in double) must agree.
 * The fused loops of exp, sigmoid and tanh must be vectorised and call no
 * function: checked in the optimised LLVM IR for both CPUs.
 *
 * Usage: math_sweep  (prints the worst error of each function) */
#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "build.h"
#include "codegen/link.h"
#include "front.h"
#include "interp.h"

static const char program[] =
    "// the functions under test, one entry point each\n"
    "fn f_exp(x: real[n]) -> real[n] { exp(x) }\n"
    "fn f_sigmoid(x: real[n]) -> real[n] { sigmoid(x) }\n"
    "fn f_tanh(x: real[n]) -> real[n] { tanh(x) }\n"
    "fn f_softplus(x: real[n]) -> real[n] { softplus(x) }\n"
    "fn f_log_sigmoid(x: real[n]) -> real[n] { log(sigmoid(x)) }\n";

enum { F_EXP, F_SIGMOID, F_TANH, F_SOFTPLUS, F_LOG_SIGMOID, NFUNCS };
static const char *const fnames[NFUNCS] = {"f_exp", "f_sigmoid", "f_tanh", "f_softplus", "f_log_sigmoid"};
/* exp, sigmoid and tanh are plain arithmetic and must vectorise; softplus
 * and log call log1p and log */
static const bool vectorised[NFUNCS] = {true, true, true, false, false};
/* The worst errors measured (ulps; the same on znver3 and x86-64, whose
 * results are bit-identical): f32 exp 0.75 (in its subnormal results; the
 * scaling rounds a second time there), sigmoid 2.09, tanh 2.12, softplus
 * 1.42, log(sigmoid) 1.98; f64 exp 0.75, sigmoid 1.95, tanh 2.01, softplus
 * 1.24, log(sigmoid) 1.74. The bounds leave a margin: "a few ulps". */
static const double bound[NFUNCS] = {1, 3, 3, 2, 3};

typedef int32_t (*EntryFn)(const int64_t *, void *const *, void *const *, void *const *, void *);

/* ---- the exact values --------------------------------------------------------------- */

static long double ref_value(int fn, long double x) {
  switch (fn) {
  case F_EXP: return expl(x);
  case F_SIGMOID: return x >= 0 ? 1 / (1 + expl(-x)) : expl(x) / (1 + expl(x));
  case F_TANH: return tanhl(x);
  case F_SOFTPLUS: return x > 0 ? x + log1pl(expl(-x)) : log1pl(expl(x));
  default: return x >= 0 ? -log1pl(expl(-x)) : x - log1pl(expl(x));
  }
}

/* f32: the formula in double is exact to far better than an f32 ulp */
static double ref_value_f32(int fn, double x) {
  switch (fn) {
  case F_EXP: return exp(x);
  case F_SIGMOID: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
  case F_TANH: return tanh(x);
  case F_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
  default: return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x));
  }
}

/* |got - want| in ulps of want in a format of `digits` bits whose smallest
 * normal exponent is emin (so subnormals have a fixed ulp); an infinity
 * counts as the power of two after the largest finite number */
static double ulp_error(long double got, long double want, int digits, int emin, int emax) {
  if (isnan(want) || isnan(got)) return isnan(want) && isnan(got) ? 0 : INFINITY;
  long double top = ldexpl(1, emax + 1);
  if (isinf(got)) got = got > 0 ? top : -top;
  if (fabsl(want) > top) want = want > 0 ? top : -top; /* rounds to an infinity */
  int e = want == 0 ? emin : ilogbl(want);
  if (e < emin) e = emin;
  return (double)(fabsl(got - want) / ldexpl(1, e - (digits - 1)));
}

/* ---- the points ----------------------------------------------------------------------- */

typedef struct Points {
  double *x;
  int64_t n, cap;
} Points;

static void add(Points *p, double x) {
  if (p->n == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 1 << 16;
    p->x = realloc(p->x, sizeof(double) * (size_t)p->cap);
    if (!p->x) exit(2);
  }
  p->x[p->n++] = x;
}

static uint64_t next_random(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* x and its 8 neighbours on each side, in the format */
static void add_around(Points *p, double x, bool f32) {
  double lo = x, hi = x;
  add(p, x);
  for (int i = 0; i < 8; i++) {
    lo = f32 ? nextafterf((float)lo, -INFINITY) : nextafter(lo, -INFINITY);
    hi = f32 ? nextafterf((float)hi, INFINITY) : nextafter(hi, INFINITY);
    add(p, lo);
    add(p, hi);
  }
}

static Points make_points(bool f32) {
  Points p = {0};
  uint64_t s = 88172645463325252ull;
  /* every exponent, both signs, a few mantissas each */
  int ebits = f32 ? 8 : 11, mbits = f32 ? 23 : 52;
  for (int sign = 0; sign < 2; sign++)
    for (uint64_t e = 0; e < (1u << ebits); e++)
      for (int m = 0; m < 10; m++) {
        uint64_t mask = (1ull << mbits) - 1;
        uint64_t fixed[6] = {0, 1, mask, mask / 3, mask / 3 * 2, 1ull << (mbits - 1)};
        uint64_t mant = m < 6 ? fixed[m] : next_random(&s) & mask;
        uint64_t bits = (uint64_t)sign << (ebits + mbits) | e << mbits | mant;
        if (f32) {
          uint32_t b32 = (uint32_t)bits;
          float v;
          memcpy(&v, &b32, 4);
          add(&p, v);
        } else {
          double v;
          memcpy(&v, &bits, 8);
          add(&p, v);
        }
      }
  /* the boundaries: exp's overflow, underflow and subnormal thresholds, the
   * clamps, tanh's polynomial switch and saturation, sigmoid's saturation */
  double maxv = f32 ? FLT_MAX : DBL_MAX, minnorm = f32 ? FLT_MIN : DBL_MIN;
  double minsub = f32 ? ldexp(1, -149) : ldexp(1, -1074);
  double edges[] = {log(maxv), log(minnorm), log(minsub), log(minsub / 2), f32 ? -104 : -746, f32 ? 89 : 710,
                    0.5, f32 ? 9.01 : 19.06, f32 ? 16.64 : 36.74, f32 ? 88 : 709, -log(maxv), 1, -1};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    add_around(&p, edges[i], f32);
    add_around(&p, -edges[i], f32);
  }
  double specials[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, minsub, -minsub, minnorm, -minnorm, maxv, -maxv};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) add(&p, specials[i]);
  /* dense: every 4093rd f32 bit pattern; for f64 a million random ones and
   * a million uniform values over exp's range */
  if (f32) {
    for (uint64_t b = 0; b < (1ull << 32); b += 4093) {
      uint32_t b32 = (uint32_t)b;
      float v;
      memcpy(&v, &b32, 4);
      add(&p, v);
    }
  } else {
    for (int i = 0; i < 1000000; i++) {
      uint64_t b = next_random(&s);
      double v;
      memcpy(&v, &b, 8);
      add(&p, v);
      add(&p, ((double)(next_random(&s) >> 11) / 9007199254740992.0 - 0.5) * 1500);
    }
  }
  return p;
}

/* ---- build, load, run ---------------------------------------------------------------- */

typedef struct Lib {
  Front fr;
  CgUnit *units;
  int nunits;
  void *handle;
  char dir[32];
} Lib;

static bool build_lib(Lib *L, const char *src_path, DType dt, const char *cpu) {
  SemaOptions so = {.model_float = dt};
  front_init(&L->fr, DMLC_STDLIB_DIR);
  if (!front_parse_file(&L->fr, src_path) || !front_check(&L->fr, so) ||
      !build_units(&L->fr.prog, &L->fr.arena, &L->fr.diags, so, dt == DT_F64 ? "m64" : "m32", HVP_IF_POSSIBLE, &L->units,
                   &L->nunits)) {
    diag_flush(&L->fr.diags, stderr);
    return false;
  }
  strcpy(L->dir, "/tmp/dmlc-sweep-XXXXXX");
  if (!mkdtemp(L->dir)) return false;
  char *obj = arena_printf(&L->fr.arena, "%s/m.o", L->dir), *so_path = arena_printf(&L->fr.arena, "%s/libm.so", L->dir);
  CgOptions co = {.opt_level = 2, .pic = true, .emit = CG_EMIT_OBJECT, .output = obj, .module_name = src_path,
                  .cpu = cpu, .keep_subnormals = true};
  if (!cg_compile(L->units, L->nunits, &co, &L->fr.arena, &L->fr.diags) ||
      !link_with_runtime(obj, so_path, true, &L->fr.arena, &L->fr.diags)) {
    diag_flush(&L->fr.diags, stderr);
    return false;
  }
  L->handle = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
  unlink(obj);
  unlink(so_path);
  rmdir(L->dir);
  if (!L->handle) fprintf(stderr, "dlopen: %s\n", dlerror());
  return L->handle != NULL;
}

static void free_lib(Lib *L) {
  if (L->handle) dlclose(L->handle);
  front_free(&L->fr);
}

/* The unit of a function: its symbol is PREFIX_NAME */
static const CgUnit *unit_of(const Lib *L, const char *name) {
  for (int i = 0; i < L->nunits; i++)
    if (strcmp(L->units[i].f->name, name) == 0) return &L->units[i];
  return NULL;
}

/* out = fn(x) natively; x and out are arrays of float or double */
static bool run_native(const Lib *L, int fn, const void *x, void *out, int64_t n) {
  const CgUnit *u = unit_of(L, fnames[fn]);
  EntryFn entry = u ? (EntryFn)dlsym(L->handle, u->name) : NULL;
  if (!entry) {
    fprintf(stderr, "%s: no entry point\n", fnames[fn]);
    return false;
  }
  int64_t dims[1] = {n};
  void *inputs[1] = {(void *)x}, *outputs[1] = {out};
  static _Alignas(64) char ws[64];
  return entry(dims, inputs, NULL, outputs, ws) == 0;
}

/* The optimised IR of both CPUs: the fused loops of exp, sigmoid and tanh
 * hold vector arithmetic and call nothing but LLVM intrinsics. */
static int check_vectorised(const char *src_path, DType dt, const char *cpu) {
  Lib L = {0};
  SemaOptions so = {.model_float = dt};
  front_init(&L.fr, DMLC_STDLIB_DIR);
  if (!front_parse_file(&L.fr, src_path) || !front_check(&L.fr, so) ||
      !build_units(&L.fr.prog, &L.fr.arena, &L.fr.diags, so, "m", HVP_IF_POSSIBLE, &L.units, &L.nunits)) {
    diag_flush(&L.fr.diags, stderr);
    return 1;
  }
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  CgOptions co = {.opt_level = 2, .pic = true, .emit = CG_EMIT_LLVM, .text_out = mem, .module_name = src_path, .cpu = cpu};
  bool ok = cg_compile(L.units, L.nunits, &co, &L.fr.arena, &L.fr.diags);
  fclose(mem);
  int failures = ok ? 0 : 1;
  const char *vec = dt == DT_F64 ? " x double>" : " x float>";
  for (int fn = 0; ok && fn < NFUNCS; fn++) {
    if (!vectorised[fn]) continue;
    char head[64];
    snprintf(head, sizeof head, "@m_%s(", fnames[fn]);
    char *body = strstr(text, head), *end = body ? strstr(body, "\n}\n") : NULL;
    if (!end) {
      fprintf(stderr, "%s: no function %s in the LLVM IR\n", cpu ? cpu : "host", head);
      failures++;
      continue;
    }
    *end = 0;
    bool has_vector = strstr(body, vec) != NULL, has_call = false;
    for (char *c = strstr(body, "call "); c; c = strstr(c + 1, "call "))
      if (!strstr(c, "@llvm.") || strstr(c, "@llvm.") > strchr(c, '\n')) has_call = true;
    if (!has_vector || has_call) {
      fprintf(stderr, "%s %s: %s%s\n", cpu ? cpu : "host", fnames[fn], has_vector ? "" : "no vector arithmetic ",
              has_call ? "calls a function" : "");
      failures++;
    }
    *end = '\n';
  }
  free(text);
  front_free(&L.fr);
  return failures;
}

/* The interpreter on the same points (it computes in double) */
static bool run_interp(const Lib *L, int fn, const Points *p, double *out) {
  const IrFunc *f = unit_of(L, fnames[fn])->f;
  DimEnv env = {0};
  dimenv_bind(&env, f->dim_syms[0], p->n);
  Tensor in = tensor_new(f->input_types[0].dt, 1, &p->n), res[2] = {{0}};
  memcpy(in.data, p->x, sizeof(double) * (size_t)p->n);
  char err[512];
  bool ok = interp_run(f, &in, NULL, &env, res, err, sizeof err);
  if (!ok) fprintf(stderr, "%s: interpreter: %s\n", fnames[fn], err);
  else memcpy(out, res[0].data, sizeof(double) * (size_t)p->n);
  tensor_free(&in);
  tensor_free(&res[0]);
  return ok;
}

static int sweep(const char *src_path, DType dt) {
  bool f32 = dt == DT_F32;
  Points p = make_points(f32);
  for (int64_t i = 0; f32 && i < p.n; i++) p.x[i] = (float)p.x[i]; /* the interpreter sees what the native code sees */
  int digits = f32 ? 24 : 53, emin = f32 ? -126 : -1022, emax = f32 ? 127 : 1023;
  size_t esz = f32 ? 4 : 8;
  void *x = malloc(esz * (size_t)p.n), *got = malloc(esz * (size_t)p.n), *got_base = malloc(esz * (size_t)p.n);
  double *interp = malloc(sizeof(double) * (size_t)p.n);
  for (int64_t i = 0; i < p.n; i++) {
    if (f32) ((float *)x)[i] = (float)p.x[i];
    else ((double *)x)[i] = p.x[i];
  }
  Lib host = {0}, base = {0};
  int failures = 0;
  bool built = build_lib(&host, src_path, dt, NULL) && build_lib(&base, src_path, dt, "x86-64");
  for (int fn = 0; fn < NFUNCS && built; fn++) {
    if (!run_native(&host, fn, x, got, p.n) || !run_native(&base, fn, x, got_base, p.n) ||
        !run_interp(&host, fn, &p, interp)) {
      built = false;
      break;
    }
    if (memcmp(got, got_base, esz * (size_t)p.n) != 0) {
      for (int64_t i = 0; i < p.n; i++)
        if (memcmp((char *)got + esz * (size_t)i, (char *)got_base + esz * (size_t)i, esz) != 0) {
          fprintf(stderr, "%s %s(%.17g): host %.17g, x86-64 %.17g\n", dtype_name(dt), fnames[fn], p.x[i],
                  f32 ? ((float *)got)[i] : ((double *)got)[i], f32 ? ((float *)got_base)[i] : ((double *)got_base)[i]);
          break;
        }
      failures++;
    }
    double worst = 0, worst_x = 0, worst_interp = 0;
    for (int64_t i = 0; i < p.n; i++) {
      double xi = f32 ? ((float *)x)[i] : ((double *)x)[i];
      /* log(sigmoid(x)) is the negative tail the issue found at -15.9; it is
       * measured from log(smallest normal), below which sigmoid is subnormal
       * and then 0, to 0, above which sigmoid rounds to 1 - tiny and then 1
       * (-softplus(-x) is the exact form there) */
      if (fn == F_LOG_SIGMOID && !(xi > log(f32 ? FLT_MIN : DBL_MIN) && xi <= 0)) continue;
      long double g = f32 ? ((float *)got)[i] : ((double *)got)[i];
      long double want = f32 ? ref_value_f32(fn, xi) : ref_value(fn, xi);
      double e = ulp_error(g, want, digits, emin, emax);
      /* the interpreter's double, seen through the format's rounding */
      double in_fmt = f32 ? (double)(float)interp[i] : interp[i];
      double ei = ulp_error(g, in_fmt, digits, emin, emax);
      if (!(e <= worst)) worst = e, worst_x = xi;
      if (!(ei <= worst_interp)) worst_interp = ei;
      if (fn == F_TANH && xi == 0 && signbit(xi) != signbit((double)g)) {
        fprintf(stderr, "%s tanh(%g) = %g: the sign of zero is lost\n", dtype_name(dt), xi, (double)g);
        failures++;
      }
    }
    /* the interpreter's libm is within an ulp of its own, so one more */
    bool ok = worst <= bound[fn] && worst_interp <= bound[fn] + 1;
    printf("%s %-13s worst %.3f ulp at x = %.9g (bound %g); against the interpreter %.3f ulp; %lld points%s\n",
           dtype_name(dt), fnames[fn], worst, worst_x, bound[fn], worst_interp, (long long)p.n, ok ? "" : "  FAILED");
    failures += !ok;
  }
  failures += !built;
  free_lib(&host);
  free_lib(&base);
  free(x);
  free(got);
  free(got_base);
  free(interp);
  free(p.x);
  return failures;
}

int main(void) {
  char path[] = "/tmp/dmlc-sweep-XXXXXX.dml";
  int fd = mkstemps(path, 4);
  if (fd < 0 || write(fd, program, sizeof program - 1) != (ssize_t)(sizeof program - 1)) {
    perror("math_sweep: cannot write the test program");
    return 2;
  }
  close(fd);
  int failures = 0;
  for (int k = 0; k < 4; k++) failures += check_vectorised(path, k < 2 ? DT_F32 : DT_F64, k % 2 ? "x86-64" : NULL);
  failures += sweep(path, DT_F32);
  failures += sweep(path, DT_F64);
  unlink(path);
  if (!failures) printf("exp, sigmoid, tanh, softplus, log(sigmoid): within their bounds, f32 and f64, host and x86-64 identical\n");
  return failures ? 1 : 0;
}
