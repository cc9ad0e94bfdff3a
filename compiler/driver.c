/* driver.c - the `dmlc` command line.
 *
 * The driver is the pipeline diagram: read and parse (front_parse_file),
 * check (front_check), then whatever the subcommand asks for: lowering,
 * autodiff and simplify (emit_grad; build_units in build.c for native
 * code), the interpreter (gradcheck), codegen and linking (cmd_build). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>
#include "front.h"
#include "lower.h"
#include "build.h"
#include "model.h"
#include "codegen/link.h"
#include <limits.h>
#include "emit_dml.h"
#include "gradcheck.h"
#include "simplify.h"
#include "autodiff/autodiff.h"
#include "parser.h"
#include "outfile.h"
#include "sha256.h"

extern char **environ; /* for fexecve */

static const char *usage_text =
    "usage: dmlc <command> [options] FILE...\n"
    "\n"
    "commands:\n"
    "  check FILE...          parse and check programs; report every error\n"
    "  emit tokens FILE       print the tokens of a file\n"
    "  emit ast FILE          print the syntax tree, as parsed (before checking)\n"
    "  emit source FILE       print the program back as DML, as the parser read it\n"
    "  emit ir FILE           print the tensor IR of the loss and each function\n"
    "  emit grad FILE         print loss_grad, the generated gradient program, as DML\n"
    "  emit grad-ir FILE      print loss_grad as tensor IR, after simplification\n"
    "  emit hvp FILE          print loss_hvp, H v by forward mode over loss_grad, as DML (hvp-ir: as IR)\n"
    "  gradcheck FILE         compare loss_grad with finite differences (f64)\n"
    "  build FILE [-o NAME]               native executable: ./NAME train|eval|predict|gradcheck|info|bench|hessian\n"
    "  build FILE --lib [-o libNAME.so]   native shared library + NAME.h for C callers\n"
    "  run FILE [-- ARGS]     build into a cache (keyed by the sources) and run ./NAME ARGS (default: train)\n"
    "  build FILE -c [-o NAME.o]          native relocatable object\n"
    "  emit loops FILE        print the kernels and memory plan of each entry point\n"
    "  emit llvm FILE         print the LLVM IR\n"
    "  emit asm FILE          print the assembly for this machine\n"
    "\n"
    "options:\n"
    "  --dtype f32|f64        the float type of the model (default f32)\n"
    "  --color auto|always|never   colour in diagnostics (default auto: on a terminal)\n"
    "  -Werror                treat warnings as errors\n"
    "  -o PATH                build: the output file\n"
    "  -O0 .. -O3             build: optimisation level (default -O2)\n"
    "  --stats                build: kernels, BLAS calls and planned workspace bytes\n"
    "  --seed N               gradcheck: random seed (default 1)\n"
    "  --dim NAME=SIZE        gradcheck: size of a symbolic dimension (default 3, 4, ...)\n"
    "  --hvp                  gradcheck: also Hessian-vector products (forward over reverse) and symmetry\n"
    "  -h, --help             show this help\n"
    "  --version              show the version\n"
    "\n"
    "environment:\n"
    "  DMLC_STDLIB            folder of the standard library (default: found next to dmlc)\n";

typedef struct Options {
  const char *cmd;
  const char *what;         /* emit: tokens|ast|source */
  const char **files;
  int nfiles;
  SemaOptions sema;
  int color;                /* -1 auto, 0 never, 1 always */
  bool werror;
  GradcheckOptions gc;
  const char *output;
  bool lib, object, stats;
  int opt_level;
  char **run_args;          /* run: what follows `--`, for the executable */
  int nrun_args;
} Options;

