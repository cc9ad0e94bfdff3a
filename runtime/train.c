/* train.c - what a model executable does: train, eval, predict,
 * gradcheck and info. A Session holds one run: the loaded data (split and
 * standardised), the param block (params, gradients and optimizer state in
 * one allocation), the batch buffers and the workspace of the generated
 * entry points, all allocated once before the first step. */
#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "dml_kernels.h"
#include "dml_runtime.h"
#include "outfile.h"

enum { MAX_INPUTS = 16, MAX_SYMS = 16 };

typedef struct Session {
  const Model *m;
  const RunConfig *c;
  size_t es;                  /* bytes per model float */
  void *block;                /* params | grads | optimizer state */
  char *params, *grads;
  void *param_ptrs[256];
  Optimizer opt;
  Rng rng;
  Dataset train, val;
  bool has_val;
  /* standardisation of feature inputs: per value mean and std (NULL: none) */
  double *mean[MAX_INPUTS], *std[MAX_INPUTS];
  /* symbolic dims other than the batch, found from the data */
  const char *sym_names[MAX_SYMS];
  int64_t sym_values[MAX_SYMS];
  int nsyms;
  /* one batch of every loss input, the predictions, the workspace */
  void *batch_bufs[MAX_INPUTS];
  void *pred_buf;
  void *workspace;
  int64_t cap;                /* examples the buffers hold */
  int64_t *order;             /* example indices of the current epoch */
  int epoch;                  /* epochs completed */
} Session;

/* ---- time and output ------------------------------------------------------------ */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double get(const Session *s, const void *base, int64_t i) {
  return s->m->dtype == RT_F64 ? ((const double *)base)[i] : ((const float *)base)[i];
}

static void put(const Session *s, void *base, int64_t i, double v) {
  if (s->m->dtype == RT_F64) ((double *)base)[i] = v;
  else ((float *)base)[i] = (float)v;
}

/* ---- shapes and dims ------------------------------------------------------------ */

static const char *batch_sym(const Model *m) { return m->ninputs && m->inputs[0].rank ? m->inputs[0].syms[0] : NULL; }

/* Values per example of a loss input, -1 if a symbolic dim is unknown. */
static int64_t known_width(const Session *s, const RtShape *sh) {
  int64_t w = 1;
  for (int i = 1; i < sh->rank; i++) {
    int64_t d = sh->dims[i];
    if (sh->syms[i]) {
      d = -1;
      for (int k = 0; s && k < s->nsyms; k++)
        if (strcmp(s->sym_names[k], sh->syms[i]) == 0) d = s->sym_values[k];
    }
    if (d < 0) return -1;
    w *= d;
  }
  return w;
}

static bool bind_sym(Session *s, const char *name, int64_t v, const char *input) {
  for (int k = 0; k < s->nsyms; k++) {
    if (strcmp(s->sym_names[k], name) != 0) continue;
    if (s->sym_values[k] == v) return true;
    return rt_error("the data give `%s` = %lld through `%s`, but %lld through another input", name, (long long)v, input,
                    (long long)s->sym_values[k]);
  }
  if (s->nsyms == MAX_SYMS) return rt_error("too many symbolic dimensions");
  s->sym_names[s->nsyms] = name;
  s->sym_values[s->nsyms++] = v;
  return true;
}

/* A loss input with one unknown symbolic dim takes it from the data's width. */
static bool bind_syms_from_data(Session *s, const Dataset *d) {
  for (int i = 0; i < s->m->ninputs; i++) {
    const RtShape *sh = &s->m->inputs[i];
    int64_t known = 1;
    const char *unknown = NULL;
    for (int k = 1; k < sh->rank; k++) {
      if (!sh->syms[k]) known *= sh->dims[k];
      else if (!unknown || strcmp(unknown, sh->syms[k]) == 0) unknown = sh->syms[k];
      else return rt_error("`%s` has two symbolic sizes besides the batch; the runtime cannot tell them apart",
                           s->m->input_names[i]);
    }
    if (!unknown) continue;
    int64_t w = d->cols[i].width;
    if (known == 0 || w % known)
      return rt_error("`%s` has %lld values per example, not a multiple of %lld", s->m->input_names[i], (long long)w,
                      (long long)known);
    if (!bind_sym(s, unknown, w / known, s->m->input_names[i])) return false;
  }
  return true;
}

/* The dims array of an entry point for a batch of n examples. */
static void dims_for(const Session *s, const char *const *syms, int nsyms, int64_t n, int64_t *out) {
  const char *b = batch_sym(s->m);
  for (int i = 0; i < nsyms; i++) {
    out[i] = b && strcmp(syms[i], b) == 0 ? n : 1;
    for (int k = 0; k < s->nsyms; k++)
      if (strcmp(s->sym_names[k], syms[i]) == 0) out[i] = s->sym_values[k];
  }
}

/* ---- data ---------------------------------------------------------------------- */

static bool is_feature(const Model *m, int i) {
  if (m->npred_inputs) {
    for (int k = 0; k < m->npred_inputs; k++)
      if (m->pred_inputs[k] == i) return true;
    return false;
  }
  return i != m->label && m->inputs[i].type != RT_I32;
}


static int input_index(const Model *m, const char *name) {
  for (int k = 0; k < m->ninputs; k++)
    if (strcmp(m->input_names[k], name) == 0) return k;
  return -1;
}

/* Load a source, its columns in loss-input order: every input, or only
 * the features (predict's inputs) when the labels may be absent. */
static bool load_source(Session *s, const DataSource *src, bool only_features, Dataset *out) {
  DataSource sel = *src;
  DataInput inputs[MAX_INPUTS];
  int n = 0;
  for (int k = 0; k < s->m->ninputs && n < MAX_INPUTS; k++) {
    if (only_features && !is_feature(s->m, k)) continue;
    for (int i = 0; i < src->ninputs; i++)
      if (strcmp(src->inputs[i].name, s->m->input_names[k]) == 0) inputs[n++] = src->inputs[i];
  }
  sel.inputs = inputs;
  sel.ninputs = n;
  return data_load(&sel, out);
}

/* Mean and standard deviation of every feature value over the training set. */
static void standardize_stats(Session *s) {
  for (int ci = 0; ci < s->train.ncols; ci++) {
    const DataColumn *c = &s->train.cols[ci];
    int i = input_index(s->m, c->name);
    if (i < 0 || !is_feature(s->m, i) || c->type == RT_I32 || s->mean[i]) continue;
    s->mean[i] = calloc((size_t)c->width + 1, sizeof(double));
    s->std[i] = calloc((size_t)c->width + 1, sizeof(double));
    int64_t n = s->train.n;
    for (int64_t j = 0; j < c->width; j++) {
      double sum = 0, sq = 0;
      for (int64_t r = 0; r < n; r++) sum += c->type == RT_F64 ? ((double *)c->data)[r * c->width + j]
                                                                 : ((float *)c->data)[r * c->width + j];
      double mu = n ? sum / (double)n : 0;
      for (int64_t r = 0; r < n; r++) {
        double v = c->type == RT_F64 ? ((double *)c->data)[r * c->width + j] : ((float *)c->data)[r * c->width + j];
        sq += (v - mu) * (v - mu);
      }
      double sd = n ? sqrt(sq / (double)n) : 1;
      s->mean[i][j] = mu;
      s->std[i][j] = sd > 1e-12 ? sd : 1; /* a constant column is centred, not blown up */
    }
  }
}

static void standardize(Session *s, Dataset *d) {
  for (int ci = 0; ci < d->ncols; ci++) {
    DataColumn *c = &d->cols[ci];
    int i = input_index(s->m, c->name);
    if (i < 0 || !s->mean[i] || c->type == RT_I32) continue;
    for (int64_t r = 0; r < d->n; r++)
      for (int64_t j = 0; j < c->width; j++) {
        int64_t at = r * c->width + j;
        if (c->type == RT_F64) ((double *)c->data)[at] = (((double *)c->data)[at] - s->mean[i][j]) / s->std[i][j];
        else ((float *)c->data)[at] = (float)((((float *)c->data)[at] - s->mean[i][j]) / s->std[i][j]);
      }
  }
}

/* Training and validation sets: `val_data`, or a seeded split of `data`. */
static bool load_train_val(Session *s) {
  const RunConfig *c = s->c;
  if (!c->has_data) return rt_error("no training data: set `data` in the train block or pass --data FILE");
  Dataset all = {0};
  if (!load_source(s, &c->data, false, &all)) return false;
  int64_t *perm = malloc(sizeof *perm * (size_t)(all.n + 1));
  for (int64_t i = 0; i < all.n; i++) perm[i] = i;
  rng_shuffle(&s->rng, perm, all.n);
  int64_t ntrain = all.n;
  if (!c->has_val_data && c->split > 0) {
    ntrain = (int64_t)llround(c->split * (double)all.n);
    if (ntrain < 1) ntrain = 1;
    if (ntrain >= all.n) ntrain = all.n - 1;
  }
  bool ok = ntrain > 0 || rt_error("%s: too few examples (%lld) to train on", c->data.file ? c->data.file : "data",
                                   (long long)all.n);
  ok = ok && data_take(&all, perm, ntrain, &s->train);
  if (ok && c->has_val_data) ok = s->has_val = load_source(s, &c->val_data, false, &s->val);
  else if (ok && ntrain < all.n) ok = s->has_val = data_take(&all, perm + ntrain, all.n - ntrain, &s->val);
  free(perm);
  data_free(&all);
  return ok && bind_syms_from_data(s, &s->train);
}

/* ---- the param block and the buffers --------------------------------------------- */

static bool alloc_block(Session *s) {
  const Model *m = s->m;
  s->es = rt_type_size(m->dtype);
  if (m->nparams > 256) return rt_error("the runtime handles at most 256 params, this model has %d", m->nparams);
  int nstate = s->opt.nstate;
  size_t bytes = (size_t)(m->block_size * 2 + m->trained_size * nstate) * s->es + 64;
  s->block = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!s->block) return rt_error("out of memory for %zu bytes of params", bytes);
  memset(s->block, 0, (bytes + 63) / 64 * 64);
  s->params = s->block;
  s->grads = s->params + (size_t)m->block_size * s->es;
  for (int k = 0; k < nstate; k++) s->opt.state[k] = s->grads + (size_t)(m->block_size + k * m->trained_size) * s->es;
  s->opt.n = m->trained_size;
  s->opt.type = m->dtype;
  for (int i = 0; i < m->nparams; i++) s->param_ptrs[i] = s->params + (size_t)m->params[i].offset * s->es;
  return true;
}

