/* schedule.c - fusion decisions and the memory plan (see schedule.h).
 *
 * The one idea: an elementwise value read exactly once, by another
 * elementwise value, never needs memory: the reader's loop computes it on
 * the spot. Constants and broadcasts of stored values are cheap enough to
 * recompute for every reader. Whatever remains is a kernel, and its result
 * lives in a workspace slot from its kernel to its last reader. */
#include "schedule.h"
#include <stdint.h>
#include <string.h>

size_t dtype_size(DType dt) {
  switch (dt) {
  case DT_F64: return 8;
  case DT_BOOL: return 1;
  default: return 4;
  }
}

static bool elementwise(IrOp op) {
  IrKind k = ir_ops[op].kind;
  return k == K_UNARY || k == K_BINARY || k == K_COMPARE || op == IR_SELECT;
}

IrType schedule_conv_scratch(const IrFunc *f, IrVal v) {
  const IrInst *in = &f->v[v];
  IrVal xv, wv, yv;
  IrType t = {.rank = 0};
  if (in->op == IR_CONV2D) xv = in->args[0], wv = in->args[1], yv = v;
  else if (in->op == IR_CONV2D_BWD_INPUT) xv = in->args[2], wv = in->args[1], yv = in->args[0];
  else if (in->op == IR_CONV2D_BWD_WEIGHT) xv = in->args[0], wv = in->args[2], yv = in->args[1];
  else return t;
  const IrType *X = &f->v[xv].ty, *Wt = &f->v[wv].ty, *Y = &f->v[yv].ty;
  t = (IrType){.dt = X->dt, .rank = 5, .dims = {X->dims[1], Wt->dims[2], Wt->dims[3], Y->dims[2], Y->dims[3]}};
  return t;
}

bool fused_reduction(IrOp op) { return op == IR_SUM || op == IR_MAX || op == IR_MIN; }

static bool cheap_leaf(IrOp op) { return op == IR_CONST || op == IR_FILL || op == IR_DIMSIZE; }

/* xs[t] = x inside a loop, where xs is carried, read by nothing else and
 * yielded by this update: the update can write into xs's buffer, saving a
 * copy of the whole buffer twice an iteration (for a stack of saved values
 * that made a loop quadratic in its length). The carried value it writes
 * into, or -1. */
static IrVal updates_own_carry(const IrFunc *f, const Schedule *s, const IrVal *loop_of, IrVal v) {
  const IrInst *in = &f->v[v];
  if (loop_of[v] < 0) return -1;
  /* the same for an elementwise step of a carried value (d_W = d_W + ...,
   * an accumulator): element i is read before it is written */
  bool ew = elementwise(in->op) && in->op != IR_SELECT;
  if (in->op != IR_UPDATE && !ew) return -1;
  for (int a = 0; a < (ew ? in->nargs : 1); a++) {
    IrVal c = in->args[a];
    const IrInst *carry = &f->v[c];
    if (carry->op == IR_LOOP_CARRY && loop_of[c] == loop_of[v] && s->uses[c] == 1 &&
        f->v[loop_of[v]].body->yields[carry->index] == v && ir_type_equal(&carry->ty, &in->ty))
      return c;
  }
  return -1;
}

/* stack = result of a loop; stack[i] = x: when nothing else reads the loop's
 * result (a stack of saved states that reverse mode completes with the
 * last state), the update can write into the loop's carried buffer, which
 * keeps its memory after the loop. The carried value it writes into, or -1. */
static IrVal updates_loop_result(const IrFunc *f, const Schedule *s, const IrVal *carry_of_result, IrVal v) {
  const IrInst *in = &f->v[v];
  if (in->op != IR_UPDATE) return -1;
  IrVal x = in->args[0];
  const IrInst *r = &f->v[x];
  if (r->op != IR_FOR_RESULT || s->uses[x] != 1 || carry_of_result[x] < 0) return -1;
  for (IrVal w = 0; w < f->nv; w++) /* the loop's only way out for that buffer */
    if (w != x && f->v[w].op == IR_FOR_RESULT && f->v[w].args[0] == r->args[0] && f->v[w].index == r->index) return -1;
  return carry_of_result[x];
}

/* Values of a loop, nested loops' included, live until the outermost
 * loop's last kernel: every iteration reads what the one before left. */
