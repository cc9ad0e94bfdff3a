/* optim.c - first-order optimizers over one flat vector of trained params
 * (model.c lays them out contiguously), and learning-rate schedules. The
 * update formulas are the common ones (PyTorch's conventions for momentum,
 * Nesterov, Adam's bias correction and AdamW's decoupled decay), so that a
 * run can be compared with a PyTorch run step for step. */
#include <math.h>
#include <string.h>
#include "dml_runtime.h"

bool optim_by_name(Optimizer *o, const char *name) {
  static const struct {
    const char *name;
    OptKind kind;
    double lr;
    int nstate;
  } table[] = {
      {"sgd", OPT_SGD, 0.01, 0},        {"momentum", OPT_MOMENTUM, 0.01, 1}, {"nesterov", OPT_NESTEROV, 0.01, 1},
      {"adam", OPT_ADAM, 1e-3, 2},      {"adamw", OPT_ADAMW, 1e-3, 2},       {"rmsprop", OPT_RMSPROP, 1e-3, 1},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    if (strcmp(table[i].name, name) != 0) continue;
    *o = (Optimizer){.kind = table[i].kind, .name = table[i].name, .lr = table[i].lr, .momentum = 0.9, .beta1 = 0.9,
                     .beta2 = 0.999, .eps = 1e-8, .alpha = 0.99, .nstate = table[i].nstate,
                     .weight_decay = table[i].kind == OPT_ADAMW ? 0.01 : 0};
    return true;
  }
  return false;
}

/* The update, written once for float and once for double; the arrays never
 * overlap, and the loops are vectorised. */
#define SIMD _Pragma("omp simd")
#define OPTIM_STEP(T, S, SQRT)                                                                                   \
  static void step_##S(Optimizer *o, T *restrict w, const T *restrict g, double lr_d, double gscale) {                            \
    const T lr = (T)lr_d, wd = (T)o->weight_decay, sc = (T)gscale, mu = (T)o->momentum, b1 = (T)o->beta1,        \
            b2 = (T)o->beta2, eps = (T)o->eps, alpha = (T)o->alpha;                                              \
    T *restrict m = o->state[0], *restrict v = o->state[1];                                                      \
    const int64_t n = o->n;                                                                                      \
    switch (o->kind) {                                                                                           \
    case OPT_SGD:                                                                                                \
      SIMD for (int64_t i = 0; i < n; i++) w[i] -= lr * (sc * g[i] + wd * w[i]);                                 \
      break;                                                                                                     \
    case OPT_MOMENTUM:                                                                                           \
    case OPT_NESTEROV: {                                                                                         \
      const T nest = o->kind == OPT_NESTEROV;                                                                    \
      SIMD for (int64_t i = 0; i < n; i++) {                                                                     \
        T gi = sc * g[i] + wd * w[i];                                                                            \
        m[i] = mu * m[i] + gi;                                                                                   \
        w[i] -= lr * (nest * (gi + mu * m[i]) + (1 - nest) * m[i]);                                              \
      }                                                                                                          \
      break;                                                                                                     \
    }                                                                                                            \
    case OPT_ADAM:                                                                                               \
    case OPT_ADAMW: {                                                                                            \
      const T c1 = (T)(1 / (1 - pow(o->beta1, (double)o->t))), c2 = (T)(1 / (1 - pow(o->beta2, (double)o->t)));  \
      const T coupled = o->kind == OPT_ADAM ? wd : 0, decay = o->kind == OPT_ADAMW ? 1 - lr * wd : 1;            \
      SIMD for (int64_t i = 0; i < n; i++) {                                                                     \
        T gi = sc * g[i] + coupled * w[i];                                                                       \
        m[i] = b1 * m[i] + (1 - b1) * gi;                                                                        \
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;                                                                   \
        w[i] = decay * w[i] - lr * (m[i] * c1) / (SQRT(v[i] * c2) + eps);                                        \
      }                                                                                                          \
      break;                                                                                                     \
    }                                                                                                            \
    case OPT_RMSPROP:                                                                                            \
      SIMD for (int64_t i = 0; i < n; i++) {                                                                     \
        T gi = sc * g[i] + wd * w[i];                                                                            \
        m[i] = alpha * m[i] + (1 - alpha) * gi * gi;                                                             \
        w[i] -= lr * gi / (SQRT(m[i]) + eps);                                                                    \
      }                                                                                                          \
      break;                                                                                                     \
    }                                                                                                            \
    if (o->l1 > 0) { /* proximal step: exact zeros, unlike a subgradient */                                     \
      const T th = lr * (T)o->l1;                                                                                \
      SIMD for (int64_t i = 0; i < n; i++) w[i] = w[i] > th ? w[i] - th : w[i] < -th ? w[i] + th : 0;            \
    }                                                                                                            \
  }

OPTIM_STEP(float, f32, sqrtf)
OPTIM_STEP(double, f64, sqrt)

void optim_step(Optimizer *o, void *w, const void *g, double lr, double gscale) {
  o->t++;
  if (o->type == RT_F64) step_f64(o, w, g, lr, gscale);
  else step_f32(o, w, g, lr, gscale);
}

double optim_grad_norm(const void *g, int64_t n, RtType t) {
  double s = 0;
  if (t == RT_F64)
    for (int64_t i = 0; i < n; i++) s += ((const double *)g)[i] * ((const double *)g)[i];
  else
    for (int64_t i = 0; i < n; i++) s += (double)((const float *)g)[i] * ((const float *)g)[i];
  return sqrt(s);
}

bool schedule_by_name(Schedule *s, const char *name) {
  static const char *names[] = {"constant", "step", "cosine", "warmup"};
  for (int i = 0; i < 4; i++) {
    if (strcmp(names[i], name) != 0) continue;
    *s = (Schedule){.kind = (SchedKind)i, .every = 10, .gamma = 0.1, .min_lr = 0, .warmup_epochs = 1};
    return true;
  }
  return false;
}

double schedule_lr(const Schedule *s, double base, int64_t step, int64_t per_epoch, int64_t total) {
  if (per_epoch < 1) per_epoch = 1;
  switch (s->kind) {
  case SCHED_STEP: return base * pow(s->gamma, (double)(step / per_epoch / (s->every > 0 ? s->every : 1)));
  case SCHED_COSINE: {
    double progress = total > 1 ? (double)step / (double)(total - 1) : 1;
    return s->min_lr + (base - s->min_lr) * 0.5 * (1 + cos(M_PI * (progress > 1 ? 1 : progress)));
  }
  case SCHED_WARMUP: {
    double ramp = (double)(step + 1) / (double)(per_epoch * (s->warmup_epochs > 0 ? s->warmup_epochs : 1));
    return base * (ramp < 1 ? ramp : 1);
  }
  default: return base;
  }
}