static int64_t workspace_at(const Session *s, const DmlEntry *e, const char *const *syms, int nsyms, int64_t n) {
  int64_t dims[MAX_SYMS];
  dims_for(s, syms, nsyms, n, dims);
  return e && e->workspace ? e->workspace(dims) : 0;
}

static int64_t pred_width(const Session *s) {
  int64_t w = known_width(s, &s->m->pred_out);
  return w > 0 ? w : 1;
}

/* Buffers for `cap` examples: one batch of each loss input, predictions,
 * and the workspace of the largest entry point. */
static bool alloc_buffers(Session *s, int64_t cap) {
  const Model *m = s->m;
  s->cap = cap;
  for (int i = 0; i < m->ninputs; i++) {
    int64_t w = known_width(s, &m->inputs[i]);
    if (w < 0) return rt_error("the size of `%s` per example is unknown; give data for it", m->input_names[i]);
    s->batch_bufs[i] = aligned_alloc(64, ((size_t)(cap * w) * rt_type_size(m->inputs[i].type) + 64) / 64 * 64);
  }
  int64_t pw = pred_width(s);
  s->pred_buf = aligned_alloc(64, ((size_t)(cap * pw) * s->es + 64) / 64 * 64);
  int64_t ws = 0;
  for (int64_t n = cap; n >= 1; n = n > 1 && n == cap ? 1 : 0) { /* the largest and smallest batch */
    int64_t a = workspace_at(s, m->loss, m->dims, m->ndims, n), b = workspace_at(s, m->loss_grad, m->dims, m->ndims, n),
            c = workspace_at(s, m->predict, m->pred_dims, m->npred_dims, n);
    ws = a > ws ? a : ws;
    ws = b > ws ? b : ws;
    ws = c > ws ? c : ws;
  }
  s->workspace = aligned_alloc(64, (size_t)(ws + 64) / 64 * 64);
  return s->workspace && s->pred_buf ? true : rt_error("out of memory for the workspace (%lld bytes)", (long long)ws);
}

static void session_free(Session *s) {
  free(s->block);
  for (int i = 0; i < MAX_INPUTS; i++) {
    free(s->batch_bufs[i]);
    free(s->mean[i]);
    free(s->std[i]);
  }
  free(s->pred_buf);
  free(s->workspace);
  free(s->order);
  data_free(&s->train);
  data_free(&s->val);
}

/* Copy examples idx[0..k) of d into the batch buffers. */
static void fill_batch(Session *s, const Dataset *d, const int64_t *idx, int64_t k) {
  for (int ci = 0; ci < d->ncols; ci++) {
    int i = input_index(s->m, d->cols[ci].name);
    if (i >= 0) data_gather(&d->cols[ci], idx, k, s->batch_bufs[i]);
  }
}

static bool call(Session *s, const DmlEntry *e, const char *const *syms, int nsyms, int64_t n, void *const *inputs,
                 void *const *outputs) {
  int64_t dims[MAX_SYMS];
  dims_for(s, syms, nsyms, n, dims);
  if (e->fn(dims, inputs, s->param_ptrs, outputs, s->workspace) != 0) return rt_error("%s", dmlrt_error());
  return true;
}

/* loss_grad's outputs: the loss into loss_val, each gradient into its
 * place in the gradient block. */
static void grad_outputs(Session *s, void **outputs, double *loss_val) {
  outputs[0] = loss_val;
  for (int g = 0; g < s->m->ngrads; g++) outputs[g + 1] = s->grads + (size_t)s->m->params[s->m->grads[g]].offset * s->es;
}

/* The loss on a batch already in the buffers. */
static bool batch_loss(Session *s, int64_t n, double *loss) {
  double out[1];
  void *outputs[1] = {out};
  if (!call(s, s->m->loss, s->m->dims, s->m->ndims, n, s->batch_bufs, outputs)) return false;
  *loss = get(s, out, 0);
  return true;
}

/* ---- evaluation ------------------------------------------------------------------ */

typedef struct Score {
  double loss, metric;
  int64_t n;
} Score;

static bool predict_batch(Session *s, int64_t n) {
  void *inputs[MAX_INPUTS];
  for (int k = 0; k < s->m->npred_inputs; k++) inputs[k] = s->batch_bufs[s->m->pred_inputs[k]];
  void *outputs[1] = {s->pred_buf};
  return call(s, s->m->predict, s->m->pred_dims, s->m->npred_dims, n, inputs, outputs);
}


/* Correct predictions (accuracy) or the squared error (rmse) of a batch. */
static double batch_metric(Session *s, int64_t n) {
  const Model *m = s->m;
  const void *label = s->batch_bufs[m->label];
  int64_t w = pred_width(s);
  double acc = 0;
  if (strcmp(m->metric, "rmse") == 0) { /* every value of every example */
    for (int64_t k = 0; k < n * w; k++) {
      double e = get(s, s->pred_buf, k) - get(s, label, k);
      acc += e * e;
    }
    return acc / (double)w;
  }
  for (int64_t r = 0; r < n; r++) {
    double y = m->inputs[m->label].type == RT_I32 ? ((const int32_t *)label)[r] : get(s, label, r);
    if (w == 1) {
      acc += (get(s, s->pred_buf, r) > 0.5) == (y > 0.5);
    } else {
      int64_t best = 0;
      for (int64_t k = 1; k < w; k++)
        if (get(s, s->pred_buf, r * w + k) > get(s, s->pred_buf, r * w + best)) best = k;
      acc += (double)best == y;
    }
  }
  return acc;
}

static bool evaluate(Session *s, const Dataset *d, Score *out) {
  *out = (Score){0, NAN, d->n};
  double loss = 0, metric = 0;
  bool with_metric = strcmp(s->m->metric, "none") != 0 && s->m->predict;
  int64_t idx[4096];
  for (int64_t at = 0; at < d->n;) {
    int64_t k = d->n - at < s->cap ? d->n - at : s->cap;
    if (k > 4096) k = 4096;
    for (int64_t i = 0; i < k; i++) idx[i] = at + i;
    fill_batch(s, d, idx, k);
    double l;
    if (!batch_loss(s, k, &l)) return false;
    loss += l * (double)k;
    if (with_metric) {
      if (!predict_batch(s, k)) return false;
      metric += batch_metric(s, k);
    }
    at += k;
  }
  out->loss = d->n ? loss / (double)d->n : NAN;
  if (with_metric && d->n) out->metric = strcmp(s->m->metric, "rmse") == 0 ? sqrt(metric / (double)d->n) : metric / (double)d->n;
  return true;
}

static void format_metric(const Session *s, double v, char *buf, size_t n) {
  if (isnan(v)) snprintf(buf, n, "-");
  else if (strcmp(s->m->metric, "accuracy") == 0) snprintf(buf, n, "%.2f%%", 100 * v);
  else snprintf(buf, n, "%.4g", v);
}

/* ---- non-finite values ------------------------------------------------------------- */

/* "W1[12, 3]" for element k of param p. */
static void element_name(const RtParam *p, int64_t k, char *buf, size_t n) {
  int len = snprintf(buf, n, "%s", p->name);
  if (p->shape.rank == 0) return;
  int64_t idx[RT_MAX_RANK];
  for (int i = p->shape.rank - 1; i >= 0; i--) {
    idx[i] = k % p->shape.dims[i];
    k /= p->shape.dims[i];
  }
  for (int i = 0; i < p->shape.rank && len > 0 && (size_t)len < n; i++)
    len += snprintf(buf + len, n - (size_t)len, "%s%lld", i ? ", " : "[", (long long)idx[i]);
  if (len > 0 && (size_t)len < n) snprintf(buf + len, n - (size_t)len, "]");
}

/* A clear stop at the first non-finite gradient, naming the param. */
static bool check_finite(Session *s, double loss, int epoch, int64_t batch) {
  const Model *m = s->m;
  if (!isfinite(loss)) {
    const char *w = m->loss_where;
    return rt_error_at(w, 0, 0, "the loss became %g at epoch %d, batch %lld; lower the learning rate or clip gradients "
                                "(--clip 1)", loss, epoch, (long long)batch);
  }
  for (int g = 0; g < m->ngrads; g++) {
    const RtParam *p = &m->params[m->grads[g]];
    for (int64_t k = 0; k < p->size; k++) {
      double v = get(s, s->grads, p->offset + k);
      if (isfinite(v)) continue;
      char name[160];
      element_name(p, k, name, sizeof name);
      return rt_error_at(p->where, 0, 0, "the gradient of `%s` is not finite at epoch %d, batch %lld: d_%s = %g",
                         p->name, epoch, (long long)batch, name, v);
    }
  }
  return true;
}

/* ---- checkpoints ----------------------------------------------------------------- */

static RtType param_type(const Session *s) { return s->m->dtype; }

static void shape_str(const int64_t *dims, int rank, char *buf, size_t n) {
  int len = snprintf(buf, n, "[");
  for (int i = 0; i < rank && len > 0 && (size_t)len < n; i++)
    len += snprintf(buf + len, n - (size_t)len, "%s%lld", i ? ", " : "", (long long)dims[i]);
  if (len > 0 && (size_t)len < n) snprintf(buf + len, n - (size_t)len, "]");
}

