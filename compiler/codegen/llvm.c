/* llvm.c - native code for scheduled IR, through the LLVM C API.
 *
 * Input: IR functions and their schedules. Output: an object file (or the
 * LLVM IR / assembly text) with, per function NAME,
 *
 *   int32_t NAME(const int64_t *dims, void *const *inputs,
 *                void *const *params, void *const *outputs, void *ws);
 *   int64_t NAME_workspace(const int64_t *dims);
 *
 * dims holds the symbolic dimensions in signature order; the return value
 * is 0, or 1 after a run-time error (a label out of range) whose message
 * the library's own M_error() gives (the runtime's symbols are hidden in a
 * library, so two models in one process keep their own). A fused elementwise kernel becomes a loop nest
 * written here, vectorisable (loop metadata, since the C API cannot set
 * fast-math flags); everything else calls the runtime's kernels, matrix
 * products going to CBLAS with transposes as flags. Opaque pointers
 * throughout (LLVM 16). */
#include "codegen.h"
#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/Support.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Cg {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef i1, i8, i32, i64, f32, f64, ptr, vd;
  /* per function */
  const IrFunc *f;
  const Schedule *s;
  LLVMValueRef fn, dims_arg, inputs_arg, params_arg, outputs_arg, ws_arg;
  LLVMValueRef scratch;    /* the workspace's tail: im2col buffers of convolutions */
  LLVMValueRef *syms;      /* loaded symbolic dims, by f->dim_syms index */
  LLVMValueRef *ptrs;      /* storage pointer of each stored value */
  LLVMValueRef *scalar;    /* per-iteration value of fused nodes (loop body) */
  LLVMBasicBlockRef fail_bb;
  LLVMMetadataRef loop_md_vectorize;
  int calls;               /* calls emitted: a loop with calls is not marked for vectorisation */
  bool ftz;                /* entry points flush subnormals (x86-64 MXCSR) */
  LLVMValueRef saved_csr;  /* the caller's MXCSR, restored at every return */
  Arena *a;
  Diags *d;
} Cg;

/* ---- small helpers --------------------------------------------------------- */

static LLVMValueRef ci64(Cg *g, int64_t v) { return LLVMConstInt(g->i64, (unsigned long long)v, true); }

static LLVMTypeRef elem_type(Cg *g, DType dt) {
  switch (dt) {
  case DT_F64: return g->f64;
  case DT_I32: return g->i32;
  case DT_BOOL: return g->i8;
  default: return g->f32;
  }
}

static bool is_float_dt(DType dt) { return dt == DT_F32 || dt == DT_F64; }

static const char *sfx(DType dt) { return dt == DT_F64 ? "f64" : "f32"; }

static LLVMValueRef dim_value(Cg *g, Dim d) {
  if (!d.sym) return ci64(g, d.size);
  for (int i = 0; i < g->f->ndim_syms; i++)
    if (strcmp(g->f->dim_syms[i], d.sym) == 0) return g->syms[i];
  return ci64(g, 1); /* unreachable: sema binds every symbol to the signature */
}

static LLVMValueRef numel(Cg *g, const IrType *t, int from, int to) {
  LLVMValueRef n = ci64(g, 1);
  for (int i = from; i < to; i++) n = LLVMBuildMul(g->b, n, dim_value(g, t->dims[i]), "");
  return n;
}

static LLVMValueRef count_of(Cg *g, const IrType *t) { return numel(g, t, 0, t->rank); }

/* A declared external function, created on first use. */
static LLVMValueRef extern_fn(Cg *g, const char *name, LLVMTypeRef ret, LLVMTypeRef *params, int n, LLVMTypeRef *fty) {
  *fty = LLVMFunctionType(ret, params, (unsigned)n, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(g->mod, name);
  if (!fn) fn = LLVMAddFunction(g->mod, name, *fty);
  return fn;
}

static LLVMValueRef call(Cg *g, const char *name, LLVMTypeRef ret, LLVMValueRef *args, LLVMTypeRef *types, int n) {
  g->calls++;
  LLVMTypeRef fty;
  LLVMValueRef fn = extern_fn(g, name, ret, types, n, &fty);
  return LLVMBuildCall2(g->b, fty, fn, args, (unsigned)n, "");
}

static LLVMValueRef intrinsic(Cg *g, const char *name, LLVMTypeRef t, LLVMValueRef *args, int n) {
  /* fabs, sqrt and fmuladd vectorise; math library calls do not */
  if (strcmp(name, "llvm.fabs") != 0 && strcmp(name, "llvm.sqrt") != 0 && strcmp(name, "llvm.fmuladd") != 0) g->calls++;
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, &t, 1);
  LLVMTypeRef params[3] = {t, t, t};
  LLVMTypeRef fty = LLVMFunctionType(t, params, (unsigned)n, 0);
  return LLVMBuildCall2(g->b, fty, fn, args, (unsigned)n, "");
}

static LLVMValueRef libm1(Cg *g, const char *base, DType dt, LLVMValueRef x) {
  LLVMTypeRef t = elem_type(g, dt);
  char name[32];
  snprintf(name, sizeof name, "%s%s", base, dt == DT_F32 ? "f" : "");
  return call(g, name, t, &x, &t, 1);
}

/* ---- exp, sigmoid and tanh as plain arithmetic ---------------------------------------
 *
 * A call to expf or tanhf keeps a loop scalar, so these are written out
 * as instructions that vectorise, within about two ulps over the whole
 * range (tests/math_sweep.c measures them). exp(x) = 2^k e^r with
 * k = round(x / ln2) and r = x - k ln2, ln2 split in two (Cody and Waite)
 * so that k * ln2_hi is exact; e^r = 1 + r + r^2 P(r) on |r| <= ln2/2;
 * 2^k is built from exponent bits as 2^(k/2) 2^(k - k/2), so that results
 * next to overflow and subnormal results are rounded once. Polynomials use
 * separate multiplies and adds, never fmuladd: the result is then the same
 * on every CPU, with or without FMA. Coefficients: fit_elementary.py. */

typedef struct ElemConsts {
  double log2e, shifter;  /* 1/ln2; 1.5 * 2^mant: adding it rounds to an integer */
  double ln2_hi, ln2_lo;  /* ln2_hi has few enough bits that k * ln2_hi is exact */
  double x_min, x_max;    /* beyond these exp is 0 or inf: x is clamped to them */
  int bias, mant;         /* exponent bias, mantissa bits */
  const double *exp_tail; /* P(r), highest power first */
  int nexp_tail;
  double tanh_small;      /* below it tanh(x) = x + x^3 Q(x^2) */
  const double *tanh_tail;
  int ntanh_tail;
} ElemConsts;

static const double exp_tail_f32[] = {0.00019891981313977690212, 0.0013934541928270264477, 0.0083333100242252924299,
                                      0.041666456809677876034, 0.16666666682534356071, 0.50000000142862234172};
static const double exp_tail_f64[] = {2.0915442297780115216e-9, 2.5106274733573294687e-8, 2.7557271810219799569e-7,
                                      2.7557252833516909748e-6, 0.000024801587327007186731, 0.00019841269876864354929,
                                      0.0013888888888883326674, 0.0083333333333255446996, 0.041666666666666670074,
                                      0.16666666666666671438, 0.5};
static const double tanh_tail_f32[] = {-0.0069429417504160069221, 0.021470683025336762148, -0.053933469145967686458,
                                       0.13333225775482525603, -0.33333332796631664012};
static const double tanh_tail_f64[] = {0.000059469565897747691496, -0.00022107222975864633879, 0.00058496537290226445915,
                                       -0.0014549593843804661129, 0.0035920334653723928221, -0.0088632292700678434021,
                                       0.02186948829723451434, -0.053968253963610086387, 0.13333333333329824238,
                                       -0.33333333333333328949};

/* f32: |k| <= 150 has 8 bits, ln2_hi 16; exp(89) overflows, exp(-104) < 2^-150 rounds to 0.
 * f64: |k| <= 1076 has 11 bits, ln2_hi 32; exp(710) overflows, exp(-746) < 2^-1075. */
static const ElemConsts elem_f32 = {1.4426950408889634, 12582912.0, 0.693145751953125, 1.428606820309417232e-6,
                                    -104, 89, 127, 23, exp_tail_f32, 6, 0.5, tanh_tail_f32, 5};
static const ElemConsts elem_f64 = {1.4426950408889634, 6755399441055744.0, 0.693147180601954460144043,
                                    -4.200915072681084729e-11, -746, 710, 1023, 52, exp_tail_f64, 11, 0.5,
                                    tanh_tail_f64, 10};

static const ElemConsts *elem_consts(DType dt) { return dt == DT_F64 ? &elem_f64 : &elem_f32; }

static LLVMValueRef fconst(LLVMTypeRef t, double v) { return LLVMConstReal(t, v); }

/* c[0] x^(n-1) + ... + c[n-1], with separate multiplies and adds */
static LLVMValueRef horner(Cg *g, LLVMTypeRef t, const double *c, int n, LLVMValueRef x) {
  LLVMValueRef p = fconst(t, c[0]);
  for (int i = 1; i < n; i++) p = LLVMBuildFAdd(g->b, LLVMBuildFMul(g->b, p, x, ""), fconst(t, c[i]), "");
  return p;
}

/* 2^k for an integer k in the normal exponent range, from its bits */
static LLVMValueRef pow2_of(Cg *g, DType dt, const ElemConsts *c, LLVMValueRef k) {
  LLVMTypeRef it = dt == DT_F64 ? g->i64 : g->i32;
  LLVMValueRef e = LLVMBuildAdd(g->b, k, LLVMConstInt(it, (unsigned long long)c->bias, 0), "");
  return LLVMBuildBitCast(g->b, LLVMBuildShl(g->b, e, LLVMConstInt(it, (unsigned long long)c->mant, 0), ""), elem_type(g, dt), "");
}

