/* gradcheck.c - `dmlc gradcheck`: the generated gradient against finite
 * differences, both evaluated by the reference interpreter in f64.
 *
 * Params and inputs are drawn at random with the declared shapes (small
 * sizes for symbolic dims, valid class labels for i32 inputs that index
 * classes). A draw whose forward pass comes near a kink (relu at 0, a tie)
 * is replaced by another, since a difference quotient across a kink
 * measures nothing. Each checked entry uses central differences with
 * Richardson extrapolation, accurate to about 1e-11 here. */
#include "gradcheck.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "autodiff/autodiff.h"
#include "interp.h"
#include "lower.h"
#include "simplify.h"

typedef struct Rng {
  uint64_t s;
} Rng;

static uint64_t next_u64(Rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double uniform(Rng *r) { return (double)(next_u64(r) >> 11) / 9007199254740992.0; }

static double normal(Rng *r) {
  double u = uniform(r), v = uniform(r);
  return sqrt(-2 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

/* The number of classes an i32 input indexes: the smallest class count
 * among its uses as labels or indices (3 if it has none). */
static int64_t label_bound(const IrFunc *f, int input, const DimEnv *env) {
  int64_t bound = 3;
  IrVal id = -1;
  for (int v = 0; v < f->nv; v++)
    if (f->v[v].op == IR_INPUT && f->v[v].index == input) id = v;
  for (int v = 0; v < f->nv && id >= 0; v++) {
    const IrInst *in = &f->v[v];
    int64_t dims[MAX_RANK], size;
    for (int k = 0; k < in->nargs; k++) {
      if (in->args[k] != id) continue;
      const IrType *t = NULL;
      int axis = -1;
      if (in->op == IR_ONEHOT) t = &in->ty, axis = in->ty.rank - 1;
      else if ((in->op == IR_PICK || in->op == IR_CROSS_ENTROPY) && k == 1) t = &f->v[in->args[0]].ty, axis = t->rank - 1;
      else if (in->op == IR_INDEX && k >= 1) {
        t = &f->v[in->args[0]].ty;
        int seen = 0;
        for (int ax = 0; ax < in->naxes; ax++)
          if (!in->axes[ax].is_slice && ++seen == k) axis = ax;
      }
      if (!t || axis < 0 || !dimenv_resolve(env, t, dims, &size)) continue;
      if (dims[axis] < bound) bound = dims[axis];
    }
  }
  return bound < 1 ? 1 : bound;
}

/* Labels in range; floats normal, scaled like Glorot for matrices so that
 * the loss is of order one and rounding in the differences stays small. */
static void draw(Rng *r, Tensor *t, int64_t labels, bool is_param) {
  double scale = is_param && t->rank >= 2 ? 1 / sqrt((double)t->dims[t->rank - 2]) : is_param ? 0.5 : 1;
  for (int64_t i = 0; i < t->size; i++) {
    if (t->dt == DT_I32) t->data[i] = (double)(next_u64(r) % (uint64_t)labels);
    else if (t->dt == DT_BOOL) t->data[i] = (double)(next_u64(r) & 1);
    else t->data[i] = scale * normal(r);
  }
}

typedef struct Check {
  const IrFunc *loss, *grad;
  Tensor *inputs, *params;
  const DimEnv *env;
  char err[512];
} Check;

static bool eval_loss(Check *c, double *out) {
  Tensor r;
  if (!interp_run(c->loss, c->inputs, c->params, c->env, &r, c->err, sizeof c->err)) return false;
  *out = r.data[0];
  tensor_free(&r);
  return isfinite(*out);
}

/* d loss / d theta by central differences, Richardson-extrapolated. */
static bool difference(Check *c, double *theta, double *out) {
  double x = *theta, h = 1e-5 * (fabs(x) > 1 ? fabs(x) : 1), d[2];
  for (int k = 0; k < 2; k++) {
    double step = k ? h / 2 : h, lp, lm;
    *theta = x + step;
    bool ok = eval_loss(c, &lp);
    *theta = x - step;
    ok = ok && eval_loss(c, &lm);
    *theta = x;
    if (!ok) return false;
    d[k] = (lp - lm) / (2 * step);
  }
  *out = (4 * d[1] - d[0]) / 3;
  return true;
}

static void print_index(FILE *out, const Tensor *t, int64_t flat) {
  int64_t idx[MAX_RANK];
  if (t->rank == 0) return; /* a scalar: no index */
  for (int i = t->rank - 1; i >= 0; i--) {
    idx[i] = flat % t->dims[i];
    flat /= t->dims[i];
  }
  fputc('[', out);
  for (int i = 0; i < t->rank; i++) fprintf(out, "%s%lld", i ? ", " : "", (long long)idx[i]);
  fputc(']', out);
}

void gc_alloc_point(const IrFunc *loss, DimEnv *env, Tensor **inputs_out, Tensor **params_out) {
  int64_t next_size = 3;
  for (int i = 0; i < loss->ninputs; i++)
    for (int k = 0; k < loss->input_types[i].rank; k++) {
      Dim dm = loss->input_types[i].dims[k];
      bool bound = false;
      for (int j = 0; j < env->n; j++) bound |= dm.sym && strcmp(env->syms[j], dm.sym) == 0;
      if (dm.sym && !bound) dimenv_bind(env, dm.sym, next_size++);
    }
  Tensor *inputs = calloc((size_t)loss->ninputs + 1, sizeof(Tensor));
  Tensor *params = calloc((size_t)loss->nparams + 1, sizeof(Tensor));
  int64_t dims[MAX_RANK], size;
  for (int i = 0; i < loss->ninputs; i++) {
    dimenv_resolve(env, &loss->input_types[i], dims, &size);
    inputs[i] = tensor_new(loss->input_types[i].dt, loss->input_types[i].rank, dims);
  }
  for (int i = 0; i < loss->nparams; i++) {
    dimenv_resolve(env, &loss->params[i].ty, dims, &size);
    params[i] = tensor_new(loss->params[i].ty.dt, loss->params[i].ty.rank, dims);
  }
  *inputs_out = inputs;
  *params_out = params;
}

void gc_draw_point(const IrFunc *loss, const DimEnv *env, uint64_t *rng_state, Tensor *inputs, Tensor *params) {
  Rng rng = {*rng_state};
  for (int i = 0; i < loss->ninputs; i++) draw(&rng, &inputs[i], label_bound(loss, i, env), false);
  for (int i = 0; i < loss->nparams; i++) draw(&rng, &params[i], 3, true);
  *rng_state = rng.s;
}

void gc_free_point(const IrFunc *loss, Tensor *inputs, Tensor *params) {
  for (int i = 0; i < loss->ninputs; i++) tensor_free(&inputs[i]);
  for (int i = 0; i < loss->nparams; i++) tensor_free(&params[i]);
  free(inputs);
  free(params);
}

/* The param's type as declared: the check runs in f64 whatever the
 * program's float type, but reports the program's own types. */
static const char *declared_type(Arena *a, const IrParam *p) {
  IrType t = p->ty;
  if (p->item && p->item->type && (p->item->type->dtype == DT_F32 || p->item->type->dtype == DT_F64))
    t.dt = p->item->type->dtype;
  return ir_type_str(a, &t);
}

/* loss_grad at params + s v (v: one direction tensor per param with a gradient). */
static bool grad_at(Check *c, Tensor *v, double s, Tensor *g) {
  const IrFunc *grad = c->grad;
  for (int k = 0; k < grad->ngrad_params; k++) {
    Tensor *th = &c->params[grad->grad_params[k]];
    for (int64_t e = 0; e < th->size; e++) th->data[e] += s * v[k].data[e];
  }
  bool ok = interp_run(grad, c->inputs, c->params, c->env, g, c->err, sizeof c->err);
  for (int k = 0; k < grad->ngrad_params; k++) {
    Tensor *th = &c->params[grad->grad_params[k]];
    for (int64_t e = 0; e < th->size; e++) th->data[e] -= s * v[k].data[e];
  }
  return ok;
}

/* loss_hvp in direction v: the data inputs, then v. */
static bool hvp_at(Check *c, const IrFunc *hvp, Tensor *v, Tensor *hv) {
  int n0 = c->loss->ninputs, k = c->grad->ngrad_params;
  Tensor *in = calloc((size_t)(n0 + k + 1), sizeof(Tensor));
  memcpy(in, c->inputs, sizeof(Tensor) * (size_t)n0);
  memcpy(in + n0, v, sizeof(Tensor) * (size_t)k);
  bool ok = interp_run(hvp, in, c->params, c->env, hv, c->err, sizeof c->err);
  free(in);
  return ok;
}

static void free_results(Tensor *t, int n) {
  for (int i = 0; i < n; i++) tensor_free(&t[i]);
}

/* H v from loss_hvp against central differences of loss_grad along v
 * (Richardson-extrapolated), then the symmetry u.Hv = v.Hu. */
static int hvpcheck(Check *c, const IrFunc *hvp, Rng *rng, const GradcheckOptions *opt, Arena *a, FILE *out) {
  const IrFunc *grad = c->grad;
  int k = grad->ngrad_params, status = 0;
  Tensor *v = calloc((size_t)k + 1, sizeof(Tensor)), *u = calloc((size_t)k + 1, sizeof(Tensor));
  for (int i = 0; i < k; i++) {
    const Tensor *th = &c->params[grad->grad_params[i]];
    v[i] = tensor_new(th->dt, th->rank, th->dims);
    u[i] = tensor_new(th->dt, th->rank, th->dims);
    for (int64_t e = 0; e < th->size; e++) v[i].data[e] = normal(rng), u[i].data[e] = normal(rng);
  }
  Tensor *hv = calloc((size_t)k + 1, sizeof(Tensor)), *hu = calloc((size_t)k + 1, sizeof(Tensor));
  Tensor *gp[2], *gm[2];
  for (int r = 0; r < 2; r++) gp[r] = calloc((size_t)k + 2, sizeof(Tensor)), gm[r] = calloc((size_t)k + 2, sizeof(Tensor));
  double h = 1e-6; /* small: the direction moves every param, and kinks must stay out of reach */
  bool ok = hvp_at(c, hvp, v, hv) && hvp_at(c, hvp, u, hu);
  for (int r = 0; ok && r < 2; r++) ok = grad_at(c, v, r ? h / 2 : h, gp[r]) && grad_at(c, v, r ? -h / 2 : -h, gm[r]);
  if (!ok) {
    fprintf(out, "gradcheck --hvp: cannot evaluate: %s\n", c->err);
    status = 2;
  }
  double worst_all = 0, uhv = 0, vhu = 0;
  for (int i = 0; ok && i < k; i++) {
    int pi = grad->grad_params[i];
    double worst = 0, scale = 0;
    for (int64_t e = 0; e < hv[i].size; e++) scale = fmax(scale, fabs(hv[i].data[e]));
    scale = fmax(scale, opt->floor);
    int64_t bad = -1; /* the first entry where H v or its differences are not finite */
    double bad_hv = 0, bad_fd = 0;
    for (int64_t e = 0; e < hv[i].size; e++) {
      double d0 = (gp[0][i + 1].data[e] - gm[0][i + 1].data[e]) / (2 * h);
      double d1 = (gp[1][i + 1].data[e] - gm[1][i + 1].data[e]) / h;
      double fd = (4 * d1 - d0) / 3;
      if ((!isfinite(hv[i].data[e]) || !isfinite(fd)) && bad < 0) bad = e, bad_hv = hv[i].data[e], bad_fd = fd;
      worst = fmax(worst, fabs(hv[i].data[e] - fd) / scale);
      uhv += u[i].data[e] * hv[i].data[e];
      vhu += v[i].data[e] * hu[i].data[e];
    }
    if (bad >= 0) worst = INFINITY;
    fprintf(out, "  H v %-10s %-16s worst relative error %.1e", c->loss->params[pi].name,
            declared_type(a, &c->loss->params[pi]), worst);
    if (bad >= 0) {
      fputs(hv[i].rank ? "  FAIL at " : "  FAIL", out);
      print_index(out, &hv[i], bad);
      fprintf(out, ": loss_hvp %.10g%s, differences of loss_grad %.10g%s", bad_hv, isfinite(bad_hv) ? "" : " (not finite)",
              bad_fd, isfinite(bad_fd) ? "" : " (not finite)");
    } else if (!(worst <= opt->tolerance)) {
      fputs("  FAIL", out);
    }
    fputc('\n', out);
    if (!(worst <= opt->tolerance)) status = 1;
    worst_all = fmax(worst_all, worst);
  }
  if (ok) {
    double asym = fabs(uhv - vhu) / fmax(fmax(fabs(uhv), fabs(vhu)), opt->floor);
    bool finite = isfinite(uhv) && isfinite(vhu);
    fprintf(out, "  symmetry: u.Hv %.12g, v.Hu %.12g, relative difference %.1e%s\n", uhv, vhu, asym,
            !finite ? "  FAIL (not finite)" : asym > opt->tolerance ? "  FAIL" : "");
    if (!(asym <= opt->tolerance)) status = 1;
    if (!status)
      fprintf(out, "ok: Hessian-vector products match differences of the gradient (worst %.1e <= %.0e)\n", worst_all,
              opt->tolerance);
  }
  for (int r = 0; r < 2; r++) {
    free_results(gp[r], grad->nresults), free_results(gm[r], grad->nresults);
    free(gp[r]), free(gm[r]);
  }
  free_results(hv, ok || hv[0].data ? k : 0);
  free_results(hu, ok || hu[0].data ? k : 0);
  free_results(v, k), free_results(u, k);
  free(v), free(u), free(hv), free(hu);
  return status;
}

/* What "near a kink" means for the op at which draws kept ending. */
static const char *kink_what(IrOp op) {
  switch (op) {
  case IR_RELU: case IR_ABS: case IR_SIGN: return "its argument near 0";
  case IR_MAXIMUM: case IR_MINIMUM: return "its two arguments nearly equal";
  case IR_MAXPOOL2D: return "the two largest values of a window nearly equal";
  default: return "the two sides nearly equal";
  }
}

/* No usable point in 100 draws: say why, at the op whose kink stopped the
 * most draws, and what to try. */
static void no_point(const IrFunc *loss, Diags *d, int nonfinite, const int *kinks_at, int tries) {
  int best = -1;
  for (int v = 0; v < loss->nv; v++)
    if (kinks_at[v] && (best < 0 || kinks_at[v] > kinks_at[best])) best = v;
  if (best < 0 || kinks_at[best] < nonfinite) {
    diag_error(d, loss->nv ? loss->v[loss->results[0]].span : (Span){0},
               "gradcheck: no random point found where the loss is finite and away from kinks: the loss was not "
               "finite at %d of %d points drawn", nonfinite, tries);
    diag_hint(d, "inputs and params are drawn from normal distributions: a log, sqrt or division of one that can be "
                 "negative or 0 makes the loss not finite; try another --seed, or keep such values positive (exp, "
                 "softplus, x * x + 1)");
    return;
  }
  const IrInst *in = &loss->v[best];
  diag_error(d, in->span,
             "gradcheck: no random point found where the loss is finite and away from kinks: at %d of %d points "
             "drawn, `%s` here came within 1e-4 of its kink (%s)", kinks_at[best], tries, ir_ops[in->op].dml,
             kink_what(in->op));
  diag_hint(d, "a kink that every draw meets is there by construction (`%s` of a value that is always at its kink, "
               "such as relu(w - w) or a comparison of a value with itself): differences cannot check a derivative "
               "there; otherwise try another --seed, or other sizes with --dim NAME=SIZE", ir_ops[in->op].dml);
}

/* Whether any operand of v has mark[operand] set. */
static bool any_arg(const IrInst *in, const bool *mark) {
  for (int i = 0; i < in->nargs; i++)
    if (mark[in->args[i]]) return true;
  return false;
}

/* The values that move when a checked param moves. Like reverse mode's
 * active values, but through stop_gradient and integer values as well:
 * differences see every change of the loss, not only those the gradient
 * follows. A loop's carried values and results move when their initial or
 * yielded value does, which can come later, hence the repeats. */
static bool *moving_values(const IrFunc *f, const IrFunc *grad) {
  bool *moves = calloc((size_t)f->nv + 1, sizeof(bool));
  for (bool changed = true; changed;) {
    changed = false;
    for (int v = 0; v < f->nv; v++) {
      const IrInst *in = &f->v[v];
      bool m = any_arg(in, moves);
      for (int k = 0; k < grad->ngrad_params && in->op == IR_PARAM; k++) m |= grad->grad_params[k] == in->index;
      if (in->op == IR_LOOP_CARRY || in->op == IR_FOR_RESULT) {
        const IrInst *loop = &f->v[in->op == IR_LOOP_CARRY ? in->owner : in->args[0]];
        m = moves[loop->args[2 + in->index]] || moves[loop->body->yields[in->index]];
      }
      changed |= m != moves[v];
      moves[v] = m;
    }
  }
  return moves;
}

/* The values the loss is computed from: the results, what they read, and
 * for a loop whose results are read, its bounds, initial values and
 * everything its body yields. */
static bool *loss_reads(const IrFunc *f) {
  bool *live = calloc((size_t)f->nv + 1, sizeof(bool));
  for (int i = 0; i < f->nresults; i++) live[f->results[i]] = true;
  for (bool changed = true; changed;) {
    changed = false;
    for (int v = f->nv - 1; v >= 0; v--) {
      const IrInst *in = &f->v[v];
      if (!live[v]) continue;
      for (int i = 0; i < in->nargs; i++) changed |= !live[in->args[i]], live[in->args[i]] = true;
      if (in->op == IR_LOOP_CARRY) changed |= !live[in->owner], live[in->owner] = true;
      for (int i = 0; in->op == IR_FOR && i < in->body->nyields; i++)
        changed |= !live[in->body->yields[i]], live[in->body->yields[i]] = true;
    }
  }
  return live;
}

/* The ops whose kinks can spoil a difference quotient: an operand moves
 * with the checked params, and the loss reads the result. A kink among
 * the inputs alone, relu(x - x), stays where it is whatever the step, and
 * one the loss never reads does not reach it. */
static bool *kinks_that_matter(const IrFunc *loss, const IrFunc *grad) {
  bool *moves = moving_values(loss, grad), *live = loss_reads(loss);
  for (int v = 0; v < loss->nv; v++) live[v] = live[v] && any_arg(&loss->v[v], moves);
  free(moves);
  return live;
}

int gradcheck_run(Program *p, Item *loss_item, Arena *a, Diags *d, const GradcheckOptions *opt, FILE *out) {
  SemaOptions so = {.model_float = DT_F64};
  IrFunc *loss = lower_function(p, loss_item, a, d, so);
  IrFunc *grad = lower_function(p, loss_item, a, d, so);
  if (!loss || !grad || !ad_reverse(grad, d)) return 2;
  grad = simplify(grad);

  DimEnv env = opt->dims;
  for (int i = 0; i < env.n; i++) { /* a --dim for a name the loss does not have is a typo */
    bool known = false;
    for (int k = 0; k < loss->ndim_syms; k++) known |= strcmp(loss->dim_syms[k], env.syms[i]) == 0;
    if (!known) {
      diag_error(d, (Span){0}, "--dim %s: the loss has no dimension `%s`", env.syms[i], env.syms[i]);
      if (loss->ndim_syms) diag_hint(d, "its symbolic dimensions are: %s%s%s", loss->dim_syms[0],
                                     loss->ndim_syms > 1 ? ", " : "", loss->ndim_syms > 1 ? loss->dim_syms[1] : "");
      return 2;
    }
  }
  Tensor *inputs, *params;
  gc_alloc_point(loss, &env, &inputs, &params);
  Check c = {loss, grad, inputs, params, &env, {0}};
  Rng rng = {opt->seed * 0x2545F4914F6CDD1Dull + 1};
  int status = 0, nonfinite = 0;
  double margin = 0, L0 = NAN;
  int *kinks_at = calloc((size_t)loss->nv + 1, sizeof(int));
  bool *watch = kinks_that_matter(loss, grad);
  int tries;
  for (tries = 0; tries < 100; tries++) {
    gc_draw_point(loss, &env, &rng.s, inputs, params);
    Tensor r;
    IrVal at = -1;
    if (!interp_run_kink(loss, inputs, params, &env, &r, c.err, sizeof c.err, watch, &margin, &at)) {
      fprintf(out, "gradcheck: the loss cannot be evaluated: %s\n", c.err);
      status = 2;
      break;
    }
    L0 = r.data[0];
    tensor_free(&r);
    if (isfinite(L0) && margin > 1e-4) break; /* 10x the step: no kink between x-h and x+h */
    if (!isfinite(L0)) nonfinite++;
    else if (at >= 0) kinks_at[at]++;
  }
  if (status == 0 && tries == 100) {
    no_point(loss, d, nonfinite, kinks_at, tries);
    status = 2;
  }
  free(kinks_at), free(watch);
  Tensor *g = status ? NULL : calloc((size_t)grad->nresults, sizeof(Tensor));
  if (g && !interp_run(grad, inputs, params, &env, g, c.err, sizeof c.err)) {
    fprintf(out, "gradcheck: loss_grad cannot be evaluated: %s\n", c.err);
    status = 2;
  }
  if (status == 0) {
    fprintf(out, "gradcheck %s: seed %llu", loss_item->span.src->name, (unsigned long long)opt->seed);
    for (int i = 0; i < env.n; i++) fprintf(out, ", %s = %lld", env.syms[i], (long long)env.sizes[i]);
    fprintf(out, "; loss %.10g (evaluated in f64)\n", L0);
    if (!(fabs(g[0].data[0] - L0) <= 1e-12 * (1 + fabs(L0)))) {
      fprintf(out, "  loss_grad's loss %.17g differs from the loss %.17g\n", g[0].data[0], L0);
      status = 1;
    }
    double worst_all = 0;
    for (int k = 0; k < grad->ngrad_params; k++) {
      int pi = grad->grad_params[k];
      Tensor *th = &params[pi], *an = &g[k + 1];
      int64_t n = th->size, checked = n > opt->max_entries ? opt->max_entries : n;
      double worst = 0;
      int64_t worst_at = 0;
      double worst_an = 0, worst_fd = 0;
      bool nonfinite_shown = false;
      for (int64_t j = 0; j < checked; j++) {
        int64_t e = checked == n ? j : (int64_t)(next_u64(&rng) % (uint64_t)n);
        double fd;
        if (!difference(&c, &th->data[e], &fd)) {
          fprintf(out, "  %s: the loss is not finite within 1e-5 of the drawn point (finite differences at ",
                  loss->params[pi].name);
          print_index(out, th, e);
          fprintf(out, ")  FAIL\n");
          status = 1;
          nonfinite_shown = true;
          break;
        }
        double x = an->data[e];
        /* differences lose about eps |L| / h: the floor grows with the loss */
        double denom = fmax(fmax(fabs(x), fabs(fd)), opt->floor * fmax(1, fabs(L0)));
        double err = isfinite(x) ? fabs(x - fd) / denom : INFINITY; /* a gradient that is not finite fails */
        if (err > worst || j == 0) {
          worst = err;
          worst_at = e;
          worst_an = x;
          worst_fd = fd;
        }
      }
      if (nonfinite_shown) continue;
      const char *tstr = declared_type(a, &loss->params[pi]);
      fprintf(out, "  %-10s %-16s %6lld%s entries  worst relative error %.1e", loss->params[pi].name, tstr,
              (long long)checked, checked < n ? arena_printf(a, " of %lld", (long long)n) : "", worst);
      if (!(worst <= opt->tolerance)) {
        fputs(th->rank ? "  FAIL at " : "  FAIL", out);
        print_index(out, th, worst_at);
        fprintf(out, ": loss_grad %.10g%s, finite differences %.10g", worst_an,
                isfinite(worst_an) ? "" : " (not finite)", worst_fd);
        status = 1;
      }
      fputc('\n', out);
      if (worst > worst_all) worst_all = worst;
    }
    if (status == 0)
      fprintf(out, "ok: %d gradient%s finite differences (worst %.1e <= %.0e)\n", grad->ngrad_params,
              grad->ngrad_params == 1 ? " matches" : "s match", worst_all, opt->tolerance);
  }
  if (status == 0 && opt->hvp) {
    IrFunc *h = lower_function(p, loss_item, a, d, so);
    if (h && ad_reverse(h, d)) h = simplify(h);
    else h = NULL;
    if (!h || !ad_forward_hvp(h, d)) status = 2;
    else status = hvpcheck(&c, simplify(h), &rng, opt, a, out);
  }
  if (g)
    for (int i = 0; i < grad->nresults; i++) tensor_free(&g[i]);
  free(g);
  gc_free_point(loss, inputs, params);
  return status;
}
