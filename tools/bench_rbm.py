"""CD-1 throughput of the core (frames/s and GFLOP/s) beside the sgemm ceiling measured in the same run.

    PYTHONPATH=python python tools/bench_rbm.py [--threads 1 2] [--seconds 2]

Layers: 440 -> 2048 Gaussian-Bernoulli and 2048 -> 2048 Bernoulli-Bernoulli, minibatch 100 (nnet1) and
1024. A CD-1 step is 5 GEMMs of 2*N*V*H flops (up, down, up again, two for the weight statistics).
"""

from __future__ import annotations

import argparse
import json
import time

from nnet2 import _core
import numpy as np  # noqa: E402  (after nnet2, which sets OpenBLAS's thread timeout before any OpenBLAS loads)


def timeit(fn, seconds: float) -> float:
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return dt / n


def sgemm_gflops(seconds: float) -> float:
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    W = a.copy()
    b = np.zeros(2048, np.float32)
    y = np.empty_like(a)
    dt = timeit(lambda: _core.affine_forward(a, W, b, y), seconds)  # y = a W^T + b through nnet2::Gemm
    return 2 * 2048**3 / dt / 1e9


def cd1(V: int, H: int, N: int, gaussian: bool, seconds: float) -> tuple[float, float]:
    rng = np.random.default_rng(1)
    v = rng.standard_normal((N, V)).astype(np.float32)
    if not gaussian:
        v = (v > 0).astype(np.float32)
    W = (0.01 * rng.standard_normal((H, V))).astype(np.float32)
    bv, bh = np.zeros(V, np.float32), np.zeros(H, np.float32)
    dW, dbv, dbh = np.zeros_like(W), np.zeros_like(bv), np.zeros_like(bh)
    ws = (np.empty((N, H), np.float32), np.empty((N, V), np.float32), np.empty((N, H), np.float32))
    k = [0]

    def step():
        _core.rbm_cd1_step(v, W, bv, bh, dW, dbv, dbh, 1e-4, 0.9, 2e-4, gaussian, 7, k[0], *ws)
        k[0] += N * H

    dt = timeit(step, seconds)
    return N / dt, 5 * 2 * N * V * H / dt / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    rows = []
    print(f"{'threads':>7} {'layer':>22} {'N':>5} {'frames/s':>10} {'GFLOP/s':>8} {'% of sgemm':>10}")
    for t in a.threads:
        _core.set_num_threads(t)
        ceil = sgemm_gflops(a.seconds)
        print(f"{t:>7} {'sgemm 2048^3':>22} {'':>5} {'':>10} {ceil:8.1f} {100:>9.0f}%")
        for V, H, g in ((440, 2048, True), (2048, 2048, False)):
            for N in (100, 1024):
                fps, gf = cd1(V, H, N, g, a.seconds)
                name = f"{V}->{H} {'gauss' if g else 'bern'}"
                print(f"{t:>7} {name:>22} {N:>5} {fps:10.0f} {gf:8.1f} {100 * gf / ceil:9.0f}%")
                rows.append(dict(threads=t, layer=name, minibatch=N, frames_per_s=fps, gflops=gf, sgemm_gflops=ceil))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
