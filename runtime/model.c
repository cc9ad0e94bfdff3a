/* model.c - the model an executable carries: its description (the JSON
 * text dmlc embeds as dml_model_spec), the entry points, the layout of the
 * param block and the initialisers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dml_runtime.h"

enum { ALIGN_ELEMS = 16 }; /* params start on 64-byte boundaries (f32) */

static bool bad_spec(const char *why) {
  return rt_error("the model description embedded in this executable is malformed (%s); rebuild it with this dmlc", why);
}

static bool parse_type(const char *s, RtType *t) {
  if (!s) return false;
  if (strcmp(s, "f32") == 0) *t = RT_F32;
  else if (strcmp(s, "f64") == 0) *t = RT_F64;
  else if (strcmp(s, "i32") == 0 || strcmp(s, "bool") == 0) *t = RT_I32;
  else return false;
  return true;
}

static const char *jstr(const Json *j) { return j && j->kind == JSON_STR ? j->str : NULL; }

static bool parse_shape(const Json *j, RtShape *s) {
  const Json *dt = json_get(j, "dtype"), *sh = json_get(j, "shape");
  if (!parse_type(jstr(dt), &s->type) || !sh || sh->kind != JSON_ARR || sh->n > RT_MAX_RANK) return false;
  s->rank = sh->n;
  for (int i = 0; i < sh->n; i++) {
    s->syms[i] = jstr(&sh->items[i]);
    s->dims[i] = sh->items[i].kind == JSON_NUM ? (int64_t)sh->items[i].num : -1;
    if (!s->syms[i] && sh->items[i].kind != JSON_NUM) return false;
  }
  return true;
}

static bool parse_strings(const Json *j, const char ***out, int *n) {
  if (!j || j->kind != JSON_ARR) return false;
  *n = j->n;
  *out = calloc((size_t)j->n + 1, sizeof **out);
  for (int i = 0; i < j->n; i++)
    if (!((*out)[i] = jstr(&j->items[i]))) return false;
  return true;
}

static bool parse_ints(const Json *j, int **out, int *n, int limit) {
  if (!j || j->kind != JSON_ARR) return false;
  *n = j->n;
  *out = calloc((size_t)j->n + 1, sizeof **out);
  for (int i = 0; i < j->n; i++) {
    if (j->items[i].kind != JSON_NUM || j->items[i].num < 0 || j->items[i].num >= limit) return false;
    (*out)[i] = (int)j->items[i].num;
  }
  return true;
}

static const DmlEntry *find_entry(const DmlEntry *entries, const char *name) {
  for (const DmlEntry *e = entries; e && e->name; e++)
    if (strcmp(e->name, name) == 0) return e;
  return NULL;
}

static bool parse_params(Model *m, const Json *ps) {
  if (!ps || ps->kind != JSON_ARR) return bad_spec("params");
  m->nparams = ps->n;
  m->params = calloc((size_t)ps->n + 1, sizeof *m->params);
  for (int i = 0; i < ps->n; i++) {
    RtParam *p = &m->params[i];
    const Json *j = &ps->items[i];
    p->name = jstr(json_get(j, "name"));
    p->where = jstr(json_get(j, "where"));
    const Json *init = json_get(j, "init");
    p->init = init && init->kind == JSON_OBJ ? init : NULL;
    const Json *used = json_get(j, "used");
    p->used = !used || used->kind != JSON_BOOL || used->boolean;
    if (!p->name || !p->where || !parse_shape(json_get(j, "type"), &p->shape)) return bad_spec("a param");
    p->size = 1;
    for (int k = 0; k < p->shape.rank; k++) {
      if (p->shape.syms[k] || p->shape.dims[k] < 0) return bad_spec("a param's shape");
      p->size *= p->shape.dims[k];
    }
  }
  return true;
}

/* Trained params first, then the others, each padded to ALIGN_ELEMS: the
 * optimizer then updates one vector, [0, trained_size). */
static void lay_out_params(Model *m) {
  for (int k = 0; k < m->ngrads; k++) m->params[m->grads[k]].trained = m->params[m->grads[k]].used;
  int64_t at = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < m->nparams; i++) {
      RtParam *p = &m->params[i];
      if (p->trained != (pass == 0)) continue;
      p->offset = at;
      at += (p->size + ALIGN_ELEMS - 1) / ALIGN_ELEMS * ALIGN_ELEMS;
    }
    if (pass == 0) m->trained_size = at;
  }
  m->block_size = at;
}

static bool parse_predict(Model *m, const Json *pr) {
  if (!pr) return true;
  if (!parse_ints(json_get(pr, "inputs"), &m->pred_inputs, &m->npred_inputs, m->ninputs) ||
      !parse_strings(json_get(pr, "dims"), &m->pred_dims, &m->npred_dims) ||
      !parse_shape(json_get(pr, "output"), &m->pred_out))
    return bad_spec("predict");
  return true;
}