static int usage_error(const char *fmt, const char *arg) {
  fputs("dmlc: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs("\nrun `dmlc --help` for usage\n", stderr);
  return 2;
}

static bool parse_args(int argc, char **argv, Options *o, int *status) { /* may write into argv */
  memset(o, 0, sizeof *o);
  o->color = -1;
  o->sema.model_float = DT_F32;
  o->gc.seed = 1;
  o->gc.tolerance = 1e-6;
  o->gc.floor = 1e-3;
  o->gc.max_entries = 300;
  o->opt_level = 2;
  o->files = calloc((size_t)argc, sizeof(char *));
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { /* run: the rest belongs to the model executable */
      o->run_args = argv + i + 1;
      o->nrun_args = argc - i - 1;
      break;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      *status = 0;
      return false;
    } else if (strcmp(a, "--version") == 0) {
      printf("dmlc %s\n", DMLC_VERSION);
      *status = 0;
      return false;
    } else if (strcmp(a, "--dtype") == 0 || strncmp(a, "--dtype=", 8) == 0) {
      const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : "");
      if (strcmp(v, "f32") == 0) o->sema.model_float = DT_F32;
      else if (strcmp(v, "f64") == 0) o->sema.model_float = DT_F64;
      else {
        *status = usage_error("--dtype must be f32 or f64, not `%s`", v);
        return false;
      }
    } else if (strcmp(a, "--color") == 0 || strncmp(a, "--color=", 8) == 0) {
      const char *v = a[7] == '=' ? a + 8 : (i + 1 < argc ? argv[++i] : "");
      if (strcmp(v, "auto") == 0) o->color = -1;
      else if (strcmp(v, "always") == 0) o->color = 1;
      else if (strcmp(v, "never") == 0) o->color = 0;
      else {
        *status = usage_error("--color must be auto, always or never, not `%s`", v);
        return false;
      }
    } else if (strcmp(a, "-Werror") == 0) {
      o->werror = true;
    } else if (strcmp(a, "-o") == 0) {
      if (i + 1 >= argc) {
        *status = usage_error("%s", "-o needs a path: -o libmodel.so");
        return false;
      }
      o->output = argv[++i];
    } else if (strcmp(a, "--lib") == 0) {
      o->lib = true;
    } else if (strcmp(a, "-c") == 0) {
      o->object = true;
    } else if (strcmp(a, "--stats") == 0) {
      o->stats = true;
    } else if (strcmp(a, "--hvp") == 0) {
      o->gc.hvp = true;
    } else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) {
      o->opt_level = a[2] - '0';
    } else if (strcmp(a, "--seed") == 0 || strncmp(a, "--seed=", 7) == 0) {
      const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : "");
      char *end;
      unsigned long long seed = strtoull(v, &end, 10);
      if (!*v || *end || *v == '-') {
        *status = usage_error("--seed needs a non-negative integer, not `%s`", v);
        return false;
      }
      o->gc.seed = seed;
    } else if (strcmp(a, "--dim") == 0 || strncmp(a, "--dim=", 6) == 0) {
      const char *v = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : "");
      const char *eq = strchr(v, '=');
      char *end = NULL;
      long long size = eq ? strtoll(eq + 1, &end, 10) : 0;
      if (!eq || eq == v || !end || *end || size < 1 || size > 100000) {
        *status = usage_error("--dim needs NAME=SIZE with a positive size, as in --dim n=4; not `%s`", v);
        return false;
      }
      *(char *)eq = 0; /* argv is ours: the name ends where the size begins */
      if (!dimenv_bind(&o->gc.dims, v, size)) {
        *status = usage_error("--dim `%s` conflicts with an earlier --dim", v);
        return false;
      }
    } else if (a[0] == '-' && a[1]) {
      *status = usage_error("unknown option `%s`", a);
      return false;
    } else if (!o->cmd) {
      o->cmd = a;
    } else if (strcmp(o->cmd, "emit") == 0 && !o->what) {
      o->what = a;
    } else {
      o->files[o->nfiles++] = a;
    }
  }
  if (!o->cmd) {
    fputs(usage_text, stderr);
    *status = 2;
    return false;
  }
  return true;
}

/* Parse and check one file; print its diagnostics; true if error-free. */
static bool load_and_check(Front *f, const char *path, const Options *o, bool check) {
  f->diags.werror = o->werror;
  bool ok = front_parse_file(f, path);
  if (ok && check) ok = front_check(f, o->sema);
  return ok;
}

