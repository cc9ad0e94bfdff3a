/* lower.h - typed AST to tensor IR (see lower.c). */
#ifndef DMLC_LOWER_H
#define DMLC_LOWER_H
#include "ir.h"

/* Lower `entry` (the loss or a fn) with every call inlined. NULL on error
 * (reported to d). */
IrFunc *lower_function(Program *p, Item *entry, Arena *a, Diags *d, SemaOptions opt);

#endif
