/* emit_dml.h - IR printed as DML source (emit_dml.c). */
#ifndef DMLC_EMIT_DML_H
#define DMLC_EMIT_DML_H
#include <stdio.h>
#include "ir.h"

/* Print loss_grad (results: loss, then the gradients of f->grad_params) as
 * a DML program: the params of p, then `fn loss_grad`. */
bool emit_dml(FILE *out, const IrFunc *f, const Program *p, const char *source_name, Diags *d);

#endif
