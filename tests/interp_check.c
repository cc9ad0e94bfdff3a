/* interp_check - the reference interpreter checks its own bounds.
 *
 * Each case builds a small IR function by hand in which one instruction's
 * type does not fit its operands (as a wrong derivative rule once made: the
 * adjoint of [1,2,3] @ [n,3,4] typed [1,2,4] was a product of shape
 * [n,2,4], and the interpreter wrote past its buffer). The interpreter
 * must refuse it with an internal error naming the op and the shapes, and
 * never touch memory it does not own (the sanitizer build runs this too).
 * A well-formed function of the same ops must still evaluate.
 * Usage: interp_check; exit status 1 if a case failed. */
#include <stdio.h>
#include <string.h>
#include "interp.h"

typedef struct Case {
  Arena arena;
  IrFunc *f;
  Tensor inputs[4];
  int ninputs;
} Case;

static IrType shape(int rank, const int64_t *dims) {
  IrType t = {.dt = DT_F64, .rank = rank};
  for (int i = 0; i < rank; i++) t.dims[i] = (Dim){dims[i], NULL};
  return t;
}

static IrInst inst(IrOp op, IrType t) {
  IrInst p;
  memset(&p, 0, sizeof p);
  p.op = op;
  p.ty = t;
  p.axis = -1;
  p.owner = -1;
  return p;
}

/* input number k of the given shape, filled with 1, 2, 3, ... */
static IrVal input(Case *c, int rank, const int64_t *dims) {
  IrInst p = inst(IR_INPUT, shape(rank, dims));
  p.index = c->ninputs;
  Tensor t = tensor_new(DT_F64, rank, dims);
  for (int64_t i = 0; i < t.size; i++) t.data[i] = (double)(i + 1);
  c->inputs[c->ninputs++] = t;
  return ir_emit_fresh(c->f, &p);
}

static IrVal op(Case *c, IrOp o, int rank, const int64_t *dims, int nargs, IrVal a, IrVal b, IrVal d) {
  IrInst p = inst(o, shape(rank, dims));
  p.args[0] = a;
  p.args[1] = b;
  p.args[2] = d;
  p.nargs = nargs;
  return ir_emit_fresh(c->f, &p);
}

static void begin(Case *c) {
  memset(c, 0, sizeof *c);
  c->f = ir_func_new(&c->arena, "case");
}

static int failures;

/* Run c's function, whose result is r; expect an error containing `want`
 * (NULL: expect success). */
static void run(Case *c, IrVal r, const char *name, const char *want) {
  ARENA_PUSH(c->f->arena, c->f->results, c->f->nresults, c->f->capresults, r);
  c->f->ninputs = c->ninputs;
  Tensor out = {0};
  char err[512];
  DimEnv env = {0};
  bool ok = interp_run(c->f, c->inputs, NULL, &env, &out, err, sizeof err);
  if (want ? ok || !strstr(err, want) : !ok) {
    printf("FAIL %s: %s (wanted %s%s)\n", name, ok ? "evaluated" : err, want ? "an error containing " : "success",
           want ? want : "");
    failures++;
  } else {
    printf("ok   %s%s%s\n", name, want ? ": " : "", want ? err : "");
  }
  tensor_free(&out);
  for (int i = 0; i < c->ninputs; i++) tensor_free(&c->inputs[i]);
  arena_free(&c->arena);
}

