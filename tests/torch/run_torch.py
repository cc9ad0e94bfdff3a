#!/usr/bin/env python3
"""run_torch.py - one model's loss, gradient and Hessian-vector product from
dmlc against PyTorch autograd, in f64.

Input:  the dmlc executable, the source tree, a model name (models.py).
Output: one line per compared tensor and exit 0 when all agree; a line
        naming the param, its worst element and both values, and exit 1,
        when one does not; exit 77 (ctest's SKIP_RETURN_CODE) with
        "SKIP: python3-torch not installed" when torch cannot be imported.

The one idea: both sides see the same numbers. The params, the inputs
and the direction v are drawn here (numpy, fixed seed) and given to the
library `dmlc build --lib --dtype f64` made (through ctypes, dmlc_lib.py)
and to the same model written in PyTorch (models.py); dmlc's loss,
loss_grad, loss_hvp and the program's functions are compared with
PyTorch's values, torch.autograd.grad, and the gradient of v . grad
(double backward). A tensor agrees when its worst absolute difference is
at most TOL times the largest magnitude PyTorch gives in that tensor (or,
for a tensor that is nearly zero, in that output: gradient or H v).
"""
import os
import sys
import tempfile

TOL = 1e-10
SKIP = 77


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: run_torch.py DMLC TOP MODEL")
    dmlc, top, name = sys.argv[1:]
    try:
        import numpy as np
        import torch
    except ImportError:
        print("SKIP: python3-torch not installed (%s has no torch)" % sys.executable)
        return SKIP
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dmlc_lib
    from models import MODELS
    torch.set_default_dtype(torch.float64)
    if name not in MODELS:
        print("FAIL: no PyTorch version of %s in tests/torch/models.py: every example and every "
              "model of tests/torch/models needs one" % name)
        return 1
    m = MODELS[name]
    source = os.path.join(top, "examples", m.source)
    if not os.path.exists(source):
        source = os.path.join(top, "tests", "torch", "models", m.source)
    rng = np.random.default_rng(20240613)
    with tempfile.TemporaryDirectory(prefix="dmlc-torch-") as tmp:
        lib = dmlc_lib.Model(dmlc, source, tmp, name)
        params = {}
        for pname, dtype, shape in lib.params:
            if dtype != "f64":
                raise SystemExit("FAIL: param %s is %s in a --dtype f64 build" % (pname, dtype))
            fixed = m.fixed.get(pname)
            params[pname] = (np.full(shape, fixed) if fixed is not None
                             else m.scale * rng.standard_normal(shape))
        n = m.sizes
        inputs = m.inputs(rng, n.get("n", 1))
        v = {k: rng.standard_normal(a.shape) for k, a in params.items()}
        return compare(np, torch, lib, m, params, inputs, v, n)


def worst(np, got, want, scale):
    """(relative error, index, dmlc's value, torch's value) of one tensor."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf"), (), got, want
    if not np.all(np.isfinite(got)):
        i = np.unravel_index(np.argmax(~np.isfinite(got)), got.shape) if got.ndim else ()
        return float("inf"), i, got[i], want[i]
    diff = np.abs(got - want)
    i = np.unravel_index(np.argmax(diff), diff.shape) if diff.ndim else ()
    denom = max(float(np.max(np.abs(want))) if want.size else 0.0, scale, 1e-300)
    return float(diff[i]) / denom, i, got[i], want[i]


def compare(np, torch, lib, m, params, inputs, v, sizes):
    names = [p for p, _, _ in lib.params]
    pvals = [params[p] for p in names]
    tp = {k: torch.tensor(a, requires_grad=True) for k, a in params.items()}
    tx = {k: torch.tensor(a) for k, a in inputs.items()}
    failures = []

    def check(what, got, want, scale=0.0):
        err, i, a, b = worst(np, got, want, scale)
        at = "[%s]" % ", ".join(str(int(k)) for k in i) if i != () else ""
        ok = err <= TOL
        print("%-4s %-24s relative error %.1e%s" % ("ok" if ok else "FAIL", what, err,
                                                 "" if ok else "  worst %s%s: dmlc %.17g, torch %.17g"
                                                 % (what.split()[-1], at, float(a), float(b))))
        if not ok:
            failures.append(what)

    def ordered(entry):
        return [inputs[t.name] for t in lib.entries[entry].inputs]

    # the loss
    loss = m.loss(tp, tx)
    check("loss", lib.call("loss", sizes, ordered("loss"), pvals)[0], loss.item())
    # the gradient
    grads = torch.autograd.grad(loss, [tp[k] for k in names], create_graph=True)
    out = lib.call("loss_grad", sizes, ordered("loss"), pvals)
    check("loss_grad loss", out[0], loss.item())
    gscale = 1e-6 * max(float(g.abs().max()) for g in grads)
    for k, g, d in zip(names, grads, out[1:]):
        check("gradient %s" % k, d, g.detach().numpy(), gscale)
    # H v: the gradient of v . grad
    dot = sum(torch.sum(g * torch.tensor(v[k])) for k, g in zip(names, grads))
    hv = torch.autograd.grad(dot, [tp[k] for k in names], allow_unused=True)
    hv = [torch.zeros_like(tp[k]) if h is None else h for k, h in zip(names, hv)]
    hin = dict(inputs, **{"v_" + k: v[k] for k in names})
    hout = lib.call("loss_hvp", sizes, [hin[t.name] for t in lib.entries["loss_hvp"].inputs], pvals)
    hscale = 1e-6 * max(float(h.abs().max()) for h in hv)
    for k, h, d in zip(names, hv, hout):
        check("hvp %s" % k, d, h.detach().numpy(), hscale)
    # the program's functions, by value
    for fn, f in m.fns.items():
        want = f(tp, tx).detach().numpy()
        check("fn %s" % fn, lib.call(fn, sizes, ordered(fn), pvals)[0], want)
    if failures:
        print("FAIL: %d of the values above differ from PyTorch's by more than %g (relative)"
              % (len(failures), TOL))
        return 1
    print("all values agree with PyTorch autograd (f64, relative error at most %g)" % TOL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
