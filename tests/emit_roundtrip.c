/* emit_roundtrip - `emit grad` prints DML that means what loss_grad means.
 *
 * For a model file: build loss_grad (lower, reverse, simplify) in f64, print
 * it with emit_dml, parse and check the printed text (no errors, no
 * warnings), lower its `fn loss_grad`, and evaluate both on the same random
 * point with the reference interpreter. Every result must agree to 1e-12.
 * Usage: emit_roundtrip FILE.dml */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "autodiff/autodiff.h"
#include "emit_dml.h"
#include "front.h"
#include "gradcheck.h"
#include "lower.h"
#include "simplify.h"

static Item *find_item(Program *p, ItemKind k, const char *name) {
  for (int i = 0; i < p->nitems; i++)
    if (p->items[i]->kind == k && !p->items[i]->from_stdlib && (!name || strcmp(p->items[i]->name, name) == 0))
      return p->items[i];
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: emit_roundtrip FILE.dml\n");
    return 2;
  }
  SemaOptions f64 = {.model_float = DT_F64};
  Front a;
  front_init(&a, DMLC_STDLIB_DIR);
  if (!front_parse_file(&a, argv[1]) || !front_check(&a, f64)) {
    diag_flush(&a.diags, stderr);
    return 1;
  }
  Item *loss = find_item(&a.prog, IT_LOSS, NULL);
  IrFunc *g1 = loss ? lower_function(&a.prog, loss, &a.arena, &a.diags, f64) : NULL;
  if (!g1 || !ad_reverse(g1, &a.diags)) {
    diag_flush(&a.diags, stderr);
    return 1;
  }
  g1 = simplify(g1);
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  bool printed = emit_dml(mem, g1, &a.prog, argv[1], &a.diags);
  fclose(mem);
  if (!printed) {
    diag_flush(&a.diags, stderr);
    return 1;
  }

  Front b;
  front_init(&b, DMLC_STDLIB_DIR);
  b.diags.werror = true;
  bool ok = front_parse_text(&b, "emitted.dml", text, len) && front_check(&b, f64);
  Item *fn = ok ? find_item(&b.prog, IT_FN, "loss_grad") : NULL;
  IrFunc *g2 = fn ? lower_function(&b.prog, fn, &b.arena, &b.diags, f64) : NULL;
  if (!g2) {
    fprintf(stderr, "the emitted program does not check cleanly:\n%s\n", text);
    diag_flush(&b.diags, stderr);
    return 1;
  }
  if (g2->nresults != g1->nresults || g2->nparams != g1->nparams) {
    fprintf(stderr, "emitted loss_grad has %d results and %d params, not %d and %d\n", g2->nresults, g2->nparams,
            g1->nresults, g1->nparams);
    return 1;
  }
  int failures = 0;
  for (uint64_t seed = 1; seed <= 3; seed++) {
    DimEnv env = {0};
    Tensor *in, *par;
    gc_alloc_point(g1, &env, &in, &par);
    uint64_t state = seed;
    gc_draw_point(g1, &env, &state, in, par);
    Tensor *r1 = calloc((size_t)g1->nresults, sizeof(Tensor)), *r2 = calloc((size_t)g2->nresults, sizeof(Tensor));
    char err[512];
    if (!interp_run(g1, in, par, &env, r1, err, sizeof err) || !interp_run(g2, in, par, &env, r2, err, sizeof err)) {
      fprintf(stderr, "evaluation failed: %s\n", err);
      return 1;
    }
    for (int i = 0; i < g1->nresults; i++) {
      if (r1[i].size != r2[i].size) {
        fprintf(stderr, "result %d: %lld elements, not %lld\n", i, (long long)r2[i].size, (long long)r1[i].size);
        failures++;
        continue;
      }
      for (int64_t k = 0; k < r1[i].size; k++) {
        double x = r1[i].data[k], y = r2[i].data[k];
        if (fabs(x - y) > 1e-12 * (1 + fabs(x))) {
          fprintf(stderr, "seed %llu, result %d, entry %lld: internal %.17g, emitted %.17g\n",
                  (unsigned long long)seed, i, (long long)k, x, y);
          failures++;
          break;
        }
      }
    }
    for (int i = 0; i < g1->nresults; i++) {
      tensor_free(&r1[i]);
      tensor_free(&r2[i]);
    }
    free(r1);
    free(r2);
    gc_free_point(g1, in, par);
  }
  if (failures) {
    fprintf(stderr, "emitted program:\n%s", text);
    return 1;
  }
  printf("%s: emitted loss_grad checks clean and agrees on %d results at 3 points\n", argv[1], g1->nresults);
  free(text);
  front_free(&a);
  front_free(&b);
  return 0;
}
