/* fp_env - the floating-point environment of --lib entry points.
 *
 * An entry point runs with flush-to-zero and denormals-are-zero, rounding
 * to nearest and every exception masked, and gives the caller back its own
 * MXCSR on every return (docs/codegen.md, "The floating-point
 * environment"). The caller here sets an MXCSR of its own (round toward
 * zero, invalid, divide-by-zero and overflow unmasked, the precision flag
 * raised) and checks, after each call, that MXCSR is exactly that again,
 * and that what the call computed shows the entry point's environment:
 * a subnormal input read as 0, a subnormal result flushed to 0, a sum
 * rounded to nearest, exp overflowing to inf and exp(NaN) without a trap.
 * The error path (an index out of range) restores MXCSR too. Last, the
 * caller's own arithmetic still has its subnormals. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xmmintrin.h>
#include "fp_env.h"

static _Alignas(64) char ws[4096];
static int failures;

static void check(int ok, const char *what) {
  if (!ok) {
    printf("FAIL: %s\n", what);
    failures++;
  }
}

/* MXCSR of the caller: round toward zero (bits 13-14), invalid (bit 7),
 * divide-by-zero (9) and overflow (10) unmasked, the other masks set, the
 * precision flag (bit 5) raised */
enum { CALLER_CSR = 0x6000 | 0x1000 | 0x0800 | 0x0100 | 0x0020 };

typedef int32_t (*Entry)(const int64_t *, void *const *, void *const *, void *const *, void *);

/* fn(x, scalar) with the caller's MXCSR set around the call; returns the status */
static int call(Entry fn, float *x, int64_t n, void *scalar, float *out, unsigned *csr_after) {
  int64_t dims[1] = {n};
  void *inputs[2] = {x, scalar}, *outputs[1] = {out};
  unsigned saved = _mm_getcsr();
  _mm_setcsr(CALLER_CSR);
  int status = fn(dims, inputs, NULL, outputs, ws);
  *csr_after = _mm_getcsr();
  _mm_setcsr(saved);
  return status;
}

int main(void) {
  unsigned csr;
  float x[2], out[2], s;

  x[0] = 1e-40f; /* subnormal: read as 0 */
  x[1] = 1e-20f;
  s = 1e10f;
  check(call(fp_env_scale, x, 2, &s, out, &csr) == 0, "scale ran");
  check(csr == CALLER_CSR, "MXCSR is the caller's after scale");
  check(out[0] == 0 && out[1] == x[1] * s, "scale: 1e-40 * 1e10 is 0 (denormals are zero), 1e-20 * 1e10 is not");
  s = 1e-20f;
  check(call(fp_env_scale, x, 2, &s, out, &csr) == 0 && csr == CALLER_CSR, "scale ran, MXCSR restored");
  check(out[1] == 0, "scale: 1e-20 * 1e-20 = 1e-40 is flushed to 0");

  x[0] = 1;
  x[1] = -1;
  s = 0x1.8p-24f; /* 1 + 1.5 ulp/2: to nearest 1 + 2^-23; toward zero 1 */
  check(call(fp_env_shift, x, 2, &s, out, &csr) == 0 && csr == CALLER_CSR, "shift ran, MXCSR restored");
  check(out[0] == 1 + 0x1p-23f, "shift: 1 + 1.5 * 2^-24 rounds to nearest, not toward zero");

  x[0] = 100;  /* overflows: the caller unmasked overflow, the entry point must not trap */
  x[1] = NAN;  /* ordered comparisons of NaN raise invalid */
  check(call(fp_env_expo, x, 2, NULL, out, &csr) == 0 && csr == CALLER_CSR, "expo ran, MXCSR restored");
  check(isinf(out[0]) && out[0] > 0 && isnan(out[1]), "exp(100) = inf, exp(NaN) = NaN");
  x[0] = -100; /* e^-100 = 3.7e-44 is subnormal: flushed */
  x[1] = 1;
  check(call(fp_env_expo, x, 2, NULL, out, &csr) == 0 && csr == CALLER_CSR, "expo ran, MXCSR restored");
  check(out[0] == 0 && out[1] == 2.71828183f, "exp(-100) flushed to 0, exp(1) = e");

  int32_t k = 7; /* out of range: the error return restores MXCSR too */
  check(call(fp_env_element, x, 2, &k, out, &csr) == 1, "element 7 of 2 fails");
  check(csr == CALLER_CSR, "MXCSR is the caller's after an error");

  volatile float a = 1e-20f; /* the caller's own arithmetic keeps its subnormals */
  check(a * a != 0, "the caller's 1e-20 * 1e-20 is not flushed");

  if (!failures) printf("fp_env: entry points flush subnormals, round to nearest, mask exceptions and restore MXCSR\n");
  return failures != 0;
}
