/* model.c - what an executable's runtime needs to know about its model,
 * written as one JSON text that codegen embeds as `dml_model_spec`: the
 * params (shapes, initialisers), the loss inputs, which params the
 * gradient covers, the `predict` function and the label it is compared
 * with, the metric, and the train block with every value resolved. */
#include "model.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct Spec {
  FILE *out;
  Arena *a;
  Diags *d;
} Spec;

static void str(Spec *s, const char *text) {
  fputc('"', s->out);
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c == '"' || *c == '\\') fprintf(s->out, "\\%c", *c);
    else if (*c < 0x20) fprintf(s->out, "\\u%04x", *c);
    else fputc(*c, s->out);
  }
  fputc('"', s->out);
}

static void num(Spec *s, double v) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.17g", v);
  fputs(buf, s->out);
}

static void key(Spec *s, const char *k) {
  str(s, k);
  fputc(':', s->out);
}

static void type(Spec *s, const IrType *t) {
  fputs("{\"dtype\":", s->out);
  str(s, dtype_name(t->dt));
  fputs(",\"shape\":[", s->out);
  for (int i = 0; i < t->rank; i++) {
    if (i) fputc(',', s->out);
    if (t->dims[i].sym) str(s, t->dims[i].sym);
    else fprintf(s->out, "%lld", (long long)t->dims[i].size);
  }
  fputs("]}", s->out);
}

static const char *where(Spec *s, Span sp) {
  int line = 0, col = 0;
  if (!sp.src) return "";
  span_line_col(sp, &line, &col);
  return arena_printf(s->a, "%s:%d:%d", sp.src->name, line, col);
}

/* A data file named relative to the .dml file that names it. */
static const char *data_path(Spec *s, Span sp, const char *file) {
  if (file[0] == '/' || !sp.src) return file;
  const char *slash = strrchr(sp.src->name, '/');
  const char *dir = slash ? arena_strndup(s->a, sp.src->name, (size_t)(slash - sp.src->name)) : ".";
  char abs[PATH_MAX];
  if (!realpath(dir, abs)) return arena_printf(s->a, "%s/%s", dir, file);
  return arena_printf(s->a, "%s/%s", abs, file);
}

/* name or name(args): {"name": ..., "arg": value, ...}; positional
 * arguments get their names from `names(i)`. */
static void named_call(Spec *s, const Expr *e, const char *what, const char *const *fixed) {
  fputs("{\"name\":", s->out);
  str(s, e->name);
  for (int i = 0; e->kind == EX_CALL && i < e->nargs; i++) {
    const char *k = e->args[i].name;
    if (!k) k = fixed ? fixed[i] : sema_spec_param(s->a, what, e->name, i);
    if (!k || !e->args[i].value->type) continue;
    fputc(',', s->out);
    key(s, k);
    num(s, e->args[i].value->type->value);
  }
  fputc('}', s->out);
}

static void initialiser(Spec *s, const Expr *e) {
  if (!e) {
    fputs("null", s->out);
    return;
  }
  static const char *const two[] = {"mean", "std"}, *const range[] = {"lo", "hi"}, *const value[] = {"value"};
  const char *const *names = NULL;
  if (strcmp(e->name, "normal") == 0) names = two;
  else if (strcmp(e->name, "uniform") == 0) names = range;
  else if (strcmp(e->name, "constant") == 0) names = value;
  named_call(s, e, "initialiser", names);
}

static void params(Spec *s, const IrFunc *loss, const IrFunc *grad) {
  fputs(",\"params\":[", s->out);
  for (int i = 0; i < loss->nparams; i++) {
    const IrParam *p = &loss->params[i];
    fprintf(s->out, "%s{\"name\":", i ? "," : "");
    str(s, p->name);
    fputs(",\"type\":", s->out);
    type(s, &p->ty);
    fputs(",\"init\":", s->out);
    initialiser(s, p->item ? p->item->value : NULL);
    fputs(",\"where\":", s->out);
    str(s, where(s, p->item ? p->item->name_span : (Span){0}));
    fprintf(s->out, ",\"used\":%s}", !p->item || p->item->used_by_loss ? "true" : "false");
  }
  fputs("],\"grads\":[", s->out);
  for (int i = 0; grad && i < grad->ngrad_params; i++) fprintf(s->out, "%s%d", i ? "," : "", grad->grad_params[i]);
  fputc(']', s->out);
}