static LLVMValueRef clamp(Cg *g, LLVMValueRef x, LLVMValueRef lo, LLVMValueRef hi) {
  x = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, x, lo, ""), lo, x, "");
  return LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, x, hi, ""), hi, x, ""); /* NaN passes */
}

static LLVMValueRef exp_inline(Cg *g, DType dt, LLVMValueRef x) {
  const ElemConsts *c = elem_consts(dt);
  LLVMTypeRef t = elem_type(g, dt), it = dt == DT_F64 ? g->i64 : g->i32;
  x = clamp(g, x, fconst(t, c->x_min), fconst(t, c->x_max));
  /* k = round(x / ln2): the shifter's last mantissa bit is worth 1, so the
   * sum holds k in its low bits (no fptosi, which is poison on NaN) */
  LLVMValueRef shifter = fconst(t, c->shifter);
  LLVMValueRef big = LLVMBuildFAdd(g->b, LLVMBuildFMul(g->b, x, fconst(t, c->log2e), ""), shifter, "");
  LLVMValueRef kf = LLVMBuildFSub(g->b, big, shifter, "");
  LLVMValueRef k = LLVMBuildSub(g->b, LLVMBuildBitCast(g->b, big, it, ""), LLVMBuildBitCast(g->b, shifter, it, ""), "");
  /* r = x - k ln2 = r_hi - k ln2_lo, where r_hi is exact; dr is what
   * rounding r lost, added back next to the polynomial */
  LLVMValueRef r_hi = LLVMBuildFSub(g->b, x, LLVMBuildFMul(g->b, kf, fconst(t, c->ln2_hi), ""), "");
  LLVMValueRef k_lo = LLVMBuildFMul(g->b, kf, fconst(t, c->ln2_lo), "");
  LLVMValueRef r = LLVMBuildFSub(g->b, r_hi, k_lo, "");
  LLVMValueRef dr = LLVMBuildFSub(g->b, LLVMBuildFSub(g->b, r_hi, r, ""), k_lo, "");
  LLVMValueRef r2 = LLVMBuildFMul(g->b, r, r, "");
  LLVMValueRef tail = LLVMBuildFMul(g->b, r2, horner(g, t, c->exp_tail, c->nexp_tail, r), "");
  tail = LLVMBuildFAdd(g->b, tail, dr, "");
  /* 1 + r + tail, the rounding error of 1 + r kept (Fast2Sum: |r| < 1) */
  LLVMValueRef p = LLVMBuildFAdd(g->b, fconst(t, 1), r, "");
  LLVMValueRef dp = LLVMBuildFAdd(g->b, LLVMBuildFSub(g->b, fconst(t, 1), p, ""), r, "");
  p = LLVMBuildFAdd(g->b, p, LLVMBuildFAdd(g->b, dp, tail, ""), "");
  LLVMValueRef k1 = LLVMBuildAShr(g->b, k, LLVMConstInt(it, 1, 0), ""), k2 = LLVMBuildSub(g->b, k, k1, "");
  p = LLVMBuildFMul(g->b, p, pow2_of(g, dt, c, k1), "");
  return LLVMBuildFMul(g->b, p, pow2_of(g, dt, c, k2), "");
}

/* 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below, so neither tail
 * subtracts: e = e^-|x| never overflows, and sigmoid(-100) is e^-100 */
static LLVMValueRef sigmoid_inline(Cg *g, DType dt, LLVMValueRef x) {
  LLVMTypeRef t = elem_type(g, dt);
  LLVMValueRef one = fconst(t, 1);
  LLVMValueRef e = exp_inline(g, dt, LLVMBuildFNeg(g->b, intrinsic(g, "llvm.fabs", t, &x, 1), ""));
  LLVMValueRef num = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, x, fconst(t, 0), ""), e, one, "");
  return LLVMBuildFDiv(g->b, num, LLVMBuildFAdd(g->b, one, e, ""), "");
}

/* tanh|x| = (1 - e) / (1 + e), e = e^-2|x|, which reaches 1 exactly where
 * tanh rounds to 1; below 1/2, where 1 - e would cancel, an odd polynomial
 * keeps the relative accuracy down to the smallest x */
static LLVMValueRef tanh_inline(Cg *g, DType dt, LLVMValueRef x) {
  const ElemConsts *c = elem_consts(dt);
  LLVMTypeRef t = elem_type(g, dt);
  LLVMValueRef one = fconst(t, 1), ax = intrinsic(g, "llvm.fabs", t, &x, 1);
  LLVMValueRef x2 = LLVMBuildFMul(g->b, x, x, "");
  LLVMValueRef x3q = LLVMBuildFMul(g->b, LLVMBuildFMul(g->b, x, x2, ""), horner(g, t, c->tanh_tail, c->ntanh_tail, x2), "");
  LLVMValueRef small = LLVMBuildFAdd(g->b, x, x3q, "");
  LLVMValueRef e = exp_inline(g, dt, LLVMBuildFMul(g->b, ax, fconst(t, -2), ""));
  LLVMValueRef big = LLVMBuildFDiv(g->b, LLVMBuildFSub(g->b, one, e, ""), LLVMBuildFAdd(g->b, one, e, ""), "");
  big = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, x, fconst(t, 0), ""), LLVMBuildFNeg(g->b, big, ""), big, "");
  LLVMValueRef y = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOLT, ax, fconst(t, c->tanh_small), ""), small, big, "");
  return LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOEQ, x, fconst(t, 0), ""), x, y, ""); /* tanh(-0) = -0 */
}

/* "file:line:col" of an instruction, for run-time error messages. */
static LLVMValueRef where(Cg *g, const IrInst *in) {
  char buf[256] = "dml";
  if (in->span.src) {
    int line, col;
    span_line_col(in->span, &line, &col);
    snprintf(buf, sizeof buf, "%s:%d:%d", in->span.src->name, line, col);
  }
  return LLVMBuildGlobalStringPtr(g->b, buf, "where");
}

/* Kernels that return non-zero on bad data jump to the error exit. */
static void check_status(Cg *g, LLVMValueRef status) {
  LLVMValueRef bad = LLVMBuildICmp(g->b, LLVMIntNE, status, LLVMConstInt(g->i32, 0, 0), "");
  LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "ok");
  LLVMBuildCondBr(g->b, bad, g->fail_bb, ok);
  LLVMPositionBuilderAtEnd(g->b, ok);
}

/* ---- loops -------------------------------------------------------------------- */

typedef struct Loop {
  LLVMBasicBlockRef head, body, exit, from;
  LLVMValueRef iv, count;
} Loop;

static void loop_begin(Cg *g, Loop *L, LLVMValueRef count) {
  L->count = count;
  L->from = LLVMGetInsertBlock(g->b);
  L->head = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "loop");
  L->body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "body");
  L->exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "done");
  LLVMBuildBr(g->b, L->head);
  LLVMPositionBuilderAtEnd(g->b, L->head);
  L->iv = LLVMBuildPhi(g->b, g->i64, "i");
  LLVMValueRef zero = ci64(g, 0);
  LLVMAddIncoming(L->iv, &zero, &L->from, 1);
  LLVMValueRef more = LLVMBuildICmp(g->b, LLVMIntSLT, L->iv, count, "");
  LLVMBuildCondBr(g->b, more, L->body, L->exit);
  LLVMPositionBuilderAtEnd(g->b, L->body);
}