static bool save_checkpoint(Session *s, const char *path) {
  const Model *m = s->m;
  int cap = m->nparams * 3 + 2 * MAX_INPUTS;
  CkTensor *t = calloc((size_t)cap, sizeof *t);
  char *names = calloc((size_t)cap, 300);
  int n = 0;
  /* f64 statistics first, then the params: the data stay aligned to their element size */
  for (int i = 0; i < MAX_INPUTS; i++) {
    if (!s->mean[i]) continue;
    int64_t w = known_width(s, &m->inputs[i]);
    for (int k = 0; k < 2; k++) {
      CkTensor *x = &t[n];
      x->name = names + 300 * n++;
      snprintf(x->name, 300, "standardize.%s.%s", k ? "std" : "mean", m->input_names[i]);
      *x = (CkTensor){x->name, RT_F64, 1, {w}, k ? s->std[i] : s->mean[i]};
    }
  }
  for (int i = 0; i < m->nparams; i++) {
    const RtParam *p = &m->params[i];
    for (int k = -1; k < (p->trained ? s->opt.nstate : 0); k++) {
      CkTensor *x = &t[n];
      x->name = names + 300 * n++;
      snprintf(x->name, 300, k < 0 ? "%s" : "optimizer.%s.%d", p->name, k);
      x->type = param_type(s);
      x->rank = p->shape.rank;
      memcpy(x->dims, p->shape.dims, sizeof x->dims);
      x->data = (k < 0 ? s->params : (char *)s->opt.state[k]) + (size_t)p->offset * s->es;
    }
  }
  char epoch[32], steps[32], rng[65];
  snprintf(epoch, sizeof epoch, "%d", s->epoch);
  snprintf(steps, sizeof steps, "%lld", (long long)s->opt.t);
  rng_to_hex(&s->rng, rng);
  CkMeta meta[] = {{"format", "dmlc checkpoint 1"},   {"model", (char *)m->name},  {"dtype", (char *)rt_type_name(m->dtype)},
                   {"epoch", epoch},                   {"steps", steps},            {"optimizer", (char *)s->opt.name},
                   {"rng", rng}};
  bool ok = ckpt_save(path, t, n, meta, (int)(sizeof meta / sizeof meta[0]));
  free(t);
  free(names);
  return ok;
}

/* The first of data[0..n) (the model's float type) that is not finite, or -1. */
static int64_t first_non_finite(const Session *s, const void *data, int64_t n) {
  for (int64_t k = 0; k < n; k++)
    if (!isfinite(get(s, data, k))) return k;
  return -1;
}

/* Tensor `name` into dst, if it has p's dtype and shape and only finite
 * values (a run that diverged saves NaNs; eval would print `loss nan`). */
static bool copy_tensor(Session *s, const Checkpoint *ck, const char *path, const char *name, const RtParam *p,
                        void *dst) {
  const CkTensor *x = ckpt_find(ck, name);
  if (!x) return rt_error_at(path, 0, 0, "the checkpoint has no tensor `%s` (declared at %s)", name, p->where);
  bool same = x->rank == p->shape.rank && x->type == s->m->dtype;
  for (int i = 0; same && i < x->rank; i++) same = x->dims[i] == p->shape.dims[i];
  if (!same) {
    char a[128], b[128];
    shape_str(x->dims, x->rank, a, sizeof a);
    shape_str(p->shape.dims, p->shape.rank, b, sizeof b);
    return rt_error_at(path, 0, 0, "`%s` is %s%s in the checkpoint, but the model's `%s` is %s%s (%s)", name,
                       rt_type_name(x->type), a, p->name, rt_type_name(s->m->dtype), b, p->where);
  }
  int64_t bad = first_non_finite(s, x->data, p->size);
  if (bad >= 0) {
    char at[160];
    element_name(p, bad, at, sizeof at);
    return rt_error_at(path, 0, 0, "`%s` in the checkpoint is not finite: %s = %g", name, at, get(s, x->data, bad));
  }
  memcpy(dst, x->data, (size_t)p->size * s->es);
  return true;
}

/* standardize.mean.INPUT and standardize.std.INPUT of loss input i, when
 * the checkpoint has them: f64 vectors of the input's width, finite, the
 * deviations positive (inputs are divided by them). */
static bool load_standardization(Session *s, const Checkpoint *ck, const char *path, int i) {
  const Model *m = s->m;
  for (int k = 0; k < 2; k++) {
    char name[300];
    snprintf(name, sizeof name, "standardize.%s.%s", k ? "std" : "mean", m->input_names[i]);
    const CkTensor *x = ckpt_find(ck, name);
    if (!x) continue;
    int64_t w = known_width(s, &m->inputs[i]);
    if (x->type != RT_F64 || x->rank != 1 || (w >= 0 && x->dims[0] != w))
      return rt_error_at(path, 0, 0, "`%s` must be a f64 vector of %lld values", name, (long long)w);
    const double *v = x->data;
    for (int64_t j = 0; j < x->dims[0]; j++)
      if (!isfinite(v[j]) || (k && v[j] <= 0))
        return rt_error_at(path, 0, 0, "`%s` must hold finite%s values: [%lld] is %g", name, k ? " positive" : "",
                           (long long)j, v[j]);
    double **dst = k ? &s->std[i] : &s->mean[i];
    free(*dst);
    *dst = malloc(sizeof(double) * (size_t)(x->dims[0] + 1));
    memcpy(*dst, x->data, sizeof(double) * (size_t)x->dims[0]);
  }
  return true;
}

#define MAX_STEPS 9007199254740992LL /* 2^53: any real count, and far from overflowing */

/* The metadata of a dmlc checkpoint, each field checked (the file may come
 * from anywhere: an epoch of -5 once wrote past the log's rows); with
 * `resume`, the epoch, the step count and the generator continue from it.
 * Another tool's safetensors file (no "format": "dmlc checkpoint 1") has
 * metadata of its own: --load takes its tensors, --resume refuses it. */
static bool load_run_state(Session *s, const Checkpoint *ck, const char *path, bool resume) {
  static const char *const required[] = {"optimizer", "epoch", "steps", "rng"};
  const char *format = ckpt_meta(ck, "format"), *dtype = ckpt_meta(ck, "dtype"), *rng = ckpt_meta(ck, "rng");
  const char *opt = ckpt_meta(ck, "optimizer"), *why = NULL;
  bool ours = format && strcmp(format, "dmlc checkpoint 1") == 0;
  if (resume && !ours)
    return format ? ckpt_meta_bad(path, "format", format, "--resume continues only runs dmlc saved (\"dmlc checkpoint 1\")")
                  : rt_error_at(path, 0, 0, "the checkpoint has no \"format\" in its metadata: --resume continues only "
                                            "runs dmlc saved");
  if (!ours) return true;
  for (int i = 0; resume && i < 4; i++)
    if (!ckpt_meta(ck, required[i]))
      return rt_error_at(path, 0, 0, "the checkpoint has no \"%s\" in its metadata, which --resume needs", required[i]);
  int64_t epoch = 0, steps = 0;
  Rng r;
  if (dtype && strcmp(dtype, rt_type_name(s->m->dtype)) != 0) {
    char said[64];
    snprintf(said, sizeof said, "the params in it and this model are %s", rt_type_name(s->m->dtype));
    return ckpt_meta_bad(path, "dtype", dtype, said);
  }
  if (ckpt_meta(ck, "epoch") && !ckpt_meta_int(ck, path, "epoch", 0, INT_MAX, &epoch)) return false;
  if (ckpt_meta(ck, "steps") && !ckpt_meta_int(ck, path, "steps", 0, MAX_STEPS, &steps)) return false;
  if (rng && (why = rng_from_hex(&r, rng)) != NULL) return ckpt_meta_bad(path, "rng", rng, why);
  if (!resume) return true;
  if (strcmp(opt, s->opt.name) != 0)
    return rt_error_at(path, 0, 0, "the checkpoint was trained with `%s`, this run uses `%s`; resume with the same "
                                   "optimizer", opt, s->opt.name);
  s->epoch = (int)epoch;
  s->opt.t = steps;
  s->rng = r;
  return true;
}

/* Params (and standardisation); with `resume`, also the optimizer state,
 * the epoch, the step count and the random generator. */
static bool load_checkpoint(Session *s, const char *path, bool resume) {
  Checkpoint ck = {0};
  if (!ckpt_load(path, &ck)) return false;
  const Model *m = s->m;
  bool ok = true;
  const char *model = ckpt_meta(&ck, "model");
  if (model && strcmp(model, m->name) != 0 && !s->c->quiet)
    fprintf(stderr, "%s: warning: the checkpoint was written by model `%s`, this is `%s`\n", path, model, m->name);
  for (int i = 0; ok && i < m->nparams; i++) {
    const RtParam *p = &m->params[i];
    ok = copy_tensor(s, &ck, path, p->name, p, s->params + (size_t)p->offset * s->es);
    for (int k = 0; ok && resume && p->trained && k < s->opt.nstate; k++) {
      char name[300];
      snprintf(name, sizeof name, "optimizer.%s.%d", p->name, k);
      ok = copy_tensor(s, &ck, path, name, p, (char *)s->opt.state[k] + (size_t)p->offset * s->es);
    }
  }
  for (int i = 0; ok && i < m->ninputs; i++) ok = load_standardization(s, &ck, path, i);
  ok = ok && load_run_state(s, &ck, path, resume);
  ckpt_free(&ck);
  return ok;
}

/* ---- the training loop ------------------------------------------------------------- */

typedef struct Progress {
  bool on;                    /* a live bar on stderr */
  double start, last;         /* of the epoch, of the last redraw */
} Progress;

static void draw_progress(Progress *p, int epoch, int epochs, int64_t done, int64_t total, double loss, int64_t examples) {
  double t = now();
  if (!p->on || (t - p->last < 0.1 && done < total)) return;
  p->last = t;
  double rate = t > p->start ? (double)examples / (t - p->start) : 0;
  double eta = done ? (t - p->start) * (double)(total - done) / (double)done : 0;
  char bar[31];
  int fill = total ? (int)(30 * done / total) : 30;
  for (int i = 0; i < 30; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
  bar[30] = 0;
  fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld  loss %.4f  %.0f ex/s  ETA %.1f s", epoch, epochs, bar,
          (long long)done, (long long)total, loss, rate, eta);
  fflush(stderr);
}

static void clear_progress(Progress *p) {
  if (p->on) fputs("\r\033[K", stderr);
}

/* ---- what training writes as it goes: the log and the picture ---------------------- */

/* The SVG is redrawn at most this often during training, and at its end:
 * a picture of every epoch, each a rewrite of the whole file, cost more
 * than the epochs of a small model. */
#define PLOT_INTERVAL 5.0 /* seconds */

typedef struct Record {
  const RunConfig *c;
  const char *title, *metric; /* of the picture; metric NULL: none */
  OutFile log;
  bool logging;
  bool second_order;          /* iterations: 17 digits and a grad_norm column */
  EpochRow *rows;             /* everything so far, for the picture */
  int nrows, cap;
  double t0, plotted;         /* when training started, when the picture was drawn */
} Record;

/* Every output of a run, before the data are read and anything is
 * trained: an unwritable --save must not cost the whole run. */
static bool check_outputs(const RunConfig *c) {
  const char *paths[3] = {c->log_path, c->plot_path, c->save_path};
  for (int i = 0; i < 3; i++) {
    const char *why = paths[i] ? outfile_check(paths[i]) : NULL;
    if (why) return rt_error("cannot write %s: %s", paths[i], why);
  }
  return true;
}

