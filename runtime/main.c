/* main.c - the command line of a model executable: `./model train`,
 * `eval`, `predict`, `gradcheck`, `info`. Settings come from the model's
 * train block (embedded by dmlc) and every one can be overridden by an
 * option. */
#ifndef DMLRT_NO_MAIN
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dml_runtime.h"
#ifdef __SSE__
#include <xmmintrin.h>
#endif

extern const char dml_model_spec[];
extern const DmlEntry dml_model_entries[];

enum { MAX_DATA_INPUTS = 16 };

static const char *prog = "model";

static const char usage_text[] =
    "usage: %s COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  train        train the params; --save to keep them\n"
    "  eval         loss and metric on the validation data (or --data FILE)\n"
    "  predict      predictions for --data FILE (default: the train block's data), one line per example\n"
    "  gradcheck    compare the compiled gradient with finite differences\n"
    "  info         params, shapes, inputs, training settings, planned memory\n"
    "  bench        time training steps on random data of the batch size (--steps N)\n"
    "  hessian      the Hessian of the loss over the training set (--load CKPT), as CSV rows on stdout\n"
    "\n"
    "options (defaults from the model's train block):\n"
    "  --data FILE | NAME=FILE  training data (csv: the file; npy/idx: one file per input)\n"
    "  --val-data FILE | NAME=FILE  validation data instead of a split\n"
    "  --split X              fraction of the data used for training (0 < X < 1; 0: no validation split)\n"
    "  --standardize, --no-standardize   standardize the feature columns\n"
    "  --epochs N  --batch N  --seed N\n"
    "  --optimizer NAME       sgd, momentum, nesterov, adam, adamw, rmsprop; full batch: newton, newton_cg, lbfgs\n"
    "  --tol X  --ftol X  --max-iters N  --damping X  --history N  --cg-iters N   second-order settings\n"
    "  --lr X  --momentum X  --beta1 X  --beta2 X  --eps X  --alpha X\n"
    "  --weight-decay X  --l1 X  --clip X (max gradient norm)\n"
    "  --schedule NAME        constant, step, cosine, warmup\n"
    "  --every N  --gamma X   step schedule;  --min-lr X  cosine;  --warmup N  warmup epochs\n"
    "  --metric NAME          accuracy, rmse, none\n"
    "  --log FILE.csv         epoch,train_loss,val_loss,val_metric,seconds\n"
    "  --plot FILE.svg        loss and metric curves\n"
    "  --save FILE            write the params (safetensors) after training\n"
    "  --load FILE            start from saved params\n"
    "  --resume FILE          continue a saved run (params, optimizer state, epoch)\n"
    "  --scores               predict: every output value, not the class\n"
    "  --entries N            gradcheck: entries checked per param (default 30)\n"
    "  --steps N              bench: training steps per timed round (default 200)\n"
    "  --threads N            BLAS threads (default 1, or OPENBLAS_NUM_THREADS/OMP_NUM_THREADS)\n"
    "  --quiet, --progress, --no-progress\n"
    "  -h, --help\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "%s: error: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see %s --help)\n", prog);
  return 2;
}

/* ---- the train block ------------------------------------------------------------- */

static double num_or(const Json *obj, const char *key, double fallback) {
  const Json *v = json_get(obj, key);
  return v && v->kind == JSON_NUM ? v->num : fallback;
}

static int64_t known_width(const RtShape *sh) {
  int64_t w = 1;
  for (int i = 1; i < sh->rank; i++) {
    if (sh->syms[i]) return -1;
    w *= sh->dims[i];
  }
  return w;
}

static DataInput input_for(const Model *m, int k) {
  return (DataInput){.name = m->input_names[k],
                     .type = m->inputs[k].type,
                     .width = known_width(&m->inputs[k]),
                     .classes = k == m->label && m->inputs[k].type == RT_I32 ? m->classes : 0};
}

static bool data_from_spec(const Model *m, const Json *j, DataSource *src, DataInput *buf) {
  const char *kind = json_get(j, "kind") ? json_get(j, "kind")->str : "";
  src->kind = strcmp(kind, "npy") == 0 ? DATA_NPY : strcmp(kind, "idx") == 0 ? DATA_IDX : DATA_CSV;
  const Json *file = json_get(j, "file"), *header = json_get(j, "header"), *delim = json_get(j, "delimiter");
  src->file = file && file->kind == JSON_STR ? file->str : NULL;
  src->header = header && header->kind == JSON_BOOL && header->boolean;
  src->delimiter = delim && delim->kind == JSON_STR && delim->str[0] ? delim->str[0] : ',';
  src->inputs = buf;
  src->ninputs = 0;
  const Json *ins = json_get(j, "inputs");
  for (int k = 0; k < m->ninputs && k < MAX_DATA_INPUTS; k++) {
    const Json *v = json_get(ins, m->input_names[k]);
    if (!v) return rt_error("the model description gives no data for `%s`", m->input_names[k]);
    DataInput in = input_for(m, k);
    if (v->kind == JSON_STR) in.file = v->str;
    else if (v->kind == JSON_ARR && v->n == 2) in.first = (int)v->items[0].num, in.end = (int)v->items[1].num;
    buf[src->ninputs++] = in;
  }
  return true;
}

