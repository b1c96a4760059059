#!/usr/bin/env python3
"""Training throughput of the nnet2 core vs PyTorch (CPU) and vs the machine's sgemm ceiling, in one run.

Networks:
  pnorm  : a Kaldi-sized p-norm network, 360 -> 4 x [affine 2000 -> p-norm 200 (groups of 10) -> normalize]
           -> affine 3000 -> softmax  (2.53 M parameters)
  sigmoid: the paper's network, 440 -> 6 x [affine 2048 -> sigmoid] -> affine 8806 -> softmax (39.93 M parameters)

Each measurement is the best of --repeat interleaved timings (ours SGD, its products in order, ours NG-SGD,
PyTorch eager and compiled, repeated), since on a shared machine interference only ever slows a run down.
NG-SGD is timed after 14 warm-up steps, past the preconditioner's first 10 updates (done every step, then
every update-period steps): the steady state of a training iteration, which runs hundreds of minibatches.

Each step = forward + backward + plain-SGD update (and NG-SGD with --ngd if the core has it); PyTorch
runs the same maths (summed cross-entropy, SGD without momentum) on the same threads, eagerly and, where
it works, compiled (`torch.compile` of the forward + loss; backward through the compiled graph; the SGD
step eager). A compiled model is built once per minibatch size and reused for every thread count; its
compile time is not timed. NG-SGD rows also give `ngd_flop_share`, the FLOPs Kaldi's algorithm adds
per step as a share of SGD's (tools/ngd_flops.py, steady state): the floor of the measured overhead. The sgemm ceiling
is a 2048^3 float32 GEMM through the same OpenBLAS the core uses. "% of ceiling" counts 6 x parameters
FLOPs per frame (2 forward + 2 input-derivative + 2 weight-gradient). "GEMMs % of ceiling" is the same
count over the time of the network's matrix products alone at that minibatch size (`gemm_bound`): what
OpenBLAS's own split reaches on those shapes, each product timed by itself with its operands in cache (the
step's backward now splits W's rows over the threads itself, `AffineDerivAndUpdate`, and can beat it on 2
threads). "In order" (`products_stepper`) is the step's own products alone, run in the step's order with
the step's calls, so that each layer's weights are as cold as in the step, timed in the same interleaved
rounds as the steps and counted as the step is (6 x parameters per frame): the step's rate if it did nothing
but its products. `step_over_products` in the JSON is the step's frames/s over that one's.

With --ngd-pairs N, NG-SGD's overhead is also measured in N pairs of short blocks (--ngd-block s each; which
stepper goes first alternates), after the rounds above: the JSON's `ngd_overhead_pairs_median` and its
percentile-bootstrap 95% interval `ngd_overhead_pairs_ci95` (`nnet2.utils.intervals.median_interval`), each
pair's overhead in `ngd_pairs`. Many short pairs give the overhead with an interval; the best of a few long
rounds gives one number that a single disturbed round can move by 10-20% on a VM.

Usage: python tools/bench_core.py [--net pnorm|sigmoid] [--minibatch 128 1024] [--threads 1 2] [--ngd]
       [--ngd-pairs 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _paths import use_source_tree_if_built  # noqa: E402

use_source_tree_if_built()

from nnet2 import _core  # noqa: E402
from nnet2.device import openblas_overrides  # noqa: E402
from nnet2.nnet.ngd_config import KALDI_SCRIPTS  # noqa: E402
from nnet2.nnet.nnet import init_nnet_from_config  # noqa: E402
from nnet2.utils.intervals import median_interval  # noqa: E402
import numpy as np  # noqa: E402  (after nnet2, which sets OpenBLAS's thread timeout before any OpenBLAS loads)

from ngd_flops import network_layers, ngd_flop_share  # noqa: E402

# what Kaldi's p-norm scripts pass (nnet2.nnet.ngd_config)
NGD_OPTS = dict(rank_in=KALDI_SCRIPTS.rank_in, rank_out=KALDI_SCRIPTS.rank_out, update_period=KALDI_SCRIPTS.update_period)


def config(net: str, ngd: bool) -> str:
    aff = "AffineComponentPreconditionedOnline" if ngd else "AffineComponent"
    opts = " " + KALDI_SCRIPTS.config_line() if ngd else ""  # what Kaldi's p-norm scripts pass
    lines = []
    if net == "pnorm":
        d = 360
        for _ in range(4):
            lines += [f"{aff} input-dim={d} output-dim=2000 learning-rate=0.0001 param-stddev=0.02 bias-stddev=0.5{opts}",
                      "PnormComponent input-dim=2000 output-dim=200 p=2", "NormalizeComponent dim=200"]
            d = 200
        lines += [f"{aff} input-dim=200 output-dim=3000 learning-rate=0.0001 param-stddev=0 bias-stddev=0{opts}",
                  "SoftmaxComponent dim=3000"]
    else:
        d = 440
        for _ in range(6):
            lines += [f"{aff} input-dim={d} output-dim=2048 learning-rate=0.0001 param-stddev=0.05 bias-stddev=0.1{opts}",
                      "SigmoidComponent dim=2048"]
            d = 2048
        lines += [f"{aff} input-dim=2048 output-dim=8806 learning-rate=0.0001 param-stddev=0 bias-stddev=0{opts}",
                  "SoftmaxComponent dim=8806"]
    return "\n".join(lines)


def dims(net):
    return (360, [2000] * 4, 3000) if net == "pnorm" else (440, [2048] * 6, 8806)


def best_seconds(f, runs: int, reps: int = 1) -> float:
    """Seconds per call of f: one warm-up call, then the best of `runs` timed runs of `reps` calls."""
    f()
    best = 1e9
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(reps):
            f()
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def blas_env() -> str:
    """The environment's OpenBLAS overrides (nnet2.device.openblas_overrides), or 'detected'."""
    return openblas_overrides() or "detected"


