/* front.c - loading sources and modules.
 *
 * `use nn` reads <stdlib>/nn.dml; `use "layers.dml"` reads a file next to
 * the one that says it. Each file is parsed once, whatever the number of
 * uses (so cycles are harmless); module items go before the user's. */
#include "front.h"
#include "lexer.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void front_init(Front *f, const char *stdlib_dir) {
  memset(f, 0, sizeof *f);
  diag_init(&f->diags, &f->arena);
  f->stdlib_dir = stdlib_dir;
}

void front_free(Front *f) { arena_free(&f->arena); }

static bool dir_exists_with(const char *dir, const char *file) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  return access(path, R_OK) == 0;
}

/* The folder as an absolute path without `..`, so messages show it plainly. */
static const char *normalised(Arena *a, const char *dir) {
  char real[PATH_MAX];
  return realpath(dir, real) ? arena_strndup(a, real, strlen(real)) : dir;
}

const char *front_default_stdlib(Arena *a, const char *argv0) {
  const char *env = getenv("DMLC_STDLIB");
  if (env && *env) return env;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  (void)argv0;
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    const char *rel[] = {"/stdlib", "/../stdlib", "/../share/dmlc/stdlib"};
    for (int i = 0; i < 3; i++) {
      char *cand = arena_printf(a, "%s%s", exe, rel[i]);
      if (dir_exists_with(cand, "nn.dml")) return normalised(a, cand);
    }
  }
  return normalised(a, DMLC_STDLIB_DIR);
}

static bool already_loaded(Front *f, const char *path) {
  char real[PATH_MAX];
  const char *key = realpath(path, real) ? real : path;
  for (int i = 0; i < f->nsources; i++) {
    char other[PATH_MAX];
    const char *k2 = realpath(f->sources[i]->name, other) ? other : f->sources[i]->name;
    if (strcmp(key, k2) == 0) return true;
  }
  return false;
}

static void parse_source_into(Front *f, const Source *src, bool is_module);

/* Resolve and load a `use`; errors point at the use. */
static void load_use(Front *f, const Item *use) {
  const char *path;
  if (use->use_path) {
    const char *from = use->span.src->name;
    const char *slash = strrchr(from, '/');
    path = use->name[0] == '/' || !slash
               ? use->name
               : arena_printf(&f->arena, "%.*s/%s", (int)(slash - from), from, use->name);
  } else {
    path = arena_printf(&f->arena, "%s/%s.dml", f->stdlib_dir, use->name);
  }
  if (already_loaded(f, path)) return;
  char *why = NULL;
  Source *src = source_from_file(&f->arena, path, &why);
  if (!src) {
    if (use->use_path) diag_error(&f->diags, use->name_span, "cannot use \"%s\": %s", use->name, why);
    else {
      diag_error(&f->diags, use->name_span, "unknown module `%s`", use->name);
      diag_hint(&f->diags, "the standard library has the module `nn`; a file of your own is used with use \"file.dml\"");
    }
    return;
  }
  parse_source_into(f, src, true);
}

static void parse_source_into(Front *f, const Source *src, bool is_module) {
  ARENA_PUSH(&f->arena, f->sources, f->nsources, f->capsources, src);
  Lexer lx;
  lexer_init(&lx, src, &f->arena, &f->diags);
  int errors = f->diags.nerrors;
  parse_source(&lx);
  Program *p = lx.prog;
  /* after a syntax error nothing is checked, so modules need not be read */
  for (int i = 0; i < p->nitems && f->diags.nerrors == errors; i++)
    if (p->items[i]->kind == IT_USE) load_use(f, p->items[i]);
  for (int i = 0; i < p->nitems; i++) {
    p->items[i]->from_stdlib = is_module;
    ARENA_PUSH(&f->arena, f->prog.items, f->prog.nitems, f->prog.cap, p->items[i]);
  }
}

bool front_parse_file(Front *f, const char *path) {
  char *why = NULL;
  Source *src = source_from_file(&f->arena, path, &why);
  if (!src) {
    Span none = {0};
    diag_error(&f->diags, none, "%s", why);
    return false;
  }
  int before = f->diags.nerrors;
  parse_source_into(f, src, false);
  return f->diags.nerrors == before;
}

bool front_parse_text(Front *f, const char *name, const char *text, size_t len) {
  int before = f->diags.nerrors;
  parse_source_into(f, source_from_memory(&f->arena, name, text, len), false);
  return f->diags.nerrors == before;
}

bool front_check(Front *f, SemaOptions opt) {
  return sema_check(&f->prog, &f->arena, &f->diags, opt);
}