static int flush(Front *f, const Options *o) {
  const char *no_color = getenv("NO_COLOR"); /* no-color.org: set and not empty */
  f->diags.color = o->color < 0 ? isatty(2) && !(no_color && *no_color) : o->color;
  return diag_flush(&f->diags, stderr);
}

static int cmd_check(const Options *o, const char *stdlib_dir) {
  if (o->nfiles == 0) return usage_error("%s", "check needs at least one file: dmlc check model.dml");
  int failed = 0;
  for (int i = 0; i < o->nfiles; i++) {
    Front f;
    front_init(&f, stdlib_dir);
    f.diags.werror = o->werror;
    load_and_check(&f, o->files[i], o, true);
    if (flush(&f, o)) failed++;
    front_free(&f);
  }
  return failed ? 1 : 0;
}

static int emit_tokens(const char *path, const Options *o, const char *stdlib_dir) {
  Front f;
  front_init(&f, stdlib_dir);
  char *why = NULL;
  Source *src = source_from_file(&f.arena, path, &why);
  if (!src) {
    diag_error(&f.diags, (Span){0}, "%s", why);
    flush(&f, o);
    front_free(&f);
    return 1;
  }
  Lexer lx;
  lexer_init(&lx, src, &f.arena, &f.diags);
  YYSTYPE val;
  Span loc;
  for (;;) {
    int tok = yylex(&val, &loc, &lx);
    int line, col;
    span_line_col(loc, &line, &col);
    printf("%d:%d\t%s", line, col, token_name(tok));
    if (tok == IDENT || tok == NUMBER || tok == STRING || tok == DTYPE)
      printf("\t%.*s", (int)(loc.hi - loc.lo), src->text + loc.lo);
    putchar('\n');
    if (tok == YYEOF) break;
  }
  int errors = flush(&f, o);
  front_free(&f);
  return errors ? 1 : 0;
}

/* The loss of a checked program, or NULL with an error. */
static Item *find_loss(Front *f, const char *path) {
  for (int i = 0; i < f->prog.nitems; i++)
    if (f->prog.items[i]->kind == IT_LOSS && !f->prog.items[i]->from_stdlib) return f->prog.items[i];
  Span none = {0};
  diag_error(&f->diags, none, "%s has no loss to differentiate", path);
  return NULL;
}

/* `emit ir`: the loss and every function of the file, lowered. */
static bool emit_ir(Front *f, const Options *o) {
  bool ok = true;
  for (int i = 0; i < f->prog.nitems; i++) {
    Item *it = f->prog.items[i];
    if ((it->kind != IT_FN && it->kind != IT_LOSS) || it->from_stdlib) continue;
    IrFunc *fn = lower_function(&f->prog, it, &f->arena, &f->diags, o->sema);
    if (!fn) {
      ok = false;
      continue;
    }
    ir_print(stdout, fn);
  }
  return ok;
}

/* loss_grad, or with hvp loss_hvp (forward mode over it), as DML or IR. */
static bool emit_grad(Front *f, const Options *o, const char *path, bool raw, bool hvp) {
  Item *loss = find_loss(f, path);
  if (!loss) return false;
  IrFunc *fn = lower_function(&f->prog, loss, &f->arena, &f->diags, o->sema);
  if (!fn || !ad_reverse(fn, &f->diags)) return false;
  fn = simplify(fn);
  if (hvp && !ad_forward_hvp(fn, &f->diags)) return false;
  if (hvp) fn = simplify(fn);
  if (raw) ir_print(stdout, fn);
  else return emit_dml(stdout, fn, &f->prog, path, &f->diags);
  return true;
}

/* The model's name: the file name without folders and extension, as a C
 * identifier. */
static const char *model_name(Arena *a, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t len = strcspn(base, ".");
  char *name = arena_strndup(a, base, len);
  if (!name[0] || (name[0] >= '0' && name[0] <= '9')) name = arena_printf(a, "m%s", name);
  for (char *c = name; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))) *c = '_';
  return name;
}

/* A new empty file in TMPDIR (or /tmp) named dmlc-XXXXXX followed by
 * suffix, for what a build makes on the way; NULL with a diagnostic. */
