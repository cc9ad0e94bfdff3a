/* build.c - the middle of the pipeline for native code: for each entry
 * point, lower (inlining everything), differentiate for loss_grad, simplify
 * (which also removes dead code) and schedule; loss_hvp (forward over
 * reverse) when asked for. */
#include "build.h"
#include "autodiff/autodiff.h"
#include "lower.h"
#include "simplify.h"
#include <string.h>

static bool add_unit(Arena *a, Diags *d, CgUnit **units, int *n, int *cap, const char *prefix, IrFunc *f) {
  Schedule *s = schedule_build(f, a, d);
  if (!s) return false;
  CgUnit u = {arena_printf(a, "%s_%s", prefix, f->name), f, s};
  ARENA_PUSH(a, *units, *n, *cap, u);
  return true;
}

bool build_units(Program *p, Arena *a, Diags *d, SemaOptions opt, const char *prefix, HvpWanted hvp, CgUnit **units,
                 int *nunits) {
  int cap = 0;
  *units = NULL;
  *nunits = 0;
  bool ok = true;
  for (int i = 0; i < p->nitems; i++) {
    Item *it = p->items[i];
    if ((it->kind != IT_FN && it->kind != IT_LOSS) || it->from_stdlib) continue;
    size_t len = strlen(it->name);
    if (it->kind == IT_FN && (strcmp(it->name, "loss_grad") == 0 || strcmp(it->name, "loss") == 0 ||
                              strcmp(it->name, "loss_hvp") == 0 || strcmp(it->name, "error") == 0 ||
                              (len > 10 && strcmp(it->name + len - 10, "_workspace") == 0))) {
      diag_error(d, it->name_span, "a function named `%s` would clash with a generated entry point", it->name);
      diag_hint(d, "native code names loss, loss_grad, loss_hvp, error and NAME_workspace itself; rename the function");
      ok = false;
      continue;
    }
    IrFunc *f = lower_function(p, it, a, d, opt);
    if (!f) {
      ok = false;
      continue;
    }
    ok &= add_unit(a, d, units, nunits, &cap, prefix, simplify(f));
    if (it->kind != IT_LOSS) continue;
    IrFunc *g = lower_function(p, it, a, d, opt);
    if (g && ad_reverse(g, d)) ok &= add_unit(a, d, units, nunits, &cap, prefix, simplify(g));
    else ok = false;
    if (!ok || hvp == HVP_NONE) continue;
    /* loss_hvp; if it cannot be built, a library just has none */
    IrFunc *h = lower_function(p, it, a, d, opt);
    Diags quiet = {.arena = d->arena, .limit = d->limit}, *hd = hvp == HVP_REQUIRED ? d : &quiet;
    if (h && ad_reverse(h, hd) && ad_forward_hvp((h = simplify(h)), hd))
      ok &= add_unit(a, d, units, nunits, &cap, prefix, simplify(h));
    else if (hvp == HVP_REQUIRED)
      ok = false;
  }
  return ok;
}