/* Without a data entry, a CSV holds the loss inputs' columns in order. */
static bool default_csv(const Model *m, DataSource *src, DataInput *buf) {
  *src = (DataSource){.kind = DATA_CSV, .delimiter = ',', .inputs = buf};
  int col = 0;
  for (int k = 0; k < m->ninputs && k < MAX_DATA_INPUTS; k++) {
    DataInput in = input_for(m, k);
    if (in.width < 0) return rt_error("the train block names no data and `%s` has a symbolic size; add data = ...",
                                      m->input_names[k]);
    in.first = col;
    in.end = col += (int)in.width;
    buf[src->ninputs++] = in;
  }
  return true;
}

static bool config_from_spec(const Model *m, RunConfig *c, DataInput *data_buf, DataInput *val_buf) {
  const Json *t = m->train;
  *c = (RunConfig){.batch = 32, .epochs = 10, .seed = 1, .progress = -1, .check_entries = 30, .steps = 200, .metric = m->metric};
  const Json *data = json_get(t, "data"), *val = json_get(t, "val_data");
  if (data && !data_from_spec(m, data, &c->data, data_buf)) return false;
  if (val && !data_from_spec(m, val, &c->val_data, val_buf)) return false;
  c->has_data = data != NULL;
  c->has_val_data = val != NULL;
  const Json *where = json_get(data, "where");
  c->data_where = where && where->kind == JSON_STR ? where->str : m->source;
  c->split = num_or(t, "split", 0);
  const Json *st = json_get(t, "standardize");
  c->standardize = st && st->kind == JSON_BOOL && st->boolean;
  c->batch = (int64_t)num_or(t, "batch", 32);
  c->epochs = (int)num_or(t, "epochs", 10);
  c->seed = (int64_t)num_or(t, "seed", 1);
  c->clip = num_or(t, "clip", 0);
  const Json *opt = json_get(t, "optimizer");
  const Json *oname = json_get(opt, "name");
  const char *name = oname && oname->kind == JSON_STR ? oname->str : "sgd";
  if (second_order_by_name(&c->so2, name)) { /* full batch; the first-order settings stay unused */
    c->second_order = true;
    optim_by_name(&c->opt, "sgd");
    c->opt.name = c->so2.kind == SO_NEWTON ? "newton" : c->so2.kind == SO_NEWTON_CG ? "newton_cg" : "lbfgs";
    c->so2.damping = num_or(opt, "damping", c->so2.damping);
    c->so2.tol = num_or(t, "tol", num_or(opt, "tol", c->so2.tol));
    c->so2.max_iters = (int)num_or(t, "max_iters", num_or(opt, "max_iters", c->so2.max_iters));
    c->so2.history = (int)num_or(opt, "history", c->so2.history);
    c->so2.cg_iters = (int)num_or(opt, "cg_iters", c->so2.cg_iters);
  } else if (!optim_by_name(&c->opt, name)) { /* dmlc accepts only optimizers the runtime has */
    return rt_error("the model description names the optimizer `%s`, which this runtime does not know; rebuild the "
                    "model with this dmlc", name);
  }
  const char *keys[] = {"lr", "momentum", "beta1", "beta2", "eps", "alpha", "weight_decay"};
  double *fields[] = {&c->opt.lr, &c->opt.momentum, &c->opt.beta1, &c->opt.beta2, &c->opt.eps, &c->opt.alpha,
                      &c->opt.weight_decay};
  for (int i = 0; i < 7; i++) *fields[i] = num_or(opt, keys[i], *fields[i]);
  c->opt.lr = num_or(t, "lr", c->opt.lr);
  c->opt.weight_decay = num_or(t, "weight_decay", c->opt.weight_decay);
  c->opt.l1 = num_or(t, "l1", 0);
  const Json *sched = json_get(t, "schedule");
  const Json *sname = json_get(sched, "name");
  schedule_by_name(&c->sched, sname && sname->kind == JSON_STR ? sname->str : "constant");
  c->sched.every = (int)num_or(sched, "every", c->sched.every);
  c->sched.gamma = num_or(sched, "gamma", c->sched.gamma);
  c->sched.min_lr = num_or(sched, "min_lr", c->sched.min_lr);
  c->sched.warmup_epochs = (int)num_or(sched, "epochs", c->sched.warmup_epochs);
  return true;
}

