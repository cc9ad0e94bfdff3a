#!/usr/bin/python3
"""PyTorch twins of bench/models/cnn28.dml and rnn50.dml (issue #6), timed
like `EXE bench` and like bench/torch_mlp.py.

A training step is the idiomatic PyTorch loop body:

    opt.zero_grad(); loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()

on one fixed batch of synthetic data (inputs ~ N(0, 1), labels uniform over
the 10 classes). Protocol as in torch_mlp.py: one warm-up round of STEPS
steps, then ROUNDS timed rounds; the best round (ms per step) is reported,
with the mean.

Models:
  cnn28       1x28x28 -> Conv2d(1, 8, 3) (no padding, 8x26x26) -> relu
              -> max_pool2d(2) (8x13x13) -> flatten (1352) -> Linear(1352, 10),
              cross entropy, SGD lr 0.01                 (bench/models/cnn28.dml)
  rnn50       nn.RNN(32, 128, batch_first=True, nonlinearity='tanh') over
              T = 50, last hidden state -> Linear(128, 10), cross entropy,
              SGD lr 0.01                                (bench/models/rnn50.dml)
  rnn50_loop  the same model written by hand: a Python loop over t of
              h = tanh(Wx(x[:, t]) + Wh(h)) with two nn.Linear layers (one
              bias, as the .dml file has one bh), then Linear(128, 10)

Initialisation as in the .dml files (kaiming-normal (he) convolution
filters, Glorot-uniform matrices, zero biases), from torch's generator: the
values differ from dmlc's; the timing does not depend on them. nn.RNN has
two bias vectors (b_ih, b_hh) where the .dml file has one; both are zero
and trained (160 extra floats).

Output: one line of `key=value` pairs for bench/train_step.sh, e.g.
  model=cnn28 batch=64 tuned=0 best_ms=2.1 mean_ms=2.3 threads=1 maxrss_mb=240.1 torch=1.13.1
maxrss_mb is resource.getrusage(RUSAGE_SELF).ru_maxrss of this process after
the runs (it includes the Python interpreter and the torch library).
"""

import argparse
import os
import resource
import sys

# Threads must be limited before torch (and its BLAS) start up.
for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from torch_mlp import time_steps  # noqa: E402  (the same timing protocol)

T, D, H, CLASSES = 50, 32, 128, 10


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)  # no padding: 28x28 -> 26x26
        self.fc = nn.Linear(8 * 13 * 13, CLASSES)
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.conv.bias)
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        return self.fc(torch.flatten(F.max_pool2d(F.relu(self.conv(x)), 2), 1))


class RNN(nn.Module):
    """nn.RNN (one layer, tanh) and a dense layer on the last hidden state."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(D, H, batch_first=True, nonlinearity="tanh")
        self.fc = nn.Linear(H, CLASSES)
        nn.init.xavier_uniform_(self.rnn.weight_ih_l0)
        nn.init.xavier_uniform_(self.rnn.weight_hh_l0)
        nn.init.zeros_(self.rnn.bias_ih_l0)
        nn.init.zeros_(self.rnn.bias_hh_l0)
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, xs):
        _, h = self.rnn(xs)  # h: [1, n, H], the last hidden state
        return self.fc(h[0])


class RNNLoop(nn.Module):
    """The same RNN as a hand-written loop over time steps."""

    def __init__(self):
        super().__init__()
        self.wx = nn.Linear(D, H)  # carries the one bias bh
        self.wh = nn.Linear(H, H, bias=False)
        self.fc = nn.Linear(H, CLASSES)
        for lin in (self.wx, self.wh, self.fc):
            nn.init.xavier_uniform_(lin.weight)
        nn.init.zeros_(self.wx.bias)
        nn.init.zeros_(self.fc.bias)

    def forward(self, xs):
        h = xs.new_zeros(xs.shape[0], H)
        for t in range(xs.shape[1]):
            h = torch.tanh(self.wx(xs[:, t]) + self.wh(h))
        return self.fc(h)


MODELS = {"cnn28": (CNN, (1, 28, 28)), "rnn50": (RNN, (T, D)), "rnn50_loop": (RNNLoop, (T, D))}


def bench(name, batch, steps, rounds, seed, tuned=False):
    torch.manual_seed(seed)
    cls, in_shape = MODELS[name]
    model = cls()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, **({"foreach": True} if tuned else {}))
    x = torch.randn(batch, *in_shape)
    y = torch.randint(0, CLASSES, (batch,))

    def step():
        opt.zero_grad(set_to_none=tuned)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return time_steps(step, steps, rounds, "torch_cnn_rnn.py")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
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
