/* driver.c - the `dmlc` command line.
 *
 * The driver is the pipeline diagram: read and parse (front_parse_file),
 * check (front_check), then whatever the subcommand asks for. Later phases
 * (lowering, autodiff, codegen) slot in as further steps of the same list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "front.h"
#include "lower.h"
#include "emit_dml.h"
#include "gradcheck.h"
#include "simplify.h"
#include "autodiff/autodiff.h"
#include "parser.h"

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
    "  gradcheck FILE         compare loss_grad with finite differences (f64)\n"
    "\n"
    "options:\n"
    "  --dtype f32|f64        the float type of the model (default f32)\n"
    "  --color auto|always|never   colour in diagnostics (default auto: on a terminal)\n"
    "  -Werror                treat warnings as errors\n"
    "  --seed N               gradcheck: random seed (default 1)\n"
    "  --dim NAME=SIZE        gradcheck: size of a symbolic dimension (default 3, 4, ...)\n"
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
} Options;

static int usage_error(const char *fmt, const char *arg) {
  fputs("dmlc: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs("\nrun `dmlc --help` for usage\n", stderr);
  return 2;
}

static bool parse_args(int argc, char **argv, Options *o, int *status) {
  memset(o, 0, sizeof *o);
  o->color = -1;
  o->sema.model_float = DT_F32;
  o->gc.seed = 1;
  o->gc.tolerance = 1e-6;
  o->gc.floor = 1e-3;
  o->gc.max_entries = 300;
  o->files = calloc((size_t)argc, sizeof(char *));
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
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
    } else if (strcmp(a, "--seed") == 0 || strncmp(a, "--seed=", 7) == 0) {
      const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : "");
      char *end;
      unsigned long long seed = strtoull(v, &end, 10);
      if (!*v || *end) {
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
      if (!dimenv_bind(&o->gc.dims, strndup(v, (size_t)(eq - v)), size)) {
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

static bool emit_grad(Front *f, const Options *o, const char *path, bool raw) {
  Item *loss = find_loss(f, path);
  if (!loss) return false;
  IrFunc *fn = lower_function(&f->prog, loss, &f->arena, &f->diags, o->sema);
  if (!fn || !ad_reverse(fn, &f->diags)) return false;
  fn = simplify(fn);
  if (raw) ir_print(stdout, fn);
  else return emit_dml(stdout, fn, &f->prog, path, &f->diags);
  return true;
}

static int cmd_emit(const Options *o, const char *stdlib_dir) {
  static const char *whats = "tokens, ast, source, ir, grad or grad-ir";
  if (!o->what) return usage_error("emit needs what to print (%s): dmlc emit ast model.dml", whats);
  if (o->nfiles != 1) return usage_error("emit takes exactly one file: dmlc emit %s model.dml", o->what);
  if (strcmp(o->what, "tokens") == 0) return emit_tokens(o->files[0], o, stdlib_dir);
  bool ast = strcmp(o->what, "ast") == 0, source = strcmp(o->what, "source") == 0;
  bool ir = strcmp(o->what, "ir") == 0, grad = strcmp(o->what, "grad") == 0, grad_ir = strcmp(o->what, "grad-ir") == 0;
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
    else ok = emit_grad(&f, o, o->files[0], grad_ir);
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

static const char *commands[] = {"check", "emit", "gradcheck"};

int main(int argc, char **argv) {
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
  else {
    const char *best = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
      if (strncmp(o.cmd, commands[i], 2) == 0) best = commands[i];
    if (best) {
      fprintf(stderr, "dmlc: unknown command `%s`; did you mean `%s`?\nrun `dmlc --help` for usage\n", o.cmd, best);
      status = 2;
    } else {
      status = usage_error("unknown command `%s`; the commands are check, emit and gradcheck", o.cmd);
    }
  }
  arena_free(&a);
  free(o.files);
  return status;
}