def sgemm_ceiling(threads: int, n: int = 2048, reps: int = 10) -> float:
    """GFLOP/s of an n^3 sgemm through the core's OpenBLAS."""
    _core.set_num_threads(threads)
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    W = a.copy()
    b = np.zeros(n, np.float32)
    y = np.empty((n, n), np.float32)
    return 2.0 * n ** 3 / best_seconds(lambda: _core.affine_forward(a, W, b, y), reps) / 1e9


def gemm_bound(net: str, mb: int, threads: int, max_reps: int = 20) -> float:
    """GFLOP/s of the network's own matrix products alone at minibatch mb, through the core's OpenBLAS:
    per affine layer the forward x W^T (affine_forward), the input derivative dy W (affine_backward; not for
    the first layer) and the weight gradient dy^T x (affine_update), each timed on its own (best of 5 runs of
    up to `max_reps`). The step's 6 x params FLOPs per frame at this rate is what a trainer that did nothing but these
    products, each through OpenBLAS's own split, would reach (the step's fused backward, a row split of W over the
    threads, is not this and can beat it on 2 threads). NG-SGD's own products are not among them."""
    _core.set_num_threads(threads)
    rng = np.random.default_rng(0)
    flops = secs = 0.0

    for i, (d_in, d_out) in enumerate(network_layers(net)):
        reps = max(1, min(max_reps, int(2e8 / (mb * d_in * d_out))))  # about 1e8-4e8 FLOPs per timed run
        x = rng.standard_normal((mb, d_in)).astype(np.float32)
        W = rng.standard_normal((d_out, d_in)).astype(np.float32)
        b = np.zeros(d_out, np.float32)
        y = np.empty((mb, d_out), np.float32)
        dx = np.empty((mb, d_in), np.float32)
        secs += best_seconds(lambda: _core.affine_forward(x, W, b, y), 5, reps)
        secs += best_seconds(lambda: _core.affine_update(x, y, 1e-30, W, b), 5, reps)
        flops += 4.0 * mb * d_in * d_out
        if i > 0:
            secs += best_seconds(lambda: _core.affine_backward(y, W, dx), 5, reps)
            flops += 2.0 * mb * d_in * d_out
    return flops / secs / 1e9


