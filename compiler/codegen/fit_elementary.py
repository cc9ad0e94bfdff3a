#!/usr/bin/env python3
"""The polynomial coefficients of the vectorised exp and tanh in llvm.c.

Not run by the build: it prints the C arrays pasted into llvm.c, so that
the numbers there can be checked and refitted. Needs python3-mpmath.

exp:  e^r = 1 + r + r^2 P(r) on |r| <= ln2/2 (widened by 1% for the
      rounding of k = round(x / ln2) in f32), so P(r) = (e^r - 1 - r) / r^2.
tanh: tanh(x) = x + x^3 Q(x^2) for |x| < 1/2, so Q(u) = (tanh(t) - t) / t^3
      with t = sqrt(u), u in [0, 1/4].
Each is a Chebyshev fit (mpmath.chebyfit: near-minimax) in 50 digits; the
printed error is the fit's, before the coefficients are rounded."""
import mpmath as mp

mp.mp.dps = 50


def exp_tail(r):
    if abs(r) < mp.mpf("1e-20"):
        return mp.mpf(1) / 2 + r / 6
    return (mp.exp(r) - 1 - r) / r**2


def tanh_tail(u):
    if u < mp.mpf("1e-30"):
        return mp.mpf(-1) / 3 + 2 * u / 15
    t = mp.sqrt(u)
    return (mp.tanh(t) - t) / t**3


def show(name, f, interval, degree):
    coeffs, err = mp.chebyfit(f, interval, degree + 1, error=True)
    print("/* %s: degree %d, fit error %s */" % (name, degree, mp.nstr(err, 3)))
    # chebyfit gives the highest power first, as Horner's rule wants
    print("static const double %s[] = {%s};" % (name, ", ".join(mp.nstr(c, 20) for c in coeffs)))


R = mp.log(2) / 2 * mp.mpf("1.01")
show("exp_tail_f32", exp_tail, [-R, R], 5)
show("exp_tail_f64", exp_tail, [-R, R], 10)
show("tanh_tail_f32", tanh_tail, [0, mp.mpf(1) / 4], 4)
show("tanh_tail_f64", tanh_tail, [0, mp.mpf(1) / 4], 9)
ln2 = mp.log(2)
for name, bits in (("f32", 16), ("f64", 32)):
    hi = mp.nint(ln2 * 2**bits) / 2**bits
    print("/* ln2 = hi + lo, %s: hi has %d bits */ %s, %s" % (name, bits, mp.nstr(hi, 25), mp.nstr(ln2 - hi, 25)))