static void inputs(Spec *s, const IrFunc *f) {
  fputs(",\"inputs\":[", s->out);
  for (int i = 0; i < f->ninputs; i++) {
    fprintf(s->out, "%s{\"name\":", i ? "," : "");
    str(s, f->input_names[i]);
    fputs(",\"type\":", s->out);
    type(s, &f->input_types[i]);
    fputc('}', s->out);
  }
  fputc(']', s->out);
}

static int loss_input(const IrFunc *loss, const char *name) {
  for (int i = 0; i < loss->ninputs; i++)
    if (strcmp(loss->input_names[i], name) == 0) return i;
  return -1;
}

/* Whether `fn predict` can be called on loss inputs: each of its inputs
 * must be a loss input of the same type. NULL if so, else why not. */
static const char *predict_mismatch(Spec *s, const IrFunc *loss, const IrFunc *pred) {
  if (pred->nresults != 1) return "it must return one tensor";
  for (int i = 0; i < pred->ninputs; i++) {
    int k = loss_input(loss, pred->input_names[i]);
    if (k < 0) return arena_printf(s->a, "its input `%s` is not an input of the loss", pred->input_names[i]);
    if (!ir_type_equal(&loss->input_types[k], &pred->input_types[i]))
      return arena_printf(s->a, "its input `%s` has type %s, but the loss's has type %s", pred->input_names[i],
                          ir_type_str(s->a, &pred->input_types[i]), ir_type_str(s->a, &loss->input_types[k]));
  }
  return NULL;
}

static const Item *find_item(const Program *p, ItemKind kind, const char *name) {
  for (int i = 0; i < p->nitems; i++) {
    const Item *it = p->items[i];
    if (it->kind == kind && (!name || strcmp(it->name, name) == 0)) return it;
  }
  return NULL;
}

static const Expr *train_value(const Item *train, const char *k) {
  for (int i = 0; train && i < train->nentries; i++)
    if (strcmp(train->entries[i].key, k) == 0) return train->entries[i].value;
  return NULL;
}

/* What the runtime can do: read float and i32 inputs (no bool), and tell
 * features from labels to standardise. */
static bool runtime_can_train(Spec *s, const IrFunc *loss, const IrFunc *pred, const Item *train) {
  bool ok = true;
  for (int i = 0; i < loss->ninputs; i++) {
    if (loss->input_types[i].dt != DT_BOOL) continue;
    diag_error(s->d, loss->input_spans[i], "an executable reads data into f32, f64 or i32 inputs, not bool (`%s`)",
               loss->input_names[i]);
    diag_hint(s->d, "declare it f32 with values 0 and 1, or i32");
    ok = false;
  }
  const Expr *st = train_value(train, "standardize");
  if (st && st->kind == EX_BOOL && st->boolean && !pred) {
    diag_error(s->d, st->span, "standardize = true needs `fn predict` to tell the features (its inputs) from the labels");
    ok = false;
  }
  return ok;
}