/* ---- options ----------------------------------------------------------------------- */

/* --data FILE replaces a CSV's file; --data NAME=FILE one input's file. */
static bool override_data(const Model *m, DataSource *src, bool *has, DataInput *buf, const char *arg) {
  const char *eq = strchr(arg, '=');
  if (!*has && !default_csv(m, src, buf)) return false;
  *has = true;
  if (!eq) {
    if (src->kind != DATA_CSV)
      return rt_error("this model reads npy/idx files, one per input: --data %s=FILE", m->input_names[0]);
    src->file = arg;
    return true;
  }
  for (int i = 0; i < src->ninputs; i++) {
    if (strncmp(src->inputs[i].name, arg, (size_t)(eq - arg)) != 0 || src->inputs[i].name[eq - arg]) continue;
    if (src->kind == DATA_CSV) return rt_error("the data is one CSV file: --data FILE");
    src->inputs[i].file = eq + 1;
    return true;
  }
  return rt_error("the loss has no input named `%.*s`", (int)(eq - arg), arg);
}

/* Numeric options: where each goes and what it accepts. */
typedef struct NumOpt {
  const char *name;
  char kind; /* 'p' positive integer, 'i' integer, 'r' positive number, 'n' number >= 0, 'f' in [0, 1) */
} NumOpt;

static const NumOpt num_opts[] = {
    {"--epochs", 'p'}, {"--batch", 'p'}, {"--seed", 'i'},  {"--lr", 'r'},    {"--momentum", 'f'},
    {"--beta1", 'f'},  {"--beta2", 'f'}, {"--eps", 'r'},   {"--alpha", 'f'}, {"--weight-decay", 'n'},
    {"--l1", 'n'},     {"--clip", 'r'},  {"--split", 'f'}, {"--every", 'p'}, {"--gamma", 'r'},
    {"--min-lr", 'n'}, {"--warmup", 'p'}, {"--entries", 'p'}, {"--steps", 'p'}, {"--tol", 'r'}, {"--ftol", 'n'},
    {"--max-iters", 'p'}, {"--damping", 'n'}, {"--history", 'p'}, {"--cg-iters", 'p'},
    {"--threads", 'p'},
};

static void set_num(RunConfig *c, const char *name, double v) {
  if (strcmp(name, "--epochs") == 0) c->epochs = (int)v;
  else if (strcmp(name, "--batch") == 0) c->batch = (int64_t)v;
  else if (strcmp(name, "--seed") == 0) c->seed = (int64_t)v;
  else if (strcmp(name, "--every") == 0) c->sched.every = (int)v;
  else if (strcmp(name, "--warmup") == 0) c->sched.warmup_epochs = (int)v;
  else if (strcmp(name, "--entries") == 0) c->check_entries = (int)v;
  else if (strcmp(name, "--steps") == 0) c->steps = (int)v;
  else if (strcmp(name, "--threads") == 0) c->threads = (int)v;
  else if (strcmp(name, "--lr") == 0) c->opt.lr = v;
  else if (strcmp(name, "--momentum") == 0) c->opt.momentum = v;
  else if (strcmp(name, "--beta1") == 0) c->opt.beta1 = v;
  else if (strcmp(name, "--beta2") == 0) c->opt.beta2 = v;
  else if (strcmp(name, "--eps") == 0) c->opt.eps = v;
  else if (strcmp(name, "--alpha") == 0) c->opt.alpha = v;
  else if (strcmp(name, "--weight-decay") == 0) c->opt.weight_decay = v;
  else if (strcmp(name, "--l1") == 0) c->opt.l1 = v;
  else if (strcmp(name, "--clip") == 0) c->clip = v;
  else if (strcmp(name, "--split") == 0) c->split = v;
  else if (strcmp(name, "--gamma") == 0) c->sched.gamma = v;
  else if (strcmp(name, "--min-lr") == 0) c->sched.min_lr = v;
  else if (strcmp(name, "--tol") == 0) c->so2.tol = v;
  else if (strcmp(name, "--ftol") == 0) c->so2.ftol = v;
  else if (strcmp(name, "--max-iters") == 0) c->so2.max_iters = (int)v;
  else if (strcmp(name, "--damping") == 0) c->so2.damping = v;
  else if (strcmp(name, "--history") == 0) c->so2.history = (int)v;
  else if (strcmp(name, "--cg-iters") == 0) c->so2.cg_iters = (int)v;
}

