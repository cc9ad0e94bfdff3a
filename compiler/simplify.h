/* simplify.h - algebraic clean-up, CSE and DCE after autodiff (simplify.c). */
#ifndef DMLC_SIMPLIFY_H
#define DMLC_SIMPLIFY_H
#include "ir.h"

/* A simplified copy of f, holding only what its results need. */
IrFunc *simplify(const IrFunc *f);

/* Append src's computation to dst at its current block, simplified on the
 * way: src's inputs and params read inputs[i] and params[i] (dst values),
 * and results[i] receives what src's result i became. */
void ir_inline(IrFunc *dst, const IrFunc *src, const IrVal *inputs, const IrVal *params, IrVal *results);

#endif