bool model_open(Model *m, const char *spec, const DmlEntry *entries) {
  memset(m, 0, sizeof *m);
  m->label = -1;
  m->spec = json_parse(spec, strlen(spec), "model description");
  if (!m->spec) return false;
  const Json *j = m->spec;
  m->name = jstr(json_get(j, "model"));
  m->source = jstr(json_get(j, "source"));
  m->loss_where = jstr(json_get(j, "loss_where"));
  m->metric = jstr(json_get(j, "metric"));
  m->train = json_get(j, "train");
  if (!m->name || !m->source || !m->loss_where || !m->metric || !m->train || !parse_type(jstr(json_get(j, "dtype")), &m->dtype))
    return bad_spec("header");
  if (!parse_params(m, json_get(j, "params"))) return false;
  const Json *ins = json_get(j, "inputs");
  if (!ins || ins->kind != JSON_ARR) return bad_spec("inputs");
  m->ninputs = ins->n;
  m->inputs = calloc((size_t)ins->n + 1, sizeof *m->inputs);
  m->input_names = calloc((size_t)ins->n + 1, sizeof *m->input_names);
  for (int i = 0; i < ins->n; i++) {
    m->input_names[i] = jstr(json_get(&ins->items[i], "name"));
    if (!m->input_names[i] || !parse_shape(json_get(&ins->items[i], "type"), &m->inputs[i])) return bad_spec("an input");
  }
  if (!parse_ints(json_get(j, "grads"), &m->grads, &m->ngrads, m->nparams) ||
      !parse_strings(json_get(j, "dims"), &m->dims, &m->ndims))
    return bad_spec("grads");
  const Json *label = json_get(j, "label"), *classes = json_get(j, "classes");
  if (!label || label->kind != JSON_NUM || label->num >= m->ninputs || !classes || classes->kind != JSON_NUM)
    return bad_spec("label");
  m->label = (int)label->num;
  m->classes = (int)classes->num;
  if (!parse_predict(m, json_get(j, "predict"))) return false;
  m->loss = find_entry(entries, "loss");
  m->loss_grad = find_entry(entries, "loss_grad");
  m->predict = json_get(j, "predict") ? find_entry(entries, "predict") : NULL;
  m->loss_hvp = find_entry(entries, "loss_hvp");
  if (!m->loss || (m->ngrads && !m->loss_grad)) return bad_spec("entry points");
  lay_out_params(m);
  return true;
}

void model_close(Model *m) {
  json_free(m->spec);
  free(m->params);
  free(m->grads);
  free(m->inputs);
  free(m->input_names);
  free(m->dims);
  free(m->pred_inputs);
  free(m->pred_dims);
  memset(m, 0, sizeof *m);
}

static double init_arg(const Json *init, const char *key, double fallback) {
  const Json *v = json_get(init, key);
  return v && v->kind == JSON_NUM ? v->num : fallback;
}

/* Fan-in and fan-out as the usual conventions define them: a matrix
 * [in, out] (x @ W), a convolution kernel [out, in, kh, kw], a vector or
 * scalar counts its own length both ways. */
static void fans(const RtParam *p, double *in, double *out) {
  const int64_t *d = p->shape.dims;
  int r = p->shape.rank;
  if (r >= 3) {
    double field = 1;
    for (int i = 2; i < r; i++) field *= (double)d[i];
    *in = (double)d[1] * field;
    *out = (double)d[0] * field;
  } else if (r == 2) {
    *in = (double)d[0];
    *out = (double)d[1];
  } else {
    *in = *out = r == 1 ? (double)d[0] : 1;
  }
  if (*in < 1) *in = 1;
  if (*out < 1) *out = 1;
}

/* One value of the initialiser; draws only for random ones. */
static double draw(const char *kind, const Json *init, double fan_in, double fan_out, Rng *r) {
  if (strcmp(kind, "ones") == 0) return 1;
  if (strcmp(kind, "constant") == 0) return init_arg(init, "value", 0);
  if (strcmp(kind, "normal") == 0) return init_arg(init, "mean", 0) + init_arg(init, "std", 1) * rng_normal(r);
  if (strcmp(kind, "uniform") == 0) {
    double lo = init_arg(init, "lo", 0), hi = init_arg(init, "hi", 1);
    return lo + (hi - lo) * rng_uniform(r);
  }
  if (strcmp(kind, "glorot") == 0 || strcmp(kind, "xavier") == 0) {
    double a = sqrt(6.0 / (fan_in + fan_out));
    return -a + 2 * a * rng_uniform(r);
  }
  if (strcmp(kind, "glorot_normal") == 0) return sqrt(2.0 / (fan_in + fan_out)) * rng_normal(r);
  if (strcmp(kind, "he") == 0 || strcmp(kind, "kaiming") == 0) return sqrt(2.0 / fan_in) * rng_normal(r);
  if (strcmp(kind, "he_uniform") == 0) {
    double a = sqrt(6.0 / fan_in);
    return -a + 2 * a * rng_uniform(r);
  }
  return 0; /* zeros, and a param without an initialiser */
}

void model_init_params(const Model *m, void *block, Rng *r) {
  size_t es = rt_type_size(m->dtype);
  memset(block, 0, (size_t)m->block_size * es);
  for (int i = 0; i < m->nparams; i++) {
    const RtParam *p = &m->params[i];
    const char *kind = p->init ? jstr(json_get(p->init, "name")) : "zeros";
    double fin, fout;
    fans(p, &fin, &fout);
    for (int64_t k = 0; k < p->size; k++) {
      double v = draw(kind ? kind : "zeros", p->init, fin, fout, r);
      if (m->dtype == RT_F64) ((double *)block)[p->offset + k] = v;
      else ((float *)block)[p->offset + k] = (float)v;
    }
  }
}

const char *model_param_where(const Model *m, int i) { return m->params[i].where; }
