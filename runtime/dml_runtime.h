/* dml_runtime.h - the training runtime around the generated math: errors,
 * JSON, data loading, random numbers and initialisers, optimizers,
 * checkpoints, plots, and the executable's main (main.c, train.c).
 *
 * Errors: a function that can fail returns false after rt_error...() left
 * one message (with FILE:LINE:COL when there is a place to point at);
 * main prints it and exits non-zero. */
#ifndef DML_RUNTIME_H
#define DML_RUNTIME_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { RT_MAX_RANK = 8 };

/* ---- errors ------------------------------------------------------------------- */

/* "FILE:LINE:COL: error: MESSAGE"; line/col 0 leave them out. Returns false. */
bool rt_error_at(const char *file, long line, long col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* "error: MESSAGE". Returns false. */
bool rt_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *rt_message(void); /* the last message, "" if none */

/* ---- element types ------------------------------------------------------------ */

typedef enum { RT_F32, RT_F64, RT_I32 } RtType;
size_t rt_type_size(RtType t);
const char *rt_type_name(RtType t); /* "f32", "f64", "i32" */

/* ---- JSON (model descriptions, safetensors headers) --------------------------- */

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ } JsonKind;

typedef struct Json {
  JsonKind kind;
  bool boolean;
  double num;
  char *str;           /* JSON_STR, NUL-terminated (may contain no NUL) */
  struct Json *items;  /* JSON_ARR, JSON_OBJ: n values */
  char **keys;         /* JSON_OBJ: n keys */
  int n;
} Json;

/* Parse text[0..len); NULL with rt_error naming `what` and the line and
 * column on malformed input. Free with json_free. */
Json *json_parse(const char *text, size_t len, const char *what);
void json_free(Json *j);
const Json *json_get(const Json *obj, const char *key); /* NULL if absent or not an object */
/* Write s as a JSON string literal (with quotes). */
void json_write_string(FILE *out, const char *s);

/* ---- data --------------------------------------------------------------------- */

typedef enum { DATA_CSV, DATA_NPY, DATA_IDX } DataKind;

/* What the model wants for one of its inputs and where it comes from. */
typedef struct DataInput {
  const char *name;    /* the loss input, e.g. "x" */
  RtType type;         /* element type wanted (f32/f64 features, i32 labels) */
  int64_t width;       /* values per example; -1: whatever the data has */
  int32_t classes;     /* i32 inputs: labels must lie in 0..classes-1 (0: no check) */
  int first, end;      /* CSV: columns first..end-1 */
  const char *file;    /* NPY/IDX: this input's file */
} DataInput;

typedef struct DataSource {
  DataKind kind;
  const char *file;    /* CSV: the file */
  bool header;         /* CSV: the first line holds column names */
  char delimiter;      /* CSV: ',' by default; ' ' means any run of blanks */
  DataInput *inputs;
  int ninputs;
} DataSource;

/* One loaded input: n examples of `width` values each, row-major. */
typedef struct DataColumn {
  const char *name;
  RtType type;
  int64_t width;
  void *data;          /* n * width elements of `type` */
} DataColumn;

typedef struct Dataset {
  int64_t n;
  DataColumn *cols;    /* one per DataSource input, same order */
  int ncols;
} Dataset;

/* Load every input; false with "FILE:LINE:COL: error: ..." for a missing
 * file, a wrong column count, a non-numeric field, a label out of range or
 * not an integer, a width different from the model's, files of different
 * lengths, an empty file. */
bool data_load(const DataSource *src, Dataset *out);
void data_free(Dataset *d);
/* Rows idx[0..k) of every column, copied into a new dataset. */
bool data_take(const Dataset *d, const int64_t *idx, int64_t k, Dataset *out);
/* Copy rows idx[0..k) of column c into dst (k * width elements). */
void data_gather(const DataColumn *c, const int64_t *idx, int64_t k, void *dst);

/* ---- random numbers and initialisers ------------------------------------------ */