/* The log is named at once, with its header, and then grows a line per
 * epoch, so that it can be followed during training; it is created only
 * now that training is ready to start. */
static bool record_open(Record *r, const Session *s) {
  const RunConfig *c = s->c;
  *r = (Record){.c = c, .title = s->m->name, .metric = strcmp(s->m->metric, "none") ? s->m->metric : NULL,
                .second_order = c->second_order, .t0 = now()};
  r->plotted = r->t0;
  r->cap = (c->second_order ? c->so2.max_iters : c->epochs) + 2;
  r->rows = calloc((size_t)r->cap, sizeof *r->rows);
  if (!r->rows) return rt_error("out of memory for the training log");
  const char *why = c->log_path ? outfile_open(&r->log, c->log_path) : NULL;
  if (c->log_path && !why) {
    fprintf(r->log.stream, "epoch,train_loss,val_loss,val_metric,seconds%s\n", r->second_order ? ",grad_norm" : "");
    why = outfile_publish(&r->log);
  }
  r->logging = c->log_path && !why;
  return !why || rt_error("cannot write %s: %s", c->log_path, why);
}

/* One epoch (iteration): a line of the log, and the picture when it is due. */
static bool record_row(Record *r, const EpochRow *row, double grad_norm) {
  if (r->nrows < r->cap) r->rows[r->nrows++] = *row;
  if (r->logging) {
    FILE *f = r->log.stream;
    if (r->second_order)
      fprintf(f, "%d,%.17g,%.17g,%.17g,%.3f,%.6g\n", row->epoch, row->train_loss, row->val_loss, row->val_metric,
              row->seconds, grad_norm);
    else
      fprintf(f, "%d,%.9g,%.9g,%.9g,%.3f\n", row->epoch, row->train_loss, row->val_loss, row->val_metric, row->seconds);
    if (fflush(f) != 0) return rt_error("cannot write %s: %s", r->c->log_path, strerror(errno));
  }
  if (!r->c->plot_path || now() - r->plotted < PLOT_INTERVAL) return true;
  r->plotted = now();
  return plot_svg(r->c->plot_path, r->title, r->rows, r->nrows, r->metric);
}

/* The end of training: the final picture and the log closed. After a
 * failed run (its message already set) the log is kept as far as it goes
 * and the picture as last drawn. */
static bool record_close(Record *r, bool ok) {
  if (ok && r->c->plot_path) ok = plot_svg(r->c->plot_path, r->title, r->rows, r->nrows, r->metric);
  const char *why = r->logging ? outfile_commit(&r->log) : NULL;
  if (ok && why) ok = rt_error("cannot write %s: %s", r->c->log_path, why);
  free(r->rows);
  r->rows = NULL;
  return ok;
}

/* One epoch over the shuffled training set; returns the mean batch loss. */
static bool train_epoch(Session *s, Progress *pr, int64_t *step, int64_t total_steps, double *mean_loss) {
  const Model *m = s->m;
  const RunConfig *c = s->c;
  int64_t n = s->train.n, per_epoch = (n + c->batch - 1) / c->batch;
  for (int64_t i = 0; i < n; i++) s->order[i] = i;
  rng_shuffle(&s->rng, s->order, n);
  void *outputs[257];
  double loss_val[1];
  grad_outputs(s, outputs, loss_val);
  double sum = 0;
  pr->start = pr->last = now();
  for (int64_t b = 0, at = 0; at < n; b++, at += c->batch) {
    int64_t k = n - at < c->batch ? n - at : c->batch; /* the last batch may be partial */
    fill_batch(s, &s->train, s->order + at, k);
    if (!call(s, m->loss_grad, m->dims, m->ndims, k, s->batch_bufs, outputs)) return false;
    double loss = get(s, loss_val, 0);
    if (!check_finite(s, loss, s->epoch + 1, b + 1)) return false;
    double scale = 1;
    if (c->clip > 0) {
      double norm = optim_grad_norm(s->grads, m->trained_size, m->dtype);
      if (norm > c->clip) scale = c->clip / norm;
    }
    double lr = schedule_lr(&c->sched, s->opt.lr, *step, per_epoch, total_steps);
    optim_step(&s->opt, s->params, s->grads, lr, scale);
    ++*step;
    sum += loss * (double)k;
    draw_progress(pr, s->epoch + 1, c->epochs, b + 1, per_epoch, sum / (double)(at + k), at + k);
  }
  *mean_loss = n ? sum / (double)n : NAN;
  return true;
}

typedef enum { DATA_NONE, DATA_TRAIN, DATA_FEATURES } DataMode;

/* Load data (training and validation sets, or only predict's inputs from
 * --data), set up the params (fresh, --load or --resume) and buffers. */
static bool session_open(Session *s, const Model *m, const RunConfig *c, DataMode mode) {
  memset(s, 0, sizeof *s);
  s->m = m;
  s->c = c;
  s->opt = c->opt;
  rng_seed(&s->rng, (uint64_t)c->seed);
  if (!alloc_block(s)) return false;
  model_init_params(m, s->params, &s->rng);
  if (mode == DATA_TRAIN) {
    if (!load_train_val(s)) return false;
    if (c->standardize) standardize_stats(s);
  } else if (mode == DATA_FEATURES) {
    if (!c->has_data) return rt_error("predict needs data: --data FILE");
    if (!load_source(s, &c->data, true, &s->train) || !bind_syms_from_data(s, &s->train)) return false;
  }
  const char *ck = c->resume_path ? c->resume_path : c->load_path;
  if (ck && !load_checkpoint(s, ck, c->resume_path != NULL)) return false;
  if (mode == DATA_FEATURES && c->standardize && !s->mean[m->pred_inputs[0]])
    return rt_error("the model standardizes its inputs, so predict needs the statistics saved with the params: "
                    "--load CHECKPOINT");
  standardize(s, &s->train);
  if (s->has_val) standardize(s, &s->val);
  s->order = malloc(sizeof *s->order * (size_t)(s->train.n + 1));
  return alloc_buffers(s, c->batch);
}

static bool train_full_batch(Session *s);

/* With l1: how many trained values the penalty made exactly zero. */
static void print_l1_zeros(const Session *s) {
  const Model *m = s->m;
  int64_t zeros = 0, total = 0;
  for (int g = 0; g < m->ngrads; g++) {
    const RtParam *p = &m->params[m->grads[g]];
    for (int64_t e = 0; p->trained && e < p->size; e++) zeros += get(s, s->params, p->offset + e) == 0;
    total += p->trained ? p->size : 0;
  }
  printf("l1 %g: %lld of %lld trained values are exactly zero\n", s->c->opt.l1, (long long)zeros, (long long)total);
}

/* Epochs up to --epochs (continuing a checkpoint's count after --resume),
 * after epoch 0, the starting params, when training starts afresh. */
static bool train_epochs(Session *s) {
  const Model *m = s->m;
  const RunConfig *c = s->c;
  Record rec;
  bool ok = record_open(&rec, s);
  Progress pr = {.on = !c->quiet && (c->progress == 1 || (c->progress < 0 && isatty(2)))};
  int64_t per_epoch = (s->train.n + c->batch - 1) / c->batch, step = (int64_t)s->epoch * per_epoch;
  int64_t total = per_epoch * c->epochs;
  if (ok && !c->quiet)
    printf("training %s: %lld examples, %lld for validation, batch %lld, %s, %d epoch%s\n", m->name,
           (long long)s->train.n, (long long)(s->has_val ? s->val.n : 0), (long long)c->batch, c->opt.name, c->epochs,
           c->epochs == 1 ? "" : "s");
  if (ok && s->epoch >= c->epochs && !c->quiet) printf("the checkpoint has already trained %d epochs\n", s->epoch);
  Score val = {NAN, NAN, 0};
  if (ok && s->has_val && s->epoch == 0) { /* epoch 0: where training starts from */
    ok = evaluate(s, &s->val, &val);
    EpochRow r = {0, NAN, val.loss, val.metric, now() - rec.t0};
    if (ok) ok = record_row(&rec, &r, NAN);
    if (ok && !c->quiet) {
      char metric[32];
      format_metric(s, r.val_metric, metric, sizeof metric);
      printf("epoch %*d/%d  %-16s  val loss %.4f", c->epochs >= 10 ? 2 : 1, 0, c->epochs, "(initial params)", r.val_loss);
      if (!isnan(r.val_metric)) printf("  val %s %s", m->metric, metric);
      printf("\n");
    }
  }
  while (ok && s->epoch < c->epochs) {
    double tl;
    double te = now();
    ok = train_epoch(s, &pr, &step, total, &tl);
    clear_progress(&pr);
    if (ok && s->has_val) ok = evaluate(s, &s->val, &val);
    if (!ok) break;
    s->epoch++;
    EpochRow r = {s->epoch, tl, s->has_val ? val.loss : NAN, s->has_val ? val.metric : NAN, now() - rec.t0};
    ok = record_row(&rec, &r, NAN);
    if (!c->quiet) {
      char metric[32];
      format_metric(s, r.val_metric, metric, sizeof metric);
      printf("epoch %*d/%d  train loss %.4f", c->epochs >= 10 ? 2 : 1, s->epoch, c->epochs, tl);
      if (s->has_val) printf("  val loss %.4f", r.val_loss);
      if (s->has_val && !isnan(r.val_metric)) printf("  val %s %s", m->metric, metric);
      double dt = now() - te;
      if (dt < 1) printf("  %.1f ms", 1e3 * dt);
      else printf("  %.2f s", dt);
      printf("  %.0f ex/s\n", dt > 0 ? (double)s->train.n / dt : 0);
      fflush(stdout);
    }
  }
  if (ok && c->opt.l1 > 0 && !c->quiet) print_l1_zeros(s); /* what the proximal step bought */
  return record_close(&rec, ok);
}

int run_train(const Model *m, const RunConfig *c) {
  if (!m->ngrads) return rt_error("the loss depends on no param: there is nothing to train"), 1;
  if (!check_outputs(c)) return 1;
  Session s;
  bool ok = session_open(&s, m, c, DATA_TRAIN);
  if (ok) ok = c->second_order ? train_full_batch(&s) : train_epochs(&s);
  if (ok && c->save_path) ok = save_checkpoint(&s, c->save_path);
  if (ok && !c->quiet && c->save_path) printf("saved %s\n", c->save_path);
  session_free(&s);
  return ok ? 0 : 1;
}