static void set_end_tree(const IrFunc *f, const IrBlock *b, int at, int *end) {
  for (int i = 0; i < b->n; i++) {
    IrVal v = b->ids[i];
    end[v] = at;
    if (f->v[v].op == IR_FOR) set_end_tree(f, f->v[v].body, at, end);
  }
}

/* Kernels of block b in order, each loop followed by its body's (nested
 * loops recursively). */
static void list_kernels(Schedule *s, const IrBlock *b, int *pos, int *end) {
  const IrFunc *f = s->f;
  for (int i = 0; i < b->n; i++) {
    IrVal v = b->ids[i];
    const IrInst *in = &f->v[v];
    StorageKind k = s->st[v].kind;
    pos[v] = s->nkernels;
    if (in->op == IR_FOR) {
      int at = s->nkernels;
      s->kernels[s->nkernels++] = v;
      list_kernels(s, in->body, pos, end);
      s->loop_len[v] = s->nkernels - at - 1;
      if (b == &f->body) { /* an outermost loop */
        end[v] = s->nkernels - 1;
        set_end_tree(f, in->body, s->nkernels - 1, end);
      }
      continue;
    }
    if (in->op == IR_LOOP_INDEX || in->op == IR_LOOP_CARRY) continue; /* index, carries: where they are read */
    if (k == SK_TEMP || k == SK_OUTPUT || k == SK_IN_PLACE || (k == SK_VIEW && s->st[v].at_offset)) {
      s->kernels[s->nkernels++] = v;
      if (in->op == IR_MATMUL) s->nblas++;
    } else if (k == SK_FUSED) {
      s->nfused++;
    }
  }
}

/* Does index `in` keep axis i of its operand whole (`:`)? */
static bool whole_axis(const IrFunc *f, const IrInst *in, int i) {
  const IrAxis *ax = &in->axes[i];
  const Dim *d = &f->v[in->args[0]].ty.dims[i];
  return ax->is_slice && ax->lo == 0 && (ax->hi < 0 || (!d->sym && ax->hi == d->size));
}

/* An index of leading axes only (xs[t], xs[i, j], xs[t, :]) picks one
 * contiguous block of its operand: a view at an offset, not a copy. */
static bool indexes_a_block(const IrFunc *f, const IrInst *in) {
  bool sliced = false;
  for (int i = 0; i < in->naxes; i++) {
    const IrAxis *ax = &in->axes[i];
    if (ax->is_slice && !whole_axis(f, in, i)) return false;
    if (!ax->is_slice && sliced) return false; /* a position after a whole axis: strided */
    sliced |= ax->is_slice;
  }
  return true;
}

typedef struct Users {
  IrVal *v;
  int n, cap;
} Users;

/* xs[:, t] (xs[:, i, j], ...): the first axis whole, positions up to the
 * last axis, which stays whole. The result is a matrix whose rows lie a
 * row of xs apart: BLAS reads it in place with that leading dimension. */
static bool indexes_rows(const IrFunc *f, const IrInst *in) {
  const IrType *x = &f->v[in->args[0]].ty;
  if (x->rank < 3 || in->ty.rank != 2 || in->naxes < x->rank - 1) return false;
  for (int i = 0; i < in->naxes; i++)
    if ((i == 0 || i == x->rank - 1) ? !whole_axis(f, in, i) : in->axes[i].is_slice) return false;
  return true;
}

/* Is v read only by plain matrix products (no batch axes), directly or
 * through a transpose flag? */
static bool only_products_read(const IrFunc *f, const Schedule *s, const Users *users, IrVal v) {
  const Users *u = &users[v];
  for (int i = 0; i < u->n; i++) {
    IrVal w = u->v[i];
    const IrInst *in = &f->v[w];
    if (in->op == IR_MATMUL && in->ty.rank == 2) continue;
    if (in->op == IR_TRANSPOSE && s->st[w].kind == SK_VIEW && s->st[w].transposed) {
      for (int j = 0; j < users[w].n; j++)
        if (f->v[users[w].v[j]].ty.rank != 2) return false;
      continue;
    }
    return false;
  }
  return u->n > 0;
}

/* Is v read only as loops' initial values of carried buffers? A constant
 * read so is written straight into the buffer (var stack = zeros(T, n, H)
 * is not filled in a slot and then copied). */
