/* interp.h - the reference interpreter: evaluates IR in f64.
 *
 * Deliberately simple and slow: every op is written the obvious way over
 * row-major arrays of doubles. It is the oracle that reverse mode is tested
 * against (finite differences of it) and, later, the code generator. */
#ifndef DMLC_INTERP_H
#define DMLC_INTERP_H
#include "ir.h"

typedef struct Tensor {
  DType dt;
  int rank;
  int64_t dims[MAX_RANK];
  int64_t size;
  double *data;   /* malloc'd; i32 and bool values are stored as doubles */
} Tensor;

/* Values of the symbolic dimensions of a function's signature. */
typedef struct DimEnv {
  const char *syms[16];
  int64_t sizes[16];
  int n;
} DimEnv;

bool dimenv_bind(DimEnv *env, const char *sym, int64_t size); /* false on conflict */
bool dimenv_resolve(const DimEnv *env, const IrType *t, int64_t *dims, int64_t *size);

Tensor tensor_new(DType dt, int rank, const int64_t *dims);
void tensor_free(Tensor *t);

/* Evaluate f. inputs[i] and params[i] follow f's inputs and params; results
 * get one malloc'd tensor per function result. On a run-time error (an
 * index or label out of range) returns false with a message naming the
 * source location. */
bool interp_run(const IrFunc *f, const Tensor *inputs, const Tensor *params, const DimEnv *env, Tensor *results,
                char *err, size_t errlen);

/* The same, also reporting how close the run came to a kink (relu or abs
 * at 0, a tie in maximum/minimum, a float comparison on equal values):
 * finite differences across a kink are meaningless, so gradcheck redraws
 * its inputs when the margin is small. */
bool interp_run_margin(const IrFunc *f, const Tensor *inputs, const Tensor *params, const DimEnv *env,
                       Tensor *results, char *err, size_t errlen, double *kink_margin);
/* The same, counting only the kinks of the values v with watch[v] (all
 * when watch is NULL), and naming the instruction of the nearest kink
 * (-1: none). */
bool interp_run_kink(const IrFunc *f, const Tensor *inputs, const Tensor *params, const DimEnv *env,
                     Tensor *results, char *err, size_t errlen, const bool *watch, double *kink_margin,
                     IrVal *kink_at);

#endif