/* ---- eval, predict ------------------------------------------------------------------ */

static void print_score(const Session *s, const char *what, const Score *sc) {
  char metric[32];
  format_metric(s, sc->metric, metric, sizeof metric);
  printf("%s: %lld examples  loss %.6g", what, (long long)sc->n, sc->loss);
  if (!isnan(sc->metric)) printf("  %s %s", s->m->metric, metric);
  putchar('\n');
}

/* Without --data: the validation part of the training data (or all of it
 * when there is none); with --data: that file, read like the train data. */
int run_eval(const Model *m, const RunConfig *c) {
  Session s;
  bool ok = session_open(&s, m, c, DATA_TRAIN);
  Score sc;
  if (ok && !c->load_path && !c->resume_path && !c->quiet)
    fprintf(stderr, "warning: no --load: evaluating the initial params\n");
  if (ok) {
    const Dataset *d = s.has_val ? &s.val : &s.train;
    ok = evaluate(&s, d, &sc);
    if (ok) print_score(&s, s.has_val ? "validation" : "data", &sc);
  }
  session_free(&s);
  return ok ? 0 : 1;
}

int run_predict(const Model *m, const RunConfig *c) {
  if (!m->predict) return rt_error("this model has no usable `fn predict`; see `info`"), 1;
  Session s;
  bool ok = session_open(&s, m, c, DATA_FEATURES);
  if (ok && !c->load_path && !c->quiet) fprintf(stderr, "warning: no --load: predicting with the initial params\n");
  int64_t w = pred_width(&s), n = s.train.n;
  bool classes = strcmp(m->metric, "accuracy") == 0 && w > 1 && !c->scores;
  double *out = ok ? malloc(sizeof *out * (size_t)(n * (classes ? 1 : w) + 1)) : NULL;
  int64_t idx[4096];
  for (int64_t at = 0; ok && at < n;) {
    int64_t k = n - at < s.cap ? n - at : s.cap;
    if (k > 4096) k = 4096;
    for (int64_t i = 0; i < k; i++) idx[i] = at + i;
    fill_batch(&s, &s.train, idx, k);
    ok = predict_batch(&s, k);
    for (int64_t r = 0; ok && r < k; r++) {
      if (classes) {
        int64_t best = 0;
        for (int64_t j = 1; j < w; j++)
          if (get(&s, s.pred_buf, r * w + j) > get(&s, s.pred_buf, r * w + best)) best = j;
        out[at + r] = (double)best;
      } else {
        for (int64_t j = 0; j < w; j++) out[(at + r) * w + j] = get(&s, s.pred_buf, r * w + j);
      }
    }
    at += k;
  }
  /* printed only once everything is computed: an error leaves no partial output */
  for (int64_t r = 0; ok && r < n; r++) {
    if (classes) printf("%lld\n", (long long)out[r]);
    else
      for (int64_t j = 0; j < w; j++) printf("%.9g%c", out[r * w + j], j + 1 < w ? ',' : '\n');
  }
  free(out);
  session_free(&s);
  return ok ? 0 : 1;
}

/* ---- gradcheck -------------------------------------------------------------------- */

/* The check of one param ends in one of these. An inconclusive check is
 * no pass: the differences could not tell, at any step tried, whether the
 * gradient agrees to the tolerance (f32 rounding of the loss, or kinks). */
typedef enum { CK_OK, CK_FAILED, CK_INCONCLUSIVE } Verdict;

typedef struct Check {
  Session *s;
  int64_t k;                  /* examples in the batch */
  double floor;               /* errors are relative to max(|a|, |b|, floor) */
  double tol;
  double loss0;               /* the loss at the point */
  const RtParam *p;           /* the param being checked */
  double *w0;                 /* its values at the point */
  const double *v;            /* the direction of the segment (NULL: the unit vector of entry `at`) */
  int64_t at;
} Check;

/* Params at the point moved by t along the check's direction. */
static void move_by(Check *ck, double t) {
  Session *s = ck->s;
  const RtParam *p = ck->p;
  if (!ck->v) {
    put(s, s->params, p->offset + ck->at, ck->w0[ck->at] + t);
    return;
  }
  for (int64_t i = 0; i < p->size; i++) put(s, s->params, p->offset + i, ck->w0[i] + t * ck->v[i]);
}

static void restore_point(Check *ck) {
  for (int64_t i = 0; i < ck->p->size; i++) put(ck->s, ck->s->params, ck->p->offset + i, ck->w0[i]);
}

/* loss_grad at the point moved by t: the derivative along the direction,
 * the loss, and the first gradient entry of the param that is not finite
 * (-1 if none). */
static bool grad_along(Check *ck, double t, double *slope, double *loss, int64_t *bad) {
  Session *s = ck->s;
  const RtParam *p = ck->p;
  void *outputs[257];
  double loss_val[1];
  grad_outputs(s, outputs, loss_val);
  move_by(ck, t);
  bool ok = call(s, s->m->loss_grad, s->m->dims, s->m->ndims, ck->k, s->batch_bufs, outputs);
  restore_point(ck);
  *loss = get(s, loss_val, 0);
  *slope = 0;
  *bad = -1;
  for (int64_t i = 0; ok && i < p->size; i++) {
    double g = get(s, s->grads, p->offset + i);
    if (!isfinite(g) && *bad < 0) *bad = i;
    if (ck->v) *slope += ck->v[i] * g;
    else if (i == ck->at) *slope = g;
  }
  return ok;
}

enum { MAX_PANELS = 256 };

/* One segment [-h, h] around the point along the direction: the loss's
 * change across it, as a mean slope, against the mean of the compiled
 * gradient over it (midpoint rule). Both are exact for a correct gradient
 * up to two errors, each estimated from the evaluations themselves: the
 * quadrature's, from the same rule on half as many panels (kinks, where
 * the gradient jumps, and curvature), and the loss's rounding, from the
 * scatter of the panels' own differences (f32 rounds the loss to a few
 * 1e-7 of its size, a large error over a small step). Where kinks
 * dominate, the panels are halved (a kink costs in proportion to the
 * width of its panel), up to 256. Kinks at the point itself (zero biases
 * on zero pixels) fall on a panel boundary and cost nothing. Every value
 * comes from loss_grad, at 2K + 1 equally spaced points for K panels: the
 * even ones are the panels' ends, the odd ones their midpoints. */
typedef struct Segment {
  double h;
  int panels;
  double secant, mean_grad; /* (L(h) - L(-h)) / 2h, and the gradient's mean along the direction */
  double mean_abs_grad;     /* the mean of its size: the scale of errors where it changes sign (a kink at 0) */
  double quad_err, noise_err;
  bool rounding;            /* the residuals look like rounding rather than kinks */
  const char *bad;          /* "loss", "gradient": a value that was not finite, at bad_t */
  double bad_t, bad_value, bad_loss;
  int64_t bad_entry;
} Segment;

/* The relative error and its uncertainty, and what they say: agreement
 * when even the worst case is within the tolerance, failure when even the
 * best case is not, and otherwise nothing. */
static Verdict judge(const Check *ck, const Segment *sg, double *err, double *res) {
  double a = sg->mean_grad, b = sg->secant;
  double scale = fmax(fmax(fabs(a), fabs(b)), fmax(sg->mean_abs_grad, ck->floor));
  *err = fabs(a - b) / scale;
  *res = (sg->quad_err + sg->noise_err) / scale;
  if (!isfinite(*err) || !isfinite(*res)) return CK_FAILED;
  if (*err - 2 * *res > ck->tol) return CK_FAILED; /* four standard deviations: a false alarm is the worse error */
  return *err + *res <= ck->tol ? CK_OK : CK_INCONCLUSIVE;
}

typedef struct Grid {
  double L[2 * MAX_PANELS + 1], g[2 * MAX_PANELS + 1];
} Grid;

/* Points i0, i0 + step, ... < n of a grid of n points over [-h, h] into G. */
static bool evaluate_grid(Check *ck, Segment *sg, Grid *G, int n, int i0, int step) {
  for (int i = i0; i < n; i += step) {
    double t = -sg->h + 2 * sg->h * i / (n - 1);
    int64_t bad;
    if (!grad_along(ck, t, &G->g[i], &G->L[i], &bad)) return false;
    if (!isfinite(G->L[i])) {
      sg->bad = "loss", sg->bad_t = t, sg->bad_value = G->L[i];
      return true;
    }
    if (bad >= 0) {
      sg->bad = "gradient", sg->bad_t = t, sg->bad_loss = G->L[i], sg->bad_entry = bad;
      sg->bad_value = get(ck->s, ck->s->grads, ck->p->offset + bad);
      return true;
    }
  }
  return true;
}

/* The estimates from a grid of 2K + 1 points (K panels). The residual of
 * panel j, r_j = L(end) - L(start) - width * g(midpoint), holds its share
 * of the total difference, the quadrature's error and rounding. Over the
 * sum, rounding cancels (each L appears in two neighbouring residuals with
 * opposite signs: neighbours are anticorrelated), kinks' errors do not
 * (independent): the sum's variance is estimated as K var + 2 (K - 1) cov
 * of neighbours, at least one panel's, at most K panels' worth. */
static void estimate(Segment *sg, const Grid *G, int K) {
  double fine = 0, coarse = 0, r[MAX_PANELS], mean = 0, var = 0, cov = 0, w = 2 * sg->h / K;
  sg->mean_abs_grad = 0;
  for (int j = 0; j < K; j++) {
    fine += G->g[2 * j + 1];
    sg->mean_abs_grad += fabs(G->g[2 * j + 1]) / K;
    if (j % 2 == 0) coarse += G->g[2 * j + 2]; /* the K/2-panel rule's midpoint is this panel's end */
    r[j] = G->L[2 * j + 2] - G->L[2 * j] - w * G->g[2 * j + 1];
    mean += r[j] / K;
  }
  for (int j = 0; j < K; j++) {
    var += (r[j] - mean) * (r[j] - mean) / (K - 1);
    if (j) cov += (r[j] - mean) * (r[j - 1] - mean) / (K - 2);
  }
  double sum_var = fmin(fmax(K * var + 2 * (K - 1) * cov, var), K * var);
  sg->panels = K;
  sg->secant = (G->L[2 * K] - G->L[0]) / (2 * sg->h);
  sg->mean_grad = fine / K;
  sg->quad_err = fabs(sg->mean_grad - coarse / (K / 2));
  sg->noise_err = 2 * sqrt(sum_var) / (2 * sg->h); /* two standard deviations */
  sg->rounding = var > 0 && cov < -0.25 * var; /* rounding alone makes the correlation -1/2, kinks 0 */
}

