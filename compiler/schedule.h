/* schedule.h - from tensor IR to kernels and a static memory plan.
 *
 * Each IR value either becomes part of a fused elementwise loop (no memory
 * of its own), is a view of another value (reshape; a transpose read by a
 * matrix product through a BLAS flag), or is computed by a kernel into
 * storage: the caller's input, param or output buffers, or a slot of the
 * workspace. Slots are reused once their values are dead, so one call
 * needs a single workspace sized from the symbolic dims, and allocates
 * nothing. */
#ifndef DMLC_SCHEDULE_H
#define DMLC_SCHEDULE_H
#include "ir.h"

typedef enum {
  SK_FUSED,  // computed inline inside the kernel that reads it
  SK_INPUT,  // the caller's input buffer `index`
  SK_PARAM,  // the caller's param buffer `index`
  SK_OUTPUT, // the caller's output buffer `index`
  SK_TEMP,   // workspace slot `index`
  SK_VIEW,   // the storage of `of` (reshape), its transpose read by BLAS,
             // a block of it (an index of leading axes: xs[t]), or rows
             // of it that BLAS reads with a leading dimension (xs[:, t])
  SK_IN_PLACE, // computed by its kernel into the storage of `of`: an indexed
               // update of a loop's carried buffer that nothing else reads
} StorageKind;

typedef struct Storage {
  StorageKind kind;
  int index;
  IrVal of;         /* SK_VIEW */
  bool transposed;  /* SK_VIEW of a transpose: only matrix products read it */
  bool at_offset;   /* SK_VIEW of an INDEX: of's storage from the indexed
                       block on, a pointer its kernel computes */
  bool rows;        /* ... of an index of a middle axis, xs[:, t]: a matrix
                       whose rows are a row of of's apart; only matrix
                       products read it (BLAS's leading dimension) */
} Storage;

typedef struct Schedule {
  const IrFunc *f;
  Storage *st;      /* per value */
  int *uses;
  IrVal *kernels;   /* values computed by a kernel, in order; a FOR is
                       followed by the kernels of its body */
  int nkernels;
  int *loop_len;    /* per value: for a FOR, how many kernels its body has */
  IrVal *copies;    /* results needing a copy into their output buffer */
  int *copy_to;
  int ncopies;
  int nslots;
  int *slot_of_value;
  int nblas, nfused;
} Schedule;

/* NULL with a diagnostic when the function uses something codegen does not
 * handle yet (a loop whose carried values swap). */
Schedule *schedule_build(const IrFunc *f, Arena *a, Diags *d);
/* `dmlc emit loops`: the kernels, what each fuses, and the memory plan. */
void schedule_print(FILE *out, const Schedule *s);
size_t dtype_size(DType dt);
/* The scratch a convolution (or its adjoint) needs for one image in im2col
 * form, C*KH*KW*OH*OW elements, as a shape of rank 5; rank 0 for any other
 * value. The workspace ends with the largest of them. */
IrType schedule_conv_scratch(const IrFunc *f, IrVal v);
/* Reductions that compute a single-use elementwise operand in their loop. */
bool fused_reduction(IrOp op);

#endif