static void loop_end(Cg *g, Loop *L, bool vectorize) {
  LLVMValueRef next = LLVMBuildAdd(g->b, L->iv, ci64(g, 1), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
  LLVMValueRef br = LLVMBuildBr(g->b, L->head);
  if (vectorize) LLVMSetMetadata(br, LLVMGetMDKindIDInContext(g->ctx, "llvm.loop", 9), LLVMMetadataAsValue(g->ctx, g->loop_md_vectorize));
  LLVMAddIncoming(L->iv, &next, &latch, 1);
  LLVMPositionBuilderAtEnd(g->b, L->exit);
}

/* llvm.loop metadata asking for vectorisation: a self-referencing node. */
static LLVMMetadataRef vectorize_md(Cg *g) {
  LLVMMetadataRef tmp = LLVMTemporaryMDNode(g->ctx, NULL, 0);
  LLVMMetadataRef key = LLVMMDStringInContext2(g->ctx, "llvm.loop.vectorize.enable", 26);
  LLVMMetadataRef on = LLVMValueAsMetadata(LLVMConstInt(g->i1, 1, 0));
  LLVMMetadataRef pair_items[2] = {key, on};
  LLVMMetadataRef pair = LLVMMDNodeInContext2(g->ctx, pair_items, 2);
  LLVMMetadataRef items[2] = {tmp, pair};
  LLVMMetadataRef node = LLVMMDNodeInContext2(g->ctx, items, 2);
  LLVMMetadataReplaceAllUsesWith(tmp, node);
  return node;
}

/* ---- storage -------------------------------------------------------------------- */

static LLVMValueRef storage_ptr(Cg *g, IrVal v) {
  const Storage *st = &g->s->st[v];
  while (st->kind == SK_VIEW && !st->at_offset) {
    v = st->of;
    st = &g->s->st[v];
  }
  if (st->kind == SK_VIEW) /* a block view: where its kernel found the block */
    return LLVMBuildLoad2(g->b, g->ptr, g->ptrs[v], "block");
  return g->ptrs[v];
}

static LLVMValueRef load_at(Cg *g, IrVal v, LLVMValueRef index) {
  LLVMTypeRef t = elem_type(g, g->f->v[v].ty.dt);
  LLVMValueRef p = LLVMBuildGEP2(g->b, t, storage_ptr(g, v), &index, 1, "");
  return LLVMBuildLoad2(g->b, t, p, "");
}

/* ---- fused elementwise kernels ---------------------------------------------------------- */

typedef struct Nest {
  int rank;
  LLVMValueRef idx[MAX_RANK]; /* loop indices, when the nest is not flat */
  LLVMValueRef flat;          /* flat index of the output element */
  const IrType *shape;
} Nest;

/* Offset into a stored operand broadcast to the nest's shape: the operand's
 * dims align on the right; broadcast axes (size 1) contribute nothing. */
static LLVMValueRef broadcast_offset(Cg *g, const Nest *n, const IrType *src) {
  if (n->idx[0] == NULL) return ci64(g, 0); /* a flat nest only has scalars broadcast */
  LLVMValueRef off = ci64(g, 0), stride = ci64(g, 1);
  for (int i = src->rank - 1; i >= 0; i--) {
    int k = n->rank - src->rank + i;
    Dim d = src->dims[i];
    bool one = !d.sym && d.size == 1;
    if (!one) off = LLVMBuildAdd(g->b, off, LLVMBuildMul(g->b, n->idx[k], stride, ""), "");
    stride = LLVMBuildMul(g->b, stride, dim_value(g, d), "");
  }
  return off;
}

static LLVMValueRef convert(Cg *g, LLVMValueRef x, DType from, DType to) {
  if (from == to) return x;
  LLVMTypeRef t = elem_type(g, to);
  if (to == DT_BOOL) {
    LLVMValueRef nz = is_float_dt(from) ? LLVMBuildFCmp(g->b, LLVMRealUNE, x, LLVMConstNull(elem_type(g, from)), "")
                                        : LLVMBuildICmp(g->b, LLVMIntNE, x, LLVMConstNull(elem_type(g, from)), "");
    return LLVMBuildZExt(g->b, nz, g->i8, "");
  }
  if (is_float_dt(from) && is_float_dt(to)) return to == DT_F64 ? LLVMBuildFPExt(g->b, x, t, "") : LLVMBuildFPTrunc(g->b, x, t, "");
  if (is_float_dt(from)) return LLVMBuildFPToSI(g->b, x, t, "");
  if (from == DT_BOOL) return is_float_dt(to) ? LLVMBuildUIToFP(g->b, x, t, "") : LLVMBuildZExt(g->b, x, t, "");
  return is_float_dt(to) ? LLVMBuildSIToFP(g->b, x, t, "") : LLVMBuildSExt(g->b, x, t, "");
}

static LLVMValueRef scalar_expr(Cg *g, const Nest *n, IrVal v);

/* The value of operand v at the nest's current element. */
static LLVMValueRef operand(Cg *g, const Nest *n, IrVal v) {
  if (g->s->st[v].kind == SK_FUSED) return scalar_expr(g, n, v);
  return load_at(g, v, n->flat);
}

static LLVMValueRef as_bool(Cg *g, LLVMValueRef x) { return LLVMBuildICmp(g->b, LLVMIntNE, x, LLVMConstInt(g->i8, 0, 0), ""); }

static LLVMValueRef scalar_expr(Cg *g, const Nest *n, IrVal v) {
  const IrInst *in = &g->f->v[v];
  DType dt = in->ty.dt;
  LLVMTypeRef t = elem_type(g, dt);
  bool fl = is_float_dt(dt);
  switch (in->op) {
  case IR_CONST:
  case IR_FILL:
    if (fl) return LLVMConstReal(t, in->num);
    return LLVMConstInt(t, (unsigned long long)(long long)in->num, true);
  case IR_DIMSIZE: {
    LLVMValueRef k = ci64(g, 1);
    for (int i = 0; i < in->nsize_dims; i++) k = LLVMBuildMul(g->b, k, dim_value(g, in->size_dims[i]), "");
    return fl ? LLVMBuildSIToFP(g->b, k, t, "") : LLVMBuildTrunc(g->b, k, t, "");
  }
  case IR_BROADCAST: {
    IrVal x = in->args[0];
    if (g->s->st[x].kind == SK_FUSED) return scalar_expr(g, n, x); /* a constant */
    LLVMValueRef off = broadcast_offset(g, n, &g->f->v[x].ty);
    return load_at(g, x, off);
  }
  default: break;
  }
  LLVMValueRef a = in->nargs > 0 ? operand(g, n, in->args[0]) : NULL;
  LLVMValueRef b = in->nargs > 1 ? operand(g, n, in->args[1]) : NULL;
  DType adt = in->nargs > 0 ? g->f->v[in->args[0]].ty.dt : dt;
  bool afl = is_float_dt(adt);
  LLVMValueRef zero = fl ? LLVMConstReal(t, 0) : LLVMConstInt(t, 0, 0), one = fl ? LLVMConstReal(t, 1) : LLVMConstInt(t, 1, 0);
  switch (in->op) {
  case IR_NEG: return fl ? LLVMBuildFNeg(g->b, a, "") : LLVMBuildNeg(g->b, a, "");
  case IR_EXP: return exp_inline(g, dt, a);
  case IR_LOG: return intrinsic(g, "llvm.log", t, &a, 1);
  case IR_SQRT: return intrinsic(g, "llvm.sqrt", t, &a, 1);
  case IR_SIN: return intrinsic(g, "llvm.sin", t, &a, 1);
  case IR_COS: return intrinsic(g, "llvm.cos", t, &a, 1);
  case IR_LOG1P: return libm1(g, "log1p", dt, a);
  case IR_TANH: return tanh_inline(g, dt, a);
  case IR_ABS: return fl ? intrinsic(g, "llvm.fabs", t, &a, 1) : LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, a, zero, ""), LLVMBuildNeg(g->b, a, ""), a, "");
  case IR_SIGN: {
    LLVMValueRef pos = fl ? LLVMBuildFCmp(g->b, LLVMRealOGT, a, zero, "") : LLVMBuildICmp(g->b, LLVMIntSGT, a, zero, "");
    LLVMValueRef neg = fl ? LLVMBuildFCmp(g->b, LLVMRealOLT, a, zero, "") : LLVMBuildICmp(g->b, LLVMIntSLT, a, zero, "");
    LLVMValueRef m1 = fl ? LLVMConstReal(t, -1) : LLVMConstInt(t, (unsigned long long)-1, 1);
    return LLVMBuildSelect(g->b, pos, one, LLVMBuildSelect(g->b, neg, m1, zero, ""), "");
  }
  case IR_SIGMOID: return sigmoid_inline(g, dt, a);
  case IR_RELU: return LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, a, zero, ""), a, zero, "");
  case IR_SOFTPLUS: { /* max(x, 0) + log1p(e^-|x|), stable for any x */
    LLVMValueRef ab = intrinsic(g, "llvm.fabs", t, &a, 1);
    LLVMValueRef e = exp_inline(g, dt, LLVMBuildFNeg(g->b, ab, ""));
    LLVMValueRef mx = LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOGT, a, zero, ""), a, zero, "");
    return LLVMBuildFAdd(g->b, mx, libm1(g, "log1p", dt, e), "");
  }
  case IR_STOP_GRAD: return a;
  case IR_CAST: return convert(g, a, adt, dt);
  case IR_ADD:
    if (fl) { /* a*b + c of fused operands: one fused multiply-add */
      for (int side = 0; side < 2; side++) {
        IrVal m = in->args[side];
        if (g->s->st[m].kind != SK_FUSED || g->f->v[m].op != IR_MUL) continue;
        LLVMValueRef x = operand(g, n, g->f->v[m].args[0]), y = operand(g, n, g->f->v[m].args[1]);
        LLVMValueRef c = side == 0 ? b : a;
        return intrinsic(g, "llvm.fmuladd", t, (LLVMValueRef[]){x, y, c}, 3);
      }
    }
    return fl ? LLVMBuildFAdd(g->b, a, b, "") : LLVMBuildAdd(g->b, a, b, "");
  case IR_SUB: return fl ? LLVMBuildFSub(g->b, a, b, "") : LLVMBuildSub(g->b, a, b, "");
  case IR_MUL: return fl ? LLVMBuildFMul(g->b, a, b, "") : LLVMBuildMul(g->b, a, b, "");
  case IR_DIV: { /* integers: x / 0 is 0 and INT_MIN / -1 wraps (language.md), never a trap */
    if (fl) return LLVMBuildFDiv(g->b, a, b, "");
    LLVMValueRef by0 = LLVMBuildICmp(g->b, LLVMIntEQ, b, zero, "");
    LLVMValueRef by_minus1 = LLVMBuildICmp(g->b, LLVMIntEQ, b, LLVMConstAllOnes(t), "");
    LLVMValueRef safe = LLVMBuildSelect(g->b, LLVMBuildOr(g->b, by0, by_minus1, ""), one, b, "");
    LLVMValueRef q = LLVMBuildSDiv(g->b, a, safe, "");
    q = LLVMBuildSelect(g->b, by_minus1, LLVMBuildSub(g->b, zero, a, ""), q, "");
    return LLVMBuildSelect(g->b, by0, zero, q, "");
  }
  case IR_POW:
    if (fl) return intrinsic(g, "llvm.pow", t, (LLVMValueRef[]){a, b}, 2);
    return LLVMBuildFPToSI(g->b, intrinsic(g, "llvm.pow", g->f64, (LLVMValueRef[]){LLVMBuildSIToFP(g->b, a, g->f64, ""), LLVMBuildSIToFP(g->b, b, g->f64, "")}, 2), t, "");
  case IR_MAXIMUM:
  case IR_MINIMUM: { /* ties take a, as the interpreter and the derivative rule */
    LLVMValueRef c = fl ? LLVMBuildFCmp(g->b, in->op == IR_MAXIMUM ? LLVMRealOGE : LLVMRealOLE, a, b, "")
                        : LLVMBuildICmp(g->b, in->op == IR_MAXIMUM ? LLVMIntSGE : LLVMIntSLE, a, b, "");
    return LLVMBuildSelect(g->b, c, a, b, "");
  }
  case IR_LT: case IR_LE: case IR_GT: case IR_GE: case IR_EQ: case IR_NE: {
    static const LLVMRealPredicate fp[] = {LLVMRealOLT, LLVMRealOLE, LLVMRealOGT, LLVMRealOGE, LLVMRealOEQ, LLVMRealUNE};
    static const LLVMIntPredicate ip[] = {LLVMIntSLT, LLVMIntSLE, LLVMIntSGT, LLVMIntSGE, LLVMIntEQ, LLVMIntNE};
    int k = in->op - IR_LT;
    LLVMValueRef c = afl ? LLVMBuildFCmp(g->b, fp[k], a, b, "") : LLVMBuildICmp(g->b, ip[k], a, b, "");
    return LLVMBuildZExt(g->b, c, g->i8, "");
  }
  case IR_SELECT: {
    LLVMValueRef c = operand(g, n, in->args[2]);
    return LLVMBuildSelect(g->b, as_bool(g, a), b, c, "");
  }
  default: break;
  }
  diag_error(g->d, in->span, "internal error: no elementwise code for %s", ir_ops[in->op].name);
  return zero;
}

