/* test_optim.c - the optimizers' updates and the schedules against values
 * computed by hand from their formulas (PyTorch's conventions), and the
 * second-order minimiser with an L1 penalty (OWL-QN) on quadratics whose
 * L1 minimum is known in closed form. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "dml_runtime.h"

static int failures;

static void near(const char *what, double got, double want, double tol) {
  if (fabs(got - want) <= tol * (fabs(want) > 1 ? fabs(want) : 1)) return;
  printf("FAIL %s: got %.17g, want %.17g\n", what, got, want);
  failures++;
}

/* Steps of one optimizer on w (f64, 2 elements) with fixed gradients. */
static void run(Optimizer *o, double *w, double state[2][2], const double *g, int steps, double lr) {
  o->type = RT_F64;
  o->n = 2;
  o->state[0] = state[0];
  o->state[1] = state[1];
  for (int i = 0; i < steps; i++) optim_step(o, w, g, lr, 1);
}

static void test_sgd(void) {
  Optimizer o;
  optim_by_name(&o, "sgd");
  near("sgd default lr", o.lr, 0.01, 0);
  double w[2] = {1, -2}, s[2][2] = {{0}}, g[2] = {0.5, -1};
  run(&o, w, s, g, 1, 0.1);
  near("sgd w0", w[0], 1 - 0.1 * 0.5, 1e-15);
  near("sgd w1", w[1], -2 + 0.1, 1e-15);
  o.weight_decay = 0.5; /* coupled: g + wd * w */
  double w2[2] = {1, 1};
  run(&o, w2, s, g, 1, 0.1);
  near("sgd weight decay", w2[0], 1 - 0.1 * (0.5 + 0.5), 1e-15);
}

static void test_momentum(void) {
  Optimizer o;
  optim_by_name(&o, "momentum");
  double w[2] = {0, 0}, s[2][2] = {{0}}, g[2] = {1, 2};
  run(&o, w, s, g, 2, 0.1); /* buf = g, then 0.9 g + g = 1.9 g; w = -0.1 (1 + 1.9) g */
  near("momentum w0", w[0], -0.29, 1e-15);
  near("momentum w1", w[1], -0.58, 1e-15);
  optim_by_name(&o, "nesterov");
  double v[2] = {0, 0}, t[2][2] = {{0}};
  run(&o, v, t, g, 2, 0.1); /* step k: w -= lr (g + mu buf_k): 1.9 g then 2.71 g */
  near("nesterov w0", v[0], -0.1 * (1.9 + 2.71), 1e-14);
}

static void test_adam(void) {
  Optimizer o;
  optim_by_name(&o, "adam");
  near("adam defaults", o.beta1 + o.beta2 + o.eps, 0.9 + 0.999 + 1e-8, 0);
  double w[2] = {0, 0}, s[2][2] = {{0}}, g[2] = {3, -0.001};
  run(&o, w, s, g, 1, 0.01); /* bias-corrected first step: -lr g / (|g| + eps) */
  near("adam first step", w[0], -0.01 * 3 / (3 + 1e-8), 1e-12);
  near("adam first step, small g", w[1], 0.01 * 0.001 / (0.001 + 1e-8), 1e-9);
  run(&o, w, s, g, 1, 0.01); /* constant g: every step is about -lr sign(g) */
  near("adam second step", w[0], -0.02, 1e-8);
  optim_by_name(&o, "adamw"); /* decoupled decay: w (1 - lr wd) before the Adam step */
  o.weight_decay = 0.1;
  double v[2] = {2, 2}, t[2][2] = {{0}}, z[2] = {0, 0};
  run(&o, v, t, z, 1, 0.5);
  near("adamw decay", v[0], 2 * (1 - 0.5 * 0.1), 1e-15);
}