/* The segment, with panels halved while that makes the uncertainty
 * smaller and the verdict is still open. */
static bool segment(Check *ck, double h, Segment *sg, Grid *G) {
  *sg = (Segment){.h = h, .bad_entry = -1};
  int K = ck->v ? 16 : 8; /* an entry is checked in f64, where 8 panels resolve enough */
  double before = INFINITY;
  if (!evaluate_grid(ck, sg, G, 2 * K + 1, 0, 1)) return false;
  while (!sg->bad) {
    estimate(sg, G, K);
    double err, res, now = sg->quad_err + sg->noise_err;
    if (K == MAX_PANELS || now >= before || judge(ck, sg, &err, &res) == CK_OK) break;
    before = now;
    for (int i = 2 * K; i >= 0; i--) G->L[2 * i] = G->L[i], G->g[2 * i] = G->g[i]; /* spread out, then fill */
    K *= 2;
    if (!evaluate_grid(ck, sg, G, 2 * K + 1, 1, 2)) return false;
  }
  return true;
}

/* "W1 + 0.0125 v" or "W1[3]": where a value was evaluated. */
static void point_name(const Check *ck, double t, char *buf, size_t n) {
  char name[160];
  if (ck->v) snprintf(name, sizeof name, "%s", ck->p->name);
  else element_name(ck->p, ck->at, name, sizeof name);
  if (t == 0) snprintf(buf, n, "the point");
  else snprintf(buf, n, "%s %c %.3g%s", name, t < 0 ? '-' : '+', fabs(t), ck->v ? " v" : "");
}

/* The check along one direction (or entry): segments of decreasing length
 * while kinks or curvature dominate the uncertainty, of increasing length
 * while rounding does, until one is conclusive or the two limits meet. */
typedef struct Outcome {
  Verdict verdict;
  double err, res;          /* of the deciding (or last) segment */
  bool rounding;            /* inconclusive: rounding of the loss was the larger error */
  char why[640];            /* FAILED on a value that is not finite: what and where */
} Outcome;

static bool check_segments(Check *ck, double h, Outcome *out) {
  int moved = 0;       /* -1 shorter, +1 longer */
  double factor = 8;   /* a change of direction narrows the steps: 8, 2.8, 1.7 */
  int fails = 0;
  *out = (Outcome){CK_INCONCLUSIVE, NAN, NAN, false, ""};
  Grid *G = malloc(sizeof *G);
  for (int attempt = 0; attempt < 6; attempt++) {
    Segment sg;
    if (!segment(ck, h, &sg, G)) return free(G), false;
    char where[200];
    point_name(ck, sg.bad_t, where, sizeof where);
    if (sg.bad && strcmp(sg.bad, "gradient") == 0) {
      char entry[160];
      element_name(ck->p, sg.bad_entry, entry, sizeof entry);
      out->verdict = CK_FAILED;
      snprintf(out->why, sizeof out->why, "loss_grad gives d_%s = %g at %s, where the loss is %.9g", entry,
               sg.bad_value, where, sg.bad_loss);
      break;
    }
    if (sg.bad) { /* the loss is not finite within the segment: a shorter one, or a failure */
      snprintf(out->why, sizeof out->why, "the loss is %g at %s, near the point where it is %.9g", sg.bad_value,
               where, ck->loss0);
      if (attempt == 5) {
        out->verdict = CK_FAILED;
        break;
      }
      if (moved > 0) factor = sqrt(factor);
      moved = -1, h /= factor;
      continue;
    }
    out->verdict = judge(ck, &sg, &out->err, &out->res);
    out->rounding = sg.rounding;
    out->why[0] = 0;
    if (out->verdict == CK_OK && fails) out->verdict = CK_INCONCLUSIVE; /* two steps disagree */
    if (out->verdict == CK_OK || (fails && out->verdict == CK_INCONCLUSIVE)) break;
    if (out->verdict == CK_FAILED && ++fails == 2) break; /* a failure holds when a second step confirms it */
    if (out->verdict == CK_FAILED) { /* the same direction, a shorter step */
      h /= 2;
      continue;
    }
    int want = out->rounding ? 1 : -1;
    if (moved && want != moved) factor = sqrt(factor); /* rounding wants longer, kinks shorter: in between */
    moved = want;
    h = want > 0 ? h * factor : h / factor;
  }
  free(G);
  return true;
}

/* v ~ N(0, I), drawn again (up to 20 times) while the derivative along it,
 * g . v ~ N(0, |g|^2), is below half its typical size |g|: errors are
 * relative to the derivative, and along a direction almost orthogonal to
 * the gradient a wrong gradient would look only slightly wrong. */
static void random_direction(Session *s, const RtParam *p, double *v) {
  double gg = 0, gv = 0;
  for (int64_t i = 0; i < p->size; i++) gg += get(s, s->grads, p->offset + i) * get(s, s->grads, p->offset + i);
  for (int draw = 0; draw < 20 && (draw == 0 || fabs(gv) < 0.5 * sqrt(gg)); draw++) {
    gv = 0;
    for (int64_t i = 0; i < p->size; i++) v[i] = rng_normal(&s->rng), gv += v[i] * get(s, s->grads, p->offset + i);
  }
}

/* One param: along a random direction in every build, then entry by entry
 * in f64 builds (single entries of an f32 loss drown in rounding). */
static bool check_param(Check *ck, const RtParam *p, int entries, Verdict *verdict, bool *rounding) {
  Session *s = ck->s;
  bool f64 = s->m->dtype == RT_F64;
  double *v = malloc(sizeof *v * (size_t)(p->size + 1)), *w0 = malloc(sizeof *w0 * (size_t)(p->size + 1));
  for (int64_t i = 0; i < p->size; i++) w0[i] = get(s, s->params, p->offset + i);
  random_direction(s, p, v);
  ck->p = p, ck->w0 = w0, ck->v = v;
  Outcome dir;
  bool ok = check_segments(ck, (f64 ? 1e-5 : 1e-1) / sqrt((double)p->size), &dir);
  printf("  %-12s ", p->name);
  if (ok && dir.why[0]) printf("direction: %s", dir.why);
  else if (ok) printf("direction %.2e (± %.1e)", dir.err, dir.res);
  Verdict worst = ok ? dir.verdict : CK_FAILED;
  /* entries: every one of a small param, else a sample */
  int64_t count = f64 && ok && !dir.why[0] ? (p->size < entries ? p->size : entries) : 0, checked = 0;
  double worst_err = -1, worst_res = 0;
  int64_t worst_at = -1, inconclusive = 0;
  ck->v = NULL;
  for (int64_t e = 0; ok && e < count; e++) {
    ck->at = count == p->size ? e : (int64_t)(rng_uniform(&s->rng) * (double)p->size);
    Outcome o;
    ok = check_segments(ck, 1e-5 * fmax(fabs(w0[ck->at]), 1), &o);
    if (!ok) break;
    if (o.why[0]) {
      printf("; %s", o.why);
      worst = CK_FAILED;
      break;
    }
    checked++;
    if (o.verdict == CK_INCONCLUSIVE) inconclusive++, *rounding |= o.rounding;
    if (o.verdict == CK_FAILED) worst = CK_FAILED;
    if (o.err > worst_err) worst_err = o.err, worst_res = o.res, worst_at = ck->at;
  }
  if (ok && checked) {
    char name[160];
    element_name(p, worst_at, name, sizeof name);
    printf("  %lld entr%s, worst %.2e (± %.1e) at %s", (long long)checked, checked == 1 ? "y" : "ies", worst_err,
           worst_res, name);
    if (inconclusive) printf(" (%lld inconclusive)", (long long)inconclusive);
  }
  if (dir.verdict == CK_INCONCLUSIVE) *rounding |= dir.rounding;
  /* entries add evidence; the direction alone decides a pass, a failed entry fails */
  *verdict = worst == CK_FAILED ? CK_FAILED : dir.verdict;
  if (ok) printf("  %s\n", *verdict == CK_OK ? "ok" : *verdict == CK_FAILED ? "FAILED" : "inconclusive");
  free(v), free(w0);
  return ok;
}

/* Gradients that are not finite at the point itself fail at once. */
static bool finite_at_point(const Check *ck, const RtParam *p) {
  for (int64_t i = 0; i < p->size; i++) {
    double g = get(ck->s, ck->s->grads, p->offset + i);
    if (isfinite(g)) continue;
    char name[160];
    element_name(p, i, name, sizeof name);
    printf("  %-12s loss_grad gives d_%s = %g at the point, where the loss is %.9g  FAILED\n", p->name, name, g,
           ck->loss0);
    return false;
  }
  return true;
}

/* The compiled gradient against differences of the compiled loss on a
 * small batch of the training data. Status 0 when every param agrees,
 * 1 when one fails (or the run fails), 3 when none fails but one could not
 * be decided. */
