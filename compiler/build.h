/* build.h - from a checked program to the functions codegen compiles. */
#ifndef DMLC_BUILD_H
#define DMLC_BUILD_H
#include "codegen/codegen.h"

/* Whether to build loss_hvp: not at all, when forward mode can (a
 * library: without one if not), or as a requirement (an executable whose
 * optimizer needs it: an error if it cannot be built). */
typedef enum { HVP_NONE, HVP_IF_POSSIBLE, HVP_REQUIRED } HvpWanted;

/* Every function of the user's file, the loss, loss_grad (when the loss
 * has params to differentiate) and loss_hvp as `hvp` says, lowered,
 * simplified and scheduled. Symbols are <prefix>_<name>. False with
 * diagnostics on failure. */
bool build_units(Program *p, Arena *a, Diags *d, SemaOptions opt, const char *prefix, HvpWanted hvp, CgUnit **units,
                 int *nunits);

#endif
