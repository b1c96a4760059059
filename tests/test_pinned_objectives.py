"""Pinned per-minibatch objectives of a short training pass (a regression check, not a Kaldi check).

The reference values below are OUR OWN behaviour, computed with the code on main before the speed work
of issue 16 (csrc/ngd, csrc/nnet, csrc/math) and committed here, so that a speed change (fused kernels,
a different split of the work over threads, a different GEMM order) cannot silently change the maths. They
prove nothing about Kaldi compatibility by themselves; that is tests/test_ngd.py against the float64
reference of Kaldi's algorithm (tests/ngd_reference.py).

The pass: a small p-norm network (Kaldi's nnet2 component types) trained for 40 minibatches of 64 frames
on a fixed synthetic example (Gaussian class clusters, numpy's PCG64 seed), once with
AffineComponentPreconditionedOnline (update-period 4: the 10 initial every-step updates, then every 4th;
both the materialized and the factored output-side paths; max-change clipping active) and once with
AffineComponent (plain SGD). The objective of a minibatch is computed before its update, so each value
depends on every earlier update. Tolerance 1e-5 relative: float32 (u = 6e-8) roundoff from a different
summation order (another BLAS kernel, another thread count) grows to a few 1e-7 over 40 steps; a change to
the algorithm (an option, a step of the update, the preconditioner's schedule) moves them by 1e-4 or more.
"""
import numpy as np
import pytest

from nnet2 import _core
from nnet2.nnet.nnet import init_nnet_from_config

IN, CLASSES, MB, STEPS = 120, 50, 64, 40


def config(kind: str, lr: float | None = None) -> str:
    lr = {"ngd": 0.02, "sgd": 0.001}[kind] if lr is None else lr
    aff = "AffineComponentPreconditionedOnline" if kind == "ngd" else "AffineComponent"
    opts = (" rank-in=10 rank-out=20 update-period=4 num-samples-history=2000 alpha=4 max-change-per-sample=0.075"
            if kind == "ngd" else "")
    return "\n".join([
        f"{aff} input-dim={IN} output-dim=300 learning-rate={lr} param-stddev=0.1 bias-stddev=0.5{opts}",
        "PnormComponent input-dim=300 output-dim=30 p=2",
        "NormalizeComponent dim=30",
        f"{aff} input-dim=30 output-dim=300 learning-rate={lr} param-stddev=0.2 bias-stddev=0.5{opts}",
        "PnormComponent input-dim=300 output-dim=30 p=2",
        "NormalizeComponent dim=30",
        f"{aff} input-dim=30 output-dim={CLASSES} learning-rate={lr} param-stddev=0 bias-stddev=0{opts}",
        f"SoftmaxComponent dim={CLASSES}",
    ])


def minibatches():
    rng = np.random.default_rng(20261201)
    means = rng.standard_normal((CLASSES, IN))
    for _ in range(STEPS):
        y = rng.integers(0, CLASSES, MB).astype(np.int32)
        x = (means[y] + rng.standard_normal((MB, IN))).astype(np.float32)
        yield x, y


def run_pass(kind: str, threads: int, lr: float | None = None) -> list[float]:
    prev = _core.set_num_threads(threads)
    try:
        nnet = init_nnet_from_config(config(kind, lr), seed=7)
        return [nnet.train_step(x, y).objf for x, y in minibatches()]
    finally:
        _core.set_num_threads(prev)


# Computed with main's code before the issue-16 speed work (see the module docstring), 1 thread.
PINNED = {
    "ngd": [
        -250.3694738, -257.6251114, -261.4574534, -249.585599, -252.8269346, -265.253229, -246.808848, -255.1337948,
        -253.2192331, -251.8845306, -255.4159573, -260.6951656, -256.0330116, -250.7052236, -253.6389155, -250.4090212,
        -265.1724305, -247.3718583, -249.5695531, -251.8376837, -251.2249495, -247.9549919, -252.7056946, -246.1792716,
        -243.8055169, -240.6552212, -242.7331681, -234.0661147, -223.4900424, -225.2092643, -214.7131821, -212.1678034,
        -218.2063222, -200.3501587, -186.7048743, -178.9770928, -161.8851997, -168.1861099, -156.699077, -148.0279516,
    ],
    "sgd": [
        -250.3694738, -250.5341743, -250.9437242, -249.7411909, -250.323461, -251.314676, -249.8221992, -250.2272004,
        -250.2836482, -249.8735716, -251.556426, -249.5017641, -251.9087546, -249.6376798, -250.2052828, -249.239534,
        -252.6402479, -251.5130174, -251.4221724, -251.6152137, -249.8244709, -249.3024474, -251.7865734, -251.0887474,
        -251.1177281, -251.1528818, -250.8047687, -250.8470429, -248.0572154, -250.2446314, -250.3316613, -249.9365406,
        -253.359276, -251.5446151, -250.8686847, -250.5594517, -250.4312527, -251.8708661, -249.6135843, -251.4235016,
    ],
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", ["ngd", "sgd"])
def test_objectives_match_the_pinned_values(kind, threads):
    got = np.array(run_pass(kind, threads))
    want = np.array(PINNED[kind])
    assert got.shape == want.shape
    rel = np.abs(got - want) / np.abs(want)
    assert rel.max() <= 1e-5, f"minibatch {int(rel.argmax())}: {got[rel.argmax()]} vs pinned {want[rel.argmax()]}"


def test_the_pinned_pass_is_not_degenerate():
    """The updates matter far beyond the tolerance (the same pass with learning rate 0 differs by more than
    1e-3 relative after a few minibatches), NG-SGD learns (its objective rises), and NG-SGD's path differs from
    SGD's."""
    ngd, sgd = np.array(PINNED["ngd"]), np.array(PINNED["sgd"])
    frozen = np.array(run_pass("sgd", 1, lr=0.0))
    assert frozen[0] == pytest.approx(ngd[0], rel=1e-5) and frozen[0] == pytest.approx(sgd[0], rel=1e-5)
    for pinned in (ngd, sgd):
        assert (np.abs(pinned[5:] - frozen[5:]) / np.abs(frozen[5:])).max() > 1e-3
    assert ngd[-5:].mean() > ngd[:5].mean() + 0.2 * abs(ngd[:5].mean())
    assert (np.abs(ngd[5:] - sgd[5:]) / np.abs(sgd[5:])).max() > 1e-3