int run_gradcheck(const Model *m, const RunConfig *c) {
  if (!m->ngrads) return rt_error("the loss depends on no param: there is no gradient to check"), 1;
  Session s;
  RunConfig small = *c;
  small.batch = c->batch < 8 ? c->batch : 8;
  bool ok = session_open(&s, m, &small, DATA_TRAIN);
  bool f64 = m->dtype == RT_F64, rounding = false;
  int failed = 0, inconclusive = 0;
  Check ck = {&s, s.train.n < s.cap ? s.train.n : s.cap, 0, f64 ? 1e-6 : 1e-2, 0, NULL, NULL, NULL, 0};
  if (ok) {
    int64_t idx[8];
    for (int64_t i = 0; i < ck.k; i++) idx[i] = i;
    fill_batch(&s, &s.train, idx, ck.k);
    void *outputs[257];
    double loss_val[1];
    grad_outputs(&s, outputs, loss_val);
    ok = call(&s, m->loss_grad, m->dims, m->ndims, ck.k, s.batch_bufs, outputs) && batch_loss(&s, ck.k, &ck.loss0);
    ck.floor = 1e-3 * fmax(fabs(ck.loss0), 1);
    if (ok && !c->quiet)
      printf("gradcheck %s (%s) on %lld examples, loss %.9g: relative errors (± their uncertainty) of the "
             "gradient against differences of the loss\n", m->name, rt_type_name(m->dtype), (long long)ck.k,
             ck.loss0);
    bool stop = ok && !isfinite(ck.loss0);
    if (stop) printf("the loss is %g at the point: there is no gradient to compare\n", ck.loss0);
    for (int g = 0; ok && !stop && g < m->ngrads; g++) /* before any param is moved: the gradient at the point */
      if (m->params[m->grads[g]].trained && !finite_at_point(&ck, &m->params[m->grads[g]])) failed++;
    for (int g = 0; ok && !stop && !failed && g < m->ngrads; g++) {
      Verdict v;
      if (!m->params[m->grads[g]].trained) continue; /* unused by the loss: its gradient is zero by construction */
      ok = check_param(&ck, &m->params[m->grads[g]], c->check_entries, &v, &rounding);
      failed += ok && v == CK_FAILED;
      inconclusive += ok && v == CK_INCONCLUSIVE;
    }
    ok = ok && !stop;
  }
  if (ok && failed) printf("%d param%s FAILED (tolerance %.0e)\n", failed, failed == 1 ? "" : "s", ck.tol);
  if (ok && inconclusive) {
    printf("%d param%s inconclusive: the differences' own error is too large to tell agreement at %.0e from "
           "disagreement", inconclusive, inconclusive == 1 ? "" : "s", ck.tol);
    if (rounding && !f64) printf(" (f32 rounding of the loss); build with dmlc build --dtype f64 for a conclusive check\n");
    else printf(" (kinks within the shortest step); try other params: --seed N, or --load CKPT\n");
  }
  if (ok && !failed && !inconclusive)
    printf("all gradients agree (tolerance %.0e)%s\n", ck.tol,
           f64 ? "" : "; an f32 build checks directions only: for entry by entry, build with dmlc build --dtype f64");
  session_free(&s);
  return !ok || failed ? 1 : inconclusive ? 3 : 0;
}

/* ---- info ------------------------------------------------------------------------- */

static void print_shape(const RtShape *sh) {
  printf("%s[", rt_type_name(sh->type));
  for (int i = 0; i < sh->rank; i++) {
    if (sh->syms[i]) printf("%s%s", i ? ", " : "", sh->syms[i]);
    else printf("%s%lld", i ? ", " : "", (long long)sh->dims[i]);
  }
  putchar(']');
}

int run_info(const Model *m, const RunConfig *c) {
  printf("model %s (from %s, %s)\n\nparams:\n", m->name, m->source, rt_type_name(m->dtype));
  int64_t total = 0;
  for (int i = 0; i < m->nparams; i++) {
    const RtParam *p = &m->params[i];
    const Json *init = p->init ? json_get(p->init, "name") : NULL;
    printf("  %-10s ", p->name);
    print_shape(&p->shape);
    printf("  %lld values  init %s%s\n", (long long)p->size, init && init->kind == JSON_STR ? init->str : "zeros",
           p->trained ? "" : "  (not used by the loss: not trained)");
    total += p->size;
  }
  size_t es = rt_type_size(m->dtype);
  printf("  total %lld values (%.1f KiB)\n\nloss inputs:\n", (long long)total, (double)total * (double)es / 1024);
  for (int i = 0; i < m->ninputs; i++) {
    printf("  %-10s ", m->input_names[i]);
    print_shape(&m->inputs[i]);
    printf("%s\n", i == m->label ? "  (label)" : "");
  }
  if (m->predict) {
    printf("\npredict(");
    for (int k = 0; k < m->npred_inputs; k++) printf("%s%s", k ? ", " : "", m->input_names[m->pred_inputs[k]]);
    printf(") -> ");
    print_shape(&m->pred_out);
    printf("\n");
  } else {
    printf("\nno fn predict: predict and the metric are unavailable\n");
  }
  if (c->second_order)
    printf("metric: %s\n\ntraining: %s on the full batch, gradient norm tolerance %g * max(1, |w|), relative loss "
           "change tolerance %.3g, at most %d iterations, seed %lld%s\n",
           m->metric, c->opt.name, c->so2.tol, c->so2.ftol, c->so2.max_iters, (long long)c->seed,
           c->standardize ? ", standardized inputs" : "");
  else
    printf("metric: %s\n\ntraining: %s, lr %g, batch %lld, %d epochs, seed %lld%s%s\n", m->metric, c->opt.name,
           c->opt.lr, (long long)c->batch, c->epochs, (long long)c->seed, c->standardize ? ", standardized inputs" : "",
           c->clip > 0 ? ", gradient clipping" : "");
  if (c->has_data) printf("data: %s\n", c->data.kind == DATA_CSV ? c->data.file : "npy/idx files");
  Session s = {.m = m, .c = c, .opt = c->opt};
  s.es = es;
  /* planned memory: the param block, then the workspace at the batch size
   * (symbolic dims other than the batch count as 1 until data bind them) */
  int64_t block = (m->block_size * 2 + m->trained_size * c->opt.nstate) * (int64_t)es;
  int64_t ws = 0;
  if (m->loss_grad) ws = workspace_at(&s, m->loss_grad, m->dims, m->ndims, c->batch);
  int64_t lw = workspace_at(&s, m->loss, m->dims, m->ndims, c->batch);
  ws = lw > ws ? lw : ws;
  printf("\nplanned memory: %lld bytes for params, gradients and %s state; %lld bytes of workspace at batch %lld\n",
         (long long)block, c->opt.name, (long long)ws, (long long)c->batch);
  return 0;
}

/* ---- bench ------------------------------------------------------------------------ */

/* Training steps (loss_grad and the optimizer update) on random data of
 * the batch size: the time a step takes, without data loading. A
 * second-order optimizer iterates on the full batch, with its own number
 * of products per iteration: for it, the loss_grad call alone is timed,
 * and the line says so. */
int run_bench(const Model *m, const RunConfig *c) {
  if (!m->ngrads) return rt_error("the loss depends on no param: there is no training step to time"), 1;
  Session s;
  bool ok = session_open(&s, m, c, DATA_NONE);
  if (!ok) {
    session_free(&s);
    return 1;
  }
  for (int i = 0; i < m->ninputs; i++) { /* features ~ N(0, 1), labels uniform over the classes */
    int64_t n = c->batch * known_width(&s, &m->inputs[i]);
    for (int64_t k = 0; k < n; k++) {
      if (m->inputs[i].type == RT_I32)
        ((int32_t *)s.batch_bufs[i])[k] = (int32_t)(rng_uniform(&s.rng) * (m->classes > 0 ? m->classes : 2));
      else if (m->inputs[i].type == RT_F64) ((double *)s.batch_bufs[i])[k] = i == m->label ? rng_uniform(&s.rng) : rng_normal(&s.rng);
      else ((float *)s.batch_bufs[i])[k] = (float)(i == m->label ? rng_uniform(&s.rng) : rng_normal(&s.rng));
    }
  }
  void *outputs[257];
  double loss_val[1];
  grad_outputs(&s, outputs, loss_val);
  int steps = c->steps > 0 ? c->steps : 200;
  double best = INFINITY, total = 0;
  for (int rep = -1; ok && rep < 5; rep++) { /* one warm-up round, then the best of 5 */
    double t = now();
    for (int k = 0; ok && k < steps; k++) {
      ok = call(&s, m->loss_grad, m->dims, m->ndims, c->batch, s.batch_bufs, outputs);
      if (!c->second_order) optim_step(&s.opt, s.params, s.grads, s.opt.lr, 1);
    }
    double dt = (now() - t) / steps;
    if (rep >= 0) best = dt < best ? dt : best, total += dt;
  }
  char what[96];
  snprintf(what, sizeof what, c->second_order ? "loss_grad only (%s iterates on the full batch)" : "%s",
           c->opt.name);
  if (ok)
    printf("%s: %.6f ms per %s (best of 5 rounds of %d; mean %.6f ms) at batch %lld, %s, %.0f examples/s, "
           "%d BLAS thread%s\n",
           m->name, 1e3 * best, c->second_order ? "loss_grad call" : "training step", steps, 1e3 * total / 5,
           (long long)c->batch, what, (double)c->batch / best, openblas_get_num_threads(),
           openblas_get_num_threads() == 1 ? "" : "s");
  session_free(&s);
  return ok ? 0 : 1;
}

/* ---- second-order training: newton, newton_cg, lbfgs on the full batch ------------ */

typedef struct FullBatch {
  Session *s;
  int64_t n;                  /* trained values */
  bool filled;                /* the batch buffers hold the whole training set */
  void **v_bufs;              /* loss_hvp's direction, one buffer per gradient */
  void **hv_bufs;
  bool l1;                    /* the minimiser reports the objective with the L1 term */
  Record *rec;                /* the log and the picture, an iteration a line */
} FullBatch;

/* Values trained: the length of the minimiser's vector (trained_size without padding). */
static int64_t trained_values(const Model *m) {
  int64_t n = 0;
  for (int k = 0; k < m->ngrads; k++) n += m->params[m->grads[k]].trained ? m->params[m->grads[k]].size : 0;
  return n;
}

/* w (f64) into the trained params, in the order of the gradients. */
static void set_params(FullBatch *fb, const double *w) {
  Session *s = fb->s;
  int64_t at = 0;
  for (int k = 0; k < s->m->ngrads; k++) {
    const RtParam *p = &s->m->params[s->m->grads[k]];
    if (!p->trained) continue;
    for (int64_t e = 0; e < p->size; e++) put(s, s->params, p->offset + e, w[at++]);
  }
}

static void get_trained(FullBatch *fb, const char *block, double *out) {
  Session *s = fb->s;
  int64_t at = 0;
  for (int k = 0; k < s->m->ngrads; k++) {
    const RtParam *p = &s->m->params[s->m->grads[k]];
    if (!p->trained) continue;
    for (int64_t e = 0; e < p->size; e++) out[at++] = get(s, block, p->offset + e);
  }
}

/* The whole training set into the batch buffers, unless it is there
 * already (only validation overwrites it). */
static void fill_all(FullBatch *fb) {
  Session *s = fb->s;
  if (fb->filled) return;
  for (int64_t i = 0; i < s->train.n; i++) s->order[i] = i;
  fill_batch(s, &s->train, s->order, s->train.n);
  fb->filled = true;
}

