/* test_newton.c - the strong Wolfe line search of lbfgs (runtime/newton.c)
 * on hand-made functions of one variable, and of two along a direction
 * that is not an axis: the step it returns is checked against the two
 * conditions computed here, from the function itself, and the point,
 * loss and gradient it hands back against the function at that step.
 * The functions are chosen where a backtracking search (steps 1, 1/2,
 * ...) fails: the step must grow past 1, or the first steps overflow to
 * inf, or the slope stays steep until well past the first step; and
 * two of More and Thuente's test functions (ACM TOMS 20(3), 1994,
 * table 1 and 2), from steps far too short and far too long. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "dml_runtime.h"

static int failures;

#define CHECK(cond, ...)                                                                                              \
  do {                                                                                                                \
    if (!(cond)) printf("FAIL " __VA_ARGS__), printf("\n"), failures++;                                              \
  } while (0)

/* A function of w (n <= 2) with its derivative, counting the calls. */
typedef struct Fn {
  const char *name;
  int n;
  double (*f)(const double *w, double *g); /* g may be NULL */
  int values, grads;
  bool fail; /* every evaluation reports an error */
} Fn;

static bool fn_value(void *ctx, const double *w, double *f) {
  Fn *fn = ctx;
  fn->values++;
  if (fn->fail) return rt_error("evaluation failed");
  *f = fn->f(w, NULL);
  return true;
}

static bool fn_value_grad(void *ctx, const double *w, double *f, double *g) {
  Fn *fn = ctx;
  fn->grads++;
  if (fn->fail) return rt_error("evaluation failed");
  *f = fn->f(w, g);
  return true;
}

/* (w - 1000)^2: from 0 the minimum is 1000 steps of 1 away, and at a = 1
 * the slope is still 99.9% of the slope at 0, which backtracking accepts. */
static double far_minimum(const double *w, double *g) {
  if (g) g[0] = 2 * (w[0] - 1000);
  return (w[0] - 1000) * (w[0] - 1000);
}

/* (w - 0.01)^2: the first step overshoots a hundredfold. */
static double near_minimum(const double *w, double *g) {
  if (g) g[0] = 2 * (w[0] - 0.01);
  return (w[0] - 0.01) * (w[0] - 0.01);
}

/* -log(1 - w) - 2 w, minimal at 1/2, and not a number from 1 on: steps
 * past it must count as too long, not as errors. */
static double barrier(const double *w, double *g) {
  if (g) g[0] = 1 / (1 - w[0]) - 2;
  return w[0] < 1 ? -log(1 - w[0]) - 2 * w[0] : NAN;
}

/* More and Thuente's function 1, -a / (a^2 + 2), minimal at sqrt(2). */
static double mt1(const double *w, double *g) {
  double a = w[0], d = a * a + 2;
  if (g) g[0] = (a * a - 2) / (d * d);
  return -a / d;
}

/* More and Thuente's function 2, (a + 0.004)^5 - 2 (a + 0.004)^4,
 * minimal at 1.6 - 0.004. */
static double mt2(const double *w, double *g) {
  double b = w[0] + 0.004;
  if (g) g[0] = 5 * pow(b, 4) - 8 * pow(b, 3);
  return pow(b, 5) - 2 * pow(b, 4);
}

/* A valley in two variables, 100 (v - u^2)^2 + (1 - u)^2 (Rosenbrock's). */
static double rosenbrock(const double *w, double *g) {
  double u = w[0], v = w[1];
  if (g) g[0] = -400 * u * (v - u * u) - 2 * (1 - u), g[1] = 200 * (v - u * u);
  return 100 * (v - u * u) * (v - u * u) + (1 - u) * (1 - u);
}

/* The search from w0 along p, trying a0 first: a strong Wolfe step with
 * its point, loss and gradient, in at most 40 evaluations. */
static void check_wolfe(Fn *fn, const double *w0, const double *p, double a0, double want_min, double want_max) {
  Objective o = {fn, fn->n, fn_value, fn_value_grad, NULL, NULL};
  double w[2], g[2], work[8], step = NAN;
  memcpy(w, w0, sizeof(double) * (size_t)fn->n);
  double f = fn->f(w, g), f0 = f, d0 = 0;
  for (int i = 0; i < fn->n; i++) d0 += g[i] * p[i];
  fn->values = fn->grads = 0;
  LineStatus st = line_search_wolfe(&o, w, &f, g, p, a0, work, &step);
  CHECK(st == LINE_WOLFE, "%s from a0 = %g: status %d, not LINE_WOLFE (step %g)", fn->name, a0, (int)st, step);
  CHECK(step >= want_min && step <= want_max, "%s from a0 = %g: step %.17g outside [%g, %g]", fn->name, a0, step,
        want_min, want_max);
  CHECK(fn->values + fn->grads <= 80 && fn->values <= 40, "%s from a0 = %g: %d values and %d gradients", fn->name,
        a0, fn->values, fn->grads);
  /* the conditions, from the function itself at w0 + step p */
  double x[2], gx[2], dx = 0;
  for (int i = 0; i < fn->n; i++) x[i] = w0[i] + step * p[i];
  double fx = fn->f(x, gx);
  for (int i = 0; i < fn->n; i++) dx += gx[i] * p[i];
  CHECK(fx <= f0 + 1e-4 * step * d0, "%s from a0 = %g: no sufficient decrease at %g: f %.17g, f0 %.17g, slope %g",
        fn->name, a0, step, fx, f0, d0);
  CHECK(fabs(dx) <= 0.5 * fabs(d0), "%s from a0 = %g: the slope at %g is %g, at 0 %g: not flat enough", fn->name, a0,
        step, dx, d0);
  /* what it hands back is that point */
  for (int i = 0; i < fn->n; i++)
    CHECK(w[i] == x[i] && g[i] == gx[i], "%s from a0 = %g: w[%d] %.17g, g[%d] %.17g; want %.17g, %.17g", fn->name,
          a0, i, w[i], i, g[i], x[i], gx[i]);
  CHECK(f == fx, "%s from a0 = %g: f %.17g, want %.17g", fn->name, a0, f, fx);
}