static bool only_loop_init(const IrFunc *f, const Users *u, IrVal v) {
  for (int i = 0; i < u->n; i++) {
    const IrInst *w = &f->v[u->v[i]];
    if (w->op != IR_FOR || w->args[0] == v || w->args[1] == v) return false;
  }
  return u->n > 0;
}

/* Does a loop that v is outside of multiply by v on the right? BLAS is
 * slower at a @ transpose(b) than at a @ b (OpenBLAS 0.3.21, 32x128x128:
 * 1.1x with its AVX2 kernels, 1.7x with its AVX-512 ones), and reverse
 * mode puts d_out @ transpose(W) in every reversed loop: there a stored
 * copy of the transpose, made once before the loop (simplify.c hoists it),
 * beats a transpose flag on every product. */
static bool right_operand_in_loop(const IrFunc *f, const Users *u, const IrVal *loop_of, IrVal v) {
  for (int i = 0; i < u->n; i++) {
    IrVal m = u->v[i];
    if (loop_of[m] != loop_of[v] && f->v[m].args[1] == v) return true;
  }
  return false;
}

Schedule *schedule_build(const IrFunc *f, Arena *a, Diags *d) {
  Schedule *s = ARENA_NEW(a, Schedule);
  s->f = f;
  int nv = f->nv;
  s->st = arena_alloc(a, sizeof(Storage) * (size_t)(nv + 1));
  s->uses = arena_alloc(a, sizeof(int) * (size_t)(nv + 1));
  Users *users = arena_alloc(a, sizeof(Users) * (size_t)(nv + 1));
  /* loops: which loop each body value belongs to; yields are uses */
  IrVal *loop_of = arena_alloc(a, sizeof(IrVal) * (size_t)(nv + 1));
  bool *yielded = arena_alloc(a, sizeof(bool) * (size_t)(nv + 1));
  IrVal *carry_of_result = arena_alloc(a, sizeof(IrVal) * (size_t)(nv + 1));
  for (IrVal v = 0; v < nv; v++) loop_of[v] = -1;
  for (IrVal v = 0; v < nv; v++) {
    const IrInst *in = &f->v[v];
    if (in->op != IR_FOR) continue;
    for (int i = 0; i < in->body->n; i++) loop_of[in->body->ids[i]] = v; /* the innermost loop */
    for (int i = 0; i < in->body->nyields; i++) {
      IrVal y = in->body->yields[i];
      yielded[y] = true;
      s->uses[y]++;
      /* b = a with a carried too is copied before a changes; a chain or a
       * swap (a = b, b = a) would need a temporary */
      if (f->v[y].op == IR_LOOP_CARRY && f->v[y].index != i) {
        IrVal src = in->body->yields[f->v[y].index];
        if (f->v[src].op == IR_LOOP_CARRY && f->v[src].index != f->v[y].index) {
          diag_error(d, in->span, "native code for a loop that swaps its carried values is not generated yet");
          return NULL;
        }
      }
    }
  }
  for (IrVal v = 0; v < nv; v++) {
    const IrInst *in = &f->v[v];
    if (in->op == IR_FOR_RESULT) /* the result is the carried buffer after the loop */
      for (int i = 0; i < f->v[in->args[0]].body->n; i++) {
        IrVal c = f->v[in->args[0]].body->ids[i];
        if (f->v[c].op == IR_LOOP_CARRY && f->v[c].index == in->index) carry_of_result[v] = c;
      }
    for (int i = 0; i < in->nargs; i++) {
      s->uses[in->args[i]]++;
      Users *u = &users[in->args[i]];
      ARENA_PUSH(a, u->v, u->n, u->cap, v);
    }
  }
  bool *is_result = arena_alloc(a, sizeof(bool) * (size_t)(nv + 1));
  for (int i = 0; i < f->nresults; i++) is_result[f->results[i]] = true;

  /* decide storage, last value first so that users are decided before
   * their operands */
  for (IrVal v = nv - 1; v >= 0; v--) {
    const IrInst *in = &f->v[v];
    Storage *st = &s->st[v];
    st->kind = SK_TEMP;
    st->of = -1;
    if (in->op == IR_INPUT) {
      st->kind = SK_INPUT;
      st->index = in->index;
      continue;
    }
    if (in->op == IR_PARAM) {
      st->kind = SK_PARAM;
      st->index = in->index;
      continue;
    }
    if (yielded[v] && in->op != IR_FOR_RESULT && in->op != IR_LOOP_CARRY && in->op != IR_LOOP_INDEX) {
      /* a yield is copied into its carried buffer at the iteration's end:
       * it needs storage of its own, never a view of another buffer, unless
       * it updates that very buffer in place */
      IrVal c = updates_own_carry(f, s, loop_of, v);
      if (c >= 0) {
        st->kind = SK_IN_PLACE;
        st->of = c;
      }
      continue;
    }
    IrVal carry = is_result[v] ? -1 : updates_loop_result(f, s, carry_of_result, v);
    if (carry >= 0) {
      st->kind = SK_IN_PLACE;
      st->of = carry;
      continue;
    }
    if (in->op == IR_RESHAPE) {
      st->kind = SK_VIEW;
      st->of = in->args[0];
      continue;
    }
    if (in->op == IR_FOR_RESULT) {
      st->kind = SK_VIEW;
      st->of = carry_of_result[v];
      continue;
    }
    if (in->op == IR_FOR || in->op == IR_LOOP_INDEX || in->op == IR_LOOP_CARRY) continue; /* own storage */
    if (!users[v].n && !is_result[v]) { /* dead: never computed */
      st->kind = SK_FUSED;
      continue;
    }
    if (cheap_leaf(in->op) && !is_result[v] && only_loop_init(f, &users[v], v)) {
      st->kind = SK_FUSED;
      continue;
    }
    bool all_ew = true, all_matmul = true, none_broadcast = true;
    for (int i = 0; i < users[v].n; i++) {
      const IrInst *u = &f->v[users[v].v[i]];
      all_ew &= elementwise(u->op) || u->op == IR_BROADCAST;
      all_matmul &= u->op == IR_MATMUL;
      none_broadcast &= u->op != IR_BROADCAST;
    }
    if (in->op == IR_TRANSPOSE && all_matmul && users[v].n && !is_result[v] && f->v[in->args[0]].ty.rank == 2 &&
        !right_operand_in_loop(f, &users[v], loop_of, v)) {
      st->kind = SK_VIEW; /* a BLAS transpose flag, never a copy */
      st->of = in->args[0];
      st->transposed = true;
      continue;
    }
    /* A block is read where its readers are, so nothing may write its
     * storage in between. Only an update in place writes over a value, and
     * only into a carried buffer that nothing else reads (updates_own_carry);
     * outside its loop such a buffer is read through FOR_RESULT, once the
     * loop's writes are done. */
    bool rows = false;
    if (in->op == IR_INDEX && !is_result[v] &&
        (indexes_a_block(f, in) || (rows = indexes_rows(f, in) && only_products_read(f, s, users, v)))) {
      st->kind = SK_VIEW;
      st->of = in->args[0];
      st->at_offset = true;
      st->rows = rows;
      continue;
    }
    /* an elementwise value read once by a sum/max/min is computed inside the
     * reduction's loop */
    if (!is_result[v] && s->uses[v] == 1 && users[v].n == 1 && elementwise(in->op) &&
        fused_reduction(f->v[users[v].v[0]].op)) {
      st->kind = SK_FUSED;
      continue;
    }
    bool users_fused = true; /* every reader is a fused or kernel elementwise op */
    for (int i = 0; i < users[v].n; i++) users_fused &= elementwise(f->v[users[v].v[i]].op) || f->v[users[v].v[i]].op == IR_BROADCAST;
    if (!is_result[v] && users[v].n && users_fused) {
      if (cheap_leaf(in->op)) {
        st->kind = SK_FUSED;
        continue;
      }
      /* a broadcast of something stored (or cheap) is an indexing pattern */
      if (in->op == IR_BROADCAST && none_broadcast) {
        st->kind = SK_FUSED;
        continue;
      }
      if (elementwise(in->op) && s->uses[v] == 1 && none_broadcast && all_ew) {
        st->kind = SK_FUSED;
        continue;
      }
    }
  }
  /* a broadcast is fused only over an operand with storage or a constant */
  for (IrVal v = 0; v < nv; v++) {
    const IrInst *in = &f->v[v];
    if (in->op == IR_BROADCAST && s->st[v].kind == SK_FUSED) {
      IrVal x = in->args[0];
      if (s->st[x].kind == SK_FUSED && !cheap_leaf(f->v[x].op)) s->st[x].kind = SK_TEMP;
    }
  }
  /* results: written straight into their output buffer when computed by a
   * kernel of their own; otherwise copied there at the end */
  s->copies = arena_alloc(a, sizeof(IrVal) * (size_t)(f->nresults + 1));
  s->copy_to = arena_alloc(a, sizeof(int) * (size_t)(f->nresults + 1));
  for (int i = 0; i < f->nresults; i++) {
    IrVal r = f->results[i];
    Storage *st = &s->st[r];
    if (st->kind == SK_TEMP) {
      st->kind = SK_OUTPUT;
      st->index = i;
    } else {
      s->copies[s->ncopies] = r;
      s->copy_to[s->ncopies++] = i;
    }
  }
  /* kernels in block order, a loop's body right after it; liveness by the
   * position of the last reader, a reader in a loop counting as the loop's
   * last kernel (the loop reads it on every iteration) */
  int *pos = arena_alloc(a, sizeof(int) * (size_t)(nv + 1));
  int *end = arena_alloc(a, sizeof(int) * (size_t)(nv + 1));
  s->kernels = arena_alloc(a, sizeof(IrVal) * (size_t)(nv + 1));
  s->loop_len = arena_alloc(a, sizeof(int) * (size_t)(nv + 1));
  list_kernels(s, &f->body, pos, end);

  /* the kernel position where each value is last read (fused readers count
   * at their kernel); copies at the end read results */
  int *last = arena_alloc(a, sizeof(int) * (size_t)(nv + 1));
  for (IrVal v = 0; v < nv; v++) last[v] = -1;
  for (IrVal v = nv - 1; v >= 0; v--) { /* a fused value is read where its reader's kernel runs */
    if (s->st[v].kind != SK_FUSED) continue;
    int p = -1;
    for (int i = 0; i < users[v].n; i++) {
      IrVal u = users[v].v[i];
      if (pos[u] > p) p = pos[u];
    }
    pos[v] = p;
  }
  for (IrVal v = 0; v < nv; v++)
    if (loop_of[v] < 0 && f->v[v].op != IR_FOR) end[v] = pos[v];
  for (IrVal v = 0; v < nv; v++) {
    const IrInst *in = &f->v[v];
    int at = s->st[v].kind == SK_VIEW ? -1 : end[v];
    if (s->st[v].kind == SK_VIEW) { /* a view is read wherever its readers are */
      for (int i = 0; i < users[v].n; i++) at = end[users[v].v[i]] > at ? end[users[v].v[i]] : at;
      pos[v] = end[v] = at;
    }
    if (in->op == IR_FOR) /* a loop reads its initial values, and its body's yields at its end */
      for (int i = 0; i < in->body->nyields; i++) {
        IrVal y = in->body->yields[i];
        if (end[v] > last[y]) last[y] = end[v];
      }
    for (int i = 0; i < in->nargs; i++) {
      IrVal x = in->args[i];
      while (s->st[x].kind == SK_VIEW) { /* the viewed value lives as long as the view */
        if (at > last[x]) last[x] = at;
        x = s->st[x].of;
      }
      if (at > last[x]) last[x] = at;
    }
  }
  for (int i = 0; i < s->ncopies; i++) {
    IrVal x = s->copies[i];
    while (s->st[x].kind == SK_VIEW) x = s->st[x].of;
    last[x] = s->nkernels;
  }
  /* slots: first free slot of the same element size, else a new one.
   * What lives in a loop (its index, carried buffers, body values) gets a
   * slot of its own: an iteration must not overwrite the next one's input. */
  s->slot_of_value = arena_alloc(a, sizeof(int) * (size_t)(nv + 1));
  for (IrVal v = 0; v < nv; v++) s->slot_of_value[v] = -1;
  int *slot_free_after = arena_alloc(a, sizeof(int) * (size_t)(nv + 1));
  size_t *slot_elem = arena_alloc(a, sizeof(size_t) * (size_t)(nv + 1));
  for (IrVal v = 0; v < nv; v++) {
    const IrInst *in = &f->v[v];
    if (in->op == IR_LOOP_INDEX || in->op == IR_LOOP_CARRY) {
      s->st[v].kind = SK_TEMP;
      s->st[v].index = s->nslots;
      s->slot_of_value[v] = s->nslots;
      slot_elem[s->nslots] = dtype_size(in->ty.dt);
      slot_free_after[s->nslots++] = INT32_MAX;
    }
  }
  for (int k = 0; k < s->nkernels; k++) {
    IrVal v = s->kernels[k];
    s->slot_of_value[v] = -1;
    if (s->st[v].kind != SK_TEMP || f->v[v].op == IR_FOR) continue;
    size_t elem = dtype_size(f->v[v].ty.dt);
    int slot = -1;
    for (int j = 0; j < s->nslots && slot < 0 && loop_of[v] < 0; j++)
      if (slot_free_after[j] < k && slot_elem[j] == elem) slot = j;
    if (slot < 0) {
      slot = s->nslots++;
      slot_elem[slot] = elem;
    }
    slot_free_after[slot] = loop_of[v] >= 0 ? INT32_MAX : last[v] > k ? last[v] : k;
    s->st[v].index = slot;
    s->slot_of_value[v] = slot;
  }
  return s;
}

