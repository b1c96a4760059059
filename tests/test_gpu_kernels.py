"""Every CUDA kernel of csrc/cuda against its CPU twin, forward, backward and update.

Consistency checks of our own code (the CPU kernels themselves are checked against float64 NumPy
references and Kaldi's formulas in test_kernels.py). All tests are marked `gpu` and skip where
cupy.is_available() is false (tests/conftest.py cupy_or_skip). Shapes: empty, one row, 33 x 40, more
than 256 columns (several passes of the 256-thread row reductions), and more than 600k rows (beyond
the 65,535 x 8 rows a launch with rows on gridDim.y could address); each also with padded rows
(a row stride larger than the number of columns). Tolerances: elementwise maths runs the same
formulas (csrc/math/functors.h) and may differ by FMA contraction (1e-5 relative); GEMMs and sums
differ by summation order (1e-4 relative to the result's scale, 1e-3 for updates summed over 600k
rows); the random numbers are bit-identical.
"""

import numpy as np
import pytest

from conftest import cupy_or_skip
from nnet2 import _core

pytestmark = pytest.mark.gpu

SHAPES = [(0, 40), (1, 7), (33, 40), (65, 300), (600_001, 3)]
IDS = ["empty", "1x7", "33x40", "65x300", "600001x3"]


@pytest.fixture
def cp():
    return cupy_or_skip()


def pair(cp, a, strided):
    """The same values as a numpy and a cupy matrix (both with padded rows when strided)."""
    a = np.asarray(a)
    if strided and a.ndim == 2:
        pad = np.zeros((a.shape[0], a.shape[1] + 3), a.dtype)
        pad[:, : a.shape[1]] = a
        return pad[:, : a.shape[1]], cp.asarray(pad)[:, : a.shape[1]]
    return a.copy(), cp.asarray(a)


def outs(cp, shape, strided):
    """Output buffers filled with NaN (an element the kernel forgets to write shows up)."""
    return pair(cp, np.full(shape, np.nan, np.float32), strided)


def close(cp, g, h, rtol=1e-5, atol=1e-6):
    g = cp.asnumpy(g)
    assert g.shape == h.shape
    np.testing.assert_allclose(g, h, rtol=rtol, atol=atol)


