/* newton.c - second-order minimisation over the full batch: Newton's
 * method with the full Hessian (built column by column from Hessian-vector
 * products, Cholesky solve, Levenberg damping when it is not positive
 * definite) and truncated Newton (conjugate gradient on Hessian-vector
 * products), both with a backtracking Armijo line search, and L-BFGS
 * with a line search that satisfies the strong Wolfe conditions
 * (bracketing, then safeguarded cubic or quadratic interpolation). With
 * an L1 penalty, L-BFGS becomes OWL-QN (Andrew and Gao, "Scalable training
 * of L1-regularized log-linear models", ICML 2007), whose line search
 * backtracks inside an orthant. The caller gives the function as an
 * Objective; everything here is f64. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dml_runtime.h"

static const char *const names[] = {"newton", "newton_cg", "lbfgs"};

bool second_order_by_name(SecondOrder *s, const char *name) {
  for (int i = 0; i < 3; i++) {
    if (strcmp(names[i], name) != 0) continue;
    *s = (SecondOrder){.kind = (SecondOrderKind)i, .damping = 0, .tol = 1e-8, .ftol = 10 * DBL_EPSILON,
                       .max_iters = i == 2 ? 500 : 50, .history = 10, .cg_iters = 0, .l1 = 0};
    return true;
  }
  return false;
}

const char *second_order_name(SecondOrderKind k) { return names[k]; }

bool second_order_check(const SecondOrder *s, int64_t n) {
  if (s->l1 > 0 && s->kind != SO_LBFGS) /* the penalty's Hessian does not exist at 0, where it matters */
    return rt_error("%s cannot train with `l1` (%g): the L1 penalty is not differentiable at 0; use lbfgs, which "
                    "handles it by OWL-QN, or a first-order optimizer such as sgd",
                    names[s->kind], s->l1);
  if (s->kind == SO_NEWTON && n > 4000)
    return rt_error("newton builds the full %lld x %lld Hessian; with this many params use newton_cg or lbfgs",
                    (long long)n, (long long)n);
  return true;
}

