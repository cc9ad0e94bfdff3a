/* ir.c - building, hash-consing and printing tensor IR. See ir.h. */
#include "ir.h"
#include <string.h>

const IrOpInfo ir_ops[IR_OP_COUNT] = {
#define IR_OP(id, dml, kind, rule) {#id, dml, kind},
#include "ir_ops.def"
#undef IR_OP
};

/* Scoped hash table for hash-consing: chains are LIFO, so leaving a block
 * pops exactly the entries it added, from the heads of their chains. */
typedef struct IrCse {
  int *heads;        /* bucket -> entry index, -1 empty */
  int nbuckets;
  struct { IrVal v; int next; unsigned bucket; } *e;
  int n, cap;
} IrCse;

IrFunc *ir_func_new(Arena *a, const char *name) {
  IrFunc *f = ARENA_NEW(a, IrFunc);
  f->arena = a;
  f->name = name;
  f->cur = &f->body;
  f->cse = ARENA_NEW(a, IrCse);
  f->cse->nbuckets = 1024;
  f->cse->heads = arena_alloc(a, sizeof(int) * 1024);
  memset(f->cse->heads, -1, sizeof(int) * 1024);
  return f;
}

IrInst *ir_inst(IrFunc *f, IrVal v) { return &f->v[v]; }

bool ir_type_equal(const IrType *a, const IrType *b) {
  if (a->dt != b->dt || a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++) {
    Dim x = a->dims[i], y = b->dims[i];
    if ((x.sym != NULL) != (y.sym != NULL)) return false;
    if (x.sym ? strcmp(x.sym, y.sym) != 0 : x.size != y.size) return false;
  }
  return true;
}

static unsigned mix(unsigned h, unsigned long long x) {
  h ^= (unsigned)(x ^ (x >> 32));
  return h * 16777619u;
}

static unsigned hash_str(unsigned h, const char *s) {
  for (; s && *s; s++) h = mix(h, (unsigned char)*s);
  return h;
}

static unsigned hash_inst(const IrInst *p) {
  unsigned h = 2166136261u;
  h = mix(h, p->op);
  h = mix(h, p->ty.dt);
  h = mix(h, (unsigned)p->ty.rank);
  for (int i = 0; i < p->ty.rank; i++) h = p->ty.dims[i].sym ? hash_str(h, p->ty.dims[i].sym) : mix(h, (unsigned long long)p->ty.dims[i].size);
  for (int i = 0; i < p->nargs; i++) h = mix(h, (unsigned)p->args[i]);
  unsigned long long bits;
  memcpy(&bits, &p->num, sizeof bits);
  h = mix(h, bits);
  h = mix(h, (unsigned)p->axis);
  h = mix(h, (unsigned)p->index);
  return h;
}

static bool same_inst(const IrInst *a, const IrInst *b) {
  if (a->op != b->op || a->nargs != b->nargs || !ir_type_equal(&a->ty, &b->ty)) return false;
  if (memcmp(a->args, b->args, sizeof(IrVal) * (size_t)a->nargs) != 0) return false;
  if (memcmp(&a->num, &b->num, sizeof a->num) != 0 || a->axis != b->axis || a->keepdims != b->keepdims ||
      a->index != b->index)
    return false;
  if (memcmp(a->stride, b->stride, sizeof a->stride) || memcmp(a->pad, b->pad, sizeof a->pad) ||
      memcmp(a->kernel, b->kernel, sizeof a->kernel))
    return false;
  if (a->naxes != b->naxes || (a->naxes && memcmp(a->axes, b->axes, sizeof(IrAxis) * (size_t)a->naxes)))
    return false;
  if (a->nsize_dims != b->nsize_dims) return false;
  for (int i = 0; i < a->nsize_dims; i++) {
    Dim x = a->size_dims[i], y = b->size_dims[i];
    if ((x.sym != NULL) != (y.sym != NULL) || (x.sym ? strcmp(x.sym, y.sym) : x.size != y.size)) return false;
  }
  return a->body == NULL && b->body == NULL;
}

static IrVal append(IrFunc *f, const IrInst *proto) {
  if (f->nv == f->capv) f->v = arena_grow(f->arena, f->v, sizeof(IrInst), f->nv, &f->capv, f->nv + 1);
  IrVal id = f->nv++;
  f->v[id] = *proto;
  ARENA_PUSH(f->arena, f->cur->ids, f->cur->n, f->cur->cap, id);
  return id;
}

IrVal ir_emit_fresh(IrFunc *f, const IrInst *proto) { return append(f, proto); }

IrVal ir_find(IrFunc *f, const IrInst *proto) {
  IrCse *c = f->cse;
  unsigned h = hash_inst(proto) & (unsigned)(c->nbuckets - 1);
  for (int k = c->heads[h]; k >= 0 && !f->no_reuse; k = c->e[k].next)
    if (same_inst(&f->v[c->e[k].v], proto)) return c->e[k].v;
  return -1;
}

IrVal ir_emit(IrFunc *f, const IrInst *proto) {
  IrVal found = ir_find(f, proto);
  if (found >= 0) return found;
  IrCse *c = f->cse;
  unsigned h = hash_inst(proto) & (unsigned)(c->nbuckets - 1);
  IrVal id = append(f, proto);
  if (c->n == c->cap) c->e = arena_grow(f->arena, c->e, sizeof(*c->e), c->n, &c->cap, c->n + 1);
  c->e[c->n].v = id;
  c->e[c->n].next = c->heads[h];
  c->e[c->n].bucket = h;
  c->heads[h] = c->n++;
  return id;
}

