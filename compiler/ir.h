/* ir.h - the tensor IR.
 *
 * A function is a set of SSA values, each made by one instruction with an
 * opcode from ir_ops.def, operands (earlier values), a type (dtype and a
 * shape of constant or symbolic dims) and the source span it came from.
 * Blocks list value ids in order: the function body is one block, a FOR
 * has a body block of its own. Values are numbered per function, so a loop
 * body may use any value defined before the loop.
 *
 * Instructions are hash-consed when built: asking for an instruction that
 * already exists in scope returns the existing value. Common
 * subexpressions are therefore shared from the start, in the forward code,
 * in the derivative code and between the two. */
#ifndef DMLC_IR_H
#define DMLC_IR_H
#include "sema.h"

typedef enum {
#define IR_OP(id, dml, kind, rule) IR_##id,
#include "ir_ops.def"
#undef IR_OP
  IR_OP_COUNT
} IrOp;

typedef enum {
  K_LEAF,    // no operands
  K_UNARY,   // elementwise, one operand
  K_BINARY,  // elementwise, two operands of the same shape
  K_COMPARE, // elementwise comparison, bool result
  K_REDUCE,  // reduction over `axis` (-1: all)
  K_OTHER,   // its own shape rule
} IrKind;

typedef struct IrOpInfo {
  const char *name; /* the enum name in lower case, for `emit ir` */
  const char *dml;  /* how `emit grad` writes it */
  IrKind kind;
} IrOpInfo;

extern const IrOpInfo ir_ops[IR_OP_COUNT];

typedef int IrVal; /* a value id; -1 for none */

/* Operands of one instruction. A loop has its bounds and carried values;
 * the reversed loop of reverse mode carries an adjoint for every outside
 * value the body reads, so a GRU or LSTM step needs a few dozen. */
enum { IR_MAX_ARGS = 40 };

typedef struct IrType {
  DType dt;
  int rank;
  Dim dims[MAX_RANK];
} IrType;

/* One axis of an INDEX or UPDATE: a single position given by an operand
 * (the axis is dropped) or a constant slice lo..hi (kept). */
typedef struct IrAxis {
  bool is_slice;
  int64_t lo, hi;
} IrAxis;

typedef struct IrBlock {
  IrVal *ids;
  int n, cap;
  IrVal *yields;      /* FOR body: next carried values */
  int nyields;
} IrBlock;

typedef struct IrInst {
  IrOp op;
  IrType ty;
  IrVal args[IR_MAX_ARGS];
  int nargs;
  /* attributes (which ones matter depends on the op) */
  double num;         /* CONST, FILL */
  int axis;           /* reductions, softmax: -1 all axes */
  bool keepdims;
  int index;          /* INPUT/PARAM number, FOR_RESULT/LOOP_CARRY slot */
  int64_t stride[2], pad[2], kernel[2]; /* conv/pool */
  IrAxis *axes;       /* INDEX/UPDATE: one per indexed axis */
  int naxes;
  Dim *size_dims;     /* DIMSIZE: the dims whose product is the value */
  int nsize_dims;
  IrBlock *body;      /* FOR */
  int owner;          /* LOOP_INDEX/LOOP_CARRY: the FOR's id, else -1 */
  /* provenance */
  Span span;
  const char *name;   /* a source name for `emit` (let, param, input) */
  const char *why;    /* adjoints: the primal operation they differentiate */
  bool adjoint;
} IrInst;

typedef struct IrParam {
  const char *name;
  IrType ty;
  Item *item;
} IrParam;

typedef struct IrFunc {
  const char *name;
  Arena *arena;
  IrInst *v;          /* all values, by id */
  int nv, capv;
  IrBlock body;
  IrBlock *cur;       /* the block instructions are appended to */
  IrVal *results;
  int nresults, capresults;
  const char **result_names;
  /* signature */
  const char **input_names;
  IrType *input_types;
  Span *input_spans;
  int ninputs;
  IrParam *params;    /* every param of the program, by index */
  int nparams;
  const char **dim_syms; /* symbolic dims of the signature */
  int ndim_syms;
  /* reverse mode: for each value, the primal value whose total adjoint it
   * is (-1 if none), and the params whose gradients are results 1.. */
  IrVal *adjoint_of;
  int nadjoint_of;
  int *grad_params;
  int ngrad_params;
  /* hash-consing; off while forward mode places code by position (an
   * existing value may come later in the block), simplify merges after */
  struct IrCse *cse;
  bool no_reuse;
  Span span;
} IrFunc;

IrFunc *ir_func_new(Arena *a, const char *name);
/* Build an instruction in the current block (or reuse an identical one). */
IrVal ir_emit(IrFunc *f, const IrInst *proto);
/* The identical instruction in scope, or -1 (nothing is built). */
IrVal ir_find(IrFunc *f, const IrInst *proto);
IrInst *ir_inst(IrFunc *f, IrVal v);
/* Begin/end a nested block (FOR body); values of a block are not reused
 * outside it. begin returns a mark for end. */
int ir_block_begin(IrFunc *f, IrBlock *b);
void ir_block_end(IrFunc *f, IrBlock *saved_cur, int mark);
/* An instruction appended without hash-consing (FOR, loop values). */
IrVal ir_emit_fresh(IrFunc *f, const IrInst *proto);

bool ir_type_equal(const IrType *a, const IrType *b);
const char *ir_type_str(Arena *a, const IrType *t);
int64_t ir_static_count(const IrType *t, bool *is_static); /* number of elements */

void ir_print(FILE *out, const IrFunc *f); /* `dmlc emit ir` */

#endif