/* Does the fused tree under v read a stored operand through a broadcast? */
static bool needs_indices(Cg *g, IrVal v) {
  const IrInst *in = &g->f->v[v];
  if (in->op == IR_BROADCAST) return g->s->st[in->args[0]].kind != SK_FUSED;
  for (int i = 0; i < in->nargs; i++)
    if (g->s->st[in->args[i]].kind == SK_FUSED && needs_indices(g, in->args[i])) return true;
  return false;
}

/* Nested loops, one per axis, the innermost contiguous in the output,
 * storing the fused expression of v into out. */
static void emit_nested(Cg *g, IrVal v, LLVMValueRef out, bool vectorize) {
  const IrInst *in = &g->f->v[v];
  Nest n = {.rank = in->ty.rank, .shape = &in->ty};
  Loop L[MAX_RANK];
  LLVMValueRef flat = ci64(g, 0);
  for (int i = 0; i < n.rank; i++) {
    loop_begin(g, &L[i], dim_value(g, in->ty.dims[i]));
    n.idx[i] = L[i].iv;
    flat = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, flat, dim_value(g, in->ty.dims[i]), ""), L[i].iv, "");
  }
  n.flat = flat;
  int calls = g->calls;
  LLVMValueRef x = scalar_expr(g, &n, v);
  LLVMBuildStore(g->b, x, LLVMBuildGEP2(g->b, elem_type(g, in->ty.dt), out, &flat, 1, ""));
  for (int i = n.rank - 1; i >= 0; i--) loop_end(g, &L[i], vectorize && i == n.rank - 1 && g->calls == calls);
}

static void emit_elementwise(Cg *g, IrVal v) {
  const IrInst *in = &g->f->v[v];
  Nest n = {.rank = in->ty.rank, .shape = &in->ty};
  LLVMTypeRef t = elem_type(g, in->ty.dt);
  LLVMValueRef out = g->ptrs[v];
  if (!needs_indices(g, v) || in->ty.rank == 0) { /* one flat, vectorisable loop */
    Loop L;
    loop_begin(g, &L, count_of(g, &in->ty));
    n.flat = L.iv;
    int calls = g->calls;
    LLVMValueRef x = scalar_expr(g, &n, v);
    LLVMBuildStore(g->b, x, LLVMBuildGEP2(g->b, t, out, &L.iv, 1, ""));
    loop_end(g, &L, g->calls == calls);
    return;
  }
  emit_nested(g, v, out, true);
}

/* A broadcast that a non-elementwise kernel reads needs its own buffer. */
static void emit_broadcast_copy(Cg *g, IrVal v) { emit_nested(g, v, g->ptrs[v], false); }

/* ---- calls into the runtime ------------------------------------------------------ */

/* [outer, n, inner] around an axis; axis -1 is every axis (outer = inner = 1). */
static void split_axis(Cg *g, const IrType *t, int axis, LLVMValueRef *outer, LLVMValueRef *n, LLVMValueRef *inner) {
  if (axis < 0) {
    *outer = ci64(g, 1);
    *n = count_of(g, t);
    *inner = ci64(g, 1);
    return;
  }
  *outer = numel(g, t, 0, axis);
  *n = dim_value(g, t->dims[axis]);
  *inner = numel(g, t, axis + 1, t->rank);
}

/* An i64 array on the stack holding the given values. */
static LLVMValueRef i64_array(Cg *g, LLVMValueRef *vals, int n) {
  LLVMTypeRef at = LLVMArrayType(g->i64, (unsigned)(n ? n : 1));
  LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
  LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(g->fn);
  LLVMValueRef first = LLVMGetFirstInstruction(entry);
  if (first) LLVMPositionBuilderBefore(g->b, first);
  else LLVMPositionBuilderAtEnd(g->b, entry);
  LLVMValueRef arr = LLVMBuildAlloca(g->b, at, "shape");
  LLVMPositionBuilderAtEnd(g->b, here);
  for (int i = 0; i < n; i++) {
    LLVMValueRef idx[2] = {ci64(g, 0), ci64(g, i)};
    LLVMBuildStore(g->b, vals[i], LLVMBuildGEP2(g->b, at, arr, idx, 2, ""));
  }
  return arr;
}

/* The step between the stored rows of a product's operand when they are
 * not contiguous (a rows view, xs[:, t]: a row of xs), else 0. */
static LLVMValueRef leading_dim(Cg *g, IrVal x) {
  const Storage *st = &g->s->st[x];
  if (st->kind == SK_VIEW && st->transposed) st = &g->s->st[st->of];
  if (st->kind != SK_VIEW || !st->rows) return ci64(g, 0);
  const IrType *t = &g->f->v[st->of].ty;
  return numel(g, t, 1, t->rank);
}

static void emit_matmul(Cg *g, IrVal v) {
  const IrInst *in = &g->f->v[v];
  IrVal av = in->args[0], bv = in->args[1];
  const Storage *sa = &g->s->st[av], *sb = &g->s->st[bv];
  bool ta = sa->kind == SK_VIEW && sa->transposed, tb = sb->kind == SK_VIEW && sb->transposed;
  const IrType *A = &g->f->v[av].ty, *B = &g->f->v[bv].ty;
  /* vectors act as [1,k] on the left and [k,1] on the right */
  LLVMValueRef m = A->rank >= 2 ? dim_value(g, A->dims[A->rank - 2]) : ci64(g, 1);
  LLVMValueRef k = dim_value(g, A->dims[A->rank - 1]);
  LLVMValueRef nn = B->rank >= 2 ? dim_value(g, B->dims[B->rank - 1]) : ci64(g, 1);
  /* batch axes of the result; each operand's batch axes align on the right
   * and step by one matrix, or by nothing where broadcast */
  int brank = in->ty.rank - (A->rank >= 2) - (B->rank >= 2);
  LLVMValueRef bd[MAX_RANK], as[MAX_RANK], bs[MAX_RANK];
  const IrType *ops[2] = {A, B};
  LLVMValueRef *strides[2] = {as, bs};
  LLVMValueRef mat[2] = {LLVMBuildMul(g->b, m, k, ""), LLVMBuildMul(g->b, k, nn, "")};
  for (int o = 0; o < 2; o++) {
    int orank = ops[o]->rank >= 2 ? ops[o]->rank - 2 : 0;
    LLVMValueRef stride = mat[o];
    for (int i = brank - 1; i >= 0; i--) {
      int j = orank - brank + i;
      Dim dd = j >= 0 ? ops[o]->dims[j] : (Dim){1, NULL};
      strides[o][i] = (!dd.sym && dd.size == 1) ? ci64(g, 0) : stride;
      if (j >= 0) stride = LLVMBuildMul(g->b, stride, dim_value(g, dd), "");
    }
  }
  for (int i = 0; i < brank; i++) bd[i] = dim_value(g, in->ty.dims[i]);
  LLVMValueRef args[14] = {storage_ptr(g, av), storage_ptr(g, bv), g->ptrs[v], LLVMConstInt(g->i32, (unsigned)brank, 0),
                           i64_array(g, bd, brank), i64_array(g, as, brank), i64_array(g, bs, brank), m, nn, k,
                           LLVMConstInt(g->i32, ta, 0), LLVMConstInt(g->i32, tb, 0), leading_dim(g, av),
                           leading_dim(g, bv)};
  LLVMTypeRef types[14] = {g->ptr, g->ptr, g->ptr, g->i32, g->ptr, g->ptr, g->ptr,
                           g->i64, g->i64, g->i64, g->i32, g->i32, g->i64, g->i64};
  char name[32];
  snprintf(name, sizeof name, "dmlrt_matmul_%s", sfx(in->ty.dt));
  call(g, name, g->vd, args, types, 14);
}

/* dst = src: a constant or fused expression is evaluated into dst, a
 * stored value copied. */
static void copy_value_to(Cg *g, LLVMValueRef dst, IrVal src) {
  if (g->s->st[src].kind == SK_FUSED) {
    LLVMValueRef saved = g->ptrs[src];
    g->ptrs[src] = dst;
    emit_elementwise(g, src);
    g->ptrs[src] = saved;
    return;
  }
  const IrType *t = &g->f->v[src].ty;
  LLVMValueRef bytes = LLVMBuildMul(g->b, count_of(g, t), ci64(g, (int64_t)dtype_size(t->dt)), "");
  LLVMValueRef args[3] = {dst, storage_ptr(g, src), bytes};
  LLVMTypeRef types[3] = {g->ptr, g->ptr, g->i64};
  call(g, "memmove", g->ptr, args, types, 3);
}