/* Entering a block remembers how many CSE entries exist; leaving pops the
 * newer ones, which are the heads of their chains. */
int ir_block_begin(IrFunc *f, IrBlock *b) {
  f->cur = b;
  return f->cse->n;
}

void ir_block_end(IrFunc *f, IrBlock *saved_cur, int mark) {
  IrCse *c = f->cse;
  while (c->n > mark) {
    c->n--;
    c->heads[c->e[c->n].bucket] = c->e[c->n].next;
  }
  f->cur = saved_cur;
}

int64_t ir_static_count(const IrType *t, bool *is_static) {
  int64_t n = 1;
  *is_static = true;
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i].sym) *is_static = false;
    else n *= t->dims[i].size;
  }
  return n;
}

const char *ir_type_str(Arena *a, const IrType *t) {
  Type st = {.kind = TY_TENSOR, .dt = t->dt, .rank = t->rank};
  memcpy(st.dims, t->dims, sizeof(Dim) * (size_t)t->rank);
  return type_str(a, &st);
}

/* ---- `emit ir` ---------------------------------------------------------- */

static void print_block(FILE *out, const IrFunc *f, const IrBlock *b, int depth);

static void print_inst(FILE *out, const IrFunc *f, IrVal id, int depth) {
  const IrInst *in = &f->v[id];
  Arena *a = f->arena;
  for (int i = 0; i < depth; i++) fputs("  ", out);
  fprintf(out, "%%%d = ", id);
  char lower[32];
  size_t k = 0;
  for (const char *p = ir_ops[in->op].name; *p && k < sizeof lower - 1; p++)
    lower[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p); /* letters only: '_' stays */
  lower[k] = 0;
  fputs(lower, out);
  switch (in->op) {
  case IR_CONST:
  case IR_FILL: fprintf(out, " %.17g", in->num); break;
  case IR_INPUT: fprintf(out, " %d (%s)", in->index, f->input_names[in->index]); break;
  case IR_PARAM: fprintf(out, " %s", f->params[in->index].name); break;
  case IR_DIMSIZE:
    for (int i = 0; i < in->nsize_dims; i++) {
      Dim d = in->size_dims[i];
      if (d.sym) fprintf(out, "%s%s", i ? "*" : " ", d.sym);
      else fprintf(out, "%s%lld", i ? "*" : " ", (long long)d.size);
    }
    break;
  case IR_LOOP_CARRY:
  case IR_FOR_RESULT: fprintf(out, " #%d", in->index); break;
  default: break;
  }
  for (int i = 0; i < in->nargs; i++) fprintf(out, "%s%%%d", i ? ", " : " ", in->args[i]);
  if (ir_ops[in->op].kind == K_REDUCE || in->op == IR_SOFTMAX || in->op == IR_LOG_SOFTMAX) {
    if (in->axis >= 0) fprintf(out, " axis=%d", in->axis);
    if (in->keepdims) fputs(" keepdims", out);
  }
  if (in->op == IR_INDEX || in->op == IR_UPDATE) {
    fputs(" [", out);
    for (int i = 0; i < in->naxes; i++) {
      if (i) fputs(", ", out);
      if (in->axes[i].is_slice) fprintf(out, "%lld:%lld", (long long)in->axes[i].lo, (long long)in->axes[i].hi);
      else fputs("_", out);
    }
    fputs("]", out);
  }
  if (in->op == IR_CONV2D || in->op == IR_MAXPOOL2D || in->op == IR_AVGPOOL2D) {
    if (in->op != IR_CONV2D) fprintf(out, " kernel=%lldx%lld", (long long)in->kernel[0], (long long)in->kernel[1]);
    fprintf(out, " stride=%lldx%lld pad=%lldx%lld", (long long)in->stride[0], (long long)in->stride[1],
            (long long)in->pad[0], (long long)in->pad[1]);
  }
  fprintf(out, " : %s", ir_type_str(a, &in->ty));
  if (in->name) fprintf(out, "  ; %s", in->name);
  if (in->why) fprintf(out, "  ; d %s", in->why);
  if (in->span.src) {
    int line, col;
    span_line_col(in->span, &line, &col);
    const char *slash = strrchr(in->span.src->name, '/');
    fprintf(out, "  ; %s:%d", slash ? slash + 1 : in->span.src->name, line);
  }
  fputc('\n', out);
  if (in->body) {
    print_block(out, f, in->body, depth + 1);
    for (int i = 0; i < depth + 1; i++) fputs("  ", out);
    fputs("yield", out);
    for (int i = 0; i < in->body->nyields; i++) fprintf(out, "%s%%%d", i ? ", " : " ", in->body->yields[i]);
    fputc('\n', out);
  }
}

static void print_block(FILE *out, const IrFunc *f, const IrBlock *b, int depth) {
  for (int i = 0; i < b->n; i++) print_inst(out, f, b->ids[i], depth);
}

void ir_print(FILE *out, const IrFunc *f) {
  fprintf(out, "func %s(", f->name);
  for (int i = 0; i < f->ninputs; i++)
    fprintf(out, "%s%s: %s", i ? ", " : "", f->input_names[i], ir_type_str(f->arena, &f->input_types[i]));
  fputs(") {\n", out);
  print_block(out, f, &f->body, 1);
  fputs("  return", out);
  for (int i = 0; i < f->nresults; i++) fprintf(out, "%s%%%d", i ? ", " : " ", f->results[i]);
  fputs("\n}\n", out);
}
