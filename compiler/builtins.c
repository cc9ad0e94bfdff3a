/* builtins.c - the builtin table from builtins.def, with each parameter list
 * parsed once from its text ("x, axis=all, keepdims=false"). */
#include <string.h>
#include "sema.h"

static BuiltinInfo table[BI_COUNT] = {
#define BUILTIN(id, name, params, rule, doc) {name, params, doc, {{0}}, 0},
#include "builtins.def"
#undef BUILTIN
};
static bool parsed;

/* The texts are literals in the table, so names point into a copy we keep. */
static void parse_params(BuiltinInfo *b) {
  static char storage[BI_COUNT][96];
  char *buf = storage[b - table];
  strncpy(buf, b->params_text, 95);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ", ", &save); tok && b->nparams < 6; tok = strtok_r(NULL, ", ", &save)) {
    BuiltinParam *p = &b->params[b->nparams++];
    char *eq = strchr(tok, '=');
    char *dots = strstr(tok, "...");
    if (eq) {
      *eq = 0;
      p->optional = true;
      p->default_text = eq + 1;
    }
    if (dots) {
      *dots = 0;
      p->variadic = true;
    }
    p->name = tok;
  }
}

const BuiltinInfo *builtin_info(int id) {
  if (!parsed) {
    for (int i = 0; i < BI_COUNT; i++) parse_params(&table[i]);
    parsed = true;
  }
  return &table[id];
}

int builtin_lookup(const char *name) {
  for (int i = 0; i < BI_COUNT; i++)
    if (strcmp(table[i].name, name) == 0) return i;
  return -1;
}