/* The multi-index of a flat element, when broadcast operands need it. */
static void unflatten(Cg *g, Nest *n, LLVMValueRef flat) {
  for (int i = n->rank - 1; i >= 0; i--) {
    LLVMValueRef d = dim_value(g, n->shape->dims[i]);
    n->idx[i] = LLVMBuildSRem(g->b, flat, d, "");
    flat = LLVMBuildSDiv(g->b, flat, d, "");
  }
}

/* sum/max/min of a fused elementwise operand: the operand is computed
 * element by element inside the reduction, never stored. */
static void emit_fused_reduce(Cg *g, IrVal v) {
  const IrInst *in = &g->f->v[v];
  IrVal x = in->args[0];
  const IrType *xt = &g->f->v[x].ty;
  LLVMTypeRef t = elem_type(g, in->ty.dt);
  bool fl = is_float_dt(in->ty.dt);
  LLVMValueRef outer, n, inner;
  split_axis(g, xt, in->axis, &outer, &n, &inner);
  LLVMValueRef init = in->op == IR_SUM ? LLVMConstNull(t)
                      : fl ? LLVMConstReal(t, in->op == IR_MAX ? -INFINITY : INFINITY)
                           : LLVMConstInt(t, in->op == IR_MAX ? 0x80000000u : 0x7fffffffu, 0);
  LLVMBasicBlockRef here = LLVMGetInsertBlock(g->b);
  LLVMValueRef first = LLVMGetFirstInstruction(LLVMGetEntryBasicBlock(g->fn));
  LLVMPositionBuilderBefore(g->b, first);
  LLVMValueRef acc = LLVMBuildAlloca(g->b, t, "acc");
  LLVMPositionBuilderAtEnd(g->b, here);
  Loop Lo, Li, Lk;
  loop_begin(g, &Lo, outer);
  loop_begin(g, &Li, inner);
  LLVMBuildStore(g->b, init, acc);
  loop_begin(g, &Lk, n);
  LLVMValueRef flat = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, LLVMBuildAdd(g->b, LLVMBuildMul(g->b, Lo.iv, n, ""), Lk.iv, ""), inner, ""), Li.iv, "");
  Nest nest = {.rank = xt->rank, .shape = xt, .flat = flat};
  if (needs_indices(g, x)) unflatten(g, &nest, flat);
  LLVMValueRef val = scalar_expr(g, &nest, x), cur = LLVMBuildLoad2(g->b, t, acc, "");
  LLVMValueRef next;
  if (in->op == IR_SUM) next = fl ? LLVMBuildFAdd(g->b, cur, val, "") : LLVMBuildAdd(g->b, cur, val, "");
  else {
    LLVMValueRef better = fl ? LLVMBuildFCmp(g->b, in->op == IR_MAX ? LLVMRealOGT : LLVMRealOLT, val, cur, "")
                             : LLVMBuildICmp(g->b, in->op == IR_MAX ? LLVMIntSGT : LLVMIntSLT, val, cur, "");
    next = LLVMBuildSelect(g->b, better, val, cur, "");
  }
  LLVMBuildStore(g->b, next, acc);
  loop_end(g, &Lk, false);
  LLVMValueRef at = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, Lo.iv, inner, ""), Li.iv, "");
  LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, t, acc, ""), LLVMBuildGEP2(g->b, t, g->ptrs[v], &at, 1, ""));
  loop_end(g, &Li, false);
  loop_end(g, &Lo, false);
}

