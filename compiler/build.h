/* build.h - from a checked program to the functions codegen compiles. */
#ifndef DMLC_BUILD_H
#define DMLC_BUILD_H
#include "codegen/codegen.h"

/* Every function of the user's file, the loss, loss_grad (when the loss
 * has params to differentiate) and, with_hvp, loss_hvp where forward mode
 * covers the loss, lowered, simplified and scheduled. Symbols are
 * <prefix>_<name>. False with diagnostics on failure. */
bool build_units(Program *p, Arena *a, Diags *d, SemaOptions opt, const char *prefix, bool with_hvp, CgUnit **units,
                 int *nunits);

#endif