static const char *temp_file(Front *f, const char *suffix) {
  const char *dir = getenv("TMPDIR");
  char *path = arena_printf(&f->arena, "%s/dmlc-XXXXXX%s", dir && *dir ? dir : "/tmp", suffix);
  int fd = mkstemps(path, (int)strlen(suffix));
  if (fd >= 0) {
    close(fd);
    return path;
  }
  diag_error(&f->diags, (Span){0}, "cannot create a temporary file %s: %s", path, strerror(errno));
  return NULL;
}

static int emit_native(const Options *o, const char *stdlib_dir) {
  if (o->nfiles != 1) return usage_error("emit takes exactly one file: dmlc emit %s model.dml", o->what);
  Front f;
  front_init(&f, stdlib_dir);
  int status = 1;
  CgUnit *units;
  int n;
  if (load_and_check(&f, o->files[0], o, true) &&
      build_units(&f.prog, &f.arena, &f.diags, o->sema, model_name(&f.arena, o->files[0]), HVP_NONE, &units, &n)) {
    if (strcmp(o->what, "loops") == 0) {
      for (int i = 0; i < n; i++) schedule_print(stdout, units[i].s);
      status = 0;
    } else {
      bool asm_out = strcmp(o->what, "asm") == 0;
      const char *tmp = asm_out ? temp_file(&f, ".s") : NULL;
      CgOptions co = {.opt_level = o->opt_level, .emit = asm_out ? CG_EMIT_ASM : CG_EMIT_LLVM, .output = tmp,
                      .module_name = o->files[0]};
      fflush(stdout);
      if ((tmp || !asm_out) && cg_compile(units, n, &co, &f.arena, &f.diags)) {
        status = 0;
        if (asm_out) {
          FILE *in = fopen(tmp, "r");
          char buf[65536];
          size_t got;
          while (in && (got = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, got, stdout);
          if (in) fclose(in);
        }
      }
      if (tmp) unlink(tmp);
    }
  }
  if (flush(&f, o)) status = 1;
  front_free(&f);
  return status;
}

static int cmd_emit(const Options *o, const char *stdlib_dir) {
  static const char *whats = "tokens, ast, source, ir, grad, grad-ir, hvp, hvp-ir, loops, llvm or asm";
  if (!o->what) return usage_error("emit needs what to print (%s): dmlc emit ast model.dml", whats);
  if (o->nfiles != 1) return usage_error("emit takes exactly one file: dmlc emit %s model.dml", o->what);
  if (strcmp(o->what, "tokens") == 0) return emit_tokens(o->files[0], o, stdlib_dir);
  bool ast = strcmp(o->what, "ast") == 0, source = strcmp(o->what, "source") == 0;
  bool ir = strcmp(o->what, "ir") == 0, grad = strcmp(o->what, "grad") == 0, grad_ir = strcmp(o->what, "grad-ir") == 0;
  bool hvp = strcmp(o->what, "hvp") == 0, hvp_ir = strcmp(o->what, "hvp-ir") == 0;
  grad |= hvp;
  grad_ir |= hvp_ir;
  bool native = strcmp(o->what, "loops") == 0 || strcmp(o->what, "llvm") == 0 || strcmp(o->what, "asm") == 0;
  if (native) return emit_native(o, stdlib_dir);
  if (!ast && !source && !ir && !grad && !grad_ir) {
    fprintf(stderr, "dmlc: cannot emit `%s`: choose %s\n", o->what, whats);
    return 2;
  }
  Front f;
  front_init(&f, stdlib_dir);
  bool ok = load_and_check(&f, o->files[0], o, ir || grad || grad_ir); /* ast/source: the tree as parsed */
  if (ok) {
    if (ast) ast_dump(stdout, &f.prog);
    else if (source) ast_print_source(stdout, &f.prog);
    else if (ir) ok = emit_ir(&f, o);
    else ok = emit_grad(&f, o, o->files[0], grad_ir, hvp || hvp_ir);
  }
  int errors = flush(&f, o);
  front_free(&f);
  return errors || !ok ? 1 : 0;
}

static int cmd_gradcheck(const Options *o, const char *stdlib_dir) {
  if (o->nfiles != 1) return usage_error("%s", "gradcheck takes exactly one file: dmlc gradcheck model.dml");
  Front f;
  front_init(&f, stdlib_dir);
  Options o64 = *o;
  o64.sema.model_float = DT_F64;
  int status = 1;
  if (load_and_check(&f, o->files[0], &o64, true)) {
    Item *loss = find_loss(&f, o->files[0]);
    if (loss) {
      fflush(stdout);
      status = gradcheck_run(&f.prog, loss, &f.arena, &f.diags, &o->gc, stdout);
      if (status == 2) status = 1;
    }
  }
  if (flush(&f, o)) status = 1;
  front_free(&f);
  return status;
}

/* Workspace bytes of a schedule at given dim sizes (--stats). */
/* Bytes of a value of type t at the sizes of env, rounded up to 64 as the
 * generated code lays out the workspace; 0 if a size is unknown. */
static int64_t workspace_bytes(const IrType *t, const DimEnv *env) {
  int64_t dims[MAX_RANK], n;
  if (!dimenv_resolve(env, t, dims, &n)) return 0;
  return (n * (int64_t)dtype_size(t->dt) + 63) & ~(int64_t)63;
}

static int64_t planned_bytes(const Schedule *s, const DimEnv *env) {
  int64_t total = 0;
  int64_t *slot = calloc((size_t)s->nslots + 1, sizeof(int64_t));
  for (IrVal v = 0; v < s->f->nv; v++) { /* every value with a slot, loops' buffers included */
    if (s->st[v].kind != SK_TEMP || s->slot_of_value[v] < 0) continue;
    int64_t bytes = workspace_bytes(&s->f->v[v].ty, env);
    if (bytes > slot[s->st[v].index]) slot[s->st[v].index] = bytes;
  }
  for (int i = 0; i < s->nslots; i++) total += slot[i];
  free(slot);
  int64_t scratch = 0; /* the convolutions' scratch at the workspace's end, as E_workspace counts it */
  for (IrVal v = 0; v < s->f->nv; v++) {
    IrType t = schedule_conv_scratch(s->f, v);
    int64_t bytes = t.rank ? workspace_bytes(&t, env) : 0;
    if (bytes > scratch) scratch = bytes;
  }
  return total + scratch;
}

/* Compile the units into out: an object (-c), or an object linked into a
 * library or an executable. out is written as outfile.h says (replaced
 * whole, a device or FIFO written in place), so a failed build leaves an
 * earlier output as it was. */
static bool write_native(Front *f, CgUnit *units, int n, CgOptions co, const char *out, bool object, bool shared) {
  OutFile file;
  const char *why = outfile_open(&file, out);
  if (why) {
    diag_error(&f->diags, (Span){0}, "cannot write %s: %s", out, why);
    return false;
  }
  const char *path = outfile_path_for_program(&file);
  if (!path) {
    diag_error(&f->diags, (Span){0}, "cannot write %s: %s", out, strerror(errno));
    outfile_discard(&file);
    return false;
  }
  co.output = object ? path : temp_file(f, ".o");
  bool ok = co.output && cg_compile(units, n, &co, &f->arena, &f->diags);
  if (ok && !object) ok = link_with_runtime(co.output, path, shared, &f->arena, &f->diags);
  if (!object && co.output) unlink(co.output);
  if (!ok) outfile_discard(&file);
  else if ((why = outfile_commit(&file)) != NULL) {
    diag_error(&f->diags, (Span){0}, "cannot write %s: %s", out, why);
    ok = false;
  }
  return ok;
}

static int cmd_build(const Options *o, const char *stdlib_dir) {
  if (o->nfiles != 1) return usage_error("%s", "build takes exactly one file: dmlc build model.dml [-o model]");
  if (o->lib && o->object) return usage_error("%s", "choose one of --lib (a shared library) and -c (an object)");
  Front f;
  front_init(&f, stdlib_dir);
  const char *name = model_name(&f.arena, o->files[0]);
  const char *out = o->output ? o->output : arena_printf(&f.arena, o->lib ? "lib%s.so" : o->object ? "%s.o" : "%s", name);
  bool exe = !o->lib && !o->object;
  int status = 1;
  CgUnit *units;
  int n;
  if (load_and_check(&f, o->files[0], o, true) &&
      build_units(&f.prog, &f.arena, &f.diags, o->sema, name,
                  exe && model_wants_hvp(&f.prog) ? HVP_REQUIRED : o->lib || model_wants_hvp(&f.prog) ? HVP_IF_POSSIBLE : HVP_NONE,
                  &units, &n)) {
    const char *spec = exe ? model_spec(&f.prog, units, n, name, o->sema.model_float, &f.arena, &f.diags) : NULL;
    CgOptions co = {.opt_level = o->opt_level, .pic = true, .emit = CG_EMIT_OBJECT, .module_name = o->files[0],
                    .model_spec = spec, .error_fn = exe ? NULL : arena_printf(&f.arena, "%s_error", name)};
    bool ok = (!exe || spec) && write_native(&f, units, n, co, out, o->object, o->lib);
    if (ok && o->lib) { /* NAME.h beside the library, named after the model */
      const char *slash = strrchr(out, '/');
      const char *header = slash ? arena_printf(&f.arena, "%.*s/%s.h", (int)(slash - out), out, name)
                                 : arena_printf(&f.arena, "%s.h", name);
      ok = link_write_header(header, name, o->files[0], units, n, &f.prog, &f.diags);
    }
    if (ok && o->stats) {
      DimEnv env = o->gc.dims;
      for (int i = 0; i < n; i++) {
        const IrFunc *fn = units[i].f;
        for (int k = 0; k < fn->ndim_syms; k++) dimenv_bind(&env, fn->dim_syms[k], 64); /* unless given with --dim */
        printf("%-24s %3d kernels  %2d BLAS calls  %4d values fused  %2d slots  workspace %lld bytes", units[i].name,
               units[i].s->nkernels, units[i].s->nblas, units[i].s->nfused, units[i].s->nslots,
               (long long)planned_bytes(units[i].s, &env));
        for (int k = 0; k < fn->ndim_syms; k++) {
          int64_t dims[1];
          int64_t sz;
          IrType t = {.rank = 1, .dims = {{0, fn->dim_syms[k]}}};
          dimenv_resolve(&env, &t, dims, &sz);
          printf("%s%s=%lld", k ? ", " : " at ", fn->dim_syms[k], (long long)sz);
        }
        putchar('\n');
      }
    }
    status = ok ? 0 : 1;
  }
  if (flush(&f, o)) status = 1;
  front_free(&f);
  return status;
}

/* FNV-1a: the cache key of `dmlc run` over everything that shapes the build. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

/* The folders of path that are missing, made readable by the user only. */
static bool make_dirs(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    bool ok = mkdir(path, 0700) == 0 || errno == EEXIST;
    *p = '/';
    if (!ok) return false;
  }
  return mkdir(path, 0700) == 0 || errno == EEXIST;
}