static void emit_call_kernel(Cg *g, IrVal v) {
  const IrInst *in = &g->f->v[v];
  DType dt = in->ty.dt;
  const IrType *xt = in->nargs ? &g->f->v[in->args[0]].ty : &in->ty;
  LLVMValueRef x = in->nargs ? storage_ptr(g, in->args[0]) : NULL, y = g->ptrs[v];
  LLVMValueRef outer, n, inner;
  char name[48];
  if (fused_reduction(in->op) && g->s->st[in->args[0]].kind == SK_FUSED) {
    emit_fused_reduce(g, v);
    return;
  }
  switch (in->op) {
  case IR_SUM: case IR_MAX: case IR_MIN: case IR_LOGSUMEXP: case IR_ARGMAX: case IR_ARGMIN: {
    bool arg = in->op == IR_ARGMAX || in->op == IR_ARGMIN;
    int op = in->op == IR_SUM ? 0 : (in->op == IR_MAX || in->op == IR_ARGMAX) ? 1 : in->op == IR_MIN || in->op == IR_ARGMIN ? 2 : 3;
    split_axis(g, xt, in->axis, &outer, &n, &inner);
    snprintf(name, sizeof name, "dmlrt_%sreduce_%s", arg ? "arg" : "", sfx(g->f->v[in->args[0]].ty.dt));
    LLVMValueRef args[6] = {LLVMConstInt(g->i32, (unsigned)op, 0), x, y, outer, n, inner};
    LLVMTypeRef types[6] = {g->i32, g->ptr, g->ptr, g->i64, g->i64, g->i64};
    call(g, name, g->vd, args, types, 6);
    return;
  }
  case IR_SOFTMAX: case IR_LOG_SOFTMAX: {
    split_axis(g, xt, in->axis, &outer, &n, &inner);
    snprintf(name, sizeof name, "dmlrt_softmax_%s", sfx(dt));
    LLVMValueRef args[6] = {LLVMConstInt(g->i32, in->op == IR_LOG_SOFTMAX, 0), x, y, outer, n, inner};
    LLVMTypeRef types[6] = {g->i32, g->ptr, g->ptr, g->i64, g->i64, g->i64};
    call(g, name, g->vd, args, types, 6);
    return;
  }
  case IR_MATMUL: emit_matmul(g, v); return;
  case IR_RESHAPE: copy_value_to(g, y, in->args[0]); return; /* a reshape that must own its storage */
  case IR_TRANSPOSE: {
    LLVMValueRef m = dim_value(g, xt->dims[xt->rank - 2]), nn = dim_value(g, xt->dims[xt->rank - 1]);
    snprintf(name, sizeof name, "dmlrt_transpose_%s", sfx(dt));
    LLVMValueRef args[5] = {x, y, numel(g, xt, 0, xt->rank - 2), m, nn};
    LLVMTypeRef types[5] = {g->ptr, g->ptr, g->i64, g->i64, g->i64};
    call(g, name, g->vd, args, types, 5);
    return;
  }
  case IR_SUM_TO: {
    /* y's strides seen from x's index space: 0 where y has no axis or size 1 */
    LLVMValueRef xd[MAX_RANK], ys[MAX_RANK], stride = ci64(g, 1);
    for (int i = xt->rank - 1; i >= 0; i--) {
      xd[i] = dim_value(g, xt->dims[i]);
      int k = in->ty.rank - xt->rank + i;
      Dim d = k >= 0 ? in->ty.dims[k] : (Dim){1, NULL};
      ys[i] = (!d.sym && d.size == 1) ? ci64(g, 0) : stride;
      if (k >= 0) stride = LLVMBuildMul(g->b, stride, dim_value(g, d), "");
    }
    snprintf(name, sizeof name, "dmlrt_sum_to_%s", sfx(dt));
    LLVMValueRef args[6] = {x, y, LLVMConstInt(g->i32, (unsigned)xt->rank, 0), i64_array(g, xd, xt->rank),
                            i64_array(g, ys, xt->rank), count_of(g, &in->ty)};
    LLVMTypeRef types[6] = {g->ptr, g->ptr, g->i32, g->ptr, g->ptr, g->i64};
    call(g, name, g->vd, args, types, 6);
    return;
  }
  case IR_INDEX: case IR_UPDATE: {
    const IrType *bt = xt;
    LLVMValueRef dims[MAX_RANK], lo[MAX_RANK], len[MAX_RANK];
    int arg = in->op == IR_UPDATE ? 2 : 1;
    for (int i = 0; i < bt->rank; i++) {
      dims[i] = dim_value(g, bt->dims[i]);
      if (i >= in->naxes) {
        lo[i] = ci64(g, 0);
        len[i] = dims[i];
      } else if (in->axes[i].is_slice) {
        lo[i] = ci64(g, in->axes[i].lo);
        len[i] = in->axes[i].hi < 0 ? dims[i] : ci64(g, in->axes[i].hi - in->axes[i].lo);
      } else { /* a position from an operand: negative counts from the end */
        LLVMValueRef k = LLVMBuildSExt(g->b, load_at(g, in->args[arg++], ci64(g, 0)), g->i64, "");
        LLVMValueRef args[3] = {k, dims[i], where(g, in)};
        LLVMTypeRef types[3] = {g->i64, g->i64, g->ptr};
        check_status(g, call(g, "dmlrt_check_index", g->i32, args, types, 3));
        LLVMValueRef neg = LLVMBuildICmp(g->b, LLVMIntSLT, k, ci64(g, 0), "");
        lo[i] = LLVMBuildSelect(g->b, neg, LLVMBuildAdd(g->b, k, dims[i], ""), k, "");
        len[i] = ci64(g, 1);
      }
    }
    LLVMValueRef esize = ci64(g, (int64_t)dtype_size(dt));
    if (g->s->st[v].kind == SK_VIEW) { /* a block: x from element (lo[0], .., lo[naxes-1], 0, ..) on */
      LLVMValueRef off = ci64(g, 0);
      for (int i = 0; i < bt->rank; i++) off = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, off, dims[i], ""), lo[i], "");
      LLVMBuildStore(g->b, LLVMBuildGEP2(g->b, elem_type(g, dt), x, &off, 1, ""), y);
      return;
    }
    if (in->op == IR_UPDATE && g->s->st[v].kind != SK_IN_PLACE) { /* y = base; then y[box] = value */
      LLVMValueRef bytes = LLVMBuildMul(g->b, count_of(g, bt), esize, "");
      LLVMValueRef cargs[3] = {y, x, bytes};
      LLVMTypeRef ctypes[3] = {g->ptr, g->ptr, g->i64};
      call(g, "memmove", g->ptr, cargs, ctypes, 3);
    }
    LLVMValueRef src = in->op == IR_UPDATE ? storage_ptr(g, in->args[1]) : x;
    LLVMValueRef args[8] = {src, y, esize, LLVMConstInt(g->i32, (unsigned)bt->rank, 0), i64_array(g, dims, bt->rank),
                            i64_array(g, lo, bt->rank), i64_array(g, len, bt->rank), LLVMConstInt(g->i32, in->op == IR_UPDATE, 0)};
    LLVMTypeRef types[8] = {g->ptr, g->ptr, g->i64, g->i32, g->ptr, g->ptr, g->ptr, g->i32};
    call(g, "dmlrt_box_copy", g->vd, args, types, 8);
    return;
  }
  case IR_ONEHOT: case IR_PICK: case IR_CROSS_ENTROPY: {
    const IrType *labels_t = in->op == IR_ONEHOT ? xt : &g->f->v[in->args[1]].ty;
    LLVMValueRef rows = count_of(g, labels_t);
    LLVMValueRef k = in->op == IR_ONEHOT ? dim_value(g, in->ty.dims[in->ty.rank - 1]) : dim_value(g, xt->dims[xt->rank - 1]);
    LLVMValueRef st;
    if (in->op == IR_ONEHOT) {
      snprintf(name, sizeof name, "dmlrt_onehot_%s", sfx(dt));
      LLVMValueRef args[5] = {x, y, rows, k, where(g, in)};
      LLVMTypeRef types[5] = {g->ptr, g->ptr, g->i64, g->i64, g->ptr};
      st = call(g, name, g->i32, args, types, 5);
    } else {
      snprintf(name, sizeof name, "dmlrt_%s_%s", in->op == IR_PICK ? "pick" : "cross_entropy", sfx(dt));
      LLVMValueRef args[6] = {x, storage_ptr(g, in->args[1]), y, rows, k, where(g, in)};
      LLVMTypeRef types[6] = {g->ptr, g->ptr, g->ptr, g->i64, g->i64, g->ptr};
      st = call(g, name, g->i32, args, types, 6);
    }
    check_status(g, st);
    return;
  }
  case IR_MSE: {
    snprintf(name, sizeof name, "dmlrt_mse_%s", sfx(dt));
    LLVMValueRef args[4] = {x, storage_ptr(g, in->args[1]), y, count_of(g, xt)};
    LLVMTypeRef types[4] = {g->ptr, g->ptr, g->ptr, g->i64};
    call(g, name, g->vd, args, types, 4);
    return;
  }
  case IR_L1: case IR_L2: {
    snprintf(name, sizeof name, "dmlrt_norm_%s", sfx(dt));
    LLVMValueRef args[4] = {LLVMConstInt(g->i32, in->op == IR_L1 ? 1 : 2, 0), x, y, count_of(g, xt)};
    LLVMTypeRef types[4] = {g->i32, g->ptr, g->ptr, g->i64};
    call(g, name, g->vd, args, types, 4);
    return;
  }
  case IR_EYE: {
    snprintf(name, sizeof name, "dmlrt_eye_%s", sfx(dt));
    LLVMValueRef args[2] = {y, dim_value(g, in->ty.dims[0])};
    LLVMTypeRef types[2] = {g->ptr, g->i64};
    call(g, name, g->vd, args, types, 2);
    return;
  }
  case IR_CONV2D: case IR_MAXPOOL2D: case IR_AVGPOOL2D:
  case IR_CONV2D_BWD_INPUT: case IR_CONV2D_BWD_WEIGHT: case IR_MAXPOOL2D_BWD: case IR_AVGPOOL2D_BWD:
  case IR_MAXPOOL2D_GATHER: {
    /* the forward shapes: x (input), w (weights, convolutions), y (output) */
    IrVal xv, wv = -1, yv;
    switch (in->op) {
    case IR_CONV2D: xv = in->args[0], wv = in->args[1], yv = v; break;
    case IR_CONV2D_BWD_INPUT: xv = in->args[2], wv = in->args[1], yv = in->args[0]; break;
    case IR_CONV2D_BWD_WEIGHT: xv = in->args[0], wv = in->args[2], yv = in->args[1]; break;
    case IR_MAXPOOL2D_BWD: xv = in->args[0], yv = in->args[1]; break;
    case IR_AVGPOOL2D_BWD: xv = in->args[1], yv = in->args[0]; break;
    default: xv = in->args[0], yv = v; break;
    }
    const IrType *X = &g->f->v[xv].ty, *Y = yv == v ? &in->ty : &g->f->v[yv].ty;
    const IrType *wt = wv >= 0 ? &g->f->v[wv].ty : NULL;
    LLVMValueRef sh[13] = {dim_value(g, X->dims[0]), dim_value(g, X->dims[1]), dim_value(g, X->dims[2]),
                           dim_value(g, X->dims[3]), dim_value(g, Y->dims[1]),
                           wt ? dim_value(g, wt->dims[2]) : ci64(g, in->kernel[0]),
                           wt ? dim_value(g, wt->dims[3]) : ci64(g, in->kernel[1]), dim_value(g, Y->dims[2]),
                           dim_value(g, Y->dims[3]), ci64(g, in->stride[0]), ci64(g, in->stride[1]),
                           ci64(g, in->pad[0]), ci64(g, in->pad[1])};
    LLVMValueRef shape = i64_array(g, sh, 13);
    if (in->op == IR_CONV2D_BWD_INPUT || in->op == IR_CONV2D_BWD_WEIGHT) {
      snprintf(name, sizeof name, "dmlrt_conv2d_backward_%s", sfx(dt));
      LLVMValueRef args[7] = {LLVMConstInt(g->i32, in->op == IR_CONV2D_BWD_INPUT, 0), storage_ptr(g, xv),
                              storage_ptr(g, wv), storage_ptr(g, yv), y, shape, g->scratch};
      LLVMTypeRef types[7] = {g->i32, g->ptr, g->ptr, g->ptr, g->ptr, g->ptr, g->ptr};
      call(g, name, g->vd, args, types, 7);
      return;
    }
    if (in->op == IR_MAXPOOL2D_BWD || in->op == IR_AVGPOOL2D_BWD) {
      snprintf(name, sizeof name, "dmlrt_pool2d_backward_%s", sfx(dt));
      LLVMValueRef args[5] = {LLVMConstInt(g->i32, in->op == IR_MAXPOOL2D_BWD, 0), storage_ptr(g, xv),
                              storage_ptr(g, yv), y, shape};
      LLVMTypeRef types[5] = {g->i32, g->ptr, g->ptr, g->ptr, g->ptr};
      call(g, name, g->vd, args, types, 5);
      return;
    }
    if (in->op == IR_MAXPOOL2D_GATHER) {
      snprintf(name, sizeof name, "dmlrt_pool2d_gather_%s", sfx(dt));
      LLVMValueRef args[4] = {x, storage_ptr(g, in->args[1]), y, shape};
      LLVMTypeRef types[4] = {g->ptr, g->ptr, g->ptr, g->ptr};
      call(g, name, g->vd, args, types, 4);
      return;
    }
    if (in->op == IR_CONV2D) {
      snprintf(name, sizeof name, "dmlrt_conv2d_%s", sfx(dt));
      LLVMValueRef args[5] = {x, storage_ptr(g, in->args[1]), y, shape, g->scratch};
      LLVMTypeRef types[5] = {g->ptr, g->ptr, g->ptr, g->ptr, g->ptr};
      call(g, name, g->vd, args, types, 5);
    } else {
      snprintf(name, sizeof name, "dmlrt_pool2d_%s", sfx(dt));
      LLVMValueRef args[4] = {LLVMConstInt(g->i32, in->op == IR_MAXPOOL2D, 0), x, y, shape};
      LLVMTypeRef types[4] = {g->i32, g->ptr, g->ptr, g->ptr};
      call(g, name, g->vd, args, types, 4);
    }
    return;
  }
  default: break;
  }
  diag_error(g->d, in->span, "internal error: no native code for %s", ir_ops[in->op].name);
}

static bool is_loop_kernel(IrOp op) {
  IrKind k = ir_ops[op].kind;
  return k == K_UNARY || k == K_BINARY || k == K_COMPARE || op == IR_SELECT || op == IR_CONST || op == IR_FILL ||
         op == IR_DIMSIZE || op == IR_BROADCAST;
}

/* ---- loops ------------------------------------------------------------------------------ */

/* An i32 scalar operand (loop bounds) as an i64. */
static LLVMValueRef scalar_i64(Cg *g, IrVal v) {
  Nest n = {.rank = 0};
  n.flat = ci64(g, 0);
  LLVMValueRef x = g->s->st[v].kind == SK_FUSED ? scalar_expr(g, &n, v) : load_at(g, v, n.flat);
  return LLVMBuildSExt(g->b, x, g->i64, "");
}

static void emit_kernels(Cg *g, int from, int to);

/* for i in lo..hi: the carried values live in buffers of their own; the
 * initial values are copied in before, each iteration's yields at its end. */