def products_stepper(net: str, mb: int):
    """A zero-argument function running the network's own matrix products alone, in the step's order: the
    forward through every affine layer (`affine_forward`), then from the top down each layer's input
    derivative and update in one call (`affine_backprop_update`, the step's own fused backward; the first
    layer's update alone, `affine_update`, as the step has no input derivative there). Nothing else: no
    nonlinearity, softmax, copy or Python of the step beyond the calls. Unlike `gemm_bound`, which repeats
    each product on the same operands, every layer's weights pass through the caches once per pass here, as
    in the step; the sigmoid network's 160 MB of weights do not fit them and stream from memory. A step that
    did nothing but its products would run at its rate; main() times it in the same interleaved rounds as
    the steps."""
    rng = np.random.default_rng(0)
    layers = network_layers(net)
    W = [(0.01 * rng.standard_normal((o, i))).astype(np.float32) for i, o in layers]
    b = [np.zeros(o, np.float32) for _, o in layers]
    x = [rng.standard_normal((mb, i)).astype(np.float32) for i, _ in layers]
    y = [np.empty((mb, o), np.float32) for _, o in layers]
    dy = [(1e-3 * rng.standard_normal((mb, o))).astype(np.float32) for _, o in layers]
    dx = [np.empty((mb, i), np.float32) for i, _ in layers]

    def step():
        for k in range(len(W)):
            _core.affine_forward(x[k], W[k], b[k], y[k])
        for k in reversed(range(len(W))):
            if k == 0:
                _core.affine_update(x[k], dy[k], 1e-9, W[k], b[k])
            else:
                _core.affine_backprop_update(x[k], dy[k], 1e-9, W[k], b[k], dx[k])

    return step


def ours_stepper(net: str, mb: int, ngd: bool):
    """A zero-argument function running one training step of the core, and the parameter count."""
    nnet = init_nnet_from_config(config(net, ngd), seed=1)
    rng = np.random.default_rng(0)
    in_dim, _, out = dims(net)
    X = rng.standard_normal((mb, in_dim)).astype(np.float32)
    y = rng.integers(0, out, mb).astype(np.int32)
    return (lambda: nnet.train_step(X, y)), nnet.num_params()


