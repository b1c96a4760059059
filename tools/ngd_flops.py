#!/usr/bin/env python3
"""FLOPs that online natural-gradient SGD adds to a training step: the floor for its measured overhead.

Kaldi's algorithm (src/nnet2/nnet-precondition-online.cc, OnlinePreconditioner::PreconditionDirections
and PreconditionDirectionsInternal; src/nnet2/nnet-component.cc, AffineComponentPreconditionedOnline::Update)
preconditions both sides of each affine layer's gradient: the input [x | 1] (N x D_in, D_in = I + 1, rank
R_in) and the output derivative (N x D_out, D_out = O, rank R_out). For one N x D matrix and rank R
(min(R, D - 1)), with the counts used here (one multiply-add = 2 FLOPs):

  every minibatch        H = X W^T                     2 N D R
                         X_hat = X - H W               2 N D R
                         row norms of X_hat            2 N D
                         tr(X X^T) (skipped updates)   2 N D
  update minibatches     J = H^T X                     2 N D R
    (the first 10,       [L; K] = [W; J] J^T (N > D)   4 R^2 D
    then every           or K = J J^T, L = H^T H       R(R+1) D + R(R+1) N (lower triangles, N <= D)
    update_period-th)    B = J + c W                   2 R D
                         W' = A B                      2 R^2 D
                         eigenproblem of Z (R x R)     9 R^3 (symmetric QR with vectors, Golub & Van Loan)
  initialization         3 such update steps on the first minibatch (Kaldi's Init, num_init_iters = 3)

Re-orthogonalization (rare: only when the new basis is ill-conditioned) and the O(R^2) host algebra are
left out. The layer update itself (W += lr X_out_hat^T X_in_hat) costs what SGD's does.

Our core may apply the output side in factored form (ngd/affine_ngd.cc): X_out_hat is never formed and
X_out_hat^T X_in_hat = dy^T X_in_hat - W^T (H^T X_in_hat), which replaces the 2 N O R of X_hat by
2 R N D_in + 2 O R D_in (T = H^T X_in_hat, W^T T) + 2 N R^2 + 2 N R (factored row norms through
M = W W^T - 2I) + 2 R^2 O per change of W. It is the same algorithm with the products reassociated, used
when N O > O I + N D_in; `layer_ngd_flops(..., form="ours")` counts what the core runs, `form="kaldi"`
Kaldi's order of products.

Steady state (`minibatches=None`) is the limit of a long training iteration: one update every
update_period minibatches. Given an iteration length T, the 3 initialization steps and the first 10
every-step updates are amortized over its T minibatches.

SGD's step, the denominator of the share: per affine layer 2 N O I forward, 2 N O I for the weight
gradient, 2 N O I for the input derivative (not for the first updatable layer, whose input derivative is
not needed), plus 2 N O for the bias; elementwise nonlinearities are left out (a few FLOPs per element).

    python tools/ngd_flops.py --net pnorm --minibatch 128 1024
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _paths import use_source_tree_if_built  # noqa: E402

use_source_tree_if_built()

from nnet2.nnet.ngd_config import KALDI_SCRIPTS  # noqa: E402  (what Kaldi's p-norm scripts pass)

NUM_INITIAL_UPDATES = 10  # Kaldi: "we do 10 updates before skipping any"
NUM_INIT_ITERS = 3        # Kaldi's OnlinePreconditioner::Init


def per_call_flops(N: int, D: int, R: int) -> int:
    """Every minibatch, in place (Kaldi's order): H = X W^T, X_hat = X - H W, row norms of X_hat."""
    return 2 * N * D * R + 2 * N * D * R + 2 * N * D


def update_flops(N: int, D: int, R: int) -> int:
    """Extra work of a minibatch that re-estimates the Fisher matrix (W, d, rho)."""
    lk = 4 * R * R * D if N > D else R * (R + 1) * D + R * (R + 1) * N
    return 2 * N * D * R + lk + 2 * R * D + 2 * R * R * D + 9 * R ** 3


def updates_per_minibatch(update_period: int, minibatches: int | None = None) -> tuple[float, float]:
    """(update steps, initialization steps) per minibatch: steady state if minibatches is None, else
    averaged over an iteration of that many minibatches (one preconditioner lifetime)."""
    if minibatches is None:
        return 1.0 / update_period, 0.0
    T = int(minibatches)
    if T <= 0:
        raise ValueError("minibatches must be positive")
    n_up = min(T, NUM_INITIAL_UPDATES) + max(0, T - NUM_INITIAL_UPDATES) // update_period
    return n_up / T, NUM_INIT_ITERS / T


def side_flops(N: int, D: int, R: int, update_period: int, minibatches: int | None = None) -> float:
    """Average FLOPs per minibatch of one preconditioner (Kaldi's order of products)."""
    R = min(R, D - 1)
    if R <= 0:
        return 2.0 * N * D  # D == 1: identity, row norms only
    f_up, f_init = updates_per_minibatch(update_period, minibatches)
    full = per_call_flops(N, D, R) + update_flops(N, D, R)
    skipped_trace = 2 * N * D  # tr(X X^T) on minibatches that do not update
    return (1.0 - f_up) * (per_call_flops(N, D, R) + skipped_trace) + f_up * full + f_init * full


def factored(N: int, I: int, O: int) -> bool:
    """The core's choice (ngd/affine_ngd.cc): output side in factored form when N O > O I + N (I + 1)."""
    return O > 1 and N * O > O * I + N * (I + 1)


def layer_ngd_flops(N: int, I: int, O: int, rank_in: int, rank_out: int, update_period: int,
                    minibatches: int | None = None, form: str = "ours") -> float:
    """FLOPs NG-SGD adds per minibatch to an affine layer I -> O (both sides)."""
    if form not in ("ours", "kaldi"):
        raise ValueError("form must be 'ours' or 'kaldi'")
    D_in = I + 1
    total = side_flops(N, D_in, rank_in, update_period, minibatches)
    out = side_flops(N, O, rank_out, update_period, minibatches)
    R = min(rank_out, O - 1)
    if form == "ours" and R > 0 and factored(N, I, O):
        f_up, _ = updates_per_minibatch(update_period, minibatches)
        out -= 2 * N * O * R                                 # X_hat = X - H W not formed ...
        out += 2 * R * N * D_in + 2 * O * R * D_in           # ... T = H^T X_in_hat, W -= lr W_t^T T
        out += 2 * N * R * R + 2 * N * R + f_up * 2 * R * R * O  # factored row norms, M = W W^T - 2I
    return total + out


def layer_sgd_flops(N: int, I: int, O: int, need_input_deriv: bool) -> int:
    return (6 if need_input_deriv else 4) * N * O * I + 2 * N * O


def network_layers(net: str) -> list[tuple[int, int]]:
    """(I, O) of the affine layers of tools/bench_core.py's networks."""
    if net == "pnorm":
        return [(360, 2000)] + [(200, 2000)] * 3 + [(200, 3000)]
    if net == "sigmoid":
        return [(440, 2048)] + [(2048, 2048)] * 5 + [(2048, 8806)]
    raise ValueError(f"unknown network {net}")


def ngd_flop_share(layers: list[tuple[int, int]], N: int, rank_in: int = KALDI_SCRIPTS.rank_in,
                   rank_out: int = KALDI_SCRIPTS.rank_out, update_period: int = KALDI_SCRIPTS.update_period,
                   minibatches: int | None = None, form: str = "ours") -> float:
    """NG-SGD's added FLOPs / SGD's FLOPs for one training step of the network (the overhead floor)."""
    ngd = sum(layer_ngd_flops(N, i, o, rank_in, rank_out, update_period, minibatches, form) for i, o in layers)
    sgd = sum(layer_sgd_flops(N, i, o, k > 0) for k, (i, o) in enumerate(layers))
    return ngd / sgd


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", choices=["pnorm", "sigmoid"], default="pnorm")
    ap.add_argument("--minibatch", type=int, nargs="+", default=[128, 1024])
    ap.add_argument("--rank-in", type=int, default=KALDI_SCRIPTS.rank_in)
    ap.add_argument("--rank-out", type=int, default=KALDI_SCRIPTS.rank_out)
    ap.add_argument("--update-period", type=int, default=KALDI_SCRIPTS.update_period)
    ap.add_argument("--minibatches", type=int, default=None,
                    help="amortize initialization and the first 10 updates over this many (default: steady state)")
    a = ap.parse_args()
    layers = network_layers(a.net)
    print(f"{'mb':>5} {'share (ours)':>12} {'share (Kaldi order)':>19}")
    for N in a.minibatch:
        kw = dict(rank_in=a.rank_in, rank_out=a.rank_out, update_period=a.update_period, minibatches=a.minibatches)
        print(f"{N:>5} {100 * ngd_flop_share(layers, N, form='ours', **kw):>11.1f}% "
              f"{100 * ngd_flop_share(layers, N, form='kaldi', **kw):>18.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