static void emit_for(Cg *g, int k) {
  IrVal v = g->s->kernels[k];
  const IrInst *in = &g->f->v[v];
  const IrBlock *body = in->body;
  IrVal index = -1, carry[IR_MAX_ARGS] = {0};
  for (int i = 0; i < body->n; i++) {
    const IrInst *b = &g->f->v[body->ids[i]];
    if (b->op == IR_LOOP_INDEX) index = body->ids[i];
    if (b->op == IR_LOOP_CARRY && b->index < IR_MAX_ARGS) carry[b->index] = body->ids[i];
  }
  int ncarry = in->nargs - 2;
  LLVMValueRef lo = scalar_i64(g, in->args[0]), hi = scalar_i64(g, in->args[1]);
  for (int j = 0; j < ncarry; j++) copy_value_to(g, g->ptrs[carry[j]], in->args[2 + j]);
  LLVMValueRef n = LLVMBuildSub(g->b, hi, lo, "");
  n = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, n, ci64(g, 0), ""), ci64(g, 0), n, "");
  Loop L;
  loop_begin(g, &L, n);
  if (index >= 0) LLVMBuildStore(g->b, LLVMBuildTrunc(g->b, LLVMBuildAdd(g->b, lo, L.iv, ""), g->i32, ""), g->ptrs[index]);
  emit_kernels(g, k + 1, k + 1 + g->s->loop_len[v]);
  /* yields that are other carried values first, while those hold this
   * iteration's values (schedule_build refuses chains and swaps) */
  for (int pass = 0; pass < 2; pass++)
    for (int j = 0; j < ncarry; j++) {
      IrVal y = body->yields[j];
      bool from_carry = g->f->v[y].op == IR_LOOP_CARRY;
      bool in_place = g->s->st[y].kind == SK_IN_PLACE; /* already written into carry[j] */
      if (y != carry[j] && !in_place && from_carry == (pass == 0)) copy_value_to(g, g->ptrs[carry[j]], y);
    }
  loop_end(g, &L, false);
}

static void emit_kernels(Cg *g, int from, int to) {
  for (int k = from; k < to; k++) {
    IrVal v = g->s->kernels[k];
    const IrInst *in = &g->f->v[v];
    if (in->op == IR_FOR) {
      emit_for(g, k);
      k += g->s->loop_len[v];
    } else if (in->op == IR_BROADCAST) {
      emit_broadcast_copy(g, v);
    } else if (is_loop_kernel(in->op)) {
      emit_elementwise(g, v);
    } else {
      emit_call_kernel(g, v);
    }
  }
}

/* ---- functions ---------------------------------------------------------------------- */

static LLVMValueRef load_ptr_arg(Cg *g, LLVMValueRef array, int i) {
  LLVMValueRef idx = ci64(g, i);
  return LLVMBuildLoad2(g->b, g->ptr, LLVMBuildGEP2(g->b, g->ptr, array, &idx, 1, ""), "");
}

/* Bytes of each slot: the largest of its values, rounded up to 64. */
static LLVMValueRef *slot_sizes(Cg *g) {
  const Schedule *s = g->s;
  LLVMValueRef *sz = arena_alloc(g->a, sizeof(LLVMValueRef) * (size_t)(s->nslots + 1));
  for (int i = 0; i < s->nslots; i++) sz[i] = ci64(g, 0);
  for (IrVal v = 0; v < g->f->nv; v++) { /* kernels' results, and loops' indices and carried buffers */
    if (s->slot_of_value[v] < 0) continue;
    const IrType *t = &g->f->v[v].ty;
    LLVMValueRef bytes = LLVMBuildMul(g->b, count_of(g, t), ci64(g, (int64_t)dtype_size(t->dt)), "");
    bytes = LLVMBuildAnd(g->b, LLVMBuildAdd(g->b, bytes, ci64(g, 63), ""), ci64(g, ~(int64_t)63), "");
    int slot = s->st[v].index;
    LLVMValueRef bigger = LLVMBuildICmp(g->b, LLVMIntUGT, bytes, sz[slot], "");
    sz[slot] = LLVMBuildSelect(g->b, bigger, bytes, sz[slot], "");
  }
  return sz;
}

/* Bytes of the convolutions' scratch: the largest they need. */
static LLVMValueRef scratch_size(Cg *g) {
  LLVMValueRef most = ci64(g, 0);
  for (IrVal v = 0; v < g->f->nv; v++) {
    IrType t = schedule_conv_scratch(g->f, v);
    if (!t.rank) continue;
    LLVMValueRef n = LLVMBuildMul(g->b, count_of(g, &t), ci64(g, (int64_t)dtype_size(t.dt)), "");
    n = LLVMBuildAnd(g->b, LLVMBuildAdd(g->b, n, ci64(g, 63), ""), ci64(g, ~(int64_t)63), "");
    most = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntUGT, n, most, ""), n, most, "");
  }
  return most;
}

static void load_dims(Cg *g) {
  g->syms = arena_alloc(g->a, sizeof(LLVMValueRef) * (size_t)(g->f->ndim_syms + 1));
  for (int i = 0; i < g->f->ndim_syms; i++) {
    LLVMValueRef idx = ci64(g, i);
    g->syms[i] = LLVMBuildLoad2(g->b, g->i64, LLVMBuildGEP2(g->b, g->i64, g->dims_arg, &idx, 1, ""), g->f->dim_syms[i]);
  }
}

static void emit_workspace_fn(Cg *g, const char *name) {
  LLVMTypeRef params[1] = {g->ptr};
  LLVMTypeRef fty = LLVMFunctionType(g->i64, params, 1, 0);
  char full[160];
  snprintf(full, sizeof full, "%s_workspace", name);
  g->fn = LLVMAddFunction(g->mod, full, fty);
  g->dims_arg = LLVMGetParam(g->fn, 0);
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, g->fn, "entry"));
  load_dims(g);
  LLVMValueRef *sz = slot_sizes(g), total = scratch_size(g);
  for (int i = 0; i < g->s->nslots; i++) total = LLVMBuildAdd(g->b, total, sz[i], "");
  LLVMBuildRet(g->b, total);
}

/* ---- the floating-point environment of an entry point -----------------------------------
 *
 * Subnormal operands make x86 arithmetic many times slower, and long
 * training drifts weights and Adam's moments into them, so an entry point
 * runs with MXCSR set to flush-to-zero and denormals-are-zero, rounding to
 * nearest (which exp_inline's shifter relies on) and every exception
 * masked (vector code computes lanes it then discards); the caller's own
 * MXCSR is put back at every return. Intrinsics, not a runtime helper: a
 * library needs no symbol from the runtime for this. */

enum { MXCSR_ENTRY = 0x8000 /* FTZ */ | 0x1F80 /* exceptions masked */ | 0x0040 /* DAZ */ };

static void mxcsr_intrinsic(Cg *g, const char *name, LLVMValueRef where) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(g->mod, id, NULL, 0);
  LLVMBuildCall2(g->b, LLVMFunctionType(g->vd, &g->ptr, 1, 0), fn, &where, 1, "");
}

static void fp_env_enter(Cg *g) {
  if (!g->ftz) return;
  g->saved_csr = LLVMBuildAlloca(g->b, g->i32, "caller_mxcsr");
  mxcsr_intrinsic(g, "llvm.x86.sse.stmxcsr", g->saved_csr);
  LLVMValueRef ours = LLVMBuildAlloca(g->b, g->i32, "mxcsr");
  LLVMBuildStore(g->b, LLVMConstInt(g->i32, MXCSR_ENTRY, 0), ours);
  mxcsr_intrinsic(g, "llvm.x86.sse.ldmxcsr", ours);
}

static void fp_env_leave(Cg *g) {
  if (g->ftz) mxcsr_intrinsic(g, "llvm.x86.sse.ldmxcsr", g->saved_csr);
}

static void emit_main_fn(Cg *g, const char *name) {
  const IrFunc *f = g->f;
  const Schedule *s = g->s;
  LLVMTypeRef params[5] = {g->ptr, g->ptr, g->ptr, g->ptr, g->ptr};
  LLVMTypeRef fty = LLVMFunctionType(g->i32, params, 5, 0);
  char full[160];
  snprintf(full, sizeof full, "%s", name);
  g->fn = LLVMAddFunction(g->mod, full, fty);
  for (int i = 0; i < 5; i++) LLVMAddAttributeAtIndex(g->fn, (unsigned)i + 1, LLVMCreateEnumAttribute(g->ctx, LLVMGetEnumAttributeKindForName("noalias", 7), 0));
  g->dims_arg = LLVMGetParam(g->fn, 0);
  g->inputs_arg = LLVMGetParam(g->fn, 1);
  g->params_arg = LLVMGetParam(g->fn, 2);
  g->outputs_arg = LLVMGetParam(g->fn, 3);
  g->ws_arg = LLVMGetParam(g->fn, 4);
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, g->fn, "entry"));
  g->fail_bb = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "fail");
  fp_env_enter(g);
  load_dims(g);
  /* storage pointers: caller buffers and workspace slots */
  g->ptrs = arena_alloc(g->a, sizeof(LLVMValueRef) * (size_t)(f->nv + 1));
  LLVMValueRef *sz = slot_sizes(g);
  LLVMValueRef *slot_ptr = arena_alloc(g->a, sizeof(LLVMValueRef) * (size_t)(s->nslots + 1));
  LLVMValueRef off = ci64(g, 0);
  for (int i = 0; i < s->nslots; i++) {
    slot_ptr[i] = LLVMBuildGEP2(g->b, g->i8, g->ws_arg, &off, 1, "slot");
    off = LLVMBuildAdd(g->b, off, sz[i], "");
  }
  g->scratch = LLVMBuildGEP2(g->b, g->i8, g->ws_arg, &off, 1, "scratch");
  for (IrVal v = 0; v < f->nv; v++) {
    const Storage *st = &s->st[v];
    switch (st->kind) {
    case SK_INPUT: g->ptrs[v] = load_ptr_arg(g, g->inputs_arg, st->index); break;
    case SK_PARAM: g->ptrs[v] = load_ptr_arg(g, g->params_arg, st->index); break;
    case SK_OUTPUT: g->ptrs[v] = load_ptr_arg(g, g->outputs_arg, st->index); break;
    case SK_TEMP: g->ptrs[v] = slot_ptr[st->index]; break;
    case SK_IN_PLACE: g->ptrs[v] = slot_ptr[s->st[st->of].index]; break;
    case SK_VIEW:
      if (st->at_offset) g->ptrs[v] = LLVMBuildAlloca(g->b, g->ptr, "block");
      break;
    default: break;
    }
  }
  emit_kernels(g, 0, s->nkernels);
  /* results that are views, inputs, params, constants or repeated */
  for (int i = 0; i < s->ncopies; i++)
    copy_value_to(g, load_ptr_arg(g, g->outputs_arg, s->copy_to[i]), s->copies[i]);
  fp_env_leave(g);
  LLVMBuildRet(g->b, LLVMConstInt(g->i32, 0, 0));
  LLVMPositionBuilderAtEnd(g->b, g->fail_bb);
  fp_env_leave(g);
  LLVMBuildRet(g->b, LLVMConstInt(g->i32, 1, 0));
}