def rand(rng, shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_sigmoid_tanh_forward_backward(cp, rng, shape, strided):
    x, xg = pair(cp, rand(rng, shape, 4.0), strided)
    dy, dyg = pair(cp, rand(rng, shape), strided)
    for fwd, bwd in (("sigmoid_forward", "sigmoid_backward"), ("tanh_forward", "tanh_backward")):
        y, yg = outs(cp, shape, strided)
        getattr(_core, fwd)(x, y)
        getattr(_core, fwd)(xg, yg)
        close(cp, yg, y)
        dx, dxg = outs(cp, shape, strided)
        getattr(_core, bwd)(y, dy, dx)
        getattr(_core, bwd)(yg, dyg, dxg)
        close(cp, dxg, dx)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_pnorm_forward_backward(cp, rng, shape, strided, p):
    n, d = shape
    x, xg = pair(cp, rand(rng, (n, 2 * d)), strided)
    y, yg = outs(cp, (n, d), strided)
    _core.pnorm_forward(x, p, y)
    _core.pnorm_forward(xg, p, yg)
    close(cp, yg, y)
    dy, dyg = pair(cp, rand(rng, (n, d)), strided)
    dx, dxg = outs(cp, (n, 2 * d), strided)
    _core.pnorm_backward(x, y, dy, p, dx)
    _core.pnorm_backward(xg, yg, dyg, p, dxg)
    close(cp, dxg, dx, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_normalize_forward_backward(cp, rng, shape, strided):
    a = rand(rng, shape)
    if shape[0] > 1:
        a[0] = 0.0  # a row under the 2^-66 floor
    x, xg = pair(cp, a, strided)
    y, yg = outs(cp, shape, strided)
    _core.normalize_forward(x, y)
    _core.normalize_forward(xg, yg)
    close(cp, yg, y)
    dy, dyg = pair(cp, rand(rng, shape), strided)
    dx, dxg = outs(cp, shape, strided)
    _core.normalize_backward(x, dy, dx)
    _core.normalize_backward(xg, dyg, dxg)
    close(cp, dxg, dx, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_softmax_and_fused_cross_entropy(cp, rng, shape, strided):
    n, d = shape
    z, zg = pair(cp, rand(rng, shape, 5.0), strided)
    y, yg = outs(cp, shape, strided)
    _core.softmax_forward(z, y)
    _core.softmax_forward(zg, yg)
    close(cp, yg, y, rtol=1e-5, atol=1e-12)
    lab = rng.integers(0, d, n).astype(np.int32)
    y, yg = outs(cp, shape, strided)
    dz, dzg = outs(cp, shape, strided)
    objf, correct = _core.softmax_cross_entropy(z, lab, y, dz)
    objf_g, correct_g = _core.softmax_cross_entropy(zg, cp.asarray(lab), yg, dzg)
    assert objf_g == pytest.approx(objf, rel=1e-5, abs=1e-6)
    # Near-ties may resolve differently after different rounding: a handful of rows at most.
    assert abs(correct_g - correct) <= 2 + 1e-5 * n
    close(cp, yg, y, rtol=1e-5, atol=1e-12)
    close(cp, dzg, dz, rtol=1e-5, atol=1e-6)
    # dz may alias z (the derivative overwrites the logits in place)
    z2, z2g = pair(cp, cp.asnumpy(zg), strided)
    _core.softmax_cross_entropy(z2g, cp.asarray(lab), yg, z2g)
    close(cp, z2g, dz, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_affine_forward_backward_update(cp, rng, shape, strided):
    n, d = shape
    o = 17
    x, xg = pair(cp, rand(rng, (n, d)), strided)
    W, Wg = pair(cp, rand(rng, (o, d), 0.3), strided)
    b, bg = rand(rng, o), None
    bg = cp.asarray(b)
    y, yg = outs(cp, (n, o), strided)
    _core.affine_forward(x, W, b, y)
    _core.affine_forward(xg, Wg, bg, yg)
    scale = 1.0 + float(np.abs(y).max(initial=0.0))
    close(cp, yg, y, rtol=1e-4, atol=1e-5 * scale)
    dy, dyg = pair(cp, rand(rng, (n, o)), strided)
    dx, dxg = outs(cp, (n, d), strided)
    _core.affine_backward(dy, W, dx)
    _core.affine_backward(dyg, Wg, dxg)
    close(cp, dxg, dx, rtol=1e-4, atol=1e-4)
    W0, b0 = W.copy(), b.copy()
    _core.affine_update(x, dy, 0.01, W, b)
    _core.affine_update(xg, dyg, 0.01, Wg, bg)
    dW, db = W - W0, b - b0
    if n == 0:
        assert not dW.any() and not db.any()
    tol = 1e-3 if n > 100_000 else 1e-4
    close(cp, Wg - cp.asarray(W0), dW, rtol=tol, atol=tol * (float(np.abs(dW).max(initial=0.0)) + 1e-6))
    close(cp, bg - cp.asarray(b0), db, rtol=tol, atol=tol * (float(np.abs(db).max(initial=0.0)) + 1e-6))


@pytest.mark.parametrize("n", [0, 33, 300])
def test_fused_derivative_and_update_on_the_gpu(cp, rng, n):
    """affine_backprop_update and affine_update_ngd(..., dx) on the GPU (the separate cuBLAS calls there)
    against the CPU's (a row split on 2+ threads): the same dx from W before the step and the same step.
    n = 300 > I takes NG-SGD's factored branch."""
    d, o = 40, 1100
    x, xg = pair(cp, rand(rng, (n, d)), False)
    dy, dyg = pair(cp, rand(rng, (n, o), 0.1), False)
    W, Wg = pair(cp, rand(rng, (o, d), 0.1), False)
    b = rand(rng, o)
    bg = cp.asarray(b)
    dx, dxg = outs(cp, (n, d), False)
    _core.affine_backprop_update(x, dy, 0.01, W, b, dx)
    _core.affine_backprop_update(xg, dyg, 0.01, Wg, bg, dxg)
    close(cp, dxg, dx, rtol=1e-4, atol=1e-4)
    close(cp, Wg, W, rtol=1e-4, atol=1e-5)
    close(cp, bg, b, rtol=1e-4, atol=1e-5)
    pre = [_core.OnlineNaturalGradient(rank=8, update_period=2) for _ in range(4)]
    for _ in range(3):
        dx, dxg = outs(cp, (n, d), False)
        _core.affine_update_ngd(x, dy, 0.01, W, b, pre[0], pre[1], 0.075, dx)
        _core.affine_update_ngd(xg, dyg, 0.01, Wg, bg, pre[2], pre[3], 0.075, dxg)
        close(cp, dxg, dx, rtol=1e-4, atol=1e-4)
    close(cp, Wg, W, rtol=1e-3, atol=1e-4)
    close(cp, bg, b, rtol=1e-3, atol=1e-4)


def test_affine_with_no_inputs_gives_the_bias(cp, rng):
    """A GEMM with an empty inner dimension scales C by beta (cuBLAS is not called with k = 0)."""
    b = rand(rng, 5)
    yg = cp.full((4, 5), cp.nan, cp.float32)
    _core.affine_forward(cp.zeros((4, 0), cp.float32), cp.zeros((5, 0), cp.float32), cp.asarray(b), yg)
    close(cp, yg, np.tile(b, (4, 1)), rtol=0, atol=0)


@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_splice_frames(cp, rng, shape, strided):
    n, d = shape
    offs = np.array([-2, 0, 1, 3], np.int32)
    x, xg = pair(cp, rand(rng, shape), strided)
    y, yg = outs(cp, (n, 4 * d), strided)
    _core.splice_frames(x, offs, y)
    _core.splice_frames(xg, cp.asarray(offs), yg)
    close(cp, yg, y, rtol=0, atol=0)


@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_sum_group_forward_backward(cp, rng, shape, strided):
    n, d = shape
    cuts = np.sort(rng.choice(np.arange(1, d), size=min(d - 1, max(d // 3, 1)), replace=False)) if d > 1 else []
    sizes = np.diff(np.concatenate([[0], cuts, [d]])).astype(np.int32)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    group = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
    k = len(sizes)
    x, xg = pair(cp, rand(rng, shape), strided)
    y, yg = outs(cp, (n, k), strided)
    _core.sum_group_forward(x, starts, y)
    _core.sum_group_forward(xg, cp.asarray(starts), yg)
    close(cp, yg, y)
    dy, dyg = pair(cp, rand(rng, (n, k)), strided)
    dx, dxg = outs(cp, shape, strided)
    _core.sum_group_backward(dy, group, dx)
    _core.sum_group_backward(dyg, cp.asarray(group), dxg)
    close(cp, dxg, dx, rtol=0, atol=0)


@pytest.mark.parametrize("strided", [False, True], ids=["contig", "strided"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_philox_fills_are_bit_identical(cp, rng, shape, strided):
    u, ug = outs(cp, shape, strided)
    _core.fill_uniform(u, 42, 7)  # an offset that is not a multiple of 4 (mid-block start)
    _core.fill_uniform(ug, 42, 7)
    close(cp, ug, u, rtol=0, atol=0)
    p, pg = pair(cp, rng.random(shape).astype(np.float32), strided)
    s, sg = outs(cp, shape, strided)
    _core.bernoulli_sample(p, s, 9, 13)
    _core.bernoulli_sample(pg, sg, 9, 13)
    close(cp, sg, s, rtol=0, atol=0)


# ------------------------------------------------------------------ the boundary's checks on the GPU
def test_gpu_checks_match_the_cpu_ones(cp, rng):
    z = cp.asarray(rand(rng, (6, 5)))
    y, dz = cp.empty_like(z), cp.empty_like(z)
    lab = np.array([0, 1, 2, 7, 4, 0], np.int32)
    with pytest.raises(ValueError, match=r"label 7 at row 3 is out of range \[0, 5\)"):
        _core.softmax_cross_entropy(z, cp.asarray(lab), y, dz)
    with pytest.raises(ValueError, match="label 7 at row 3 is out of range"):
        _core.softmax_cross_entropy(cp.asnumpy(z), lab, cp.asnumpy(y), cp.asnumpy(dz))
    with pytest.raises(ValueError, match="int32 array is on cpu, the matrices on cuda"):
        _core.softmax_cross_entropy(z, np.zeros(6, np.int32), y, dz)
    x, yy = cp.asarray(rand(rng, (4, 6))), cp.empty((4, 2), cp.float32)
    with pytest.raises(ValueError, match="group_starts decreases"):
        _core.sum_group_forward(x, cp.asarray(np.array([0, 4, 2], np.int32)), yy)
    with pytest.raises(ValueError, match="group sizes add up to 5"):
        _core.sum_group_forward(x, cp.asarray(np.array([0, 2, 5], np.int32)), yy)
    with pytest.raises(ValueError, match=r"group_of_input\[1\] = 2 is not in \[0, 2\)"):
        _core.sum_group_backward(yy, cp.asarray(np.array([0, 2, 0, 1, 1, 1], np.int32)), x)
    row = cp.asarray(rand(rng, (1, 5)))
    with pytest.raises(ValueError, match="row stride 0"):  # a broadcast: every row is the same memory
        _core.sigmoid_forward(cp.broadcast_to(row, (4, 5)), cp.empty((4, 5), cp.float32))
    base = cp.asarray(rand(rng, 40))
    overlap = cp.lib.stride_tricks.as_strided(base, shape=(4, 10), strides=(8, 4))
    with pytest.raises(ValueError, match="rows must not repeat or overlap"):
        _core.sigmoid_forward(cp.asarray(rand(rng, (4, 10))), overlap)
    with pytest.raises(ValueError, match="arrays are on different devices"):
        _core.sigmoid_forward(cp.asnumpy(z), y)


def test_arrays_on_another_gpu_are_refused(cp, rng):
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    with cp.cuda.Device(1):
        x = cp.asarray(rand(rng, (3, 4)))
    with cp.cuda.Device(0):
        with pytest.raises(ValueError, match="argument 'x' is on GPU 1 but the current GPU is 0"):
            _core.sigmoid_forward(x, cp.empty((3, 4), cp.float32))


@pytest.mark.parametrize("kind", ["non_blocking", "per_thread_default"])
def test_kernels_run_on_cupys_current_stream(cp, rng, kind):
    """CuPy work queued on a stream, then ours, then CuPy's again: the results are those of the default
    stream (with our launches on another stream they would race with the CuPy ops around them)."""
    a = rand(rng, (4096, 512))
    W = rand(rng, (300, 512), 0.05)
    b = rand(rng, 300)
    lab = rng.integers(0, 300, 4096).astype(np.int32)

    def work():
        x = cp.asarray(a) * 2.0  # queued by CuPy on the current stream
        y = cp.empty((4096, 300), cp.float32)
        _core.affine_forward(x, cp.asarray(W), cp.asarray(b), y)
        p, dz = cp.empty_like(y), cp.empty_like(y)
        objf, _ = _core.softmax_cross_entropy(y, cp.asarray(lab), p, dz)
        return objf, float((dz * dz).sum())  # CuPy reads what our kernel wrote

    ref = work()
    stream = cp.cuda.Stream(non_blocking=True) if kind == "non_blocking" else cp.cuda.Stream.ptds
    with stream:
        got = work()
    stream.synchronize()
    assert got[0] == pytest.approx(ref[0], rel=1e-6) and got[1] == pytest.approx(ref[1], rel=1e-6)
