/* build.h - from a checked program to the functions codegen compiles. */
#ifndef DMLC_BUILD_H
#define DMLC_BUILD_H
#include "codegen/codegen.h"

/* Every function of the user's file, the loss, and loss_grad (when the loss
 * has params to differentiate), lowered, simplified and scheduled. Symbols
 * are <prefix>_<name>. False with diagnostics on failure. */
bool build_units(Program *p, Arena *a, Diags *d, SemaOptions opt, const char *prefix, CgUnit **units, int *nunits);

#endif