/* The cache folder: $DMLC_CACHE, $XDG_CACHE_HOME/dmlc, ~/.cache/dmlc, or
 * without a home (cron, services) $TMPDIR/dmlc-cache-UID. */
static const char *cache_dir(Arena *a) {
  const char *env = getenv("DMLC_CACHE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  const char *tmp = getenv("TMPDIR");
  if (env && *env) return env;
  if (xdg && *xdg) return arena_printf(a, "%s/dmlc", xdg);
  if (home && *home) return arena_printf(a, "%s/.cache/dmlc", home);
  return arena_printf(a, "%s/dmlc-cache-%d", tmp && *tmp ? tmp : "/tmp", (int)geteuid());
}

/* Whoever can write to the cache folder can replace the executables `run`
 * starts, so, as ssh does with ~/.ssh, the folder is used only if it is
 * the user's own and nobody else can write to it. */
static bool cache_dir_is_private(const char *dir) {
  struct stat st;
  bool found = stat(dir, &st) == 0;
  if (!found || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "dmlc: cannot use the cache folder %s: %s\n", dir, found ? "it is not a folder" : strerror(errno));
    return false;
  }
  if (st.st_uid != geteuid()) {
    fprintf(stderr,
            "dmlc: refusing the cache folder %s: it belongs to user %ld, not to you (user %ld), who could replace the "
            "executables dmlc runs from it\nhint: remove it, or set DMLC_CACHE to a folder of your own\n",
            dir, (long)st.st_uid, (long)geteuid());
    return false;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    fprintf(stderr,
            "dmlc: refusing the cache folder %s: others can write to it (mode %04o) and could replace the executables "
            "dmlc runs from it\nhint: chmod go-w %s\n",
            dir, (unsigned)(st.st_mode & 07777), dir);
    return false;
  }
  return true;
}

