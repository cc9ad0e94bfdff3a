/* model.h - the model description an executable carries for its runtime. */
#ifndef DMLC_MODEL_H
#define DMLC_MODEL_H
#include "codegen/codegen.h"

/* The JSON text runtime/main.c reads: params with shapes and initialisers,
 * the loss inputs, which params get gradients, the predict function and the
 * label, the metric, and the train block with data paths made absolute.
 * NULL with diagnostics when the program cannot be trained as an
 * executable. */
const char *model_spec(const Program *p, const CgUnit *units, int nunits, const char *name, DType model_float,
                       Arena *a, Diags *d);

/* Whether the train block's optimizer uses Hessian-vector products, so the
 * executable needs loss_hvp. */
bool model_wants_hvp(const Program *p);

#endif
