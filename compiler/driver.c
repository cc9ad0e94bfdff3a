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
#include "parser.h"

static const char *usage_text =
    "usage: dmlc <command> [options] FILE...\n"
    "\n"
    "commands:\n"
    "  check FILE...          parse and check programs; report every error\n"
    "  emit tokens FILE       print the tokens of a file\n"
    "  emit ast FILE          print the syntax tree, as parsed (before checking)\n"
    "  emit source FILE       print the program back as DML, as the parser read it\n"
    "\n"
    "options:\n"
    "  --dtype f32|f64        the float type of the model (default f32)\n"
    "  --color auto|always|never   colour in diagnostics (default auto: on a terminal)\n"
    "  -Werror                treat warnings as errors\n"
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
  bool ok = front_parse_file(f, path);
  if (ok && check) ok = front_check(f, o->sema);
  return ok;
}

static int flush(Front *f, const Options *o) {
  f->diags.color = o->color < 0 ? isatty(2) && !getenv("NO_COLOR") : o->color;
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
    fprintf(stderr, "dmlc: %s\n", why);
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

static int cmd_emit(const Options *o, const char *stdlib_dir) {
  static const char *whats = "tokens, ast or source";
  if (!o->what) return usage_error("emit needs what to print (%s): dmlc emit ast model.dml", whats);
  if (o->nfiles != 1) return usage_error("emit takes exactly one file: dmlc emit %s model.dml", o->what);
  if (strcmp(o->what, "tokens") == 0) return emit_tokens(o->files[0], o, stdlib_dir);
  bool ast = strcmp(o->what, "ast") == 0, source = strcmp(o->what, "source") == 0;
  if (!ast && !source) {
    fprintf(stderr, "dmlc: cannot emit `%s`: choose %s\n", o->what, whats);
    return 2;
  }
  Front f;
  front_init(&f, stdlib_dir);
  bool ok = load_and_check(&f, o->files[0], o, false); /* the tree as parsed */
  if (ok) {
    if (ast) ast_dump(stdout, &f.prog);
    else ast_print_source(stdout, &f.prog);
  }
  int errors = flush(&f, o);
  front_free(&f);
  return errors || !ok ? 1 : 0;
}

static const char *commands[] = {"check", "emit"};

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
  else {
    const char *best = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
      if (strncmp(o.cmd, commands[i], 2) == 0) best = commands[i];
    if (best) {
      fprintf(stderr, "dmlc: unknown command `%s`; did you mean `%s`?\nrun `dmlc --help` for usage\n", o.cmd, best);
      status = 2;
    } else {
      status = usage_error("unknown command `%s`; the commands are check and emit", o.cmd);
    }
  }
  arena_free(&a);
  free(o.files);
  return status;
}