static const char *kind_names[] = {"fused", "input", "param", "output", "slot", "view", "in place of"};

/* How emit loops names a view: a BLAS transpose flag, rows, a block, or
 * the same memory. */
static const char *view_name(const Storage *st) {
  return st->transposed ? "transpose flag" : st->rows ? "rows" : st->at_offset ? "block" : "view";
}

static void print_tree(FILE *out, const Schedule *s, IrVal v, int depth) {
  const IrInst *in = &s->f->v[v];
  for (int i = 0; i < in->nargs; i++) {
    IrVal x = in->args[i];
    if (s->st[x].kind != SK_FUSED) continue;
    fprintf(out, "%*s%%%d = %s : %s\n", 4 + 2 * depth, "", x, ir_ops[s->f->v[x].op].name,
            ir_type_str(s->f->arena, &s->f->v[x].ty));
    print_tree(out, s, x, depth + 1);
  }
}

void schedule_print(FILE *out, const Schedule *s) {
  const IrFunc *f = s->f;
  fprintf(out, "schedule %s: %d kernels (%d BLAS calls), %d values fused into loops, %d workspace slots\n", f->name,
          s->nkernels, s->nblas, s->nfused, s->nslots);
  for (int k = 0; k < s->nkernels; k++) {
    IrVal v = s->kernels[k];
    const IrInst *in = &f->v[v];
    const Storage *st = &s->st[v];
    bool ew = ir_ops[in->op].kind == K_UNARY || ir_ops[in->op].kind == K_BINARY ||
              ir_ops[in->op].kind == K_COMPARE || in->op == IR_SELECT || in->op == IR_BROADCAST ||
              in->op == IR_CONST || in->op == IR_FILL || in->op == IR_DIMSIZE ||
              (fused_reduction(in->op) && s->st[in->args[0]].kind == SK_FUSED);
    if (in->op == IR_FOR) {
      fprintf(out, "  k%d: %%%d = for, body k%d..k%d\n", k, v, k + 1, k + s->loop_len[v]);
      print_tree(out, s, v, 1); /* initial values written straight into the carried buffers */
      continue;
    }
    if (st->kind == SK_VIEW) /* a block view: its kernel computes where the block starts */
      fprintf(out, "  k%d: %%%d = view %s : %s -> %s of %%%d\n", k, v, ir_ops[in->op].name,
              ir_type_str(f->arena, &in->ty), view_name(st), st->of);
    else
      fprintf(out, "  k%d: %%%d = %s %s : %s -> %s %d\n", k, v, ew ? "loop" : "call", ir_ops[in->op].name,
              ir_type_str(f->arena, &in->ty), kind_names[st->kind], st->kind == SK_IN_PLACE ? st->of : st->index);
    if (ew) print_tree(out, s, v, 1);
    for (int i = 0; i < in->nargs; i++) {
      IrVal x = in->args[i];
      if (s->st[x].kind == SK_VIEW)
        fprintf(out, "    %%%d: %s of %%%d\n", x, view_name(&s->st[x]), s->st[x].of);
    }
  }
  for (int i = 0; i < s->ncopies; i++) fprintf(out, "  copy %%%d -> output %d\n", s->copies[i], s->copy_to[i]);
}