static bool parse_num_opt(const NumOpt *o, const char *text, double *v) {
  char *end;
  errno = 0;
  *v = text ? strtod(text, &end) : 0;
  bool ok = text && *text && !*end && !errno && isfinite(*v);
  bool integer = o->kind == 'p' || o->kind == 'i';
  if (ok && integer) ok = *v == floor(*v) && fabs(*v) <= 2e9;
  if (ok && (o->kind == 'p' || o->kind == 'r')) ok = *v > 0;
  if (ok && o->kind == 'n') ok = *v >= 0;
  if (ok && o->kind == 'f') ok = *v >= 0 && *v < 1;
  if (!ok) {
    const char *want = o->kind == 'p' ? "a positive integer" : o->kind == 'i' ? "an integer"
                     : o->kind == 'r' ? "a positive number" : o->kind == 'n' ? "a number >= 0" : "a number in [0, 1)";
    fprintf(stderr, "%s: error: %s expects %s, not `%s`\n", prog, o->name, want, text ? text : "nothing");
  }
  return ok;
}

static bool takes_value(const char *a) {
  static const char *const names[] = {"--optimizer", "--schedule", "--metric", "--data", "--val-data",
                                      "--log", "--plot", "--save", "--load", "--resume"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(a, names[i]) == 0) return true;
  return false;
}

/* --name=value as two arguments; argv's strings are ours to cut. */
static char **split_equals(int argc, char **argv, int *n) {
  char **out = calloc((size_t)argc * 2 + 1, sizeof *out);
  *n = 0;
  for (int i = 0; i < argc; i++) {
    char *eq = strncmp(argv[i], "--", 2) == 0 && i >= 2 ? strchr(argv[i], '=') : NULL;
    out[(*n)++] = argv[i];
    if (!eq) continue;
    *eq = 0;
    out[(*n)++] = eq + 1;
  }
  return out;
}

/* -1 to go on, else the exit status. `--optimizer` is applied first, so
 * that --lr and the others refine the optimizer chosen. */
static int parse_options(const Model *m, RunConfig *c, int argc, char **argv, DataInput *dbuf, DataInput *vbuf) {
  for (int i = 2; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--optimizer") != 0) continue;
    double l1 = c->opt.l1;
    if (strcmp(argv[i + 1], c->opt.name) == 0) continue; /* keep the block's settings */
    c->second_order = second_order_by_name(&c->so2, argv[i + 1]);
    if (c->second_order) {
      c->opt.name = argv[i + 1];
      continue;
    }
    if (!optim_by_name(&c->opt, argv[i + 1]))
      return usage_error("unknown optimizer `%s`; the optimizers are sgd, momentum, nesterov, adam, adamw, rmsprop, "
                         "newton, newton_cg, lbfgs",
                         argv[i + 1]);
    c->opt.l1 = l1;
  }
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    const NumOpt *num = NULL;
    for (size_t k = 0; k < sizeof num_opts / sizeof num_opts[0]; k++)
      if (strcmp(a, num_opts[k].name) == 0) num = &num_opts[k];
    if (num) {
      double v;
      if (!parse_num_opt(num, val, &v)) return 2;
      set_num(c, a, v);
      i++;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      printf(usage_text, prog);
      return 0;
    } else if (strcmp(a, "--quiet") == 0) c->quiet = true;
    else if (strcmp(a, "--progress") == 0) c->progress = 1;
    else if (strcmp(a, "--no-progress") == 0) c->progress = 0;
    else if (strcmp(a, "--standardize") == 0) c->standardize = true;
    else if (strcmp(a, "--no-standardize") == 0) c->standardize = false;
    else if (strcmp(a, "--scores") == 0) c->scores = true;
    else if (strncmp(a, "--", 2) != 0) return usage_error("unexpected argument `%s`", a);
    else if (!takes_value(a)) return usage_error("unknown option `%s`", a);
    else if (!val) return usage_error("%s needs a value", a);
    else if (strcmp(a, "--optimizer") == 0) i++;
    else if (strcmp(a, "--schedule") == 0) {
      Schedule keep = c->sched;
      if (!schedule_by_name(&c->sched, argv[++i]))
        return usage_error("unknown schedule `%s`; the schedules are constant, step, cosine, warmup", argv[i]);
      c->sched.every = keep.every, c->sched.gamma = keep.gamma, c->sched.min_lr = keep.min_lr;
      c->sched.warmup_epochs = keep.warmup_epochs;
    } else if (strcmp(a, "--metric") == 0) {
      c->metric = argv[++i];
      if (strcmp(c->metric, m->metric) != 0 && strcmp(c->metric, "none") != 0)
        return usage_error("the metric is chosen when the model is compiled (`metric` in the train block); "
                           "--metric only accepts none or that one, not %s", c->metric);
    } else if (strcmp(a, "--data") == 0 || strcmp(a, "--val-data") == 0) {
      bool val_data = a[2] == 'v';
      if (val_data && !c->has_val_data && c->has_data) { /* start from the training data's layout */
        c->val_data = c->data;
        c->val_data.inputs = vbuf;
        memcpy(vbuf, c->data.inputs, sizeof *vbuf * (size_t)c->data.ninputs);
      }
      if (!override_data(m, val_data ? &c->val_data : &c->data, val_data ? &c->has_val_data : &c->has_data,
                         val_data ? vbuf : dbuf, argv[++i])) {
        fprintf(stderr, "%s\n", rt_message());
        return 2;
      }
    } else if (strcmp(a, "--log") == 0) c->log_path = argv[++i];
    else if (strcmp(a, "--plot") == 0) c->plot_path = argv[++i];
    else if (strcmp(a, "--save") == 0) c->save_path = argv[++i];
    else if (strcmp(a, "--load") == 0) c->load_path = argv[++i];
    else if (strcmp(a, "--resume") == 0) c->resume_path = argv[++i];
    else return usage_error("unknown option `%s`", a);
  }
  if (c->load_path && c->resume_path) return usage_error("%s", "choose one of --load and --resume");
  return -1;
}