static double dot(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* ---- the L1 penalty (OWL-QN) ---------------------------------------------------- */

static double l1_norm(const double *w, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += fabs(w[i]);
  return s;
}

/* The pseudo-gradient of f + l1 |w|_1: the gradient where |w_i| is
 * differentiable; at w_i = 0 the one-sided derivative that goes downhill,
 * or 0 when neither does (w_i = 0 is then optimal along i). With l1 = 0
 * it is g itself. */
static void pseudo_gradient(const double *w, const double *g, double l1, int64_t n, double *pg) {
  for (int64_t i = 0; i < n; i++) {
    if (w[i] > 0) pg[i] = g[i] + l1;
    else if (w[i] < 0) pg[i] = g[i] - l1;
    else if (g[i] + l1 < 0) pg[i] = g[i] + l1;
    else if (g[i] - l1 > 0) pg[i] = g[i] - l1;
    else pg[i] = 0 * g[i]; /* 0, or NaN: a gradient that is not a number stays visible */
  }
}

/* The quasi-Newton direction only counts where it agrees in sign with
 * -pg: elsewhere it would climb the penalty. */
static void constrain_direction(double *p, const double *pg, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (p[i] * pg[i] >= 0) p[i] = 0;
}

/* The orthant the step explores: the sign of w_i, or for w_i = 0 the
 * sign of the way down, -pg_i. */
static void choose_orthant(const double *w, const double *pg, int64_t n, double *xi) {
  for (int64_t i = 0; i < n; i++) {
    double v = w[i] != 0 ? w[i] : -pg[i];
    xi[i] = v > 0 ? 1 : v < 0 ? -1 : 0;
  }
}

/* A trial point back into the orthant: components that crossed zero (or
 * left it, for xi_i = 0) become exactly 0, which is how weights reach 0. */
static void project_orthant(double *w, const double *xi, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (w[i] * xi[i] <= 0) w[i] = 0;
}

/* ---- the backtracking line search (newton, newton_cg, OWL-QN) --------------------- */

/* Where the line search starts: the objective F = f + l1 |w|_1 is f0 at
 * w, pg is its pseudo-gradient there (the gradient when l1 = 0) and gp =
 * pg.p the slope along p; with l1 > 0 the trial points stay in the
 * orthant xi. a0 is the first step tried. */
typedef struct LineSearch {
  double l1, f0, gp, a0;
  const double *pg, *xi;
} LineSearch;

/* Largest step a = a0, a0/2, ... (40 of them) with F(w + a p) <= F(w) +
 * 1e-4 pg.(w_a - w), w_a the trial point (a p without a penalty, so the
 * usual Armijo rule); w becomes the new point. False if no step decreases
 * F (p is then not a descent direction the function can follow at this
 * precision). Newton's step has its own scale, so a step of 1 is right
 * near the minimum; OWL-QN backtracks as Andrew and Gao's algorithm does,
 * since a projected path has kinks where the Wolfe curvature condition
 * need not hold at any step. */
static bool armijo(const Objective *o, const LineSearch *ls, double *w, const double *p, double *f1, double *step,
                   double *scratch, bool *ok) {
  int64_t n = o->n;
  *ok = true;
  double a = ls->a0;
  for (int k = 0; k < 40; k++, a /= 2) {
    for (int64_t i = 0; i < n; i++) scratch[i] = w[i] + a * p[i];
    double slope = a * ls->gp;
    if (ls->l1 > 0) { /* the projection may shorten the step: the decrease asked for follows it */
      project_orthant(scratch, ls->xi, n);
      slope = 0;
      for (int64_t i = 0; i < n; i++) slope += ls->pg[i] * (scratch[i] - w[i]);
    }
    double f;
    if (!o->value(o->ctx, scratch, &f)) return *ok = false;
    if (ls->l1 > 0) f += ls->l1 * l1_norm(scratch, n);
    if (slope < 0 && isfinite(f) && f <= ls->f0 + 1e-4 * slope) {
      memcpy(w, scratch, sizeof(double) * (size_t)n);
      *f1 = f;
      *step = a;
      return true;
    }
  }
  return false;
}

/* ---- the strong Wolfe line search (lbfgs without a penalty) ------------------------ */

/* Along the line w + a p, phi(a) = f(w + a p) and phi'(a) = g(w + a p).p.
 * The sufficient decrease constant c1 = 1e-4 is the usual one (Nocedal
 * and Wright, section 3.1; libLBFGS; SciPy). The curvature constant is
 * 0.5 where those codes take 0.9, which accepts a step that has gone a
 * tenth of the way to the minimum along the line: on a badly conditioned
 * problem L-BFGS's unit steps fall short of that minimum by a factor of
 * 1.5 to 2.5 at every iteration, and least squares on the raw diabetes
 * data (a Hessian with condition number 5e7) was still 7e-8 above its
 * optimum after 500 iterations with 0.9 (PyTorch's strong Wolfe L-BFGS
 * needs 791 to come within 1e-12); with 0.5 it converges in 27. On
 * well-conditioned models 0.5 costs about a fifth more evaluations. Any
 * c2 < 1 keeps s.y > 0, so every step updates the L-BFGS history. */
enum { LINE_MAX_EVALS = 40 };
static const double line_c1 = 1e-4, line_c2 = 0.5;

/* A step tried: a, phi(a), and phi'(a) (NAN until the gradient is asked for). */
typedef struct LinePoint {
  double a, f, d;
} LinePoint;

typedef struct Line {
  const Objective *o;
  const double *w, *p;
  int64_t n;
  double f0, d0;       /* phi(0), phi'(0) < 0 */
  double *x, *gx;      /* the trial point and its gradient */
  double *x_lo, *g_lo; /* the best step so far (once it is not 0) */
  int evals;
} Line;

/* phi(a) alone: a step that fails the sufficient decrease test needs no
 * gradient. A loss that is not finite (overflow far along the line) is
 * a step too long, not an error. */
static bool line_value(Line *l, double a, LinePoint *t) {
  for (int64_t i = 0; i < l->n; i++) l->x[i] = l->w[i] + a * l->p[i];
  l->evals++;
  *t = (LinePoint){.a = a, .f = NAN, .d = NAN};
  if (!l->o->value(l->o->ctx, l->x, &t->f)) return false;
  if (!isfinite(t->f)) t->f = INFINITY;
  return true;
}

/* phi'(a) at the point line_value left in x, and phi(a) again as the
 * gradient's code computes it (the loss alone may round differently). */
static bool line_slope(Line *l, LinePoint *t) {
  if (!l->o->value_grad(l->o->ctx, l->x, &t->f, l->gx)) return false;
  t->d = dot(l->gx, l->p, l->n);
  return true;
}

/* f falls by at least c1 times what the slope at 0 promises, and below
 * the best step found (the zoom's lo). */
static bool decreases(const Line *l, const LinePoint *t, const LinePoint *lo) {
  return t->f <= l->f0 + line_c1 * t->a * l->d0 && t->f < lo->f;
}

static bool flat_enough(const Line *l, const LinePoint *t) { return fabs(t->d) <= -line_c2 * l->d0; }

/* t becomes the best step: its point and gradient move to the lo buffers. */
static void keep_best(Line *l, LinePoint *lo, const LinePoint *t) {
  double *x = l->x_lo, *g = l->g_lo;
  l->x_lo = l->x, l->g_lo = l->gx, l->x = x, l->gx = g;
  *lo = *t;
}

/* The minimiser of the cubic through (a, fa) and (b, fb) with slopes da
 * and db (Nocedal and Wright, eq. 3.59); NAN when it has none. */
static double cubic_minimizer(const LinePoint *a, const LinePoint *b) {
  double theta = a->d + b->d - 3 * (a->f - b->f) / (a->a - b->a);
  double disc = theta * theta - a->d * b->d;
  if (!(disc >= 0)) return NAN;
  double gamma = copysign(sqrt(disc), b->a - a->a);
  double den = b->d - a->d + 2 * gamma;
  return den != 0 ? b->a - (b->a - a->a) * (b->d + gamma - theta) / den : NAN;
}

/* The minimiser of the parabola through (a, fa) with slope da and (b, fb); NAN when it opens downwards. */
static double quadratic_minimizer(const LinePoint *a, const LinePoint *b) {
  double h = b->a - a->a, curv = b->f - a->f - a->d * h;
  return curv > 0 ? a->a - a->d * h * h / (2 * curv) : NAN;
}

/* A trial step inside the bracket between lo and hi: the interpolant's
 * minimiser (cubic where hi's slope is known, else quadratic), kept a
 * thousandth of the width away from either end, or the midpoint when
 * there is no interpolant or the last two steps did not shrink the
 * bracket by a third (More and Thuente's safeguard, which makes the
 * width fall geometrically whatever the interpolants do). */
static double zoom_trial(const LinePoint *lo, const LinePoint *hi, bool slow) {
  double mid = lo->a + 0.5 * (hi->a - lo->a);
  if (slow || !isfinite(hi->f)) return mid;
  double a = isfinite(hi->d) ? cubic_minimizer(lo, hi) : NAN;
  if (!isfinite(a)) a = quadratic_minimizer(lo, hi);
  double left = fmin(lo->a, hi->a), right = fmax(lo->a, hi->a), margin = 1e-3 * (right - left);
  if (!(a > left && a < right)) return mid;
  return fmin(fmax(a, left + margin), right - margin);
}

/* Nocedal and Wright's Algorithm 3.6: between lo (sufficient decrease,
 * the lowest f so far, phi'(lo) pointing towards hi) and hi, a step that
 * satisfies the strong Wolfe conditions. */
static LineStatus zoom(Line *l, LinePoint lo, LinePoint hi, LinePoint *best) {
  double width1 = fabs(hi.a - lo.a), width2 = 2 * width1; /* the bracket's width one and two trials ago */
  bool slow = false;
  while (l->evals < LINE_MAX_EVALS) {
    double a = zoom_trial(&lo, &hi, slow);
    if (a == lo.a || a == hi.a) break; /* the bracket is down to rounding */
    LinePoint t;
    if (!line_value(l, a, &t)) return LINE_ERROR;
    if (decreases(l, &t, &lo) && !line_slope(l, &t)) return LINE_ERROR;
    if (!decreases(l, &t, &lo)) hi = t;
    else if (flat_enough(l, &t)) {
      keep_best(l, &lo, &t);
      break;
    } else {
      if (t.d * (hi.a - lo.a) >= 0) hi = lo;
      keep_best(l, &lo, &t);
    }
    double width = fabs(hi.a - lo.a);
    slow = width > 0.66 * width2;
    width2 = width1, width1 = width;
  }
  *best = lo;
  return lo.a == 0 ? LINE_NONE : flat_enough(l, &lo) ? LINE_WOLFE : LINE_DECREASE;
}

/* The next trial while no bracket is known: beyond cur, where the cubic
 * through prev and cur has its minimum, at least 1.1 and at most 4 times
 * the last stride further (More and Thuente's extrapolation bounds). */
static double extrapolate(const LinePoint *prev, const LinePoint *cur) {
  double stride = cur->a - prev->a, a = cubic_minimizer(prev, cur);
  double lower = cur->a + 1.1 * stride, upper = cur->a + 4 * stride;
  return isfinite(a) ? fmin(fmax(a, lower), upper) : upper;
}

/* Nocedal and Wright's Algorithm 3.5: longer steps from a0 until one
 * satisfies the strong Wolfe conditions or brackets such steps, which
 * zoom() then narrows down. */
static LineStatus bracket(Line *l, double a0, LinePoint *best) {
  LinePoint lo = {.a = 0, .f = l->f0, .d = l->d0}, before = lo;
  for (double a = a0; l->evals < LINE_MAX_EVALS && isfinite(a); a = extrapolate(&before, &lo)) {
    LinePoint t;
    if (!line_value(l, a, &t)) return LINE_ERROR;
    if (decreases(l, &t, &lo) && !line_slope(l, &t)) return LINE_ERROR;
    if (!decreases(l, &t, &lo)) return zoom(l, lo, t, best); /* too far: the minimum is behind t */
    before = lo;
    keep_best(l, &lo, &t);
    if (flat_enough(l, &lo)) break;
    if (lo.d >= 0) return zoom(l, lo, before, best); /* past the minimum along the line */
  }
  *best = lo;
  return lo.a == 0 ? LINE_NONE : flat_enough(l, &lo) ? LINE_WOLFE : LINE_DECREASE;
}

LineStatus line_search_wolfe(const Objective *o, double *w, double *f, double *g, const double *p, double a0,
                             double *work, double *step) {
  int64_t n = o->n;
  Line l = {.o = o, .w = w, .p = p, .n = n, .f0 = *f, .d0 = dot(g, p, n), .x = work, .gx = work + n,
            .x_lo = work + 2 * n, .g_lo = work + 3 * n};
  if (!(l.d0 < 0)) return LINE_NONE;
  LinePoint best;
  LineStatus st = bracket(&l, a0, &best);
  if (st == LINE_WOLFE || st == LINE_DECREASE) {
    memcpy(w, l.x_lo, sizeof(double) * (size_t)n);
    memcpy(g, l.g_lo, sizeof(double) * (size_t)n);
    *f = best.f;
    *step = best.a;
  }
  return st;
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

/* L-BFGS's memory: the last m pairs s = w_new - w_old, y = g_new - g_old
 * (the smooth gradient's change, also under OWL-QN), in a ring. */
typedef struct History {
  int m, newest, count;
  double **S, **Y, *rho; /* rho = 1 / s.y */
  double *alpha;         /* the two-loop recursion's scratch */
} History;

static void history_init(History *h, int m) {
  *h = (History){.m = m, .newest = m - 1, .count = 0};
  h->S = calloc((size_t)m, sizeof *h->S), h->Y = calloc((size_t)m, sizeof *h->Y);
  h->rho = calloc((size_t)m, sizeof *h->rho), h->alpha = calloc((size_t)m, sizeof *h->alpha);
}

static void history_free(History *h) {
  for (int k = 0; k < h->m; k++) free(h->S[k]), free(h->Y[k]);
  free(h->S), free(h->Y), free(h->rho), free(h->alpha);
}

/* Remember the step when its curvature s.y is positive: otherwise the
 * approximation would stop being positive definite. The pair is written
 * into the ring only once it is kept: a full ring's next slot still holds
 * the oldest pair in use. */
static void history_add(History *h, const double *w, const double *w_old, const double *g, const double *g_old,
                        int64_t n) {
  double sy = 0, ss = 0, yy = 0;
  for (int64_t i = 0; i < n; i++) {
    double si = w[i] - w_old[i], yi = g[i] - g_old[i];
    sy += si * yi, ss += si * si, yy += yi * yi;
  }
  if (!(sy > 1e-12 * sqrt(ss * yy))) return;
  int k = (h->newest + 1) % h->m;
  size_t vec = sizeof(double) * (size_t)(n + 1);
  if (!h->S[k]) h->S[k] = malloc(vec), h->Y[k] = malloc(vec);
  for (int64_t i = 0; i < n; i++) h->S[k][i] = w[i] - w_old[i], h->Y[k][i] = g[i] - g_old[i];
  h->rho[k] = 1 / sy;
  h->newest = k;
  h->count = h->count < h->m ? h->count + 1 : h->m;
}

/* L-BFGS two-loop recursion: p = -H_k g from the remembered pairs. */
static void lbfgs_direction(const History *h, const double *g, double *p, int64_t n) {
  int m = h->m, newest = h->newest;
  for (int64_t i = 0; i < n; i++) p[i] = -g[i];
  for (int c = 0; c < h->count; c++) {
    int k = (newest - c + m) % m;
    h->alpha[k] = h->rho[k] * dot(h->S[k], p, n);
    for (int64_t i = 0; i < n; i++) p[i] -= h->alpha[k] * h->Y[k][i];
  }
  if (h->count) { /* initial Hessian: s.y / y.y */
    double gamma = dot(h->S[newest], h->Y[newest], n) / dot(h->Y[newest], h->Y[newest], n);
    for (int64_t i = 0; i < n; i++) p[i] *= gamma;
  }
  for (int c = h->count - 1; c >= 0; c--) {
    int k = (newest - c + m) % m;
    double beta = h->rho[k] * dot(h->Y[k], p, n);
    for (int64_t i = 0; i < n; i++) p[i] += (h->alpha[k] - beta) * h->S[k][i];
  }
}

/* The objective F = f + l1 |w|_1 and its pseudo-gradient pg at w, from
 * the loss f and its gradient g there; returns |pg|, which is 0 exactly
 * at a minimum (the gradient norm when l1 = 0). */
static double measure(const double *w, double f, const double *g, double l1, int64_t n, double *F, double *pg) {
  *F = l1 > 0 ? f + l1 * l1_norm(w, n) : f;
  pseudo_gradient(w, g, l1, n, pg);
  return sqrt(dot(pg, pg, n));
}

/* The stopping rules follow established L-BFGS codes: the gradient test
 * scales with the point, ||g|| <= tol * max(1, ||w||), as libLBFGS's
 * `epsilon` does, and the loss test is relative, (f_k - f_k+1) /
 * max(|f_k|, |f_k+1|, 1) <= ftol, as SciPy's L-BFGS-B `ftol` (`factr`
 * times the machine epsilon) is. A loss that stopped changing has reached
 * what f64 can resolve: without the second test an optimizer with a
 * gradient a rounding error above an absolute tolerance took steps of
 * 1e-9 until max_iters. */
static bool gradient_converged(const SecondOrder *s, const double *w, int64_t n, SecondOrderResult *r) {
  r->gtol = s->tol * fmax(1, sqrt(dot(w, w, n)));
  return r->gnorm <= r->gtol;
}

/* The strong Wolfe search serves lbfgs without a penalty; newton,
 * newton_cg and OWL-QN backtrack. */
static bool wolfe_search(const SecondOrder *s) { return s->kind == SO_LBFGS && !(s->l1 > 0); }

/* The first step the line search tries. Newton's direction and an
 * L-BFGS direction scaled by s.y / y.y (the initial Hessian of the
 * two-loop recursion) have the right length, so 1. A direction with no
 * history behind it is the gradient itself, whose length says nothing:
 * the Wolfe search starts with a step that moves w by 1, as libLBFGS
 * does, and grows or shrinks it from there. Backtracking only shrinks,
 * so OWL-QN starts at 1 and halves, as Andrew and Gao's algorithm does. */
static double first_step(const SecondOrder *s, const History *h, const double *p, int64_t n) {
  return wolfe_search(s) && h->count == 0 ? 1 / sqrt(dot(p, p, n)) : 1;
}

/* Along p from w, where the loss is f, its gradient g and ls holds the
 * objective F: w, f and g move to the point the line search takes.
 * False when no step decreases the objective, or on an evaluation error
 * (*ok false). */
static bool line_step(const Objective *o, const SecondOrder *s, const LineSearch *ls, double *w, double *f, double *g,
                      const double *p, double *work, double *step, bool *ok) {
  *ok = true;
  if (wolfe_search(s)) {
    LineStatus st = line_search_wolfe(o, w, f, g, p, ls->a0, work, step);
    *ok = st != LINE_ERROR;
    return st == LINE_WOLFE || st == LINE_DECREASE;
  }
  double F1;
  if (!armijo(o, ls, w, p, &F1, step, work, ok)) return false;
  return *ok = o->value_grad(o->ctx, w, f, g);
}

bool second_order_minimize(const Objective *o, const SecondOrder *s, double *w, SecondOrderResult *r) {
  int64_t n = o->n;
  *r = (SecondOrderResult){.stop = SO_MAX_ITERS, .iters = 0, .gnorm = NAN, .gtol = s->tol, .change = NAN};
  if (!second_order_check(s, n)) return false;
  if (s->kind != SO_LBFGS && !o->hvp)
    return rt_error("this model has no Hessian-vector product (it was built without loss_hvp); use lbfgs");
  size_t vec = sizeof(double) * (size_t)(n + 1);
  double *g = malloc(vec), *pg = malloc(vec), *p = malloc(vec), *xi = malloc(vec), *t1 = malloc(vec),
         *t2 = malloc(vec), *t3 = malloc(vec), *g_old = malloc(vec), *w_old = malloc(vec);
  double *work = malloc(4 * vec); /* the line search's */
  double *h = s->kind == SO_NEWTON ? malloc(sizeof(double) * (size_t)(n * n + 1)) : NULL;
  double *l = s->kind == SO_NEWTON ? malloc(sizeof(double) * (size_t)(n * n + 1)) : NULL;
  History hist;
  history_init(&hist, s->history > 0 ? s->history : 10);
  double f, F; /* the loss, and the objective with the penalty */
  bool ok = o->value_grad(o->ctx, w, &f, g);
  if (ok) r->gnorm = measure(w, f, g, s->l1, n, &F, pg);
  if (ok) ok = o->report(o->ctx, 0, F, r->gnorm, 0);
  if (ok && gradient_converged(s, w, n, r)) r->stop = SO_GRADIENT;
  while (ok && r->stop == SO_MAX_ITERS && r->iters < s->max_iters) {
    /* newton and newton_cg run without a penalty (second_order_check), so there pg = g */
    if (s->kind == SO_NEWTON) ok = newton_direction(o, s, w, g, p, h, l, t1);
    else if (s->kind == SO_NEWTON_CG) ok = newton_cg_direction(o, s, w, g, p, t1, t2, t3);
    else lbfgs_direction(&hist, pg, p, n);
    if (!ok) break;
    if (s->l1 > 0) constrain_direction(p, pg, n);
    double gp = dot(pg, p, n);
    if (!(gp < 0)) { /* not a descent direction: fall back to steepest descent */
      for (int64_t i = 0; i < n; i++) p[i] = -pg[i];
      gp = -dot(pg, pg, n);
      hist.count = 0;
    }
    if (s->l1 > 0) choose_orthant(w, pg, n, xi);
    LineSearch ls = {.l1 = s->l1, .f0 = F, .gp = gp, .a0 = first_step(s, &hist, p, n), .pg = pg, .xi = xi};
    memcpy(w_old, w, sizeof(double) * (size_t)n); /* n, not vec: the caller's w holds n values */
    memcpy(g_old, g, sizeof(double) * (size_t)n);
    double step = 0;
    if (!line_step(o, s, &ls, w, &f, g, p, work, &step, &ok)) {
      if (ok) r->stop = SO_NO_DECREASE; /* as far as rounding allows */
      break;
    }
    ++r->iters;
    double F0 = F;
    r->gnorm = measure(w, f, g, s->l1, n, &F, pg);
    r->change = (F0 - F) / fmax(fmax(fabs(F0), fabs(F)), 1);
    if (s->kind == SO_LBFGS) history_add(&hist, w, w_old, g, g_old, n);
    ok = o->report(o->ctx, r->iters, F, r->gnorm, step);
    if (ok && gradient_converged(s, w, n, r)) r->stop = SO_GRADIENT;
    else if (ok && r->change <= s->ftol) r->stop = SO_LOSS_CHANGE;
  }
  history_free(&hist);
  free(g), free(pg), free(p), free(xi), free(t1), free(t2), free(t3), free(g_old), free(w_old), free(work), free(h),
      free(l);
  return ok;
}

void second_order_describe(const SecondOrder *s, const SecondOrderResult *r, char *buf, size_t n) {
  const char *norm = s->l1 > 0 ? "pseudo-gradient norm" : "gradient norm", *loss = s->l1 > 0 ? "objective" : "loss";
  int len = snprintf(buf, n, "%s after %d iteration%s: ", r->stop <= SO_LOSS_CHANGE ? "converged" : "stopped",
                     r->iters, r->iters == 1 ? "" : "s");
  if (len < 0 || (size_t)len >= n) return;
  buf += len, n -= (size_t)len;
  switch (r->stop) {
  case SO_GRADIENT:
    snprintf(buf, n, "%s %.3e <= %.3e (tol %g * max(1, |w|))", norm, r->gnorm, r->gtol, s->tol);
    break;
  case SO_LOSS_CHANGE:
    snprintf(buf, n, "relative %s change %.1e <= %.3g (ftol); %s %.3e", loss, r->change, s->ftol, norm, r->gnorm);
    break;
  case SO_NO_DECREASE:
    snprintf(buf, n, "no step decreases the %s any more (its rounding); %s %.3e, tolerance %.3e", loss, norm,
             r->gnorm, r->gtol);
    break;
  case SO_MAX_ITERS:
    snprintf(buf, n, "max_iters reached; %s %.3e, tolerance %.3e; relative %s change %.1e, ftol %.3g", norm,
             r->gnorm, r->gtol, loss, r->change, s->ftol);
    break;
  }
}