static void test_rmsprop_and_l1(void) {
  Optimizer o;
  optim_by_name(&o, "rmsprop");
  double w[2] = {0, 0}, s[2][2] = {{0}}, g[2] = {2, 2};
  run(&o, w, s, g, 1, 0.01); /* v = 0.01 g^2; w = -lr g / (sqrt(v) + eps) */
  near("rmsprop", w[0], -0.01 * 2 / (sqrt(0.01 * 4) + 1e-8), 1e-12);
  optim_by_name(&o, "sgd");
  o.l1 = 1;
  double v[2] = {0.05, -3}, t[2][2] = {{0}}, z[2] = {0, 0};
  run(&o, v, t, z, 1, 0.1); /* soft threshold by lr * l1 = 0.1 */
  if (v[0] != 0) printf("FAIL l1: %g should be exactly 0\n", v[0]), failures++;
  near("l1 shrinks", v[1], -2.9, 1e-15);
}

static void test_f32(void) {
  Optimizer o;
  optim_by_name(&o, "adam");
  float w[3] = {1, 1, 1}, g[3] = {1, 1, 1}, m[3] = {0}, v[3] = {0};
  o.type = RT_F32;
  o.n = 3;
  o.state[0] = m;
  o.state[1] = v;
  optim_step(&o, w, g, 0.1, 0.5); /* gscale 0.5 (clipping) does not change Adam's first step */
  near("adam f32", w[2], 0.9, 1e-6);
  near("grad norm", optim_grad_norm(g, 3, RT_F32), sqrt(3), 1e-7);
}

static void test_schedules(void) {
  Schedule s;
  schedule_by_name(&s, "constant");
  near("constant", schedule_lr(&s, 0.1, 57, 10, 100), 0.1, 0);
  schedule_by_name(&s, "step");
  s.every = 2;
  s.gamma = 0.5;
  near("step epoch 1", schedule_lr(&s, 0.1, 19, 10, 100), 0.1, 0);
  near("step epoch 2", schedule_lr(&s, 0.1, 20, 10, 100), 0.05, 1e-15);
  near("step epoch 5", schedule_lr(&s, 0.1, 55, 10, 100), 0.025, 1e-15);
  schedule_by_name(&s, "cosine");
  s.min_lr = 0.01;
  near("cosine start", schedule_lr(&s, 0.1, 0, 10, 101), 0.1, 1e-15);
  near("cosine middle", schedule_lr(&s, 0.1, 50, 10, 101), 0.055, 1e-12);
  near("cosine end", schedule_lr(&s, 0.1, 100, 10, 101), 0.01, 1e-12);
  schedule_by_name(&s, "warmup");
  s.warmup_epochs = 2;
  near("warmup first", schedule_lr(&s, 0.1, 0, 10, 100), 0.1 / 20, 1e-15);
  near("warmup done", schedule_lr(&s, 0.1, 40, 10, 100), 0.1, 0);
  if (schedule_by_name(&s, "linear")) printf("FAIL an unknown schedule was accepted\n"), failures++;
  Optimizer o;
  if (optim_by_name(&o, "lbfgs")) printf("FAIL lbfgs is not a first-order optimizer\n"), failures++;
}

/* f(w) = 0.5 w.A w - b.w over n <= 4 values, as the minimisers see it. */
typedef struct Quadratic {
  int n;
  double a[4][4], b[4];
  double last;  /* the objective last reported */
  bool rose;    /* a reported objective above the one before */
} Quadratic;

static void quad_grad(const Quadratic *q, const double *w, double *f, double *g) {
  *f = 0;
  for (int i = 0; i < q->n; i++) {
    double aw = 0;
    for (int j = 0; j < q->n; j++) aw += q->a[i][j] * w[j];
    *f += 0.5 * w[i] * aw - q->b[i] * w[i];
    if (g) g[i] = aw - q->b[i];
  }
}

static bool quad_value(void *ctx, const double *w, double *f) {
  quad_grad(ctx, w, f, NULL);
  return true;
}

static bool quad_value_grad(void *ctx, const double *w, double *f, double *g) {
  quad_grad(ctx, w, f, g);
  return true;
}

static bool quad_report(void *ctx, int iter, double f, double gnorm, double step) {
  Quadratic *q = ctx;
  (void)gnorm, (void)step;
  if (iter > 0 && f > q->last) q->rose = true;
  q->last = f;
  return true;
}

