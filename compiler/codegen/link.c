/* link.c - from object file to shared library, and the C header that
 * describes it: the system `cc` links the generated object with libdmlrt
 * and OpenBLAS; the header lists the entry points with their dims, inputs
 * and outputs, and the model's params with shapes, dtypes and
 * initialisers, so that a C program can call the model. */
#include "link.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dmlc_config.h"
#include "outfile.h"

/* The folder holding libdmlrt.a: $DMLC_RUNTIME, next to dmlc, or the build tree. */
const char *link_runtime_dir(Arena *a) {
  const char *env = getenv("DMLC_RUNTIME");
  if (env && *env) return env;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    const char *rel[] = {"", "/../lib/dmlc"};
    for (int i = 0; i < 2; i++) {
      char *cand = arena_printf(a, "%s%s/libdmlrt.a", exe, rel[i]);
      if (access(cand, R_OK) == 0) return arena_printf(a, "%s%s", exe, rel[i]);
    }
  }
  return DMLC_RUNTIME_DIR;
}

/* Run a command without a shell; false with a diagnostic if it fails. */
static bool run(char *const argv[], Diags *d) {
  fflush(stdout); /* the child must not write our buffered output again */
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    diag_error(d, (Span){0}, "cannot start %s: %s", argv[0], strerror(errno));
    return false;
  }
  if (pid == 0) {
    execvp(argv[0], argv);
    dprintf(2, "dmlc: cannot run %s: %s\n", argv[0], strerror(errno)); /* unbuffered: _exit flushes nothing */
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    diag_error(d, (Span){0}, "%s failed (exit status %d)%s", argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : -1,
               WIFEXITED(status) && WEXITSTATUS(status) == 127 ? ": is a C compiler installed (apt-get install gcc)?" : "");
    return false;
  }
  return true;
}

/* cc [-shared] -o OUTPUT OBJECT libdmlrt.a BLAS -lm: an executable takes
 * main and the training runtime from libdmlrt.a, a library only kernels,
 * which it keeps to itself (--exclude-libs makes libdmlrt.a's symbols
 * local): two models in one process must not share, or interpose, each
 * other's runtime and its last error. */
bool link_with_runtime(const char *object, const char *output, bool shared, Arena *a, Diags *d) {
  const char *rt = link_runtime_dir(a);
  char *lib = arena_printf(a, "%s/libdmlrt.a", rt);
  if (access(lib, R_OK) != 0) {
    diag_error(d, (Span){0}, "cannot find the runtime library %s", lib);
    diag_hint(d, "build dmlc with `cmake --build build`, or set DMLC_RUNTIME to the folder holding libdmlrt.a");
    return false;
  }
  /* BLAS flags come as one string from CMake: split on spaces */
  char *blas = arena_strndup(a, DMLC_BLAS_LIBS, strlen(DMLC_BLAS_LIBS));
  char *argv[32];
  int n = 0;
  const char *cc = getenv("CC");
  argv[n++] = (char *)(cc && *cc ? cc : "cc");
  if (shared) {
    argv[n++] = "-shared";
    argv[n++] = "-Wl,--exclude-libs,ALL";
  }
  argv[n++] = "-o";
  argv[n++] = (char *)output;
  argv[n++] = (char *)object;
  argv[n++] = lib;
  for (char *save = NULL, *tok = strtok_r(blas, " ", &save); tok && n < 28; tok = strtok_r(NULL, " ", &save)) argv[n++] = tok;
  if (*DMLC_LINK_EXTRA) argv[n++] = DMLC_LINK_EXTRA; /* a sanitizer build's runtime needs its libraries */
  argv[n++] = "-lm";
  argv[n] = NULL;
  return run(argv, d);
}

static void c_type(FILE *out, const IrType *t) {
  fputs(dtype_name(t->dt), out);
  fputc('[', out);
  for (int i = 0; i < t->rank; i++) {
    if (i) fputs(", ", out);
    if (t->dims[i].sym) fputs(t->dims[i].sym, out);
    else fprintf(out, "%lld", (long long)t->dims[i].size);
  }
  fputc(']', out);
}

static const char *c_elem(DType dt) {
  switch (dt) {
  case DT_F64: return "double";
  case DT_I32: return "int32_t";
  case DT_BOOL: return "uint8_t";
  default: return "float";
  }
}

