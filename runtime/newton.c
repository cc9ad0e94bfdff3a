/* newton.c - second-order minimisation over the full batch: Newton's
 * method with the full Hessian (built column by column from Hessian-vector
 * products, Cholesky solve, Levenberg damping when it is not positive
 * definite), truncated Newton (conjugate gradient on Hessian-vector
 * products) and L-BFGS, all with a backtracking Armijo line search. The
 * caller gives the function as an Objective; everything here is f64. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dml_runtime.h"

bool second_order_by_name(SecondOrder *s, const char *name) {
  static const char *names[] = {"newton", "newton_cg", "lbfgs"};
  for (int i = 0; i < 3; i++) {
    if (strcmp(names[i], name) != 0) continue;
    *s = (SecondOrder){.kind = (SecondOrderKind)i, .damping = 0, .tol = 1e-8, .max_iters = i == 2 ? 500 : 50,
                       .history = 10, .cg_iters = 0};
    return true;
  }
  return false;
}

static double dot(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* Largest step a = 1, 1/2, ... with f(w + a p) <= f(w) + 1e-4 a g.p; w
 * becomes the new point. False if no step decreases f (p is then not a
 * descent direction the function can follow at this precision). */
static bool armijo(const Objective *o, double *w, const double *p, double f0, double gp, double *f1, double *step,
                   double *scratch, bool *ok) {
  int64_t n = o->n;
  *ok = true;
  for (double a = 1; a > 1e-12; a /= 2) {
    for (int64_t i = 0; i < n; i++) scratch[i] = w[i] + a * p[i];
    double f;
    if (!o->value(o->ctx, scratch, &f)) return *ok = false;
    if (isfinite(f) && f <= f0 + 1e-4 * a * gp) {
      memcpy(w, scratch, sizeof(double) * (size_t)n);
      *f1 = f;
      *step = a;
      return true;
    }
  }
  return false;
}

/* Cholesky of the n x n matrix a (lower triangle, in place); false if it
 * is not positive definite. */
static bool cholesky(double *a, int64_t n) {
  for (int64_t j = 0; j < n; j++) {
    double d = a[j * n + j] - dot(&a[j * n], &a[j * n], j);
    if (!(d > 0)) return false;
    d = sqrt(d);
    a[j * n + j] = d;
    for (int64_t i = j + 1; i < n; i++) a[i * n + j] = (a[i * n + j] - dot(&a[i * n], &a[j * n], j)) / d;
  }
  return true;
}

/* Solve L L^T x = b, x in place of b. */
static void cholesky_solve(const double *l, double *b, int64_t n) {
  for (int64_t i = 0; i < n; i++) b[i] = (b[i] - dot(&l[i * n], b, i)) / l[i * n + i];
  for (int64_t i = n - 1; i >= 0; i--) {
    double s = b[i];
    for (int64_t k = i + 1; k < n; k++) s -= l[k * n + i] * b[k];
    b[i] = s / l[i * n + i];
  }
}

/* The Newton direction -(H + lambda I)^-1 g with the smallest lambda >=
 * damping (raised tenfold from 1e-8 of the diagonal's scale) that makes
 * H + lambda I positive definite. */
static bool newton_direction(const Objective *o, const SecondOrder *s, const double *w, const double *g, double *p,
                             double *h, double *l, double *e) {
  int64_t n = o->n;
  for (int64_t j = 0; j < n; j++) { /* column j = H e_j */
    memset(e, 0, sizeof(double) * (size_t)n);
    e[j] = 1;
    if (!o->hvp(o->ctx, w, e, p)) return false;
    for (int64_t i = 0; i < n; i++) h[i * n + j] = p[i];
  }
  for (int64_t i = 0; i < n; i++) /* symmetric up to rounding: use the average */
    for (int64_t j = 0; j < i; j++) h[i * n + j] = h[j * n + i] = 0.5 * (h[i * n + j] + h[j * n + i]);
  double scale = 0;
  for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(h[i * n + i]));
  for (double lambda = s->damping;; lambda = lambda > 0 ? lambda * 10 : 1e-8 * fmax(scale, 1)) {
    memcpy(l, h, sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++) l[i * n + i] += lambda;
    if (cholesky(l, n)) break;
    if (lambda > 1e30) return rt_error("the Hessian cannot be made positive definite");
  }
  for (int64_t i = 0; i < n; i++) p[i] = -g[i];
  cholesky_solve(l, p, n);
  return true;
}

/* Truncated Newton: conjugate gradient on H p = -g, stopped at a relative
 * residual min(0.5, sqrt|g|) or at negative curvature. */
static bool newton_cg_direction(const Objective *o, const SecondOrder *s, const double *w, const double *g, double *p,
                                double *r, double *d, double *hd) {
  int64_t n = o->n;
  double gn = sqrt(dot(g, g, n)), eta = fmin(0.5, sqrt(gn)) * gn;
  memset(p, 0, sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < n; i++) r[i] = -g[i], d[i] = r[i];
  double rr = dot(r, r, n);
  int iters = s->cg_iters > 0 ? s->cg_iters : (int)(n < 200 ? 2 * n : 200);
  for (int k = 0; k < iters && sqrt(rr) > eta; k++) {
    if (!o->hvp(o->ctx, w, d, hd)) return false;
    double dhd = dot(d, hd, n);
    if (dhd <= 1e-12 * dot(d, d, n)) { /* negative curvature: what we have, or steepest descent */
      if (k == 0) memcpy(p, d, sizeof(double) * (size_t)n);
      break;
    }
    double a = rr / dhd;
    for (int64_t i = 0; i < n; i++) p[i] += a * d[i], r[i] -= a * hd[i];
    double rr2 = dot(r, r, n);
    for (int64_t i = 0; i < n; i++) d[i] = r[i] + rr2 / rr * d[i];
    rr = rr2;
  }
  return true;
}