typedef struct Rng {
  uint64_t s[4];       /* xoshiro256** state */
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
double rng_uniform(Rng *r);              /* [0, 1) */
double rng_normal(Rng *r);               /* mean 0, std 1 */
void rng_shuffle(Rng *r, int64_t *a, int64_t n);
/* The state as 64 hex digits (a checkpoint's "rng"), and back: NULL, or
 * why the text is no state (not 64 hex digits; all zero, where xoshiro
 * stays forever). */
void rng_to_hex(const Rng *r, char hex[65]);
const char *rng_from_hex(Rng *r, const char *hex);

/* ---- checkpoints (safetensors) -------------------------------------------------- */

/* A named tensor. dims[0..rank). */
typedef struct CkTensor {
  char *name;
  RtType type;
  int rank;
  int64_t dims[RT_MAX_RANK];
  void *data;          /* owned by the caller on save; by the Checkpoint on load */
} CkTensor;

/* One "key": "value" pair of the safetensors __metadata__ (strings only). */
typedef struct CkMeta {
  char *key, *value;
} CkMeta;

typedef struct Checkpoint {
  CkTensor *tensors;
  int ntensors;
  CkMeta *meta;
  int nmeta;
} Checkpoint;

/* Write a safetensors file as outfile.h writes every output: whole into
 * PATH.tmp.PID, synced, renamed over PATH (a symbolic link followed, a
 * device or FIFO written in place). Tensors in the order given,
 * little-endian, dtypes F32/F64/I32. On failure nothing is left behind. */
bool ckpt_save(const char *path, const CkTensor *t, int n, const CkMeta *meta, int nmeta);
/* Read and validate a whole safetensors file: a truncated file, a header
 * that is not JSON, offsets out of range or overlapping, a dtype other
 * than F32/F64/I32, a size that does not match the shape are errors that
 * name the file. */
bool ckpt_load(const char *path, Checkpoint *out);
const CkTensor *ckpt_find(const Checkpoint *c, const char *name);
const char *ckpt_meta(const Checkpoint *c, const char *key); /* NULL if absent */
/* Metadata `key` of the checkpoint read from path as an integer within
 * [lo, hi]: false with an error naming the file and the key when it is
 * absent, not a whole number as we write them ("2 ", "+2", "02") or out
 * of range. */
bool ckpt_meta_int(const Checkpoint *c, const char *path, const char *key, int64_t lo, int64_t hi, int64_t *v);
/* "PATH: error: metadata "KEY" is "VALUE": WHY" (the value cut short and
 * made printable). Returns false. */
bool ckpt_meta_bad(const char *path, const char *key, const char *value, const char *why);
void ckpt_free(Checkpoint *c);

/* ---- the training log as a picture ---------------------------------------------- */

typedef struct EpochRow {
  int epoch;
  double train_loss, val_loss, val_metric; /* NaN when not measured */
  double seconds;      /* since training started */
} EpochRow;

/* An SVG with two panels: train and validation loss per epoch (log scale
 * when they span more than a factor 20), and the validation metric
 * (`metric` names it: "accuracy", "rmse"; NULL: no second panel). Axes
 * with ticks, labels, a legend, a title. Written as outfile.h writes every output. */
bool plot_svg(const char *path, const char *title, const EpochRow *rows, int n, const char *metric);

/* ---- the model an executable was built from (model.c) ---------------------------- */

typedef int32_t (*DmlEntryFn)(const int64_t *dims, void *const *inputs, void *const *params, void *const *outputs,
                              void *workspace);
typedef int64_t (*DmlWorkspaceFn)(const int64_t *dims);

/* A row of the table codegen emits as `dml_model_entries`. */
typedef struct DmlEntry {
  const char *name;    /* "loss", "loss_grad", "predict", ... */
  DmlEntryFn fn;
  DmlWorkspaceFn workspace;
} DmlEntry;

/* A shape whose axes are sizes or symbols (sym != NULL) bound at run time. */
typedef struct RtShape {
  RtType type;
  int rank;
  int64_t dims[RT_MAX_RANK];
  const char *syms[RT_MAX_RANK];
} RtShape;

typedef struct RtParam {
  const char *name;
  RtShape shape;       /* all dims constant */
  int64_t size;        /* elements */
  const Json *init;    /* {"name": "glorot", ...} or NULL */
  const char *where;   /* FILE:LINE:COL of its declaration */
  bool used;           /* the loss depends on it */
  bool trained;        /* used, and loss_grad gives its gradient: the optimizer updates it */
  int64_t offset;      /* elements from the start of the param block */
} RtParam;

typedef struct Model {
  Json *spec;
  const char *name, *source, *loss_where;
  RtType dtype;        /* the model's float type */
  RtParam *params;
  int nparams;
  int *grads;          /* loss_grad output k+1 is the gradient of params[grads[k]] */
  int ngrads;
  RtShape *inputs;     /* the loss inputs */
  const char **input_names;
  int ninputs;
  const char **dims;   /* symbolic dims of loss/loss_grad, in call order */
  int ndims;
  const DmlEntry *loss, *loss_grad, *predict;
  const DmlEntry *loss_hvp; /* H v, for newton and newton_cg; NULL if not built */
  int *pred_inputs;    /* predict's inputs as loss input indices */
  int npred_inputs;
  const char **pred_dims;
  int npred_dims;
  RtShape pred_out;
  int label;           /* the loss input predict is compared with, -1 if none */
  int classes;
  const char *metric;  /* "accuracy", "rmse", "none" */
  const Json *train;   /* the train block, resolved */
  int64_t trained_size; /* elements of the trained params, padded: the optimizer's vector */
  int64_t block_size;  /* elements of all params, padded */
} Model;

/* Read the embedded description; false with an error if it is malformed
 * (a dmlc/runtime version mismatch). */
bool model_open(Model *m, const char *spec, const DmlEntry *entries);
void model_close(Model *m);
/* Fill the param block with the initialisers, drawing from r in param order. */
void model_init_params(const Model *m, void *block, Rng *r);
const char *model_param_where(const Model *m, int i);

/* ---- optimizers and learning-rate schedules (optim.c) ------------------------------ */

typedef enum { OPT_SGD, OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP } OptKind;

typedef struct Optimizer {
  OptKind kind;
  const char *name;
  double lr, momentum, beta1, beta2, eps, alpha;
  double weight_decay; /* adamw: decoupled; the others: added to the gradient */
  double l1;           /* proximal soft-threshold after each step */
  RtType type;
  int64_t n;           /* elements updated */
  int64_t t;           /* steps taken (adam's bias correction) */
  int nstate;          /* state vectors: 0 (sgd), 1 (momentum, nesterov, rmsprop), 2 (adam, adamw) */
  void *state[2];      /* n elements each, inside the caller's block */
} Optimizer;

/* Set kind and defaults from a name; false if unknown. Arguments a spec
 * gives (lr, momentum, ...) are then set by the caller. */
bool optim_by_name(Optimizer *o, const char *name);
/* One update of w[0..n) from g[0..n) scaled by gscale (clipping), at the
 * learning rate lr (after the schedule). */
void optim_step(Optimizer *o, void *w, const void *g, double lr, double gscale);
double optim_grad_norm(const void *g, int64_t n, RtType t);

typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_COSINE, SCHED_WARMUP } SchedKind;

