#!/usr/bin/env python
"""Step time (forward + backward + update) with online NG-SGD vs plain SGD, on the Kaldi-sized p-norm network of bench_core.py
"Reference points for speed": 360 -> 4 x [affine 2000 -> p-norm 200 (groups of 10) -> normalize] -> affine
3000 -> softmax, float32, CPU, using the _core kernels directly.

Usage: PYTHONPATH=python python tools/bench_ngd.py [--minibatch 128 1024] [--threads 1 2] [--steps 20]
NG-SGD settings are those of the pnorm scripts: rank-in 20, rank-out 80, update-period 4, S=2000, alpha=4,
max-change-per-sample 0.075.
"""
import argparse
import json
import time

from nnet2 import _core
from nnet2.nnet.ngd_config import KALDI_SCRIPTS
import numpy as np  # noqa: E402  (after nnet2, which sets OpenBLAS's thread timeout before any OpenBLAS loads)

DIMS = [(360, 2000)] + [(200, 2000)] * 3 + [(200, 3000)]


class Net:
    """Parameters and activations for one minibatch size N."""

    def __init__(self, N, ngd, rng):
        self.W = [(rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32) for i, o in DIMS]
        self.b = [np.zeros(o, np.float32) for _, o in DIMS]
        self.ngd = ngd
        if ngd:
            g = KALDI_SCRIPTS  # what Kaldi's p-norm scripts pass
            self.pre = [tuple(_core.OnlineNaturalGradient(rank=r, update_period=g.update_period,
                                                          num_samples_history=g.num_samples_history, alpha=g.alpha)
                              for r in (g.rank_in, g.rank_out)) for _ in DIMS]
        f = np.float32
        self.x = [np.empty((N, i), f) for i, _ in DIMS]           # input of each affine
        self.z = [np.empty((N, o), f) for _, o in DIMS]           # affine outputs
        self.p = [np.empty((N, 200), f) for _ in range(4)]        # p-norm outputs
        self.dz = [np.empty((N, o), f) for _, o in DIMS]
        self.dn = [np.empty((N, 200), f) for _ in range(4)]       # d(normalize output)
        self.dp = [np.empty((N, 200), f) for _ in range(4)]
        self.y = np.empty((N, 3000), f)

    def step(self, feats, labels, lr=1e-3):
        x = self.x
        x[0][...] = feats
        for k in range(4):
            _core.affine_forward(x[k], self.W[k], self.b[k], self.z[k])
            _core.pnorm_forward(self.z[k], 2.0, self.p[k])
            _core.normalize_forward(self.p[k], x[k + 1])
        _core.affine_forward(x[4], self.W[4], self.b[4], self.z[4])
        objf, _ = _core.softmax_cross_entropy(self.z[4], labels, self.y, self.dz[4])
        for k in range(4, -1, -1):
            if k > 0:  # derivative w.r.t. the input uses the old W (as Kaldi does)
                _core.affine_backward(self.dz[k], self.W[k], self.dn[k - 1])
            if self.ngd:
                _core.affine_update_ngd(x[k], self.dz[k], lr, self.W[k], self.b[k], *self.pre[k], 0.075)
            else:
                _core.affine_update(x[k], self.dz[k], lr, self.W[k], self.b[k])
            if k > 0:
                _core.normalize_backward(self.p[k - 1], self.dn[k - 1], self.dp[k - 1])
                _core.pnorm_backward(self.z[k - 1], self.p[k - 1], self.dp[k - 1], 2.0, self.dz[k - 1])
        return objf


def time_steps(N, ngd, steps, rng):
    net = Net(N, ngd, rng)
    feats = rng.standard_normal((N, 360)).astype(np.float32)
    labels = rng.integers(0, 3000, N).astype(np.int32)
    # Warm-up past the NG-SGD init and its first 10 updates (which ignore update_period): steady state only.
    for _ in range(12):
        net.step(feats, labels)
    best = float("inf")
    for _ in range(3):  # best of 3 repeats of `steps` steps: robust to noise from other processes
        t0 = time.perf_counter()
        for _ in range(steps):
            net.step(feats, labels)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minibatch", type=int, nargs="+", default=[128, 1024])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    rows = []
    rng = np.random.default_rng(0)
    print(f"{'threads':>7} {'N':>5} {'sgd fr/s':>10} {'ngd fr/s':>10} {'overhead':>9}")
    for th in args.threads:
        _core.set_num_threads(th)
        for N in args.minibatch:
            steps = max(4, args.steps * 128 // N)  # a multiple of update_period
            t_sgd = time_steps(N, False, steps, rng)
            t_ngd = time_steps(N, True, steps, rng)
            print(f"{th:>7} {N:>5} {N / t_sgd:>10.0f} {N / t_ngd:>10.0f} {100 * (t_ngd / t_sgd - 1):>8.1f}%")
            rows.append(dict(threads=th, minibatch=N, sgd=N / t_sgd, ngd=N / t_ngd, overhead=t_ngd / t_sgd - 1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