bool link_write_header(const char *path, const char *model, const char *source, const CgUnit *units, int nunits,
                       const Program *p, Diags *d) {
  OutFile file;
  const char *why = outfile_open(&file, path);
  if (why) {
    diag_error(d, (Span){0}, "cannot write %s: %s", path, why);
    return false;
  }
  FILE *out = file.stream;
  char guard[128];
  size_t k = 0;
  for (const char *c = model; *c && k < sizeof guard - 8; c++) guard[k++] = (char)((*c >= 'a' && *c <= 'z') ? *c - 32 : (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ? *c : '_');
  guard[k] = 0;
  fprintf(out, "/* %s.h - the C interface of the model compiled from %s by dmlc. */\n", model, source);
  fprintf(out, "#ifndef DML_%s_H\n#define DML_%s_H\n#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", guard, guard);
  fprintf(out, "/* Every entry point NAME has the form\n"
        " *   int32_t NAME(const int64_t *dims, void *const *inputs, void *const *params,\n"
        " *                void *const *outputs, void *workspace);\n"
        " * dims: the sizes of the symbolic dimensions, in the order listed;\n"
        " * inputs/params/outputs: one pointer per tensor, row-major, of the listed\n"
        " * element types; workspace: NAME_workspace(dims) bytes, 64-byte aligned.\n"
        " * It returns 0, or 1 after a run-time error described by %s_error().\n"
        " * No call allocates memory. */\n\n",
        model);
  fputs("#ifndef DML_PARAM_INFO_DEFINED /* shared by every model's header */\n#define DML_PARAM_INFO_DEFINED\n"
        "typedef struct dml_param_info {\n  const char *name;\n  const char *dtype;\n  int rank;\n  int64_t dims[8];\n"
        "  const char *init; /* as written in the source; \"\" if none */\n} dml_param_info;\n#endif\n\n",
        out);
  int np = 0;
  for (int i = 0; i < p->nitems; i++)
    if (p->items[i]->kind == IT_PARAM) np++;
  fprintf(out, "#define %s_NPARAMS %d\n", guard, np);
  fprintf(out, "static const dml_param_info %s_params[%d] = {\n", model, np ? np : 1);
  const IrFunc *f0 = nunits ? units[0].f : NULL;
  for (int i = 0; f0 && i < f0->nparams; i++) {
    const IrParam *pr = &f0->params[i];
    fprintf(out, "    {\"%s\", \"%s\", %d, {", pr->name, dtype_name(pr->ty.dt), pr->ty.rank);
    for (int j = 0; j < pr->ty.rank; j++) fprintf(out, "%s%lld", j ? ", " : "", (long long)pr->ty.dims[j].size);
    if (!pr->ty.rank) fputc('0', out); /* a scalar: no empty initializer */
    fputs("}, \"", out);
    if (pr->item && pr->item->value) {
      char *text = NULL;
      size_t len = 0;
      FILE *m = open_memstream(&text, &len);
      ast_print_expr(m, pr->item->value);
      fclose(m);
      for (char *c = text; c && *c; c++) fputc(*c == '"' ? '\'' : *c, out);
      free(text);
    }
    fputs("\"},\n", out);
  }
  if (!f0 || !f0->nparams) fputs("    {\"\", \"\", 0, {0}, \"\"}, /* no params: a placeholder */\n", out);
  fputs("};\n\n", out);
  for (int u = 0; u < nunits; u++) {
    const IrFunc *f = units[u].f;
    fprintf(out, "/* %s\n *   dims:", units[u].name);
    if (!f->ndim_syms) fputs(" none", out);
    for (int i = 0; i < f->ndim_syms; i++) fprintf(out, " [%d] %s", i, f->dim_syms[i]);
    fputs("\n *   inputs:", out);
    if (!f->ninputs) fputs(" none", out);
    for (int i = 0; i < f->ninputs; i++) {
      fprintf(out, "%s[%d] %s: %s ", i ? ",\n *          " : " ", i, f->input_names[i], c_elem(f->input_types[i].dt));
      c_type(out, &f->input_types[i]);
    }
    fputs("\n *   outputs:", out);
    for (int i = 0; i < f->nresults; i++) {
      const IrType *t = &f->v[f->results[i]].ty;
      bool hvp = strcmp(f->name, "loss_hvp") == 0; /* H v per param, no loss first */
      const char *what = hvp && i < f->ngrad_params ? f->params[f->grad_params[i]].name
                         : f->grad_params && i > 0 && i - 1 < f->ngrad_params
                             ? f->params[f->grad_params[i - 1]].name : (i == 0 && f->grad_params ? "loss" : "value");
      const char *prefix = hvp ? "Hv_" : f->grad_params && i > 0 ? "d_" : "";
      fprintf(out, "%s[%d] %s%s: %s ", i ? ",\n *           " : " ", i, prefix, what, c_elem(t->dt));
      c_type(out, t);
    }
    fputs("\n */\n", out);
    fprintf(out, "int32_t %s(const int64_t *dims, void *const *inputs, void *const *params, void *const *outputs, "
                 "void *workspace);\n",
            units[u].name);
    fprintf(out, "int64_t %s_workspace(const int64_t *dims);\n\n", units[u].name);
  }
  fprintf(out, "/* The message of this library's last run-time error in the calling thread. */\n"
               "const char *%s_error(void);\n\n#ifdef __cplusplus\n}\n#endif\n#endif\n", model);
  if ((why = outfile_commit(&file)) != NULL) {
    diag_error(d, (Span){0}, "cannot write %s: %s", path, why);
    return false;
  }
  return true;
}