typedef struct Schedule {
  SchedKind kind;
  int every;           /* step: epochs between decays */
  double gamma;        /* step: factor */
  double min_lr;       /* cosine: final rate */
  int warmup_epochs;   /* warmup: epochs of linear increase */
} Schedule;

bool schedule_by_name(Schedule *s, const char *name);
/* The rate at optimizer step `step` (0-based) of `total` steps, with
 * `per_epoch` steps an epoch. */
double schedule_lr(const Schedule *s, double base, int64_t step, int64_t per_epoch, int64_t total);

/* ---- second-order optimizers (newton.c) -------------------------------------------- */

/* A smooth function of n variables, in f64, as the minimizers see it. */
typedef struct Objective {
  void *ctx;
  int64_t n;
  bool (*value)(void *ctx, const double *w, double *f);
  bool (*value_grad)(void *ctx, const double *w, double *f, double *g);
  bool (*hvp)(void *ctx, const double *w, const double *v, double *hv); /* NULL: none */
  /* after each iteration: its number, the loss (with l1: the objective), the
   * gradient norm (with l1: the pseudo-gradient's), the step length */
  bool (*report)(void *ctx, int iter, double f, double gnorm, double step);
} Objective;

typedef enum { SO_NEWTON, SO_NEWTON_CG, SO_LBFGS } SecondOrderKind;

typedef struct SecondOrder {
  SecondOrderKind kind;
  double damping;      /* newton: added to the diagonal at first (Levenberg) */
  double tol;          /* stop when the gradient norm is at most tol * max(1, |w|) */
  double ftol;         /* or when the loss changes by at most ftol * max(|f|, |f_new|, 1) in an iteration */
  int max_iters;
  int history;         /* lbfgs: pairs kept */
  int cg_iters;        /* newton_cg: conjugate gradient steps per iteration */
  double l1;           /* lbfgs: minimise f + l1 * sum |w_i| (OWL-QN); newton, newton_cg refuse l1 > 0 */
} SecondOrder;