/* lbfgs from start with this l1; w must end at want, its zeros exactly 0. */
static void check_owlqn(const char *what, Quadratic *q, double l1, const double *start, const double *want) {
  Objective o = {q, q->n, quad_value, quad_value_grad, NULL, quad_report};
  SecondOrder s;
  second_order_by_name(&s, "lbfgs");
  s.l1 = l1;
  double w[4];
  SecondOrderResult r;
  memcpy(w, start, sizeof(double) * (size_t)q->n);
  q->rose = false;
  if (!second_order_minimize(&o, &s, w, &r)) printf("FAIL %s: %s\n", what, rt_message()), failures++;
  if (r.stop != SO_GRADIENT || !(r.gnorm <= r.gtol))
    printf("FAIL %s: stopped (%d) at pseudo-gradient norm %g\n", what, (int)r.stop, r.gnorm), failures++;
  if (q->rose) printf("FAIL %s: the objective rose\n", what), failures++;
  for (int i = 0; i < q->n; i++) {
    char name[80];
    snprintf(name, sizeof name, "%s w%d", what, i);
    if (want[i] == 0 && w[i] != 0) printf("FAIL %s: %g should be exactly 0\n", name, w[i]), failures++;
    near(name, w[i], want[i], 1e-7);
  }
  double f = 0, l1w = 0;
  quad_grad(q, w, &f, NULL);
  for (int i = 0; i < q->n; i++) l1w += fabs(w[i]);
  near("the last objective reported is f + l1 |w|", q->last, f + l1 * l1w, 1e-14);
}

static void test_owlqn(void) {
  /* separable: the minimum of a_i w^2 / 2 - b_i w + l1 |w| is soft(b_i, l1) / a_i */
  Quadratic sep = {.n = 4, .a = {{1}, {0, 2}, {0, 0, 4}, {0, 0, 0, 0.5}}, .b = {3, -0.5, -2, 0.1}};
  const double zero[4] = {0, 0, 0, 0};
  check_owlqn("owlqn separable", &sep, 1, zero, (const double[]){2, 0, -0.25, 0});
  check_owlqn("lbfgs without l1", &sep, 0, zero, (const double[]){3, -0.25, -0.5, 0.2});
  /* from the unpenalised minimum, w1 and w3 have to reach 0 from either side */
  check_owlqn("owlqn separable from the l2 minimum", &sep, 1, (const double[]){3, -0.25, -0.5, 0.2},
              (const double[]){2, 0, -0.25, 0});
  /* coupled: without the penalty (-1/3, 5/3); with l1 = 1, w1 = 0 (|g1| = 0 <= 1) and 2 w2 - 3 + 1 = 0 */
  Quadratic cpl = {.n = 2, .a = {{2, 1}, {1, 2}}, .b = {1, 3}};
  check_owlqn("owlqn coupled", &cpl, 1, zero, (const double[]){0, 1});
  check_owlqn("lbfgs coupled without l1", &cpl, 0, zero, (const double[]){-1.0 / 3, 5.0 / 3});
  check_owlqn("owlqn coupled from the l2 minimum", &cpl, 1, (const double[]){-1.0 / 3, 5.0 / 3},
              (const double[]){0, 1});
  /* newton and newton_cg refuse the penalty before evaluating anything */
  const char *kinds[] = {"newton", "newton_cg"};
  for (int k = 0; k < 2; k++) {
    SecondOrder s;
    second_order_by_name(&s, kinds[k]);
    s.l1 = 0.5;
    Objective o = {NULL, 2, NULL, NULL, NULL, NULL}; /* any call would crash */
    double w[2] = {0, 0};
    SecondOrderResult r;
    char want[64];
    snprintf(want, sizeof want, "error: %s cannot train with `l1` (0.5)", kinds[k]);
    if (second_order_minimize(&o, &s, w, &r) || strncmp(rt_message(), want, strlen(want)) != 0)
      printf("FAIL %s with l1 was not refused: %s\n", kinds[k], rt_message()), failures++;
  }
}

int main(void) {
  test_sgd();
  test_momentum();
  test_adam();
  test_rmsprop_and_l1();
  test_f32();
  test_schedules();
  test_owlqn();
  if (!failures) printf("optimizers and schedules: all checks passed\n");
  return failures != 0;
}
