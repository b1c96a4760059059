"""Online NG-SGD on the GPU against the same computation on the CPU (consistency checks of our own code;
the CPU core is checked against the float64 reference of Kaldi's algorithm in test_ngd.py).

Covers the in-place preconditioner (over 60 minibatches, so the periodic Fisher updates and the
re-orthogonalization run on device data), strided rows, more than 256 columns, more than 600k rows,
an empty minibatch, and the preconditioned affine update on both of its paths: the materialized one
(X_out_hat formed, as Kaldi does) and the factored one (N large against I), with and without the
max-change limit. Tolerances as test_ngd.py explains: outputs 1e-4 relative, W 1e-3 (up to row signs).
All tests are marked `gpu` and skip where cupy.is_available() is false.
"""

import numpy as np
import pytest

from conftest import cupy_or_skip
from nnet2 import _core
from test_ngd import CASES, gaussian_source, sign_aligned_err

pytestmark = pytest.mark.gpu


@pytest.fixture
def cp():
    return cupy_or_skip()


GPU_CASES = dict(CASES)
GPU_CASES["wide_300"] = (64, 300, 30, 2, 0.9 ** np.arange(300) + 1e-3)
GPU_CASES["rows_600001"] = (600_001, 4, 2, 1, np.array([4.0, 1.0, 0.25, 0.1]))


@pytest.mark.parametrize("case", list(GPU_CASES))
def test_precondition_matches_cpu(cp, case):
    N, D, R, P, spec = GPU_CASES[case]
    gen, _ = gaussian_source(np.random.default_rng(1), N, D, spec)
    cpu = _core.OnlineNaturalGradient(rank=R, update_period=P)
    dev = _core.OnlineNaturalGradient(rank=R, update_period=P)
    for it in range(60 if N < 100_000 else 5):
        X = gen()
        Xg, rpg = cp.asarray(X), cp.zeros(N, cp.float32)
        Xc, rpc = X.copy(), np.zeros(N, np.float32)
        gg, gc = dev.precondition(Xg, rpg), cpu.precondition(Xc, rpc)
        assert gg == pytest.approx(gc, rel=1e-4), it
        assert np.abs(cp.asnumpy(Xg) - Xc).max() <= 1e-4 * np.abs(Xc).max(), it
        assert np.abs(cp.asnumpy(rpg) - rpc).max() <= 1e-4 * rpc.max(), it
        sg, sc = dev.state(), cpu.state()
        assert sg["t"] == sc["t"] and sg["num_updates_skipped"] == sc["num_updates_skipped"]
        assert sign_aligned_err(sg["W"], sc["W"]) <= 1e-3, it
        assert np.abs(sg["d"] - sc["d"]).max() <= 1e-4 * sc["d"].max(), it


def test_precondition_strided_rows(cp):
    gen, _ = gaussian_source(np.random.default_rng(3), 50, 40, 0.7 ** np.arange(40) + 0.01)
    cpu, dev = _core.OnlineNaturalGradient(rank=8), _core.OnlineNaturalGradient(rank=8)
    for _ in range(12):
        X = gen()
        pad = np.zeros((50, 47), np.float32)
        pad[:, :40] = X
        padg = cp.asarray(pad)
        gc = cpu.precondition(pad[:, :40])
        gg = dev.precondition(padg[:, :40])
        assert gg == pytest.approx(gc, rel=1e-4)
        got = cp.asnumpy(padg)
        assert np.abs(got[:, :40] - pad[:, :40]).max() <= 1e-4 * np.abs(pad[:, :40]).max()
        assert not got[:, 40:].any()  # the padding is never written


def affine_problem(rng, N, I, O):
    x = rng.standard_normal((N, I)).astype(np.float32)
    dy = (0.1 * rng.standard_normal((N, O))).astype(np.float32)
    W = (0.1 * rng.standard_normal((O, I))).astype(np.float32)
    b = (0.1 * rng.standard_normal(O)).astype(np.float32)
    return x, dy, W, b


@pytest.mark.parametrize("max_change", [0.0, 0.05])
@pytest.mark.parametrize("N,I,O,path", [(96, 30, 20, "materialized"), (500, 20, 50, "factored"),
                                        (40, 300, 12, "materialized"), (0, 30, 20, "empty")])
def test_affine_update_ngd_matches_cpu(cp, N, I, O, path, max_change):
    # The core takes the factored path when O > 1 and N*O > O*I + N*(I+1) (csrc/ngd/affine_ngd.cc).
    assert (O > 1 and N * O > O * I + N * (I + 1)) == (path == "factored")
    rng = np.random.default_rng(7)
    _, _, W, b = affine_problem(rng, max(N, 1), I, O)
    Wg, bg = cp.asarray(W), cp.asarray(b)
    ci, co = _core.OnlineNaturalGradient(rank=6), _core.OnlineNaturalGradient(rank=5)
    gi, go = _core.OnlineNaturalGradient(rank=6), _core.OnlineNaturalGradient(rank=5)
    for _ in range(10):
        x, dy, _, _ = affine_problem(rng, N, I, O)
        a = _core.affine_update_ngd(x, dy, 0.01, W, b, ci, co, max_change)
        g = _core.affine_update_ngd(cp.asarray(x), cp.asarray(dy), 0.01, Wg, bg, gi, go, max_change)
        for k in a:
            assert g[k] == pytest.approx(a[k], rel=1e-4), k
    assert np.abs(cp.asnumpy(Wg) - W).max() <= 1e-4 * np.abs(W).max()
    assert np.abs(cp.asnumpy(bg) - b).max() <= 1e-4 * np.abs(b).max()


def test_state_stays_on_its_device(cp):
    gi = _core.OnlineNaturalGradient(rank=4)
    gi.precondition(cp.asarray(np.random.default_rng(0).standard_normal((20, 31)).astype(np.float32)))
    with pytest.raises(ValueError, match="state is on cuda"):
        gi.precondition(np.ones((5, 31), np.float32))