int main(void) {
  Case c;
  const int64_t d123[] = {1, 2, 3}, d334[] = {3, 3, 4}, d124[] = {1, 2, 4}, d324[] = {3, 2, 4};
  const int64_t d23[] = {2, 3}, d32[] = {3, 2}, d7[] = {7}, d4[] = {4}, d3[] = {3}, d1[] = {1};

  begin(&c); /* the bug that was: the product's batch taken from the left operand */
  run(&c, op(&c, IR_MATMUL, 3, d124, 2, input(&c, 3, d123), input(&c, 3, d334), 0), "matmul batch",
      "internal error: `matmul` of [1,2,3] and [3,3,4] cannot have the shape [1,2,4]");
  begin(&c);
  run(&c, op(&c, IR_MATMUL, 3, d324, 2, input(&c, 3, d123), input(&c, 3, d334), 0), "matmul broadcast batch", NULL);
  begin(&c);
  run(&c, op(&c, IR_MATMUL, 2, d23, 2, input(&c, 2, d23), input(&c, 2, d23), 0), "matmul inner sizes",
      "`matmul` of [2,3] and [2,3] cannot have the shape [2,3]");
  begin(&c);
  run(&c, op(&c, IR_ADD, 2, d23, 2, input(&c, 2, d23), input(&c, 2, d32), 0), "add",
      "`add` of [2,3] and [3,2] cannot have the shape [2,3]");
  begin(&c);
  run(&c, op(&c, IR_EXP, 1, d7, 1, input(&c, 2, d23), 0, 0), "unary", "`exp` of [2,3] cannot have the shape [7]");
  begin(&c);
  run(&c, op(&c, IR_RESHAPE, 1, d7, 1, input(&c, 2, d23), 0, 0), "reshape", "`reshape` of [2,3] cannot have the shape [7]");
  begin(&c);
  run(&c, op(&c, IR_SUM_TO, 1, d4, 1, input(&c, 2, d23), 0, 0), "sum_to", "`sum_to` of [2,3] cannot have the shape [4]");
  begin(&c);
  run(&c, op(&c, IR_BROADCAST, 2, d23, 1, input(&c, 1, d4), 0, 0), "broadcast",
      "`broadcast` of [4] cannot have the shape [2,3]");
  begin(&c);
  run(&c, op(&c, IR_BROADCAST, 2, d23, 1, input(&c, 1, d3), 0, 0), "broadcast that fits", NULL);
  begin(&c);
  run(&c, op(&c, IR_TRANSPOSE, 1, d3, 1, input(&c, 1, d3), 0, 0), "transpose", "`transpose` of [3] cannot have the shape [3]");
  begin(&c);
  IrVal x = input(&c, 2, d23);
  run(&c, op(&c, IR_SELECT, 2, d23, 3, x, x, input(&c, 2, d32)), "select", "`select` of [2,3] and [2,3] cannot have the shape [2,3]");
  begin(&c);
  {
    IrInst p = inst(IR_SUM, shape(1, d3));
    p.args[0] = input(&c, 2, d23);
    p.nargs = 1;
    p.axis = 1;
    run(&c, ir_emit_fresh(c.f, &p), "sum over an axis", "`sum` of [2,3] cannot have the shape [3]");
  }
  begin(&c);
  {
    IrInst p = inst(IR_SOFTMAX, shape(2, d23));
    p.args[0] = input(&c, 2, d23);
    p.nargs = 1;
    p.axis = 2;
    run(&c, ir_emit_fresh(c.f, &p), "softmax axis", "`softmax` of [2,3] cannot have the shape [2,3]");
  }
  begin(&c);
  {
    IrAxis ax[2] = {{true, 1, 4}, {true, 0, -1}};
    IrInst p = inst(IR_INDEX, shape(2, d32));
    p.args[0] = input(&c, 2, d32);
    p.nargs = 1;
    p.axes = ax;
    p.naxes = 2;
    run(&c, ir_emit_fresh(c.f, &p), "slice", "internal error: slice 1:4 of axis 0 of size 3");
  }
  begin(&c);
  {
    IrAxis ax[1] = {{true, 0, 2}};
    IrInst p = inst(IR_UPDATE, shape(2, d32));
    p.args[0] = input(&c, 2, d32);
    p.args[1] = input(&c, 2, d32);
    p.nargs = 2;
    p.axes = ax;
    p.naxes = 1;
    run(&c, ir_emit_fresh(c.f, &p), "update", "internal error: the index selects 4 elements, not 6");
  }
  begin(&c);
  {
    const int64_t x4[] = {1, 2, 5, 5}, w4[] = {3, 1, 3, 3}, y4[] = {1, 3, 3, 3};
    IrInst p = inst(IR_CONV2D, shape(4, y4));
    p.args[0] = input(&c, 4, x4);
    p.args[1] = input(&c, 4, w4);
    p.nargs = 2;
    p.stride[0] = p.stride[1] = 1;
    run(&c, ir_emit_fresh(c.f, &p), "conv2d channels", "`conv2d` of [1,2,5,5] and [3,1,3,3] cannot have the shape [1,3,3,3]");
  }
  begin(&c);
  {
    const int64_t x4[] = {1, 2, 4, 4}, y4[] = {1, 2, 3, 3};
    IrInst p = inst(IR_MAXPOOL2D, shape(4, y4));
    p.args[0] = input(&c, 4, x4);
    p.nargs = 1;
    p.stride[0] = p.stride[1] = p.kernel[0] = p.kernel[1] = 2;
    run(&c, ir_emit_fresh(c.f, &p), "maxpool2d window", "`maxpool2d` of [1,2,4,4] cannot have the shape [1,2,3,3]");
  }
  begin(&c); /* an operand made after its reader: never computed when read */
  {
    IrInst p = inst(IR_NEG, shape(1, d1));
    p.args[0] = c.f->nv + 1;
    p.nargs = 1;
    IrVal r = ir_emit_fresh(c.f, &p);
    input(&c, 1, d1);
    run(&c, r, "operand not computed", "`neg` reads a value that was never computed");
  }
  printf("%s: %d failure%s\n", failures ? "FAIL" : "ok", failures, failures == 1 ? "" : "s");
  return failures ? 1 : 0;
}