/* Whether the file open on fd is a regular file of the user's that no one
 * else can write; why not, if not. */
static const char *not_own_file(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return strerror(errno);
  if (!S_ISREG(st.st_mode)) return "it is not a regular file";
  if (st.st_uid != geteuid()) return "it belongs to another user";
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return "others can write to it";
  return NULL;
}

/* The SHA-256 recorded when exe was built, from exe.sha256 (in the format
 * of sha256sum); false if there is none to trust. */
static bool recorded_digest(Arena *a, const char *exe, char hex[65]) {
  int fd = open(arena_printf(a, "%s.sha256", exe), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  char line[66] = {0};
  bool ok = fd >= 0 && !not_own_file(fd) && read(fd, line, 65) == 65 && line[64] == ' ';
  if (fd >= 0) close(fd);
  memcpy(hex, line, 64);
  hex[64] = 0;
  return ok;
}

/* Record exe's SHA-256 beside it, for cached_executable to compare. */
static bool record_digest(Arena *a, const char *exe) {
  char hex[65];
  int fd = open(exe, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  bool ok = fd >= 0 && sha256_fd(fd, hex);
  if (fd >= 0) close(fd);
  const char *sum = arena_printf(a, "%s.sha256", exe), *slash = strrchr(exe, '/');
  OutFile file;
  const char *why = ok ? outfile_open(&file, sum) : strerror(errno);
  if (!why) {
    fprintf(file.stream, "%s  %s\n", hex, slash ? slash + 1 : exe);
    why = outfile_commit(&file);
  }
  if (why) fprintf(stderr, "dmlc: cannot write %s: %s\n", sum, why);
  return !why;
}

/* The cached executable open for running (fexecve runs the file checked,
 * whatever is renamed meanwhile), if it is the user's, no one else can
 * write it, and its bytes are those recorded at its build; -1 if it must
 * be built (absent, or its digest was never recorded), -2 if refused. */
static int cached_executable(Arena *a, const char *exe) {
  int fd = open(exe, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  char want[65], got[65];
  if (fd < 0 && errno == ENOENT) return -1;
  const char *why = fd < 0 ? (errno == ELOOP ? "it is a symbolic link" : strerror(errno)) : not_own_file(fd);
  if (!why && !recorded_digest(a, exe, want)) {
    close(fd);
    return -1;
  }
  if (!why && !sha256_fd(fd, got)) why = strerror(errno);
  if (!why && strcmp(want, got) != 0)
    why = arena_printf(a, "its SHA-256 is not the one recorded in %s.sha256 when dmlc built it", exe);
  if (!why) return fd;
  fprintf(stderr, "dmlc: refusing to run the cached executable %s: %s\nhint: remove it to build it again\n", exe, why);
  if (fd >= 0) close(fd);
  return -2;
}

/* The cache key: FNV-1a over everything that shapes the build. */
static uint64_t cache_key(const Front *f, const Options *o, Arena *a) {
  uint64_t h = 0xcbf29ce484222325ull;
  h = fnv1a(h, DMLC_VERSION, sizeof DMLC_VERSION);
  int knobs[2] = {o->sema.model_float, o->opt_level};
  h = fnv1a(h, knobs, sizeof knobs);
  for (int i = 0; i < f->nsources; i++) { /* by full path: data files are named relative to the source */
    char full[PATH_MAX];
    const char *name = realpath(f->sources[i]->name, full) ? full : f->sources[i]->name;
    h = fnv1a(h, name, strlen(name) + 1);
    h = fnv1a(h, f->sources[i]->text, f->sources[i]->len);
  }
  /* a rebuilt dmlc or runtime makes new executables */
  const char *tools[2] = {"/proc/self/exe", arena_printf(a, "%s/libdmlrt.a", link_runtime_dir(a))};
  for (int i = 0; i < 2; i++) {
    struct stat st;
    if (stat(tools[i], &st) != 0) continue;
    int64_t stamp[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
    h = fnv1a(h, stamp, sizeof stamp);
  }
  return h;
}

/* dmlc run FILE [-- ARGS]: build into the cache (unless the same sources
 * were built before) and run the executable with ARGS, `train` by default. */
static int cmd_run(const Options *o, const char *stdlib_dir) {
  if (o->nfiles != 1) return usage_error("%s", "run takes exactly one file: dmlc run model.dml [-- train --epochs 5]");
  if (o->lib || o->object || o->output) return usage_error("%s", "run builds into its cache; use build for -o, --lib or -c");
  Front f;
  front_init(&f, stdlib_dir);
  int status = 1;
  if (load_and_check(&f, o->files[0], o, true)) {
    char *dir = (char *)cache_dir(&f.arena);
    const char *exe = arena_printf(&f.arena, "%s/%s-%016llx", dir, model_name(&f.arena, o->files[0]),
                                   (unsigned long long)cache_key(&f, o, &f.arena));
    int fd = -2;
    if (!make_dirs(dir)) fprintf(stderr, "dmlc: cannot create the cache folder %s: %s\n", dir, strerror(errno));
    else if (cache_dir_is_private(dir) && (fd = cached_executable(&f.arena, exe)) == -1) {
      Options b = *o;
      b.output = exe;
      if (cmd_build(&b, stdlib_dir) == 0 && record_digest(&f.arena, exe)) fd = cached_executable(&f.arena, exe);
    }
    if (fd >= 0) {
      char **args = calloc((size_t)o->nrun_args + 3, sizeof *args);
      args[0] = (char *)model_name(&f.arena, o->files[0]); /* messages name the model, not the cache file */
      int n = 1;
      if (!o->nrun_args) args[n++] = "train";
      for (int i = 0; i < o->nrun_args; i++) args[n++] = o->run_args[i];
      fflush(stdout);
      fflush(stderr);
      fexecve(fd, args, environ);
      fprintf(stderr, "dmlc: cannot run %s: %s\n", exe, strerror(errno));
      free(args);
      close(fd);
    }
  }
  if (flush(&f, o)) status = 1;
  front_free(&f);
  return status;
}

static const char *commands[] = {"check", "emit", "gradcheck", "build", "run"};

int main(int argc, char **argv) {
  /* diagnostics go out in blocks, not a byte at a time */
  static char errbuf[1 << 16];
  setvbuf(stderr, errbuf, _IOFBF, sizeof errbuf);
  Options o;
  int status = 0;
  if (!parse_args(argc, argv, &o, &status)) {
    free(o.files);
    return status;
  }
  Arena a = {0};
  const char *stdlib_dir = front_default_stdlib(&a, argv[0]);
  if (strcmp(o.cmd, "check") == 0) status = cmd_check(&o, stdlib_dir);
  else if (strcmp(o.cmd, "emit") == 0) status = cmd_emit(&o, stdlib_dir);
  else if (strcmp(o.cmd, "gradcheck") == 0) status = cmd_gradcheck(&o, stdlib_dir);
  else if (strcmp(o.cmd, "build") == 0) status = cmd_build(&o, stdlib_dir);
  else if (strcmp(o.cmd, "run") == 0) status = cmd_run(&o, stdlib_dir);
  else {
    const char *best = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
      if (strncmp(o.cmd, commands[i], 2) == 0) best = commands[i];
    if (best) {
      fprintf(stderr, "dmlc: unknown command `%s`; did you mean `%s`?\nrun `dmlc --help` for usage\n", o.cmd, best);
      status = 2;
    } else {
      status = usage_error("unknown command `%s`; the commands are check, emit, gradcheck, build and run", o.cmd);
    }
  }
  arena_free(&a);
  free(o.files);
  return status;
}