static bool fb_value(void *ctx, const double *w, double *f) {
  FullBatch *fb = ctx;
  set_params(fb, w);
  fill_all(fb);
  return batch_loss(fb->s, fb->s->train.n, f);
}

static bool fb_value_grad(void *ctx, const double *w, double *f, double *g) {
  FullBatch *fb = ctx;
  Session *s = fb->s;
  const Model *m = s->m;
  set_params(fb, w);
  fill_all(fb);
  void *outputs[257];
  double loss_val[1];
  grad_outputs(s, outputs, loss_val);
  if (!call(s, m->loss_grad, m->dims, m->ndims, s->train.n, s->batch_bufs, outputs)) return false;
  *f = get(s, loss_val, 0);
  get_trained(fb, s->grads, g);
  return check_finite(s, *f, fb->rec->nrows, 0);
}

static bool fb_hvp(void *ctx, const double *w, const double *v, double *hv) {
  FullBatch *fb = ctx;
  Session *s = fb->s;
  const Model *m = s->m;
  set_params(fb, w);
  fill_all(fb);
  void *inputs[MAX_INPUTS + 256];
  int ni = 0;
  for (int i = 0; i < m->ninputs; i++) inputs[ni++] = s->batch_bufs[i];
  int64_t at = 0;
  for (int k = 0; k < m->ngrads; k++) {
    const RtParam *p = &m->params[m->grads[k]];
    for (int64_t e = 0; e < p->size; e++) put(s, fb->v_bufs[k], e, p->trained ? v[at + e] : 0);
    if (p->trained) at += p->size;
    inputs[ni++] = fb->v_bufs[k];
  }
  if (!call(s, m->loss_hvp, m->dims, m->ndims, s->train.n, inputs, fb->hv_bufs)) return false;
  at = 0;
  for (int k = 0; k < m->ngrads; k++) {
    const RtParam *p = &m->params[m->grads[k]];
    if (!p->trained) continue;
    for (int64_t e = 0; e < p->size; e++) hv[at++] = get(s, fb->hv_bufs[k], e);
  }
  return true;
}

static bool fb_report(void *ctx, int iter, double f, double gnorm, double step) {
  FullBatch *fb = ctx;
  Session *s = fb->s;
  Score val = {NAN, NAN, 0};
  fb->filled = false; /* evaluate reuses the batch buffers */
  if (s->has_val && !evaluate(s, &s->val, &val)) return false;
  EpochRow r = {iter, f, val.loss, val.metric, now() - fb->rec->t0};
  if (!record_row(fb->rec, &r, gnorm)) return false;
  if (!s->c->quiet) {
    char metric[32];
    format_metric(s, val.metric, metric, sizeof metric);
    printf("iteration %2d  %s %.10g  %s %.3e  step %g", iter, fb->l1 ? "objective" : "loss", f,
           fb->l1 ? "pseudo-gradient norm" : "gradient norm", gnorm, step);
    if (s->has_val) printf("  val loss %.6g", val.loss);
    if (s->has_val && !isnan(val.metric)) printf("  val %s %s", s->m->metric, metric);
    printf("\n");
    fflush(stdout);
  }
  return true;
}

/* loss_hvp's direction and result buffers, one per gradient. */
static void alloc_directions(FullBatch *fb) {
  const Model *m = fb->s->m;
  fb->v_bufs = calloc((size_t)m->ngrads + 1, sizeof(void *));
  fb->hv_bufs = calloc((size_t)m->ngrads + 1, sizeof(void *));
  for (int k = 0; k < m->ngrads; k++) {
    size_t bytes = ((size_t)m->params[m->grads[k]].size * fb->s->es + 127) / 64 * 64;
    fb->v_bufs[k] = aligned_alloc(64, bytes);
    fb->hv_bufs[k] = aligned_alloc(64, bytes);
  }
}

static void free_directions(FullBatch *fb) {
  for (int k = 0; k < fb->s->m->ngrads; k++) free(fb->v_bufs[k]), free(fb->hv_bufs[k]);
  free(fb->v_bufs), free(fb->hv_bufs);
}

/* Buffers for the whole training (or validation) set at once, with a
 * workspace that fits every entry point, loss_hvp's included. */
static bool alloc_full_batch(Session *s) {
  const Model *m = s->m;
  int64_t cap = s->train.n > (s->has_val ? s->val.n : 0) ? s->train.n : s->val.n;
  for (int i = 0; i < MAX_INPUTS; i++) free(s->batch_bufs[i]), s->batch_bufs[i] = NULL;
  free(s->pred_buf);
  free(s->workspace);
  s->pred_buf = s->workspace = NULL;
  if (!alloc_buffers(s, cap)) return false;
  int64_t need = workspace_at(s, m->loss_hvp, m->dims, m->ndims, cap), have = 0;
  const DmlEntry *others[3] = {m->loss, m->loss_grad, m->predict};
  for (int i = 0; i < 3; i++) { /* what alloc_buffers sized the workspace for */
    int64_t w = i == 2 ? workspace_at(s, others[i], m->pred_dims, m->npred_dims, cap)
                       : workspace_at(s, others[i], m->dims, m->ndims, cap);
    have = w > have ? w : have;
  }
  if (need <= have) return true;
  free(s->workspace);
  s->workspace = aligned_alloc(64, (size_t)(need + 64) / 64 * 64);
  return s->workspace || rt_error("out of memory for the workspace (%lld bytes)", (long long)need);
}

static bool train_full_batch(Session *s) {
  const Model *m = s->m;
  const RunConfig *c = s->c;
  SecondOrder so2 = c->so2;
  so2.l1 = c->opt.l1; /* one l1 for every optimizer: sgd's soft threshold and lbfgs's OWL-QN minimise the same */
  const char *name = second_order_name(so2.kind);
  if (!second_order_check(&so2, trained_values(m))) return false;
  if (so2.kind != SO_LBFGS && !m->loss_hvp)
    return rt_error("this executable has no loss_hvp, which %s needs: set `optimizer = %s` in the train block and "
                    "rebuild, or use lbfgs", name, name);
  Record rec;
  if (!alloc_full_batch(s)) return false;
  if (!record_open(&rec, s)) return record_close(&rec, false);
  FullBatch fb = {.s = s, .n = trained_values(m), .l1 = so2.l1 > 0, .rec = &rec};
  alloc_directions(&fb);
  double *w = malloc(sizeof(double) * (size_t)(fb.n + 1));
  get_trained(&fb, s->params, w);
  Objective o = {&fb, fb.n, fb_value, fb_value_grad, m->loss_hvp ? fb_hvp : NULL, fb_report};
  const char *norm = fb.l1 ? "pseudo-gradient norm" : "gradient norm";
  if (!c->quiet) {
    printf("training %s: %lld examples, %lld for validation, full batch, %s", m->name, (long long)s->train.n,
           (long long)(s->has_val ? s->val.n : 0), name);
    if (fb.l1) printf(" with l1 %g (OWL-QN)", so2.l1);
    printf(", %lld params, %s tolerance %g * max(1, |w|), relative %s change tolerance %.3g\n", (long long)fb.n,
           norm, so2.tol, fb.l1 ? "objective" : "loss", so2.ftol);
  }
  SecondOrderResult r = {.iters = 0};
  bool ok = second_order_minimize(&o, &so2, w, &r);
  if (ok) set_params(&fb, w);
  char why[256];
  second_order_describe(&so2, &r, why, sizeof why);
  if (ok && !c->quiet) printf("%s\n", why);
  if (ok && fb.l1 && !c->quiet) print_l1_zeros(s);
  s->epoch = r.iters;
  free_directions(&fb);
  free(w);
  return record_close(&rec, ok);
}

/* ---- hessian ------------------------------------------------------------------------ */

/* "W1[3, 4]" for value k of the trained params, in the minimiser's order. */
static void trained_name(const Model *m, int64_t k, char *buf, size_t n) {
  for (int g = 0; g < m->ngrads; g++) {
    const RtParam *p = &m->params[m->grads[g]];
    if (!p->trained) continue;
    if (k < p->size) {
      element_name(p, k, buf, n);
      return;
    }
    k -= p->size;
  }
  snprintf(buf, n, "?");
}

/* The Hessian of the loss over the training set at the current params
 * (--load), column by column from loss_hvp, printed as CSV rows in the
 * order of the trained params' values. */
int run_hessian(const Model *m, const RunConfig *c) {
  if (!m->loss_hvp)
    return rt_error("this executable has no loss_hvp: build the model with `optimizer = newton` or newton_cg "
                    "in its train block"), 1;
  Session s;
  bool ok = session_open(&s, m, c, DATA_TRAIN);
  FullBatch fb = {.s = &s, .n = trained_values(m)};
  if (ok && fb.n > 4000) ok = rt_error("the Hessian would be %lld x %lld; this command prints at most 4000 x 4000",
                                       (long long)fb.n, (long long)fb.n);
  if (ok) ok = alloc_full_batch(&s);
  alloc_directions(&fb);
  double *w = malloc(sizeof(double) * (size_t)(fb.n + 1)), *e = calloc((size_t)fb.n + 1, sizeof(double));
  double *h = malloc(sizeof(double) * (size_t)(fb.n * fb.n + 1));
  if (ok) get_trained(&fb, s.params, w);
  for (int64_t j = 0; ok && j < fb.n; j++) { /* column j = H e_j */
    e[j] = 1;
    ok = fb_hvp(&fb, w, e, h + j * fb.n);
    e[j] = 0;
  }
  for (int64_t k = 0; ok && k < fb.n * fb.n; k++) /* a Hessian that is not finite is no result */
    if (!isfinite(h[k])) {
      char row[160], col[160];
      trained_name(m, k % fb.n, row, sizeof row);
      trained_name(m, k / fb.n, col, sizeof col);
      ok = rt_error_at(m->loss_where, 0, 0, "the Hessian is %g at row %lld, column %lld (d2 loss / d%s d%s): "
                       "nothing printed", h[k], (long long)(k % fb.n), (long long)(k / fb.n), row, col);
    }
  for (int64_t i = 0; ok && i < fb.n; i++) /* printed once computed: no partial output */
    for (int64_t j = 0; j < fb.n; j++) printf("%.17g%c", h[j * fb.n + i], j + 1 < fb.n ? ',' : '\n');
  free_directions(&fb);
  free(w), free(e), free(h);
  session_free(&s);
  return ok ? 0 : 1;
}
