/* link.h - shared libraries and C headers from generated objects (link.c). */
#ifndef DMLC_LINK_H
#define DMLC_LINK_H
#include "codegen.h"

const char *link_runtime_dir(Arena *a);
/* cc [-shared] object libdmlrt.a -lopenblas -lm -o output: a shared
 * library, or an executable whose main is the training runtime's. */
bool link_with_runtime(const char *object, const char *output, bool shared, Arena *a, Diags *d);
/* The header describing the entry points (unit names are their symbols). */
bool link_write_header(const char *path, const char *model, const char *source, const CgUnit *units, int nunits,
                       const Program *p, Diags *d);

#endif
