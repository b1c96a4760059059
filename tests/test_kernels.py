"""Core kernels against float64 NumPy references, with strided (non-contiguous) rows, and
finite-difference gradient checks of every component's backward pass."""

import numpy as np
import pytest

from nnet2 import _core
from nnet2.nnet import components as C

F32_TOL = dict(rtol=2e-5, atol=2e-6)


def strided(a: np.ndarray, pad: int = 3) -> np.ndarray:
    """Same values, rows padded: a non-contiguous view with unit column stride."""
    buf = np.full((a.shape[0], a.shape[1] + pad), np.nan, dtype=np.float32)
    buf[:, : a.shape[1]] = a
    v = buf[:, : a.shape[1]]
    assert not v.flags.c_contiguous
    return v


# ------------------------------------------------------------------ float64 references (src/nnet2/nnet-component.cc)
def ref_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def ref_pnorm(x, out_dim, p):
    g = x.reshape(x.shape[0], out_dim, -1)
    return (np.abs(g) ** p).sum(-1) ** (1.0 / p)


def ref_normalize(x):
    ms = (x * x).sum(1, keepdims=True) / x.shape[1]
    return x / np.sqrt(np.maximum(ms, 2.0 ** -66))


def ref_softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return np.maximum(e / e.sum(1, keepdims=True), 1e-20)


def ref_splice(x, offsets):
    T = x.shape[0]
    return np.concatenate([x[np.clip(np.arange(T) + o, 0, T - 1)] for o in offsets], axis=1)