/* ---- module ------------------------------------------------------------------------------ */

/* Loop strength reduction in LLVM 16's backend takes seconds on a
 * function with many loops over one workspace (a differentiated LSTM: 11 s
 * of a 11.4 s build) and gains our simple loops little, so it is off. */
static void set_llvm_options(void) {
  static bool done;
  if (done) return;
  done = true;
  const char *argv[] = {"dmlc", "-disable-lsr"};
  LLVMParseCommandLineOptions(2, argv, NULL);
}

static LLVMTargetMachineRef host_machine(Diags *d, bool pic, int opt, const char *cpu_name) {
  set_llvm_options();
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  char *triple = LLVMGetDefaultTargetTriple();
  LLVMTargetRef target;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(triple, &target, &err)) {
    diag_error(d, (Span){0}, "LLVM has no target for %s: %s", triple, err);
    LLVMDisposeMessage(err);
    LLVMDisposeMessage(triple);
    return NULL;
  }
  /* another CPU gets its own default features, not the host's */
  char *cpu = cpu_name ? LLVMCreateMessage(cpu_name) : LLVMGetHostCPUName();
  char *features = cpu_name ? LLVMCreateMessage("") : LLVMGetHostCPUFeatures();
  LLVMCodeGenOptLevel level = opt <= 0 ? LLVMCodeGenLevelNone : opt == 1 ? LLVMCodeGenLevelLess : opt == 2 ? LLVMCodeGenLevelDefault : LLVMCodeGenLevelAggressive;
  LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features, level,
                                                    pic ? LLVMRelocPIC : LLVMRelocDefault, LLVMCodeModelDefault);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  LLVMDisposeMessage(triple);
  return tm;
}

static LLVMValueRef const_cstring(Cg *g, const char *name, const char *text) {
  LLVMValueRef init = LLVMConstStringInContext(g->ctx, text, (unsigned)strlen(text), 0);
  LLVMValueRef gv = LLVMAddGlobal(g->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, *name ? LLVMExternalLinkage : LLVMPrivateLinkage);
  return gv;
}

/* const char *NAME(void) { return dmlrt_error(); }: the library's own name
 * for the runtime's last message, defined even when no kernel is called. */
static void emit_error_fn(Cg *g, const char *name) {
  LLVMTypeRef fty = LLVMFunctionType(g->ptr, NULL, 0, 0);
  LLVMValueRef fn = LLVMAddFunction(g->mod, name, fty);
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
  LLVMTypeRef rty;
  LLVMValueRef rt = extern_fn(g, "dmlrt_error", g->ptr, NULL, 0, &rty);
  LLVMBuildRet(g->b, LLVMBuildCall2(g->b, rty, rt, NULL, 0, ""));
}

/* What an executable's runtime (runtime/main.c) finds by fixed names: the
 * model description `dml_model_spec` (JSON) and the table
 * `dml_model_entries` of {short name, entry point, workspace size}, ended
 * by a null row. */
static void emit_model_globals(Cg *g, const CgUnit *units, int nunits, const char *spec) {
  const_cstring(g, "dml_model_spec", spec);
  LLVMTypeRef row_ty = LLVMStructTypeInContext(g->ctx, (LLVMTypeRef[]){g->ptr, g->ptr, g->ptr}, 3, 0);
  LLVMValueRef *rows = arena_alloc(g->a, sizeof *rows * (size_t)(nunits + 1));
  for (int i = 0; i < nunits; i++) {
    LLVMValueRef fields[3] = {const_cstring(g, "", units[i].f->name), LLVMGetNamedFunction(g->mod, units[i].name),
                              LLVMGetNamedFunction(g->mod, arena_printf(g->a, "%s_workspace", units[i].name))};
    rows[i] = LLVMConstStructInContext(g->ctx, fields, 3, 0);
  }
  LLVMValueRef null = LLVMConstNull(g->ptr);
  rows[nunits] = LLVMConstStructInContext(g->ctx, (LLVMValueRef[]){null, null, null}, 3, 0);
  LLVMValueRef init = LLVMConstArray(row_ty, rows, (unsigned)nunits + 1);
  LLVMValueRef gv = LLVMAddGlobal(g->mod, LLVMTypeOf(init), "dml_model_entries");
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
}

/* LLVM reports through the context: an error becomes ours (an internal
 * one: nothing in a checked program should make LLVM fail); its warnings
 * and remarks are about LLVM's work, not the user's program (a loop we
 * asked to vectorise that it could not, with no source location), so
 * they are dropped rather than printed as `warning: <unknown>:0:0`. */
static void on_llvm_diagnostic(LLVMDiagnosticInfoRef info, void *diags) {
  if (LLVMGetDiagInfoSeverity(info) != LLVMDSError) return;
  char *text = LLVMGetDiagInfoDescription(info);
  diag_error(diags, (Span){0}, "internal error: LLVM: %.400s", text);
  LLVMDisposeMessage(text);
}

bool cg_compile(const CgUnit *units, int nunits, const CgOptions *opt, Arena *a, Diags *d) {
  int errors = d->nerrors;
  LLVMTargetMachineRef tm = host_machine(d, opt->pic, opt->opt_level, opt->cpu);
  if (!tm) return false;
  Cg g = {.a = a, .d = d};
  g.ctx = LLVMContextCreate();
  LLVMContextSetDiagnosticHandler(g.ctx, on_llvm_diagnostic, d);
  g.mod = LLVMModuleCreateWithNameInContext(opt->module_name, g.ctx);
  g.b = LLVMCreateBuilderInContext(g.ctx);
  g.i1 = LLVMInt1TypeInContext(g.ctx);
  g.i8 = LLVMInt8TypeInContext(g.ctx);
  g.i32 = LLVMInt32TypeInContext(g.ctx);
  g.i64 = LLVMInt64TypeInContext(g.ctx);
  g.f32 = LLVMFloatTypeInContext(g.ctx);
  g.f64 = LLVMDoubleTypeInContext(g.ctx);
  g.ptr = LLVMPointerTypeInContext(g.ctx, 0);
  g.vd = LLVMVoidTypeInContext(g.ctx);
  g.loop_md_vectorize = vectorize_md(&g);
  char *triple = LLVMGetTargetMachineTriple(tm);
  g.ftz = !opt->keep_subnormals && strncmp(triple, "x86_64", 6) == 0;
  LLVMSetTarget(g.mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(g.mod, layout);
  for (int i = 0; i < nunits; i++) {
    g.f = units[i].f;
    g.s = units[i].s;
    emit_main_fn(&g, units[i].name);
    emit_workspace_fn(&g, units[i].name);
  }
  if (opt->model_spec) emit_model_globals(&g, units, nunits, opt->model_spec);
  if (opt->error_fn) emit_error_fn(&g, opt->error_fn);
  bool ok = d->nerrors == errors;
  char *msg = NULL;
  if (ok && LLVMVerifyModule(g.mod, LLVMReturnStatusAction, &msg)) {
    diag_error(d, (Span){0}, "internal error: the generated LLVM module does not verify: %.400s", msg);
    ok = false;
  }
  if (msg) LLVMDisposeMessage(msg);
  if (ok && opt->opt_level > 0) {
    char passes[32];
    snprintf(passes, sizeof passes, "default<O%d>", opt->opt_level > 3 ? 3 : opt->opt_level);
    LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(po, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(po, 1);
    LLVMErrorRef e = LLVMRunPasses(g.mod, passes, tm, po);
    LLVMDisposePassBuilderOptions(po);
    if (e) {
      char *m = LLVMGetErrorMessage(e);
      diag_error(d, (Span){0}, "internal error: LLVM passes failed: %s", m);
      LLVMDisposeErrorMessage(m);
      ok = false;
    }
  }
  ok &= d->nerrors == errors; /* an error LLVM reported during its passes */
  if (ok) {
    char *err = NULL;
    if (opt->emit == CG_EMIT_LLVM) {
      char *text = LLVMPrintModuleToString(g.mod);
      fputs(text, opt->text_out ? opt->text_out : stdout);
      LLVMDisposeMessage(text);
    } else if (LLVMTargetMachineEmitToFile(tm, g.mod, (char *)opt->output,
                                           opt->emit == CG_EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile, &err)) {
      diag_error(d, (Span){0}, "cannot write %s: %s", opt->output, err);
      LLVMDisposeMessage(err);
      ok = false;
    }
  }
  ok &= d->nerrors == errors;
  LLVMDisposeTargetData(layout);
  LLVMDisposeBuilder(g.b);
  LLVMDisposeModule(g.mod);
  LLVMContextDispose(g.ctx);
  LLVMDisposeTargetMachine(tm);
  return ok;
}
