/* simplify.h - algebraic clean-up, CSE and DCE after autodiff (simplify.c). */
#ifndef DMLC_SIMPLIFY_H
#define DMLC_SIMPLIFY_H
#include "ir.h"

/* A simplified copy of f, holding only what its results need. */
IrFunc *simplify(const IrFunc *f);

#endif