/* The predict function, the label it is compared with and the metric. */
static bool predict_and_metric(Spec *s, const Program *p, const IrFunc *loss, const IrFunc *pred, const Item *train) {
  const Expr *m = train_value(train, "metric");
  const char *metric = m ? m->name : NULL;
  const Item *pit = find_item(p, IT_FN, "predict");
  const char *why = pred ? predict_mismatch(s, loss, pred) : "the program has no `fn predict`";
  if (why && metric && strcmp(metric, "none") != 0) {
    diag_error(s->d, m->span, "the metric `%s` compares `predict` with the label, but %s", metric, why);
    diag_hint(s->d, "write fn predict(x: ...) taking loss inputs by name, or set metric = none");
    return false;
  }
  if (why && pred && pit) {
    diag_warning(s->d, pit->name_span, "the executable cannot use `predict`: %s", why);
    pred = NULL;
  }
  if (why) pred = NULL;
  int label = -1, nlabels = 0;
  bool used[64] = {0};
  for (int i = 0; pred && i < pred->ninputs; i++) {
    int k = loss_input(loss, pred->input_names[i]);
    if (k < 64) used[k] = true;
  }
  for (int i = 0; pred && i < loss->ninputs && i < 64; i++)
    if (!used[i]) label = i, nlabels++;
  if (nlabels != 1) label = -1;
  const IrType *out = pred ? &pred->v[pred->results[0]].ty : NULL;
  const IrType *lt = label >= 0 ? &loss->input_types[label] : NULL;
  int64_t classes = 0;
  if (lt && out->rank == 2 && !out->dims[1].sym && lt->rank == 1) classes = out->dims[1].size;
  bool can_accuracy = lt && (classes > 0 || (out->rank == 1 && lt->rank == 1));
  bool can_rmse = lt && lt->dt != DT_I32 && lt->rank == out->rank;
  if (!metric) metric = lt && lt->dt == DT_I32 && can_accuracy ? "accuracy" : can_rmse ? "rmse" : "none";
  if (strcmp(metric, "none") != 0 && !lt) {
    diag_error(s->d, m->span, "the metric `%s` needs one loss input that `predict` does not take (the label)", metric);
    return false;
  }
  if (strcmp(metric, "rmse") == 0 && !can_rmse) {
    diag_error(s->d, m->span, "rmse compares `predict` (%s) with `%s` (%s): they need the same rank and a float type",
               ir_type_str(s->a, out), loss->input_names[label], ir_type_str(s->a, lt));
    return false;
  }
  if (strcmp(metric, "accuracy") == 0 && !can_accuracy) {
    diag_error(s->d, m->span, "accuracy needs `predict` to give class scores %s[n, classes] or probabilities %s[n], not %s",
               dtype_name(out->dt), dtype_name(out->dt), ir_type_str(s->a, out));
    return false;
  }
  if (pred) {
    fputs(",\"predict\":{\"inputs\":[", s->out);
    for (int i = 0; i < pred->ninputs; i++) fprintf(s->out, "%s%d", i ? "," : "", loss_input(loss, pred->input_names[i]));
    fputs("],\"dims\":[", s->out);
    for (int i = 0; i < pred->ndim_syms; i++) {
      fputs(i ? "," : "", s->out);
      str(s, pred->dim_syms[i]);
    }
    fputs("],\"output\":", s->out);
    type(s, out);
    fputc('}', s->out);
  }
  fprintf(s->out, ",\"label\":%d,\"classes\":%lld,\"metric\":", label, (long long)classes);
  str(s, metric);
  return true;
}

static long long const_int_of(const Expr *e) { return e && e->type ? (long long)e->type->value : -1; }

/* csv: the file, header, delimiter and each input's columns [first, end);
 * npy/idx: each input's file. Paths are made absolute. */
static void data_source(Spec *s, const Expr *e) {
  bool csv = strcmp(e->name, "csv") == 0;
  fputs("{\"kind\":", s->out);
  str(s, e->name);
  fputs(",\"where\":", s->out);
  str(s, where(s, e->span));
  fputs(",\"inputs\":{", s->out);
  int k = 0;
  const char *file = NULL, *delimiter = ",";
  bool header = false;
  for (int i = 0; i < e->nargs; i++) {
    const Arg *arg = &e->args[i];
    const Expr *v = arg->value;
    if (csv && !arg->name) file = v->name;
    else if (csv && strcmp(arg->name, "header") == 0) header = v->boolean;
    else if (csv && strcmp(arg->name, "delimiter") == 0) delimiter = v->name;
    else {
      fputs(k++ ? "," : "", s->out);
      key(s, arg->name);
      if (!csv) str(s, data_path(s, e->span, v->name));
      else {
        long long first = const_int_of(v->args[0].value);
        fprintf(s->out, "[%lld,%lld]", first, v->nargs == 1 ? first + 1 : const_int_of(v->args[1].value));
      }
    }
  }
  fputc('}', s->out);
  if (csv) {
    fputs(",\"file\":", s->out);
    str(s, data_path(s, e->span, file ? file : ""));
    fprintf(s->out, ",\"header\":%s,\"delimiter\":", header ? "true" : "false");
    str(s, delimiter);
  }
  fputc('}', s->out);
}