def torch_stepper(net: str, mb: int, compiled: bool = False):
    """A zero-argument PyTorch training step, or None if PyTorch (or, compiled, torch.compile) is
    unavailable; compiled: the forward + loss through torch.compile (compiled and run once here)."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    in_dim, hidden, out = dims(net)
    layers, d = [], in_dim
    for h in hidden:
        layers.append(torch.nn.Linear(d, h))
        if net == "pnorm":
            class PnormNormalize(torch.nn.Module):
                def forward(self, x):
                    y = x.view(x.shape[0], 200, 10).norm(dim=2)
                    return y / y.pow(2).mean(1, keepdim=True).clamp_min(2.0 ** -66).sqrt()
            layers.append(PnormNormalize())
            d = 200
        else:
            layers.append(torch.nn.Sigmoid())
            d = h
    layers.append(torch.nn.Linear(d, out))
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    lossf = torch.nn.CrossEntropyLoss(reduction="sum")
    X = torch.randn(mb, in_dim)
    y = torch.randint(0, out, (mb,))

    def objective(X, y):
        return lossf(model(X), y)

    if compiled:
        try:
            objective = torch.compile(objective, dynamic=False)
        except Exception as e:  # noqa: BLE001 - report and go on without the compiled peer
            print(f"torch.compile unavailable: {type(e).__name__}: {e}", file=sys.stderr)
            return None

    def step():
        opt.zero_grad(set_to_none=False)
        loss = objective(X, y)
        loss.backward()
        opt.step()

    if compiled:
        try:
            step()  # compiles here (not timed)
        except Exception as e:  # noqa: BLE001
            print(f"torch.compile failed on the {net} network: {type(e).__name__}: {e}", file=sys.stderr)
            return None
    return step


def set_threads(threads: int) -> None:
    _core.set_num_threads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def timed(step, mb: int, seconds: float) -> float:
    """Frames/s of `step` over at least `seconds` (and 3 steps)."""
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        el = time.perf_counter() - t0
        if el > seconds and n >= 3:
            return n * mb / el


def paired_overheads(sgd, ngd, mb: int, pairs: int, block: float) -> list[float]:
    """NG-SGD's overhead (SGD fr/s / NG-SGD fr/s - 1) in `pairs` pairs of back-to-back blocks of at least
    `block` seconds each, which stepper runs first alternating from pair to pair (the first of two blocks
    can read differently from the second on a VM)."""
    out = []
    for k in range(pairs):
        if k % 2:
            s = timed(sgd, mb, block)
            g = timed(ngd, mb, block)
        else:
            g = timed(ngd, mb, block)
            s = timed(sgd, mb, block)
        out.append(s / g - 1.0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", choices=["pnorm", "sigmoid"], default="pnorm")
    ap.add_argument("--minibatch", type=int, nargs="+", default=[128, 1024])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=float, default=2.0, help="minimum timed seconds per measurement")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repeats per measurement (best is kept)")
    ap.add_argument("--ngd", action="store_true", help="also time NG-SGD (AffineComponentPreconditionedOnline)")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-compile", action="store_true", help="leave out compiled PyTorch (torch.compile)")
    ap.add_argument("--ngd-pairs", type=int, default=0,
                    help="with --ngd: also time NG-SGD against SGD in this many pairs of short blocks and give "
                         "the overhead's median with a bootstrap 95%% interval (default 0: not done)")
    ap.add_argument("--ngd-block", type=float, default=0.5, help="seconds per block of --ngd-pairs (default 0.5)")
    ap.add_argument("--json", help="write results here")
    a = ap.parse_args()
    if a.ngd_pairs < 0 or a.ngd_block <= 0:
        ap.error("--ngd-pairs must be >= 0 and --ngd-block > 0")
    if a.ngd_pairs and not a.ngd:
        ap.error("--ngd-pairs times NG-SGD: add --ngd")
    rows = []
    fmt = lambda v, f: (f % v) if v is not None else "-"  # noqa: E731
    print(f"network={a.net}  (frames/s; ratios = ours SGD / PyTorch; ceiling % = 6*params*frames/s / sgemm; "
          f"NGD floor = NG-SGD's added FLOPs / SGD's)")
    print(f"OpenBLAS kernel: {_core.blas_kernel()} ({blas_env()}); our AVX-512 kernels: "
          f"{'on' if _core.ngd_cpu_kernel() else 'off'}")
    print(f"{'thr':>3} {'mb':>5} {'sgemm GF/s':>10} {'ours SGD':>9} {'ours NGD':>9} {'torch':>8} {'compiled':>8} "
          f"{'/torch':>6} {'/compl':>6} {'SGD %ceil':>9} {'GEMMs %ceil':>11} {'in order':>8} {'NGD ovh':>8} "
          f"{'NGD floor':>9}")
    compiled_cache: dict = {}  # minibatch -> compiled PyTorch step (compiled once, reused for every thread count)
    for thr in a.threads:
        # the ceiling is measured before and after this thread count's rows and the higher kept: a VM's clock
        # and its neighbours vary over minutes, and a single low reading would flatter every row against it
        ceil = sgemm_ceiling(thr)
        thr_rows = []
        for mb in a.minibatch:
            set_threads(thr)
            runs = {"sgd": ours_stepper(a.net, mb, False)}
            params = runs["sgd"][1]
            steppers = {"sgd": runs["sgd"][0], "products": products_stepper(a.net, mb)}
            if a.ngd and hasattr(_core, "OnlineNaturalGradient"):
                steppers["ngd"] = ours_stepper(a.net, mb, True)[0]
            if not a.no_torch:
                ts = torch_stepper(a.net, mb)
                if ts is not None:
                    steppers["torch"] = ts
                if not a.no_compile and ts is not None:
                    if mb not in compiled_cache:
                        compiled_cache[mb] = torch_stepper(a.net, mb, compiled=True)
                    if compiled_cache[mb] is not None:
                        steppers["torch_compiled"] = compiled_cache[mb]
            # Warm-up; NG-SGD past its first 10 preconditioner updates (every step until then, every
            # update-period-th step after), i.e. the steady state of a training iteration.
            for k, st in steppers.items():
                for _ in range(14 if k == "ngd" else 3):
                    st()
            # Interleaved repeats, best of each: the machine is shared, and interference only slows.
            samples = {k: [] for k in steppers}
            for _ in range(a.repeat):
                for k, st in steppers.items():
                    samples[k].append(timed(st, mb, a.seconds))
            best = {k: max(v) for k, v in samples.items()}
            ours, ngd, tor, tcomp = best["sgd"], best.get("ngd"), best.get("torch"), best.get("torch_compiled")
            frac = 6.0 * params * ours / (ceil * 1e9)
            bound = gemm_bound(a.net, mb, thr)
            in_order = best["products"]
            in_order_frac = 6.0 * params * in_order / (ceil * 1e9)
            set_threads(thr)
            share = ngd_flop_share(network_layers(a.net), mb, **NGD_OPTS) if ngd else None
            ovh = ours / ngd - 1 if ngd else None
            pairs = (paired_overheads(steppers["sgd"], steppers["ngd"], mb, a.ngd_pairs, a.ngd_block)
                     if ngd and a.ngd_pairs > 0 else None)
            iv = median_interval(pairs) if pairs else None
            pmed, plo, phi = (iv.value, iv.lo, iv.hi) if iv else (None, None, None)
            r = dict(net=a.net, threads=thr, minibatch=mb, sgemm_gflops=ceil, ours_sgd=ours, ours_ngd=ngd,
                     torch=tor, torch_compiled=tcomp, params=params, ceiling_frac=frac,
                     gemm_bound_gflops=bound, gemm_bound_frac=bound / ceil,
                     products_in_order_fps=in_order, products_in_order_frac=in_order_frac,
                     step_over_products=ours / in_order,
                     ratio_torch=(ours / tor if tor else None),
                     ratio_torch_compiled=(ours / tcomp if tcomp else None),
                     ngd_overhead=ovh, ngd_flop_share=share,
                     ngd_overhead_over_share=(ovh / share if ngd and share else None),
                     ngd_pairs=pairs, ngd_pair_block_s=(a.ngd_block if pairs else None),
                     ngd_overhead_pairs_median=pmed,
                     ngd_overhead_pairs_ci95=([plo, phi] if pairs else None),
                     ngd_cpu_kernel=_core.ngd_cpu_kernel(), blas_kernel=_core.blas_kernel(),
                     blas_env=blas_env(), samples=samples)
            rows.append(r)
            thr_rows.append(r)
            print(f"{thr:>3} {mb:>5} {ceil:>10.1f} {ours:>9.0f} {fmt(ngd, '%9.0f'):>9} {fmt(tor, '%8.0f'):>8} "
                  f"{fmt(tcomp, '%8.0f'):>8} {fmt(r['ratio_torch'], '%5.2fx'):>6} "
                  f"{fmt(r['ratio_torch_compiled'], '%5.2fx'):>6} {100 * frac:>8.1f}% {100 * bound / ceil:>10.1f}% "
                  f"{100 * in_order_frac:>7.1f}% "
                  f"{fmt(ovh if ovh is None else 100 * ovh, '%7.1f%%'):>8} "
                  f"{fmt(share if share is None else 100 * share, '%8.1f%%'):>9}", flush=True)
            if pairs:
                print(f"          NG-SGD overhead over {len(pairs)} pairs of {a.ngd_block:g} s blocks: median "
                      f"{100 * pmed:.1f}% [95% CI {100 * plo:.1f}-{100 * phi:.1f}%] = {pmed / share:.2f}x its "
                      f"floor [{plo / share:.2f}-{phi / share:.2f}x]", flush=True)
        after = sgemm_ceiling(thr)
        if after > ceil:
            print(f"    (sgemm ceiling re-measured after these rows: {after:.1f} GF/s; the JSON rows use it)", flush=True)
            for r in thr_rows:
                r["ceiling_frac"] *= r["sgemm_gflops"] / after
                r["gemm_bound_frac"] *= r["sgemm_gflops"] / after
                r["products_in_order_frac"] *= r["sgemm_gflops"] / after
                r["sgemm_gflops"] = after
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
