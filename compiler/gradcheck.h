/* gradcheck.h - generated gradients against finite differences (gradcheck.c). */
#ifndef DMLC_GRADCHECK_H
#define DMLC_GRADCHECK_H
#include <stdio.h>
#include "interp.h"

typedef struct GradcheckOptions {
  uint64_t seed;
  DimEnv dims;         /* sizes given with --dim; others default to 3, 4, ... */
  double tolerance;    /* worst relative error allowed */
  double floor;        /* denominators below this count as this: near-zero entries */
  int64_t max_entries; /* per param; larger params are sampled */
  bool hvp;            /* also loss_hvp against differences of loss_grad, and its symmetry */
} GradcheckOptions;

/* A random point for a function with loss's inputs and params: symbolic
 * dims not in env get sizes 3, 4, ...; labels are valid class indices. */
void gc_alloc_point(const IrFunc *loss, DimEnv *env, Tensor **inputs, Tensor **params);
void gc_draw_point(const IrFunc *loss, const DimEnv *env, uint64_t *rng_state, Tensor *inputs, Tensor *params);
void gc_free_point(const IrFunc *loss, Tensor *inputs, Tensor *params);

/* 0: all gradients match; 1: a mismatch; 2: could not run (reported). */
int gradcheck_run(Program *p, Item *loss, Arena *a, Diags *d, const GradcheckOptions *opt, FILE *out);

#endif