/* L-BFGS two-loop recursion: p = -H_k g from the last m pairs (s, y). */
static void lbfgs_direction(const double *g, double *p, double *const *S, double *const *Y, const double *rho, int m,
                            int newest, int count, int64_t n, double *alpha) {
  for (int64_t i = 0; i < n; i++) p[i] = -g[i];
  for (int c = 0; c < count; c++) {
    int k = (newest - c + m) % m;
    alpha[k] = rho[k] * dot(S[k], p, n);
    for (int64_t i = 0; i < n; i++) p[i] -= alpha[k] * Y[k][i];
  }
  if (count) { /* initial Hessian: s.y / y.y */
    double gamma = dot(S[newest], Y[newest], n) / dot(Y[newest], Y[newest], n);
    for (int64_t i = 0; i < n; i++) p[i] *= gamma;
  }
  for (int c = count - 1; c >= 0; c--) {
    int k = (newest - c + m) % m;
    double beta = rho[k] * dot(Y[k], p, n);
    for (int64_t i = 0; i < n; i++) p[i] += (alpha[k] - beta) * S[k][i];
  }
}

bool second_order_minimize(const Objective *o, const SecondOrder *s, double *w, int *iters, double *gnorm) {
  int64_t n = o->n;
  int m = s->history > 0 ? s->history : 10;
  if (s->kind == SO_NEWTON && n > 4000)
    return rt_error("newton builds the full %lld x %lld Hessian; with this many params use newton_cg or lbfgs",
                    (long long)n, (long long)n);
  if (s->kind != SO_LBFGS && !o->hvp)
    return rt_error("this model has no Hessian-vector product (overlapping or padded max pooling has no forward-mode rule yet); use lbfgs");
  size_t vec = sizeof(double) * (size_t)(n + 1);
  double *g = malloc(vec), *p = malloc(vec), *t1 = malloc(vec), *t2 = malloc(vec), *t3 = malloc(vec),
         *g_old = malloc(vec), *w_old = malloc(vec);
  double *h = s->kind == SO_NEWTON ? malloc(sizeof(double) * (size_t)(n * n + 1)) : NULL;
  double *l = s->kind == SO_NEWTON ? malloc(sizeof(double) * (size_t)(n * n + 1)) : NULL;
  double **S = calloc((size_t)m, sizeof *S), **Y = calloc((size_t)m, sizeof *Y);
  double *rho = calloc((size_t)m, sizeof *rho), *alpha = calloc((size_t)m, sizeof *alpha);
  int newest = m - 1, count = 0;
  double f;
  bool ok = o->value_grad(o->ctx, w, &f, g);
  *iters = 0;
  *gnorm = ok ? sqrt(dot(g, g, n)) : NAN;
  if (ok) ok = o->report(o->ctx, 0, f, *gnorm, 0);
  while (ok && *gnorm > s->tol && *iters < s->max_iters) {
    if (s->kind == SO_NEWTON) ok = newton_direction(o, s, w, g, p, h, l, t1);
    else if (s->kind == SO_NEWTON_CG) ok = newton_cg_direction(o, s, w, g, p, t1, t2, t3);
    else lbfgs_direction(g, p, S, Y, rho, m, newest, count, n, alpha);
    if (!ok) break;
    double gp = dot(g, p, n);
    if (!(gp < 0)) { /* not a descent direction: fall back to steepest descent */
      for (int64_t i = 0; i < n; i++) p[i] = -g[i];
      gp = -dot(g, g, n);
      count = 0;
    }
    memcpy(w_old, w, vec);
    memcpy(g_old, g, vec);
    double f1 = f, step = 0;
    bool eval_ok;
    if (!armijo(o, w, p, f, gp, &f1, &step, t1, &eval_ok)) {
      ok = eval_ok; /* no decrease possible: converged as far as rounding allows */
      break;
    }
    ok = o->value_grad(o->ctx, w, &f, g);
    if (!ok) break;
    ++*iters;
    *gnorm = sqrt(dot(g, g, n));
    if (s->kind == SO_LBFGS) { /* remember the pair when its curvature is positive */
      int k = (newest + 1) % m;
      if (!S[k]) S[k] = malloc(vec), Y[k] = malloc(vec);
      for (int64_t i = 0; i < n; i++) S[k][i] = w[i] - w_old[i], Y[k][i] = g[i] - g_old[i];
      double sy = dot(S[k], Y[k], n);
      if (sy > 1e-12 * sqrt(dot(S[k], S[k], n) * dot(Y[k], Y[k], n))) {
        rho[k] = 1 / sy;
        newest = k;
        count = count < m ? count + 1 : m;
      }
    }
    ok = o->report(o->ctx, *iters, f, *gnorm, step);
  }
  for (int k = 0; k < m; k++) free(S[k]), free(Y[k]);
  free(S), free(Y), free(rho), free(alpha);
  free(g), free(p), free(t1), free(t2), free(t3), free(g_old), free(w_old), free(h), free(l);
  return ok;
}