/* BLAS threads: --threads N, else what the environment asks OpenBLAS for,
 * else one. A model's products are mostly batch-sized, where OpenBLAS's
 * threads cost more than they give: on 2 cores its second thread made
 * the bench/ models' steps 1.1-1.5x slower (bench/RESULTS.md). */
static void blas_threads(int n) {
  if (n > 0) openblas_set_num_threads(n);
  else if (!getenv("OPENBLAS_NUM_THREADS") && !getenv("GOTO_NUM_THREADS") && !getenv("OMP_NUM_THREADS"))
    openblas_set_num_threads(1);
}

/* Long training drifts weights and Adam's moments into subnormal numbers,
 * which make every operation on them many times slower (a step of the
 * digits MLP 20 times slower after 1500 epochs): the whole run flushes them
 * to zero (MXCSR's FTZ and DAZ), as the generated entry points do. */
static void flush_subnormals(void) {
#ifdef __SSE__
  _mm_setcsr(_mm_getcsr() | 0x8000 /* FTZ */ | 0x0040 /* DAZ */);
#endif
}

int main(int argc, char **argv) {
  flush_subnormals();
  const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
  prog = slash ? slash + 1 : argc > 0 ? argv[0] : "model";
  Model m;
  if (!model_open(&m, dml_model_spec, dml_model_entries)) {
    fprintf(stderr, "%s\n", rt_message());
    return 1;
  }
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    fprintf(argc < 2 ? stderr : stdout, usage_text, prog);
    model_close(&m);
    return argc < 2 ? 2 : 0;
  }
  int nargs;
  char **args = split_equals(argc, argv, &nargs);
  static const char *const cmds[] = {"train", "eval", "predict", "gradcheck", "info", "bench", "hessian"};
  int (*const runs[])(const Model *, const RunConfig *) = {run_train, run_eval,  run_predict, run_gradcheck,
                                                           run_info,  run_bench, run_hessian};
  int cmd = -1;
  for (int i = 0; i < 7; i++)
    if (strcmp(argv[1], cmds[i]) == 0) cmd = i;
  RunConfig c;
  DataInput dbuf[MAX_DATA_INPUTS], vbuf[MAX_DATA_INPUTS];
  int status;
  if (cmd < 0) status = usage_error("unknown command `%s`; the commands are train, eval, predict, gradcheck, info, bench, hessian", argv[1]);
  else if (!config_from_spec(&m, &c, dbuf, vbuf)) {
    fprintf(stderr, "%s\n", rt_message());
    status = 1;
  } else if ((status = parse_options(&m, &c, nargs, args, dbuf, vbuf)) < 0) {
    for (int i = 2; cmd == 1 && i < nargs; i++)
      if (strcmp(args[i], "--data") == 0) c.split = 0, c.has_val_data = false; /* eval --data: all of that file */
    blas_threads(c.threads);
    status = runs[cmd](&m, &c);
    fflush(stdout);
    if (status && rt_message()[0]) fprintf(stderr, "%s\n", rt_message()); /* gradcheck reports on stdout */
  }
  free(args);
  model_close(&m);
  return status;
}
#endif