/* The train block with every value resolved; absent keys are left to the
 * runtime's defaults. */
static void train_block(Spec *s, const Item *train) {
  fputs(",\"train\":{", s->out);
  for (int i = 0; train && i < train->nentries; i++) {
    const TrainEntry *en = &train->entries[i];
    const Expr *v = en->value;
    if (i) fputc(',', s->out);
    key(s, en->key);
    if (strcmp(en->key, "data") == 0 || strcmp(en->key, "val_data") == 0) data_source(s, v);
    else if (strcmp(en->key, "optimizer") == 0) named_call(s, v, "optimizer", NULL);
    else if (strcmp(en->key, "schedule") == 0) named_call(s, v, "schedule", NULL);
    else if (v->kind == EX_BOOL) fputs(v->boolean ? "true" : "false", s->out);
    else if (strcmp(en->key, "metric") == 0) str(s, v->name);
    else num(s, v->type ? v->type->value : 0);
  }
  fputc('}', s->out);
}

bool model_wants_hvp(const Program *p) {
  const Expr *opt = train_value(find_item(p, IT_TRAIN, NULL), "optimizer");
  return opt && opt->name && (strcmp(opt->name, "newton") == 0 || strcmp(opt->name, "newton_cg") == 0);
}

static const IrFunc *unit(const CgUnit *units, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(units[i].f->name, name) == 0) return units[i].f;
  return NULL;
}

const char *model_spec(const Program *p, const CgUnit *units, int nunits, const char *name, DType model_float,
                       Arena *a, Diags *d) {
  const IrFunc *loss = unit(units, nunits, "loss");
  const Item *train = find_item(p, IT_TRAIN, NULL);
  if (!loss) {
    diag_error(d, (Span){0}, "an executable trains a loss, and this program has none");
    diag_hint(d, "add loss(x: f32[n, ...], ...) { ... }, or build a library with --lib");
    return NULL;
  }
  char *text = NULL;
  size_t len = 0;
  Spec s = {open_memstream(&text, &len), a, d};
  fputs("{\"model\":", s.out);
  str(&s, name);
  fputs(",\"source\":", s.out);
  str(&s, loss->span.src ? loss->span.src->name : "");
  /* the runtime keeps params and float data in one type: the model's,
   * or the one every param and float input is declared with */
  DType dt = DT_REAL;
  bool mixed = false;
  for (int i = 0; i < loss->nparams + loss->ninputs; i++) {
    DType t = i < loss->nparams ? loss->params[i].ty.dt : loss->input_types[i - loss->nparams].dt;
    if (t != DT_F32 && t != DT_F64) continue;
    mixed |= dt != DT_REAL && t != dt;
    dt = t;
  }
  if (mixed) {
    diag_error(d, loss->span, "an executable keeps its params and data in one float type, but this model mixes f32 and f64");
    diag_hint(d, "declare them all f32 (and build with --dtype f64 for double precision) or all f64");
    fclose(s.out);
    free(text);
    return NULL;
  }
  fputs(",\"dtype\":", s.out);
  str(&s, dtype_name(dt == DT_REAL ? model_float : dt));
  params(&s, loss, unit(units, nunits, "loss_grad"));
  inputs(&s, loss);
  fputs(",\"dims\":[", s.out);
  for (int i = 0; i < loss->ndim_syms; i++) {
    fputs(i ? "," : "", s.out);
    str(&s, loss->dim_syms[i]);
  }
  fputs("],\"loss_where\":", s.out);
  str(&s, where(&s, loss->span));
  bool ok = predict_and_metric(&s, p, loss, unit(units, nunits, "predict"), train);
  const IrFunc *pred = unit(units, nunits, "predict");
  ok &= runtime_can_train(&s, loss, pred && !predict_mismatch(&s, loss, pred) ? pred : NULL, train);
  train_block(&s, train);
  fputc('}', s.out);
  fclose(s.out);
  const char *spec = ok ? arena_strndup(a, text, len) : NULL;
  free(text);
  return spec;
}