@pytest.mark.parametrize("stride", [False, True])
def test_affine_kernels(rng, stride):
    N, I, O = 37, 23, 11
    x = rng.standard_normal((N, I)).astype(np.float32)
    W = rng.standard_normal((O, I)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    dy = rng.standard_normal((N, O)).astype(np.float32)
    xs, dys = (strided(x), strided(dy)) if stride else (x, dy)
    y = np.empty((N, O), np.float32)
    _core.affine_forward(xs, W, b, y)
    np.testing.assert_allclose(y, x.astype(np.float64) @ W.T.astype(np.float64) + b, rtol=1e-4, atol=1e-4)
    dx = strided(np.zeros((N, I), np.float32)) if stride else np.empty((N, I), np.float32)
    _core.affine_backward(dys, W, dx)
    np.testing.assert_allclose(dx, dy.astype(np.float64) @ W.astype(np.float64), rtol=1e-4, atol=1e-4)
    W2, b2 = W.copy(), b.copy()
    _core.affine_update(xs, dys, 0.1, W2, b2)
    np.testing.assert_allclose(W2, W + 0.1 * dy.T.astype(np.float64) @ x, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b2, b + 0.1 * dy.astype(np.float64).sum(0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [False, True])
def test_affine_forward_transposed_path(rng, stride):
    # Few rows and >= 1024 input columns take the y^T = W x^T path (with a blocked transpose); sizes
    # not multiples of its 32-block.
    N, I, O = 45, 1100, 70
    x = rng.standard_normal((N, I)).astype(np.float32)
    W = (rng.standard_normal((O, I)) * 0.05).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    y = strided(np.zeros((N, O), np.float32)) if stride else np.empty((N, O), np.float32)
    _core.affine_forward(strided(x) if stride else x, W, b, y)
    np.testing.assert_allclose(y, x.astype(np.float64) @ W.T.astype(np.float64) + b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride", [False, True])
def test_elementwise_kernels(rng, stride):
    x = (rng.standard_normal((19, 30)) * 4).astype(np.float32)
    x[0, 0], x[0, 1] = 90.0, -90.0  # no overflow in either branch of the sigmoid
    xs = strided(x) if stride else x
    y = np.empty_like(x)
    _core.sigmoid_forward(xs, y)
    np.testing.assert_allclose(y, ref_sigmoid(x.astype(np.float64)), **F32_TOL)
    _core.tanh_forward(xs, y)
    np.testing.assert_allclose(y, np.tanh(x.astype(np.float64)), **F32_TOL)
    _core.softmax_forward(xs, y)
    np.testing.assert_allclose(y, ref_softmax(x.astype(np.float64)), rtol=1e-5, atol=1e-7)
    _core.normalize_forward(xs, y)
    np.testing.assert_allclose(y, ref_normalize(x.astype(np.float64)), **F32_TOL)
    for p in (1.0, 2.0, 3.0):
        y5 = np.empty((19, 5), np.float32)
        _core.pnorm_forward(xs, p, y5)
        np.testing.assert_allclose(y5, ref_pnorm(x.astype(np.float64), 5, p), rtol=3e-5, atol=1e-5)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("threads", [1, 2])
def test_pnorm_backward_in_kaldis_float32_order(p, threads):
    """The p-norm derivative in Kaldi's CPU order (MatrixBase::GroupPnormDeriv, then MulRowsGroupMat by the
    output derivative, src/matrix/kaldi-matrix.cc), transcribed here in float32 with libm's own powf (through
    ctypes: NumPy's float32 power is its own code): (|x|^(p-1) * y^(1-p) * sign(x)) * dy, 0 * dy where y = 0;
    sign(x) as Kaldi has it (1 for x >= 0; for p = 1, x == 0 gives 0). A transcription of Kaldi's formula, not a
    run of Kaldi. Some groups are all zero (y = 0), one output derivative there is inf (Kaldi's 0 * inf: NaN).

    p = 1 and 3: the same bits. p = 2: we compute x * (1 / y) where Kaldi calls powf(y, -1), which glibc does
    not always round correctly; the test checks our stated form bit for bit and Kaldi's within 2 ulp, and that
    it is rare enough (a few groups in 10,000) to be a rounding matter, not a formula's."""
    import ctypes
    import ctypes.util

    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.powf.restype, libm.powf.argtypes = ctypes.c_float, [ctypes.c_float, ctypes.c_float]
    powf = np.vectorize(lambda a, b: libm.powf(float(a), float(b)), otypes=[np.float32])
    rng = np.random.default_rng(3)
    G, n_out, rows = 10, 100, 100  # 10,000 groups
    x = rng.standard_normal((rows, n_out * G)).astype(np.float32)
    x[4, :3 * G] = 0.0
    x[7, 5] = 0.0
    y = np.empty((rows, n_out), np.float32)
    _core.pnorm_forward(x, p, y)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dy[4, 1] = np.inf  # in an all-zero group
    dx = np.empty_like(x)
    prev = _core.set_num_threads(threads)
    try:
        _core.pnorm_backward(strided(x), y, dy, p, dx)
    finally:
        _core.set_num_threads(prev)
    f = np.float32
    yb, dyb = np.repeat(y, G, axis=1), np.repeat(dy, G, axis=1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if p == 1.0:
            d = np.where(x == 0, f(0), np.where(x > 0, f(1), f(-1)))
        else:
            sign = np.where(x >= 0, f(1), f(-1))
            d = powf(np.abs(x), f(p - 1)) * powf(yb, f(1 - p)) * sign
            d = np.where(yb == 0, f(0), d)
        kaldi = (d * dyb).astype(np.float32)
        ours = ((x * np.where(yb == 0, f(0), f(1) / yb)) * dyb).astype(np.float32) if p == 2.0 else kaldi
    assert np.isnan(dx[4, 10:20]).all() and np.isnan(kaldi[4, 10:20]).all()  # 0 * inf, as Kaldi
    assert np.array_equal(dx + f(0), ours + f(0), equal_nan=True)  # (+0: the sign of a zero is not compared)
    if p == 2.0:
        fin = np.isfinite(kaldi)
        off = dx[fin] != kaldi[fin]
        assert np.all(np.abs(dx[fin] - kaldi[fin]) <= 2 * np.spacing(np.abs(kaldi[fin])))
        assert off.sum() <= 0.01 * off.size, f"{off.sum()} of {off.size} elements differ from Kaldi's powf form"


@pytest.mark.parametrize("G, n_out", [(1, 37), (2, 9), (3, 11), (10, 7), (10, 200), (16, 5), (17, 3), (40, 2)])
@pytest.mark.parametrize("rows", [1, 16, 37])
@pytest.mark.parametrize("threads", [1, 2])
def test_pnorm2_kernels_in_their_stated_order(G, n_out, rows, threads):
    """The p = 2 p-norm against its stated float32 order, on every group size the AVX-512 kernels treat
    differently (G dividing 16 or not, groups wider than 16 columns, rows and columns not multiples of 16),
    strided rows, both thread counts. A consistency check of our own kernels against a NumPy transcription of
    their formulas, not against Kaldi (whose order, a BLAS dot per group, is not fixed).

    Forward: s = fma(x, x, s) from s = 0, group by group in column order, then sqrt (the CUDA kernel's order);
    NumPy has no fma, so each step is made in float64 (x * x is exact there) and rounded to float32 (the same
    bits unless that double rounding lands on a tie: not in these cases). Bit for bit where the AVX-512 kernels
    run (`_core.ngd_cpu_kernel()`: the same CPU check), within 2 ulp through the portable loops. Backward:
    (x * (1 / y)) * dy, 0 for 1 / y where y = 0: bit for bit on every CPU. An all-zero group, an infinite
    output derivative there (0 * inf: NaN, as Kaldi) and a NaN input are in every case with room for them."""
    f = np.float32
    rng = np.random.default_rng(100 * G + rows)
    x = rng.standard_normal((rows, n_out * G)).astype(f)
    dy = rng.standard_normal((rows, n_out)).astype(f)
    if rows > 1 and n_out > 1:
        x[0, :G] = 0.0  # y = 0 in group 0 of row 0 ...
        dy[0, 0] = np.inf  # ... where the derivative is 0 * inf
        x[rows - 1, n_out * G - 1] = np.nan
    s = np.zeros((rows, n_out), np.float64)
    for k in range(G):
        t = x[:, k::G].astype(np.float64)
        s = (t * t + s).astype(f).astype(np.float64)
    ref_y = np.sqrt(s.astype(f))
    st = strided if rows > 1 else np.ascontiguousarray  # (one row is contiguous whatever its stride)
    prev = _core.set_num_threads(threads)
    try:
        y = st(np.zeros((rows, n_out), f))
        _core.pnorm_forward(st(x), 2.0, y)
        dx = st(np.zeros_like(x))
        _core.pnorm_backward(st(x), np.ascontiguousarray(y), st(dy), 2.0, dx)
    finally:
        _core.set_num_threads(prev)
    if _core.ngd_cpu_kernel():
        assert np.array_equal(y, ref_y, equal_nan=True)
    else:
        fin = np.isfinite(ref_y)
        assert np.all(np.abs(y[fin] - ref_y[fin]) <= 2 * np.spacing(ref_y[fin]))
        assert np.array_equal(np.isnan(y), np.isnan(ref_y))
    yb, dyb = np.repeat(np.asarray(y), G, axis=1), np.repeat(dy, G, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref_dx = (x * np.where(yb == 0, f(0), f(1) / yb)) * dyb
    assert np.array_equal(dx + f(0), ref_dx + f(0), equal_nan=True)
    if rows > 1 and n_out > 1:
        assert y[0, 0] == 0 and np.isnan(dx[0, :G]).all() and np.isnan(y[rows - 1, n_out - 1])


def test_sigmoid_exp_accuracy_over_the_whole_range():
    """f::Exp (the vectorizable exp behind sigmoid and softmax) against float64: within 3 ulp of the
    sigmoid everywhere it is a normal float, tiny-but-correct below, and NaN/inf handled."""
    x = np.ascontiguousarray(np.linspace(-110.0, 40.0, 300001, dtype=np.float32)[None, :])
    y = np.empty_like(x)
    _core.sigmoid_forward(x, y)
    r = ref_sigmoid(x.astype(np.float64))
    normal = r > np.finfo(np.float32).tiny
    ulp = np.spacing(r[normal].astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(y[normal] - r[normal]) / ulp) <= 3.0
    assert np.all(np.abs(y[~normal] - r[~normal]) <= 2.0 * np.finfo(np.float32).tiny)
    assert np.all((y >= 0.0) & (y <= 1.0))
    e = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, 88.5, -88.5, 1e30, -1e30]], np.float32)
    ye = np.empty_like(e)
    _core.sigmoid_forward(e, ye)
    assert np.isnan(ye[0, 0])
    with np.errstate(over="ignore"):
        ref = ref_sigmoid(e[0, 1:].astype(np.float64))
    np.testing.assert_allclose(ye[0, 1:], ref, rtol=3e-7, atol=1e-37)


def test_softmax_wide_range_rows(rng):
    # Rows long enough for the vectorized loops' main body and tails; logits spread over +-60.
    for cols in (1, 7, 33, 3000):
        z = (rng.standard_normal((5, cols)) * 20).astype(np.float32)
        y = np.empty_like(z)
        _core.softmax_forward(z, y)
        # Relative error is bounded by the float32 rounding of z - max(z) (|z| up to ~100: ~4e-6).
        np.testing.assert_allclose(y, ref_softmax(z.astype(np.float64)), rtol=1e-5, atol=0)


def test_softmax_floor_and_normalize_floor():
    x = np.array([[0.0, -200.0, 10.0]], np.float32)
    y = np.empty_like(x)
    _core.softmax_forward(x, y)
    assert y[0, 1] == np.float32(1e-20)
    z = np.zeros((2, 4), np.float32)
    out = np.empty_like(z)
    _core.normalize_forward(z, out)
    assert np.all(out == 0) and np.all(np.isfinite(out))
    dx = np.empty_like(z)
    _core.normalize_backward(z, np.ones_like(z), dx)
    np.testing.assert_allclose(dx, 2.0 ** 33, rtol=1e-6)  # floor hit: dx = f dy with f = 2^33


def test_softmax_cross_entropy(rng):
    z = rng.standard_normal((50, 7)).astype(np.float32)
    lab = rng.integers(0, 7, 50).astype(np.int32)
    y = np.empty_like(z)
    dz = np.empty_like(z)
    objf, correct = _core.softmax_cross_entropy(z, lab, y, dz)
    p = ref_softmax(z.astype(np.float64))
    assert objf == pytest.approx(np.log(p[np.arange(50), lab]).sum(), rel=1e-6)
    assert correct == (p.argmax(1) == lab).sum()
    onehot = np.eye(7)[lab]
    np.testing.assert_allclose(dz, onehot - p, atol=1e-6)
    with pytest.raises(ValueError, match="label 9"):
        bad = lab.copy()
        bad[3] = 9
        _core.softmax_cross_entropy(z, bad, y, dz)


def test_splice_and_sumgroup(rng):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    offs = np.array([-2, -1, 0, 1, 3], np.int32)
    y = np.empty((6, 20), np.float32)
    _core.splice_frames(strided(x), offs, y)
    np.testing.assert_array_equal(y, ref_splice(x, offs))
    sg = C.SumGroupComponent([1, 3, 2])
    x6 = rng.standard_normal((5, 6)).astype(np.float32)
    out = sg.propagate(x6)
    np.testing.assert_allclose(out, np.stack([x6[:, 0], x6[:, 1:4].sum(1), x6[:, 4:].sum(1)], 1), rtol=1e-6)
    dx = sg.backprop(x6, out, np.ones((5, 3), np.float32))
    np.testing.assert_array_equal(dx, np.ones((5, 6)))


def test_bad_arguments_name_the_argument():
    x = np.zeros((3, 4), np.float64)
    with pytest.raises(ValueError, match="argument 'x': expected float32"):
        _core.sigmoid_forward(x, np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="columns must be contiguous"):
        _core.sigmoid_forward(np.zeros((4, 3), np.float32).T, np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="shape mismatch"):
        _core.sigmoid_forward(np.zeros((3, 4), np.float32), np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="read-only"):
        y = np.zeros((3, 4), np.float32)
        y.flags.writeable = False
        _core.sigmoid_forward(np.zeros((3, 4), np.float32), y)
    with pytest.raises(ValueError, match="dimension mismatch|input has"):
        _core.affine_forward(np.zeros((3, 4), np.float32), np.zeros((2, 5), np.float32), np.zeros(2, np.float32),
                             np.zeros((3, 2), np.float32))


# ------------------------------------------------------------------ finite-difference gradient checks
def _ref_forward(comp, x):
    """float64 reference of each component's forward (written from the spec, not from the kernels)."""
    if isinstance(comp, C.AffineComponent):
        return x @ np.asarray(comp.W, np.float64).T + np.asarray(comp.b, np.float64)
    if isinstance(comp, C.FixedAffineComponent):
        return x @ np.asarray(comp.W, np.float64).T + np.asarray(comp.b, np.float64)
    if isinstance(comp, C.SigmoidComponent):
        return ref_sigmoid(x)
    if isinstance(comp, C.TanhComponent):
        return np.tanh(x)
    if isinstance(comp, C.NormalizeComponent):
        return ref_normalize(x)
    if isinstance(comp, C.PnormComponent):
        return ref_pnorm(x, comp.output_dim, comp.p)
    if isinstance(comp, C.SoftmaxComponent):
        return ref_softmax(x)
    if isinstance(comp, C.SumGroupComponent):
        return np.stack([x[:, s:e].sum(1) for s, e in zip(comp._starts[:-1], comp._starts[1:])], 1)
    if isinstance(comp, C.FixedScaleComponent):
        return x * comp.scales
    if isinstance(comp, C.FixedBiasComponent):
        return x + comp.bias
    raise AssertionError(type(comp))


def _components(rng):
    W = (rng.standard_normal((6, 8)) * 0.5).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    return [
        C.AffineComponent(W, b, learning_rate=0.0),
        C.FixedAffineComponent(W, b),
        C.SigmoidComponent(8),
        C.TanhComponent(8),
        C.NormalizeComponent(8),
        C.PnormComponent(8, 4, 2.0),
        C.PnormComponent(8, 2, 3.0),
        C.SoftmaxComponent(8),
        C.SumGroupComponent([3, 1, 4]),
        C.FixedScaleComponent(rng.standard_normal(8)),
        C.FixedBiasComponent(rng.standard_normal(8)),
    ]


@pytest.mark.parametrize("idx", range(11))
def test_component_gradient_finite_difference(rng, idx):
    comp = _components(rng)[idx]
    N = 5
    x = rng.standard_normal((N, comp.input_dim))
    w = rng.standard_normal((N, comp.output_dim))  # objective = sum(w * f(x))
    x32 = x.astype(np.float32)
    y32 = comp.propagate(x32)
    np.testing.assert_allclose(y32, _ref_forward(comp, x), rtol=1e-4, atol=1e-5)
    dx = comp.backprop(x32, y32, w.astype(np.float32), True)
    eps = 1e-6
    fd = np.zeros_like(x)
    for i in range(N):
        for j in range(comp.input_dim):
            xp_, xm = x.copy(), x.copy()
            xp_[i, j] += eps
            xm[i, j] -= eps
            fd[i, j] = ((w * _ref_forward(comp, xp_)).sum() - (w * _ref_forward(comp, xm)).sum()) / (2 * eps)
    np.testing.assert_allclose(dx, fd, rtol=2e-3, atol=2e-4)


def test_affine_update_is_gradient_ascent(rng):
    """One update with a small step increases sum(w * y): the update direction is the gradient."""
    W = rng.standard_normal((4, 6)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    comp = C.AffineComponent(W.copy(), b.copy(), learning_rate=1e-3)
    x = rng.standard_normal((9, 6)).astype(np.float32)
    w = rng.standard_normal((9, 4)).astype(np.float32)
    before = (w * comp.propagate(x)).sum()
    comp.backprop(x, None, w, need_dx=False)
    np.testing.assert_allclose(comp.W, W + 1e-3 * w.T @ x, rtol=1e-5, atol=1e-6)
    assert (w * comp.propagate(x)).sum() > before


# The GPU versions of these kernels are compared with the CPU ones in tests/test_gpu_kernels.py.


def test_empty_minibatch_is_accepted_and_changes_nothing(rng):
    """Zero rows (numpy gives such arrays zero strides): every kernel is a no-op, the update leaves W and b."""
    x, dy = np.zeros((0, 40), np.float32), np.zeros((0, 7), np.float32)
    W, b = rng.standard_normal((7, 40)).astype(np.float32), rng.standard_normal(7).astype(np.float32)
    W0, b0 = W.copy(), b.copy()
    y = np.zeros((0, 7), np.float32)
    _core.affine_forward(x, W, b, y)
    _core.sigmoid_forward(y, y)
    assert _core.softmax_cross_entropy(y, np.zeros(0, np.int32), y.copy(), y.copy()) == (0.0, 0.0)
    _core.affine_update(x, dy, 0.1, W, b)
    assert np.array_equal(W, W0) and np.array_equal(b, b0)


def test_the_portable_paths_on_an_avx512_cpu():
    """NNET2_NO_AVX512=1 selects the portable paths (the p = 2 p-norm loops, OpenBLAS for NG-SGD's H) on a CPU
    that has AVX-512, so CI, whose machines have it, runs those paths too: the stated-order p-norm cases and
    the pinned objectives (NG-SGD and SGD, 1 and 2 threads) in a child process with it set."""
    import os
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, NNET2_NO_AVX512="1")
    flag = subprocess.run([sys.executable, "-c", "from nnet2 import _core; print(_core.ngd_cpu_kernel())"],
                          env=env, capture_output=True, text=True, check=True)
    assert flag.stdout.strip() == "False"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        os.path.join(here, "test_kernels.py"), "-k", "stated_order or kaldis_float32_order",
                        os.path.join(here, "test_pinned_objectives.py")],
                       env=env, capture_output=True, text=True, cwd=os.path.dirname(here))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout
