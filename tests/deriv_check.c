/* deriv_check - the VALUES of the derivative builtins grad, hvp and hessian
 * against finite differences, all evaluated by the reference interpreter in
 * f64 (the model float type is f64 here).
 *
 * Usage: deriv_check FILE.dml...
 *
 * Convention. A file defines a function f (any name) and, for a name N of
 * the test's choosing, wrappers that call it with the same fixed arguments:
 *
 *   fn value_N(x: T, e...) -> f64          { f(x, <args>) }
 *   fn grad_N(x: T, e...) -> T             { grad(f, x, <args>) }
 *   fn hvp_N(x: T, e..., v: T) -> T        { hvp(f, x, <args>, v) }
 *   fn hessian_N(x: T, e...) -> f64[d, d]  { hessian(f, x, <args>) }  (f64 for a scalar x)
 *
 * x is the wrapper's first input; e... are any further inputs (the same in
 * every wrapper of N), drawn at random like x (i32 inputs uniformly in
 * {0, 1, 2}, so they can index any axis of length 3 or more). <args> may use
 * e..., constants, params or x itself. Optional exact analytic results, with
 * the signature of the wrapper they describe:
 *
 *   fn expect_grad_N(...) / expect_hvp_N(...) / expect_hessian_N(...)
 *
 * and identities between any two functions with equal signatures and one
 * result, compared entry by entry: fn lhs_K(...) and fn rhs_K(...).
 *
 * Checks, at POINTS random points per group (x, e..., v and every model
 * param drawn again, seeded; a point near a kink of value_N is redrawn):
 *   - grad_N against central differences of value_N, entry by entry;
 *   - hvp_N(x, v) against central differences of grad_N along v, and the
 *     symmetry u.H v = v.H u;
 *   - hessian_N against central differences of grad_N along each e_j,
 *     row i against hvp_N(x, e_i) (for a scalar x: hvp_N(x, 1)), and H = H^T;
 *   - expect_* and rhs_K against the wrapper or lhs_K, to rounding;
 *   - every wrapper simplified (simplify.c) against the wrapper as lowered.
 * Central differences are Richardson-extrapolated (steps h and h/2, h =
 * 1e-4): accurate to rounding, about 1e-11 relative here. An error is
 * |a - b| / max(|a|, |b|, floor), the floor being 1e-3 times the largest
 * magnitude of the tensors compared (at least 1e-3): entries that should be
 * zero count against the scale of the others. Finite differences must agree
 * to 1e-6, exact results and identities to 1e-9.
 *
 * Symbolic dimensions are bound to 4, 5, 6, ... in the order they first
 * appear in the checked functions of a file (the same name, the same size
 * across the file). A file with a loss also gets `dmlc gradcheck --hvp`
 * (gradcheck_run): the loss's own gradient and Hessian-vector products
 * with respect to the params, through any grad/hvp/hessian it uses.
 *
 * One line per check, "ok ..." or "FAIL ..." with the values; the exit
 * status is 1 if any check failed, 2 on a usage or load error. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "front.h"
#include "gradcheck.h"
#include "interp.h"
#include "lower.h"
#include "simplify.h"

enum { POINTS = 3, SEED = 20240611 };
static const double STEP = 1e-4, FLOOR = 1e-3, TOL_FD = 1e-6, TOL_EXACT = 1e-9;

typedef enum { W_VALUE, W_GRAD, W_HVP, W_HESSIAN, W_EXP_GRAD, W_EXP_HVP, W_EXP_HESSIAN, W_COUNT } Kind;
/* longest prefixes first: expect_grad_ before grad_ */
static const struct {
  const char *prefix;
  Kind kind;
} prefixes[] = {
    {"expect_hessian_", W_EXP_HESSIAN}, {"expect_grad_", W_EXP_GRAD}, {"expect_hvp_", W_EXP_HVP},
    {"hessian_", W_HESSIAN},            {"grad_", W_GRAD},            {"hvp_", W_HVP},
    {"value_", W_VALUE},
};

typedef struct Fn {
  const char *name; /* the fn's name */
  IrFunc *f, *simple; /* as lowered, and simplified */
} Fn;

typedef struct Group {
  const char *name;
  Fn fn[W_COUNT];
  bool present[W_COUNT];
} Group;

typedef struct Pair {
  const char *name;
  Fn lhs, rhs;
  bool has_lhs, has_rhs;
} Pair;

typedef struct Ctx {
  const char *file;
  Tensor *params;
  int nparams;
  DimEnv env;
  uint64_t rng;
  int failures, checks;
  char err[512];
} Ctx;

/* ---- random numbers (splitmix64), as gradcheck.c ---- */

static uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (double)(next_u64(s) >> 11) / 9007199254740992.0; }

static double normal(uint64_t *s) {
  double u = uniform(s), v = uniform(s);
  return sqrt(-2 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static void draw(uint64_t *s, Tensor *t, double scale) {
  for (int64_t i = 0; i < t->size; i++) {
    if (t->dt == DT_I32) t->data[i] = (double)(next_u64(s) % 3);
    else if (t->dt == DT_BOOL) t->data[i] = (double)(next_u64(s) & 1);
    else t->data[i] = scale * normal(s);
  }
}

/* ---- tensors ---- */

static Tensor tensor_of(Ctx *c, const IrType *t) {
  int64_t dims[MAX_RANK], size;
  if (!dimenv_resolve(&c->env, t, dims, &size)) {
    fprintf(stderr, "deriv_check: unbound dimension\n");
    exit(2);
  }
  return tensor_new(t->dt, t->rank, dims);
}

static Tensor tensor_copy(const Tensor *t) {
  Tensor r = tensor_new(t->dt, t->rank, t->dims);
  memcpy(r.data, t->data, sizeof(double) * (size_t)t->size);
  return r;
}

static bool same_shape(const Tensor *a, const Tensor *b) {
  if (a->rank != b->rank || a->size != b->size) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

static double max_abs(const Tensor *t) {
  double m = 0;
  for (int64_t i = 0; i < t->size; i++) m = fmax(m, fabs(t->data[i]));
  return m;
}

static void print_index(char *buf, size_t n, const Tensor *t, int64_t flat) {
  int64_t idx[MAX_RANK];
  for (int i = t->rank - 1; i >= 0; i--) {
    idx[i] = flat % t->dims[i];
    flat /= t->dims[i];
  }
  size_t k = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < t->rank && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)idx[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
}

/* ---- evaluation ---- */

/* f's one result at `in` (f's inputs) and the current params. */
static bool eval(Ctx *c, const IrFunc *f, const Tensor *in, Tensor *out, double *margin) {
  Tensor *r = calloc((size_t)f->nresults + 1, sizeof(Tensor));
  bool ok = interp_run_margin(f, in, c->params, &c->env, r, c->err, sizeof c->err, margin);
  for (int i = 1; i < f->nresults; i++) tensor_free(&r[i]);
  if (ok) *out = r[0];
  free(r);
  return ok;
}

/* d/ds f(x + s dir, rest...) at s = 0, for in[0] = x: central differences
 * with steps h and h/2, Richardson-extrapolated. */
static bool diff_along(Ctx *c, const IrFunc *f, Tensor *in, const Tensor *dir, Tensor *out) {
  Tensor x0 = tensor_copy(&in[0]), d[2];
  bool ok = true;
  for (int k = 0; k < 2 && ok; k++) {
    double h = k ? STEP / 2 : STEP;
    Tensor fp, fm;
    for (int64_t i = 0; i < x0.size; i++) in[0].data[i] = x0.data[i] + h * dir->data[i];
    ok = eval(c, f, in, &fp, NULL);
    for (int64_t i = 0; i < x0.size; i++) in[0].data[i] = x0.data[i] - h * dir->data[i];
    if (ok && !eval(c, f, in, &fm, NULL)) {
      tensor_free(&fp);
      ok = false;
    }
    if (!ok) {
      if (k) tensor_free(&d[0]);
      break;
    }
    for (int64_t i = 0; i < fp.size; i++) fp.data[i] = (fp.data[i] - fm.data[i]) / (2 * h);
    tensor_free(&fm);
    d[k] = fp;
  }
  memcpy(in[0].data, x0.data, sizeof(double) * (size_t)x0.size);
  tensor_free(&x0);
  if (!ok) return false;
  for (int64_t i = 0; i < d[0].size; i++) d[1].data[i] = (4 * d[1].data[i] - d[0].data[i]) / 3;
  tensor_free(&d[0]);
  *out = d[1];
  return true;
}

/* ---- reporting ---- */

static void vfail(Ctx *c, const char *where, const char *fmt, va_list ap) {
  printf("FAIL %s: %s: ", c->file, where);
  vprintf(fmt, ap);
  putchar('\n');
  c->failures++;
}

__attribute__((format(printf, 3, 4))) static void fail(Ctx *c, const char *where, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(c, where, fmt, ap);
  va_end(ap);
}

/* got against want, entry by entry; `scale` adds to the floor (the size of
 * what was differenced, whose rounding the differences carry). */
static double compare_quiet(Ctx *c, const char *where, const char *what, const char *got_name, const Tensor *got,
                            const char *want_name, const Tensor *want, double scale, double tol, bool quiet) {
  c->checks++;
  if (!same_shape(got, want)) {
    fail(c, where, "%s: %s has %lld entries, %s %lld", what, got_name, (long long)got->size, want_name,
         (long long)want->size);
    return INFINITY;
  }
  double floor = FLOOR * fmax(1, fmax(scale, fmax(max_abs(got), max_abs(want))));
  double worst = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < got->size; i++) {
    double a = got->data[i], b = want->data[i];
    double e = isfinite(a) && isfinite(b) ? fabs(a - b) / fmax(fmax(fabs(a), fabs(b)), floor) : INFINITY;
    if (e > worst) worst = e, at = i;
  }
  if (worst <= tol) {
    if (!quiet) printf("ok   %s: %s: %s: worst relative error %.1e (tol %.0e)\n", c->file, where, what, worst, tol);
    return worst;
  }
  char idx[128];
  print_index(idx, sizeof idx, got, at);
  fail(c, where, "%s: at %s %s = %.12g, %s = %.12g, relative error %.1e > %.0e", what, idx, got_name, got->data[at],
       want_name, want->data[at], worst, tol);
  return worst;
}

static void compare(Ctx *c, const char *where, const char *what, const char *got_name, const Tensor *got,
                    const char *want_name, const Tensor *want, double scale, double tol) {
  compare_quiet(c, where, what, got_name, got, want_name, want, scale, tol, false);
}

/* ---- one group ---- */

static bool types_equal(const IrFunc *a, const IrFunc *b, int n) {
  for (int i = 0; i < n; i++)
    if (!ir_type_equal(&a->input_types[i], &b->input_types[i])) return false;
  return true;
}

/* Is each wrapper's signature what the convention says? */
static bool group_valid(Ctx *c, const Group *g) {
  const IrFunc *val = g->fn[W_VALUE].f;
  char where[256];
  snprintf(where, sizeof where, "group %s", g->name);
  if (!g->present[W_VALUE]) {
    fail(c, where, "no fn value_%s: the derivatives have nothing to be checked against", g->name);
    return false;
  }
  if (!g->present[W_GRAD]) {
    fail(c, where, "no fn grad_%s: hvp and hessian are checked against differences of it", g->name);
    return false;
  }
  if (val->ninputs < 1 || val->nresults != 1 || val->v[val->results[0]].ty.rank != 0) {
    fail(c, where, "value_%s must take x first and return one scalar", g->name);
    return false;
  }
  const IrType *xt = &val->input_types[0];
  if (xt->dt != DT_F64) {
    fail(c, where, "x of value_%s must be f64, not %s", g->name, dtype_name(xt->dt));
    return false;
  }
  if ((g->present[W_EXP_HVP] && !g->present[W_HVP]) || (g->present[W_EXP_HESSIAN] && !g->present[W_HESSIAN])) {
    fail(c, where, "an expect_ function without the wrapper it describes");
    return false;
  }
  int n = val->ninputs;
  for (int k = W_GRAD; k < W_COUNT; k++) {
    if (!g->present[k]) continue;
    const IrFunc *f = g->fn[k].f;
    bool hvp = k == W_HVP || k == W_EXP_HVP, hess = k == W_HESSIAN || k == W_EXP_HESSIAN;
    bool ok = f->ninputs == n + hvp && types_equal(f, val, n) && f->nresults == 1;
    if (ok && hvp) ok = ir_type_equal(&f->input_types[n], xt);
    if (ok) {
      const IrType *rt = &f->v[f->results[0]].ty;
      if (!hess) ok = ir_type_equal(rt, xt);
      else if (xt->rank == 0) ok = rt->rank == 0;
      else ok = xt->rank == 1 && rt->rank == 2 && rt->dt == DT_F64;
    }
    if (!ok) {
      fail(c, where, "%s does not have the signature of its kind (x, the inputs of value_%s%s) -> %s", g->fn[k].name,
           g->name, hvp ? ", v" : "", hess ? "the Hessian" : "x's type");
      return false;
    }
  }
  return true;
}

static void check_group(Ctx *c, const Group *g) {
  if (!group_valid(c, g)) return;
  const IrFunc *val = g->fn[W_VALUE].f;
  int n = val->ninputs;
  const IrType *xt = &val->input_types[0];
  Tensor *in = calloc((size_t)n + 2, sizeof(Tensor)); /* x, e..., v */
  for (int i = 0; i < n; i++) in[i] = tensor_of(c, &val->input_types[i]);
  in[n] = tensor_of(c, xt);
  Tensor u = tensor_of(c, xt), dir = tensor_of(c, xt);
  int64_t d = in[0].size;
  for (int p = 1; p <= POINTS; p++) {
    char where[256];
    snprintf(where, sizeof where, "%s point %d", g->name, p);
    /* a point where value_N is finite and away from kinks */
    double margin = 0;
    Tensor f0 = {0};
    bool found = false;
    for (int tries = 0; tries < 50 && !found; tries++) {
      for (int i = 0; i < c->nparams; i++)
        draw(&c->rng, &c->params[i], c->params[i].rank >= 2 ? 1 / sqrt((double)c->params[i].dims[c->params[i].rank - 2]) : 0.5);
      for (int i = 0; i <= n; i++) draw(&c->rng, &in[i], 1);
      if (!eval(c, val, in, &f0, &margin)) {
        fail(c, where, "value_%s cannot be evaluated: %s", g->name, c->err);
        break;
      }
      found = isfinite(f0.data[0]) && margin > 1e-2;
      if (!found) tensor_free(&f0);
    }
    if (!found) {
      if (!c->err[0]) fail(c, where, "no point found where value_%s is finite and away from kinks", g->name);
      break;
    }
    double fscale = fabs(f0.data[0]);
    tensor_free(&f0);

    /* grad against differences of value */
    Tensor gx, fd;
    if (!eval(c, g->fn[W_GRAD].f, in, &gx, NULL)) {
      fail(c, where, "grad_%s cannot be evaluated: %s", g->name, c->err);
      break;
    }
    Tensor fdg = tensor_of(c, xt);
    bool ok = true;
    for (int64_t j = 0; j < d && ok; j++) {
      memset(dir.data, 0, sizeof(double) * (size_t)d);
      dir.data[j] = 1;
      ok = diff_along(c, val, in, &dir, &fd);
      if (ok) fdg.data[j] = fd.data[0], tensor_free(&fd);
    }
    char what[256];
    snprintf(what, sizeof what, "grad_%s against differences of value_%s", g->name, g->name);
    if (ok) compare(c, where, what, "grad", &gx, "differences", &fdg, fscale, TOL_FD);
    else fail(c, where, "value_%s cannot be evaluated near the point: %s", g->name, c->err);
    tensor_free(&fdg);
    double gscale = max_abs(&gx);
    if (g->present[W_EXP_GRAD]) {
      Tensor e;
      if (eval(c, g->fn[W_EXP_GRAD].f, in, &e, NULL)) {
        snprintf(what, sizeof what, "grad_%s against expect_grad_%s", g->name, g->name);
        compare(c, where, what, "grad", &gx, "expected", &e, 0, TOL_EXACT);
        tensor_free(&e);
      } else {
        fail(c, where, "expect_grad_%s cannot be evaluated: %s", g->name, c->err);
      }
    }
    tensor_free(&gx);

    /* hvp against differences of grad along v, and its symmetry */
    if (g->present[W_HVP]) {
      Tensor hv, hu, fdh, e;
      const IrFunc *hvp = g->fn[W_HVP].f;
      if (!eval(c, hvp, in, &hv, NULL)) {
        fail(c, where, "hvp_%s cannot be evaluated: %s", g->name, c->err);
        break;
      }
      snprintf(what, sizeof what, "hvp_%s against differences of grad_%s along v", g->name, g->name);
      if (diff_along(c, g->fn[W_GRAD].f, in, &in[n], &fdh)) {
        compare(c, where, what, "hvp", &hv, "differences", &fdh, gscale * max_abs(&in[n]), TOL_FD);
        tensor_free(&fdh);
      } else {
        fail(c, where, "grad_%s cannot be evaluated near the point: %s", g->name, c->err);
      }
      if (g->present[W_EXP_HVP]) {
        if (eval(c, g->fn[W_EXP_HVP].f, in, &e, NULL)) {
          snprintf(what, sizeof what, "hvp_%s against expect_hvp_%s", g->name, g->name);
          compare(c, where, what, "hvp", &hv, "expected", &e, 0, TOL_EXACT);
          tensor_free(&e);
        } else {
          fail(c, where, "expect_hvp_%s cannot be evaluated: %s", g->name, c->err);
        }
      }
      /* u.Hv = v.Hu for another random u */
      Tensor v = in[n];
      draw(&c->rng, &u, 1);
      in[n] = u;
      bool okh = eval(c, hvp, in, &hu, NULL);
      in[n] = v;
      if (okh) {
        double uhv = 0, vhu = 0, s = 0;
        for (int64_t i = 0; i < d; i++) {
          uhv += u.data[i] * hv.data[i];
          vhu += v.data[i] * hu.data[i];
          s = fmax(s, fabs(u.data[i] * hv.data[i]) + fabs(v.data[i] * hu.data[i]));
        }
        Tensor a = tensor_new(DT_F64, 0, NULL), b = tensor_new(DT_F64, 0, NULL);
        a.data[0] = uhv, b.data[0] = vhu;
        snprintf(what, sizeof what, "symmetry of hvp_%s: u.(H v) against v.(H u)", g->name);
        compare(c, where, what, "u.Hv", &a, "v.Hu", &b, (double)d * s, TOL_EXACT);
        tensor_free(&a), tensor_free(&b);
        tensor_free(&hu);
      } else {
        fail(c, where, "hvp_%s cannot be evaluated: %s", g->name, c->err);
      }
      tensor_free(&hv);
    }

    /* hessian: differences of grad along each e_j; rows against hvp(e_i); symmetric */
    if (g->present[W_HESSIAN]) {
      Tensor H, e;
      if (!eval(c, g->fn[W_HESSIAN].f, in, &H, NULL)) {
        fail(c, where, "hessian_%s cannot be evaluated: %s", g->name, c->err);
        break;
      }
      if (H.size != d * d) {
        fail(c, where, "hessian_%s has %lld entries, not %lld", g->name, (long long)H.size, (long long)(d * d));
        tensor_free(&H);
        break;
      }
      Tensor fdH = tensor_new(DT_F64, H.rank, H.dims), rows = tensor_new(DT_F64, H.rank, H.dims);
      Tensor HT = tensor_new(DT_F64, H.rank, H.dims);
      bool okd = true, okr = true;
      Tensor v = in[n];
      for (int64_t j = 0; j < d; j++) {
        memset(dir.data, 0, sizeof(double) * (size_t)d);
        dir.data[j] = 1;
        Tensor col, row;
        if (okd && diff_along(c, g->fn[W_GRAD].f, in, &dir, &col)) {
          for (int64_t i = 0; i < d; i++) fdH.data[i * d + j] = col.data[i];
          tensor_free(&col);
        } else if (okd) {
          okd = false;
          fail(c, where, "grad_%s cannot be evaluated near the point: %s", g->name, c->err);
        }
        if (g->present[W_HVP] && okr) {
          in[n] = dir;
          okr = eval(c, g->fn[W_HVP].f, in, &row, NULL);
          in[n] = v;
          if (okr) {
            for (int64_t i = 0; i < d; i++) rows.data[j * d + i] = row.data[i];
            tensor_free(&row);
          } else {
            fail(c, where, "hvp_%s cannot be evaluated: %s", g->name, c->err);
          }
        }
        for (int64_t i = 0; i < d; i++) HT.data[i * d + j] = H.data[j * d + i];
      }
      snprintf(what, sizeof what, "hessian_%s against differences of grad_%s along each e_j", g->name, g->name);
      if (okd) compare(c, where, what, "hessian", &H, "differences", &fdH, gscale, TOL_FD);
      if (g->present[W_HVP] && okr) {
        snprintf(what, sizeof what, "hessian_%s rows against hvp_%s(x, e_i)%s", g->name, g->name,
                 d == 1 && xt->rank == 0 ? " (scalar x: e = 1)" : "");
        compare(c, where, what, "hessian", &H, "hvp", &rows, 0, TOL_EXACT);
      }
      if (d > 1) {
        snprintf(what, sizeof what, "hessian_%s symmetric", g->name);
        compare(c, where, what, "H", &H, "H^T", &HT, 0, TOL_EXACT);
      }
      if (g->present[W_EXP_HESSIAN]) {
        if (eval(c, g->fn[W_EXP_HESSIAN].f, in, &e, NULL)) {
          snprintf(what, sizeof what, "hessian_%s against expect_hessian_%s", g->name, g->name);
          compare(c, where, what, "hessian", &H, "expected", &e, 0, TOL_EXACT);
          tensor_free(&e);
        } else {
          fail(c, where, "expect_hessian_%s cannot be evaluated: %s", g->name, c->err);
        }
      }
      tensor_free(&fdH), tensor_free(&rows), tensor_free(&HT), tensor_free(&H);
    }

    /* simplify must not change any wrapper's value (one line for all) */
    int nsimp = 0, failures = c->failures;
    double worst = 0;
    for (int k = 0; k < W_COUNT; k++) {
      if (!g->present[k]) continue;
      Tensor a, b;
      /* in[n] (v) is passed to every wrapper; those without a v ignore it */
      if (!eval(c, g->fn[k].f, in, &a, NULL)) continue; /* reported above */
      if (!eval(c, g->fn[k].simple, in, &b, NULL)) {
        fail(c, where, "%s, simplified, cannot be evaluated: %s", g->fn[k].name, c->err);
        tensor_free(&a);
        continue;
      }
      snprintf(what, sizeof what, "%s simplified against as lowered", g->fn[k].name);
      worst = fmax(worst, compare_quiet(c, where, what, "simplified", &b, "lowered", &a, 0, TOL_EXACT, true));
      c->checks--;
      nsimp++;
      tensor_free(&a), tensor_free(&b);
    }
    c->checks++;
    if (c->failures == failures)
      printf("ok   %s: %s: the %d functions of %s simplified against as lowered: worst relative error %.1e (tol %.0e)\n",
             c->file, where, nsimp, g->name, worst, TOL_EXACT);
  }
  for (int i = 0; i <= n; i++) tensor_free(&in[i]);
  free(in);
  tensor_free(&u), tensor_free(&dir);
}

static void check_pair(Ctx *c, const Pair *pr) {
  char where[256];
  snprintf(where, sizeof where, "identity %s", pr->name);
  if (!pr->has_lhs || !pr->has_rhs) {
    fail(c, where, "lhs_%s and rhs_%s come in pairs; one is missing", pr->name, pr->name);
    return;
  }
  const IrFunc *l = pr->lhs.f, *r = pr->rhs.f;
  if (l->ninputs != r->ninputs || !types_equal(l, r, l->ninputs) || l->nresults != 1 || r->nresults != 1) {
    fail(c, where, "lhs_%s and rhs_%s must have the same inputs and one result each", pr->name, pr->name);
    return;
  }
  Tensor *in = calloc((size_t)l->ninputs + 1, sizeof(Tensor));
  for (int i = 0; i < l->ninputs; i++) in[i] = tensor_of(c, &l->input_types[i]);
  for (int p = 1; p <= POINTS; p++) {
    snprintf(where, sizeof where, "identity %s point %d", pr->name, p);
    for (int i = 0; i < c->nparams; i++)
      draw(&c->rng, &c->params[i], c->params[i].rank >= 2 ? 1 / sqrt((double)c->params[i].dims[c->params[i].rank - 2]) : 0.5);
    for (int i = 0; i < l->ninputs; i++) draw(&c->rng, &in[i], 1);
    Tensor a, b;
    if (!eval(c, l, in, &a, NULL)) {
      fail(c, where, "lhs_%s cannot be evaluated: %s", pr->name, c->err);
      break;
    }
    if (!eval(c, r, in, &b, NULL)) {
      fail(c, where, "rhs_%s cannot be evaluated: %s", pr->name, c->err);
      tensor_free(&a);
      break;
    }
    char what[256];
    snprintf(what, sizeof what, "lhs_%s against rhs_%s", pr->name, pr->name);
    compare(c, where, what, "lhs", &a, "rhs", &b, 0, TOL_EXACT);
    tensor_free(&a), tensor_free(&b);
  }
  for (int i = 0; i < l->ninputs; i++) tensor_free(&in[i]);
  free(in);
}

/* ---- one file ---- */

static void bind_dims(Ctx *c, const IrFunc *f, int64_t *next) {
  for (int i = 0; i < f->ndim_syms; i++) {
    bool bound = false;
    for (int k = 0; k < c->env.n; k++) bound |= strcmp(c->env.syms[k], f->dim_syms[i]) == 0;
    if (!bound) dimenv_bind(&c->env, f->dim_syms[i], (*next)++);
  }
}

static bool lower_fn(Ctx *c, Front *fr, Item *it, SemaOptions so, Fn *out) {
  out->name = it->name;
  out->f = lower_function(&fr->prog, it, &fr->arena, &fr->diags, so);
  out->simple = out->f ? simplify(out->f) : NULL;
  if (!out->f || !out->simple) {
    fflush(stdout);
    diag_flush(&fr->diags, stdout);
    fail(c, it->name, "cannot be lowered to IR (the diagnostics above)");
    return false;
  }
  return true;
}

static int run_file(const char *path, uint64_t seed) {
  SemaOptions so = {.model_float = DT_F64};
  Front fr;
  front_init(&fr, DMLC_STDLIB_DIR);
  Ctx c = {.file = path, .rng = seed};
  if (!front_parse_file(&fr, path) || !front_check(&fr, so)) {
    diag_flush(&fr.diags, stdout);
    printf("FAIL %s: does not check\n", path);
    front_free(&fr);
    return 1;
  }
  Group *groups = calloc((size_t)fr.prog.nitems + 1, sizeof(Group));
  Pair *pairs = calloc((size_t)fr.prog.nitems + 1, sizeof(Pair));
  int ngroups = 0, npairs = 0;
  Item *loss = NULL;
  int64_t next_dim = 4;
  for (int i = 0; i < fr.prog.nitems; i++) {
    Item *it = fr.prog.items[i];
    if (it->from_stdlib) continue;
    if (it->kind == IT_LOSS) loss = it;
    if (it->kind != IT_FN) continue;
    bool is_lhs = strncmp(it->name, "lhs_", 4) == 0, is_rhs = strncmp(it->name, "rhs_", 4) == 0;
    if (is_lhs || is_rhs) {
      const char *name = it->name + 4;
      int k = 0;
      while (k < npairs && strcmp(pairs[k].name, name) != 0) k++;
      if (k == npairs) pairs[npairs++].name = name;
      Fn *slot = is_lhs ? &pairs[k].lhs : &pairs[k].rhs;
      if (!lower_fn(&c, &fr, it, so, slot)) continue;
      bind_dims(&c, slot->f, &next_dim);
      if (is_lhs) pairs[k].has_lhs = true;
      else pairs[k].has_rhs = true;
      continue;
    }
    size_t p = 0;
    while (p < sizeof prefixes / sizeof prefixes[0] &&
           strncmp(it->name, prefixes[p].prefix, strlen(prefixes[p].prefix)) != 0)
      p++;
    if (p == sizeof prefixes / sizeof prefixes[0]) continue; /* f itself, or a helper */
    const char *name = it->name + strlen(prefixes[p].prefix);
    Kind kind = prefixes[p].kind;
    int k = 0;
    while (k < ngroups && strcmp(groups[k].name, name) != 0) k++;
    if (k == ngroups) groups[ngroups++].name = name;
    if (!lower_fn(&c, &fr, it, so, &groups[k].fn[kind])) continue;
    bind_dims(&c, groups[k].fn[kind].f, &next_dim);
    groups[k].present[kind] = true;
  }
  /* the params: every lowered function lists all of the program's */
  IrFunc *any = NULL;
  for (int k = 0; k < ngroups && !any; k++)
    for (int j = 0; j < W_COUNT && !any; j++) any = groups[k].fn[j].f;
  for (int k = 0; k < npairs && !any; k++) any = pairs[k].lhs.f ? pairs[k].lhs.f : pairs[k].rhs.f;
  if (any) {
    c.nparams = any->nparams;
    c.params = calloc((size_t)c.nparams + 1, sizeof(Tensor));
    for (int i = 0; i < c.nparams; i++) c.params[i] = tensor_of(&c, &any->params[i].ty);
  }
  if (!ngroups && !npairs && !loss) fail(&c, "file", "no value_/grad_/hvp_/hessian_ wrappers and no lhs_/rhs_ pairs");
  if (c.env.n) {
    printf("     %s: symbolic dimensions", path);
    for (int i = 0; i < c.env.n; i++) printf("%s %s = %lld", i ? "," : "", c.env.syms[i], (long long)c.env.sizes[i]);
    putchar('\n');
  }
  for (int k = 0; k < ngroups; k++) {
    bool lowered = true;
    for (int j = 0; j < W_COUNT; j++) lowered &= !groups[k].fn[j].name || groups[k].present[j];
    if (lowered) check_group(&c, &groups[k]);
  }
  for (int k = 0; k < npairs; k++)
    if ((!pairs[k].lhs.name || pairs[k].has_lhs) && (!pairs[k].rhs.name || pairs[k].has_rhs)) check_pair(&c, &pairs[k]);
  if (loss) {
    GradcheckOptions go = {.seed = seed, .tolerance = 1e-6, .floor = 1e-3, .max_entries = 50, .hvp = true};
    fflush(stdout);
    int st = gradcheck_run(&fr.prog, loss, &fr.arena, &fr.diags, &go, stdout);
    c.checks++;
    if (st) {
      diag_flush(&fr.diags, stdout);
      fail(&c, "loss", "gradcheck --hvp of the loss (which uses the derivative builtins) failed (status %d)", st);
    } else {
      printf("ok   %s: loss: gradcheck --hvp of the loss\n", path);
    }
  }
  for (int i = 0; i < c.nparams; i++) tensor_free(&c.params[i]);
  free(c.params);
  free(groups);
  free(pairs);
  front_free(&fr);
  printf("%s %s: %d checks, %d failed\n", c.failures ? "FAIL" : "ok  ", path, c.checks, c.failures);
  return c.failures ? 1 : 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* lines printed before a crash stay visible */
  if (argc < 2) {
    fprintf(stderr, "usage: deriv_check FILE.dml...\n");
    return 2;
  }
  int status = 0;
  for (int i = 1; i < argc; i++) status |= run_file(argv[i], SEED);
  return status;
}
