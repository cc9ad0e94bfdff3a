/* codegen.h - native code through LLVM (llvm.c) and linking (link.c). */
#ifndef DMLC_CODEGEN_H
#define DMLC_CODEGEN_H
#include <stdio.h>
#include "../schedule.h"

typedef struct CgUnit {
  const char *name;     /* the C symbol of the entry point */
  const IrFunc *f;
  const Schedule *s;
} CgUnit;

typedef enum { CG_EMIT_OBJECT, CG_EMIT_ASM, CG_EMIT_LLVM } CgEmit;

typedef struct CgOptions {
  int opt_level;        /* 0..3 */
  bool pic;             /* for shared libraries */
  CgEmit emit;
  const char *output;   /* object or assembly file */
  FILE *text_out;       /* CG_EMIT_LLVM: where the text goes (stdout if NULL) */
  const char *module_name;
  const char *model_spec; /* executables: the JSON model description, else NULL */
  const char *cpu;        /* the LLVM CPU name to compile for ("x86-64"); NULL: the host's */
  bool keep_subnormals;   /* entry points leave MXCSR alone instead of flushing subnormals (tests) */
  const char *error_fn;   /* libraries and objects: the NAME_error symbol, else NULL */
} CgOptions;

bool cg_compile(const CgUnit *units, int nunits, const CgOptions *opt, Arena *a, Diags *d);

#endif