static void test_one_variable(void) {
  const double zero[1] = {0}, one[1] = {1};
  Fn far = {"(w - 1000)^2", 1, far_minimum, 0, 0, false};
  /* slope -2000 at 0; the condition asks for |2 (a - 1000)| <= 1000 */
  check_wolfe(&far, zero, one, 1, 500, 1500);
  Fn near = {"(w - 0.01)^2", 1, near_minimum, 0, 0, false};
  check_wolfe(&near, zero, one, 1, 0.005, 0.015);
  Fn bar = {"-log(1 - w) - 2 w", 1, barrier, 0, 0, false};
  /* |1 / (1 - a) - 2| <= 0.5: a in [1/3, 3/5]; steps 4 and 1.5 give NaN */
  check_wolfe(&bar, zero, one, 4, 1.0 / 3, 0.6);
  check_wolfe(&bar, zero, one, 0.001, 1.0 / 3, 0.6);
  Fn f1 = {"More-Thuente 1", 1, mt1, 0, 0, false};
  const double tiny[] = {1e-3, 1e-1, 10, 1000};
  for (int k = 0; k < 4; k++) check_wolfe(&f1, zero, one, tiny[k], 0, INFINITY);
  Fn f2 = {"More-Thuente 2", 1, mt2, 0, 0, false};
  for (int k = 0; k < 4; k++) check_wolfe(&f2, zero, one, tiny[k], 0, INFINITY);
}

static void test_two_variables(void) {
  /* from (-1.2, 1), along minus the gradient, first step 1 / |g| */
  Fn r = {"Rosenbrock", 2, rosenbrock, 0, 0, false};
  double w0[2] = {-1.2, 1}, g[2];
  rosenbrock(w0, g);
  double p[2] = {-g[0], -g[1]}, norm = sqrt(g[0] * g[0] + g[1] * g[1]);
  check_wolfe(&r, w0, p, 1 / norm, 0, INFINITY);
  check_wolfe(&r, w0, p, 1, 0, INFINITY);
}

/* Outcomes that are not a step: a direction that does not descend, a
 * function that cannot go lower, an evaluation that fails. */
static void test_refusals(void) {
  Fn far = {"(w - 1000)^2", 1, far_minimum, 0, 0, false};
  Objective o = {&far, 1, fn_value, fn_value_grad, NULL, NULL};
  double w[1] = {0}, g[1], work[4], step = -1, f = far_minimum(w, g);
  const double up[1] = {-1};
  far.values = far.grads = 0;
  CHECK(line_search_wolfe(&o, w, &f, g, up, 1, work, &step) == LINE_NONE, "an ascent direction was searched");
  CHECK(w[0] == 0 && step == -1 && far.values + far.grads == 0, "an ascent direction moved w or evaluated");
  /* at the minimum, no step lowers f: w stays where it is */
  double at[1] = {1000}, one[1] = {1}, gm[1];
  double fm = far_minimum(at, gm);
  gm[0] = -1e-9; /* a slope that rounding might report; the function does not go lower */
  CHECK(line_search_wolfe(&o, at, &fm, gm, one, 1, work, &step) == LINE_NONE && at[0] == 1000 && fm == 0,
        "a step was found below the minimum: w %g, f %g", at[0], fm);
  Fn bad = {"failing", 1, far_minimum, 0, 0, true};
  Objective ob = {&bad, 1, fn_value, fn_value_grad, NULL, NULL};
  double wb[1] = {0}, gb[1], fb = far_minimum(wb, gb);
  CHECK(line_search_wolfe(&ob, wb, &fb, gb, one, 1, work, &step) == LINE_ERROR &&
            strcmp(rt_message(), "error: evaluation failed") == 0,
        "a failed evaluation was not an error: %s", rt_message());
}

int main(void) {
  test_one_variable();
  test_two_variables();
  test_refusals();
  if (!failures) printf("strong Wolfe line search: all checks passed\n");
  return failures != 0;
}
