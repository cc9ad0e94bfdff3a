#!/usr/bin/python3
"""PyTorch twins of the models in bench/models/, timed like `EXE bench`.

A training step is the idiomatic PyTorch loop body:

    opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step()

on one fixed batch of synthetic data (inputs ~ N(0, 1), labels uniform over
the classes), as the dmlc executable's `bench` command does. The protocol is
the same as dmlc's: one warm-up round of STEPS steps, then five timed rounds
of STEPS steps; the best round (ms per step) is reported, with the mean.

Models:
  mlp784  784-128-10, relu, cross entropy, SGD lr 0.01      (bench/models/mlp784.dml)
  digits  64-64-10, relu, x / 16 inside predict, cross entropy
          + 1e-4 * (sum W1^2 + sum W2^2), Adam lr 3e-3       (bench/models/mlp_digits.dml,
                                                             i.e. examples/mlp_digits.dml)

Weights are Glorot-uniform with zero biases, as in the .dml files, but drawn
from torch's generator: the values differ from dmlc's (the timing does not
depend on them).

Output: one line, `key=value` pairs separated by spaces, for the driver
(bench/train_step.sh), e.g.
  model=mlp784 batch=64 best_ms=0.41 mean_ms=0.45 threads=1 maxrss_mb=180.2 torch=1.13.1
maxrss_mb is resource.getrusage(RUSAGE_SELF).ru_maxrss of this process after
the runs (it includes the Python interpreter and the torch library).
"""

import argparse
import os
import resource
import sys
import time

# Threads must be limited before torch (and its BLAS) start up.
_THREADS = "1"
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, _THREADS)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class MLP(nn.Module):
    """Two dense layers with relu; `scale` multiplies the input first."""

    def __init__(self, n_in, n_hidden, n_out, scale=None):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.scale = scale
        for fc in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)

    def forward(self, x):
        if self.scale is not None:
            x = x / self.scale
        return self.fc2(F.relu(self.fc1(x)))


def make(name, foreach=False):
    """(model, loss function of (model, scores, labels), optimizer, n_in, n_classes).
    foreach=True asks the optimizer for its multi-tensor implementation (on the
    CPU, torch 1.13 uses the per-tensor loop unless asked)."""
    fe = {"foreach": True} if foreach else {}
    if name == "mlp784":
        model = MLP(784, 128, 10)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, **fe)

        def loss_fn(m, z, y):
            return F.cross_entropy(z, y)

        return model, loss_fn, opt, 784, 10
    if name == "digits":
        model = MLP(64, 64, 10, scale=16.0)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3, **fe)

        def loss_fn(m, z, y):
            # l2(W1, W2) in dmlc is the plain sum of squares of both weights
            return F.cross_entropy(z, y) + 1e-4 * (m.fc1.weight.pow(2).sum() + m.fc2.weight.pow(2).sum())

        return model, loss_fn, opt, 64, 10
    raise SystemExit(f"torch_mlp.py: unknown model `{name}` (models: mlp784, digits)")


def time_steps(step, steps, rounds, script):
    """Best and mean seconds per call of step() over `rounds` rounds of
    `steps` calls after one warm-up round, and the final loss."""
    times = []
    for rnd in range(-1, rounds):  # one warm-up round, then `rounds` timed ones
        t = time.perf_counter()
        for _ in range(steps):
            step()
        dt = (time.perf_counter() - t) / steps
        if rnd >= 0:
            times.append(dt)
    loss = float(step().detach())
    if loss != loss:
        raise SystemExit(f"{script}: the loss became NaN")
    return min(times), sum(times) / len(times), loss


def bench(name, batch, steps, rounds, seed, tuned=False):
    torch.manual_seed(seed)
    model, loss_fn, opt, n_in, n_classes = make(name, foreach=tuned)
    x = torch.randn(batch, n_in)
    y = torch.randint(0, n_classes, (batch,))

    def step():
        opt.zero_grad(set_to_none=tuned)
        loss = loss_fn(model, model(x), y)
        loss.backward()
        opt.step()
        return loss

    return time_steps(step, steps, rounds, "torch_mlp.py")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, choices=["mlp784", "digits"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tuned", action="store_true",
                    help="the optimizer's foreach (multi-tensor) update and zero_grad(set_to_none=True)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    best, mean, _ = bench(a.model, a.batch, a.steps, a.rounds, a.seed, a.tuned)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    print(f"model={a.model} batch={a.batch} tuned={int(a.tuned)} best_ms={best * 1e3:.6f} mean_ms={mean * 1e3:.6f} "
          f"threads={torch.get_num_threads()} maxrss_mb={rss_mb:.1f} torch={torch.__version__}")


if __name__ == "__main__":
    main(sys.argv[1:])