bool second_order_by_name(SecondOrder *s, const char *name);
const char *second_order_name(SecondOrderKind k); /* "newton", "newton_cg", "lbfgs" */
/* False with an error if s cannot minimise over n values: l1 > 0 with
 * newton or newton_cg, newton over more than 4000 values. */
bool second_order_check(const SecondOrder *s, int64_t n);
/* Why a minimisation stopped: the first two are convergence. */
typedef enum { SO_GRADIENT, SO_LOSS_CHANGE, SO_NO_DECREASE, SO_MAX_ITERS } SecondOrderStop;

typedef struct SecondOrderResult {
  SecondOrderStop stop;
  int iters;
  double gnorm;        /* the last gradient norm (with l1: the pseudo-gradient's) */
  double gtol;         /* what it was compared with: tol * max(1, |w|) */
  double change;       /* the last iteration's relative change of the loss (NAN before one) */
} SecondOrderResult;

/* Minimise from w (updated in place): f, or with l1 > 0 the objective
 * f + l1 |w|_1, which report() then receives with the norm of its
 * pseudo-gradient instead of the gradient's. Returns false on an
 * evaluation error or a failed second_order_check (rt_error set); *r says
 * where and why it stopped. */
bool second_order_minimize(const Objective *o, const SecondOrder *s, double *w, SecondOrderResult *r);
/* "converged after 9 iterations: gradient norm 6.1e-13 <= ..." for r, one line without newline. */
void second_order_describe(const SecondOrder *s, const SecondOrderResult *r, char *buf, size_t n);

/* The line search of lbfgs without l1: from w, where the loss is *f and
 * its gradient g, along a direction p with g.p < 0, a step a that
 * satisfies the strong Wolfe conditions
 *   f(w + a p) <= f(w) + 1e-4 a g.p   and   |g(w + a p).p| <= 0.5 |g.p|
 * (newton.c says why 0.5, not the usual 0.9), trying a0 first, then longer steps until one brackets such steps, then
 * safeguarded interpolation inside the bracket (Nocedal and Wright,
 * Algorithms 3.5 and 3.6), at most 40 evaluations. work holds 4 n
 * doubles. LINE_WOLFE: w, *f and g are at the new point and *step is a;
 * LINE_DECREASE: the same, for the lowest point found when the
 * evaluations or the bracket's rounding ran out first (it satisfies the
 * first condition only); LINE_NONE: no step lowers f enough, or g.p >= 0
 * (w, *f, g unchanged); LINE_ERROR: an evaluation failed (rt_error set). */
typedef enum { LINE_WOLFE, LINE_DECREASE, LINE_NONE, LINE_ERROR } LineStatus;
LineStatus line_search_wolfe(const Objective *o, double *w, double *f, double *g, const double *p, double a0,
                             double *work, double *step);

/* ---- a run: the train block merged with the command line (main.c, train.c) ------- */

typedef struct RunConfig {
  DataSource data, val_data;
  bool has_data, has_val_data;
  const char *data_where;   /* FILE:LINE:COL of `data = ...` in the source */
  double split;             /* fraction for training; 0: no split */
  bool standardize;
  int64_t batch;
  int epochs;
  int64_t seed;
  Optimizer opt;
  bool second_order;        /* newton, newton_cg, lbfgs: full batch, so2 below */
  SecondOrder so2;
  Schedule sched;
  double clip;              /* 0: none */
  const char *metric;
  const char *log_path, *plot_path, *save_path, *load_path, *resume_path;
  bool quiet;
  int progress;             /* -1: on a terminal; 0 off; 1 on */
  bool scores;              /* predict: every output value, not the class */
  int check_entries;        /* gradcheck: entries per param */
  int steps;                /* bench: steps per round */
  int threads;              /* BLAS threads; 0: see blas_threads in main.c */
} RunConfig;

int run_train(const Model *m, const RunConfig *c);
int run_eval(const Model *m, const RunConfig *c);
int run_predict(const Model *m, const RunConfig *c);
int run_gradcheck(const Model *m, const RunConfig *c);
int run_info(const Model *m, const RunConfig *c);
int run_bench(const Model *m, const RunConfig *c);
int run_hessian(const Model *m, const RunConfig *c);

#endif
