"""Online NG-SGD (docs/ngd.md): the C++ core against the float64 reference in
ngd_reference.py, plus properties of the Fisher estimate and the preconditioned update.

Tolerances: the core does the D-sized products in float32 (unit roundoff u = 6e-8). Sums of length D or N
carry a relative error of about sqrt(len) u ~ 1e-6 on well-scaled data; the R x R eigenproblem then
amplifies errors in W by (largest c) / (gap between eigenvalues), so the free-running comparisons use
spectra with well separated leading eigenvalues and bound W at 1e-3, outputs (X_hat, gamma, rho) at 1e-4.
d is compared relative to max(d): the floored tail of d is set by roundoff-level eigenvalues.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from ngd_reference import RefNgd, affine_update_ref  # noqa: E402

from nnet2 import _core  # noqa: E402


def gaussian_source(rng, N, D, spectrum):
    """Minibatches [N, D] of zero-mean Gaussian rows with covariance Q diag(spectrum) Q^T."""
    Q = np.linalg.qr(rng.standard_normal((D, D)))[0]
    cov = (Q * spectrum) @ Q.T
    return (lambda: ((rng.standard_normal((N, D)) * np.sqrt(spectrum)) @ Q.T).astype(np.float32)), cov


def sign_aligned_err(Wc, Wr):
    """Max abs difference of W rows up to the sign of each row (eigenvector signs are arbitrary, and the
    algorithm only depends on W^T W), relative to max |W|."""
    sg = np.where((Wc * Wr).sum(1) < 0, -1.0, 1.0)[:, None]
    return np.abs(Wc * sg - Wr).max() / np.abs(Wr).max()


CASES = {
    # name: (N, D, rank, update_period, spectrum)
    "basic": (128, 60, 10, 1, 0.5 ** np.arange(60) * 10 + 0.01),
    "update_period_3": (64, 200, 20, 3, 0.8 ** np.arange(200) + 1e-3),
    "rank_ge_dim": (256, 30, 40, 1, 0.85 ** np.arange(30)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference_over_60_minibatches(case):
    N, D, R, P, spec = CASES[case]
    gen, _ = gaussian_source(np.random.default_rng(1), N, D, spec)
    core = _core.OnlineNaturalGradient(rank=R, update_period=P)
    ref = RefNgd(rank=R, update_period=P)
    assert core.state()["t"] == -1
    for it in range(60):
        X = gen()
        Xc, rp = X.copy(), np.zeros(N, np.float32)
        gc = core.precondition(Xc, rp)
        Xr, rpr, gr = ref.precondition(X)
        s = core.state()
        assert (s["t"], s["num_updates_skipped"]) == (ref.t, ref.skipped), it
        assert s["rank"] == min(R, D - 1)
        assert np.abs(Xc - Xr).max() <= 1e-4 * np.abs(Xr).max(), it
        assert np.abs(rp - rpr).max() <= 1e-4 * rpr.max(), it
        assert gc == pytest.approx(gr, rel=1e-4), it
        assert s["rho"] == pytest.approx(ref.rho, rel=1e-4), it
        assert np.abs(s["d"] - ref.d).max() <= 1e-4 * ref.d.max(), it
        assert sign_aligned_err(s["W"], ref.W) <= 1e-3, it
    if P > 1:  # after the 10 initial updates only every P-th call updates
        assert ref.t == 10 + (60 - 10) // P


def make_state(rng, D, R, d, rho, perturb=0.0, duplicate=None):
    """A state (W [R, D] float32, d, rho) with E^{-1/2} W orthonormal up to `perturb` noise; `duplicate=(i, j)`
    makes row j a copy of row i (a rank-deficient basis)."""
    Q = np.linalg.qr(rng.standard_normal((D, R)))[0].T
    if duplicate is not None:
        Q[duplicate[1]] = Q[duplicate[0]]
    Q = Q + perturb * rng.standard_normal(Q.shape)
    e = RefNgd(rank=R).e_of(np.asarray(d), rho, D)
    return (np.sqrt(e)[:, None] * Q).astype(np.float32)


def one_step(W, d, rho, X, t=20):
    core = _core.OnlineNaturalGradient(rank=W.shape[0])
    core.set_state(W, d, rho, t, 0)
    ref = RefNgd(rank=W.shape[0])
    ref.set_state(W, d, rho, t)
    Xc = X.copy()
    gc = core.precondition(Xc)
    Xr, _, gr = ref.precondition(X)
    return core, ref, Xc, gc, Xr, gr


def test_reorthogonalize_cholesky_path():
    # d spans 1e5 (so c spans > 1e6: the condition flag is set) and the basis is 1e-2 away from orthonormal,
    # so the Cholesky correction runs (and must match the reference step exactly, up to float32).
    rng = np.random.default_rng(5)
    D, R, N = 40, 6, 100
    d = 10.0 ** -np.arange(R)
    W = make_state(rng, D, R, d, 1e-6, perturb=1e-2)
    X = (rng.standard_normal((N, D)) * 0.01).astype(np.float32)
    core, ref, Xc, gc, Xr, gr = one_step(W, d, 1e-6, X)
    s = core.state()
    assert ref.num_reorth == 1 and ref.num_gram_schmidt == 0
    assert s["num_reorthogonalizations"] == 1 and s["num_gram_schmidt"] == 0
    assert np.abs(Xc - Xr).max() <= 1e-5 * np.abs(Xr).max()
    assert gc == pytest.approx(gr, rel=1e-5)
    assert np.allclose(s["d"], ref.d, rtol=1e-5) and s["rho"] == pytest.approx(ref.rho, rel=1e-5)
    assert sign_aligned_err(s["W"], ref.W) <= 1e-5
    check_orthonormal(s)


def test_reorthogonalize_gram_schmidt_fallback():
    # Two parallel rows and data inside their span: W_{t+1} has rank R-1, so O is singular, Cholesky fails
    # or C^{-1} is huge, and Gram-Schmidt runs. The replacement for the dependent row is roundoff-defined,
    # so only the rows before it are compared.
    rng = np.random.default_rng(6)
    D, R, N = 40, 6, 100
    d = 10.0 ** -np.arange(R)
    W = make_state(rng, D, R, d, 1e-6, duplicate=(2, 4))
    X = (rng.standard_normal((N, R)) @ W * 0.1).astype(np.float32)
    core, ref, Xc, gc, Xr, gr = one_step(W, d, 1e-6, X)
    s = core.state()
    assert ref.num_gram_schmidt == 1 and s["num_gram_schmidt"] == 1
    assert np.abs(Xc - Xr).max() <= 1e-5 * np.abs(Xr).max()
    assert sign_aligned_err(s["W"][:4], ref.W[:4]) <= 1e-4
    check_orthonormal(s, tol=1e-5)


def test_reorthogonalize_when_ill_conditioned_free_running():
    # One direction with 1e5 times the variance of the rest: c spans > 1e10 and the float32 product A B
    # loses orthogonality, which the re-orthogonalization must repair (Kaldi has the same float32 behaviour).
    N, D, R = 128, 50, 8
    gen, _ = gaussian_source(np.random.default_rng(1), N, D, np.r_[1e5, 0.7 ** np.arange(49)])
    core, ref = _core.OnlineNaturalGradient(rank=R), RefNgd(rank=R)
    for _ in range(60):
        X = gen()
        Xc = X.copy()
        gc = core.precondition(Xc)
        Xr, _, gr = ref.precondition(X)
        s = core.state()
        assert np.abs(Xc - Xr).max() <= 1e-3 * np.abs(Xr).max()
        assert gc == pytest.approx(gr, rel=1e-3)
        assert s["rho"] == pytest.approx(ref.rho, rel=1e-2)
        assert np.abs(s["d"] - ref.d).max() <= 1e-4 * ref.d.max()
        check_orthonormal(s, tol=2e-2)
    assert s["num_reorthogonalizations"] >= 1


def e_of_state(s, alpha=4.0):
    D = s["dim"]
    beta = s["rho"] * (1 + alpha) + alpha / D * s["d"].sum()
    return 1.0 / (beta / s["d"] + 1.0)


def check_orthonormal(s, tol=1e-3):
    Rm = s["W"].astype(np.float64) / np.sqrt(e_of_state(s))[:, None]
    assert np.abs(Rm @ Rm.T - np.eye(len(Rm))).max() <= tol


def test_fisher_tracks_known_covariance():
    N, D, R = 256, 80, 10
    spec = np.r_[np.linspace(20.0, 5.0, R), np.full(D - R, 0.5)]
    gen, cov = gaussian_source(np.random.default_rng(2), N, D, spec)
    core = _core.OnlineNaturalGradient(rank=R, num_samples_history=5000.0)
    for _ in range(150):
        X = gen()
        core.precondition(X)
    s = core.state()
    check_orthonormal(s)
    Rm = s["W"].astype(np.float64) / np.sqrt(e_of_state(s))[:, None]
    F = Rm.T @ (s["d"][:, None] * Rm) + s["rho"] * np.eye(D)
    top = np.linalg.eigvalsh(F)[::-1][:R]
    assert np.allclose(top, spec[:R], rtol=0.05), (top, spec[:R])
    # The subspace is the true top-R one, and rho is the average of the rest.
    P = Rm.T @ Rm
    Q = np.linalg.eigh(cov)[1][:, ::-1][:, :R]
    assert np.linalg.norm(P @ Q - Q) / np.sqrt(R) < 0.1
    assert s["rho"] == pytest.approx(0.5, rel=0.05)


def test_preconditioned_rows_point_the_same_way():
    gen, _ = gaussian_source(np.random.default_rng(3), 64, 30, 0.6 ** np.arange(30))
    core = _core.OnlineNaturalGradient(rank=8)
    for _ in range(20):
        X = gen()
        Xh = X.copy()
        gamma = core.precondition(Xh)
        assert gamma >= 1.0  # X_hat = X (I - W^T W) with eigenvalues of W^T W in [0, 1)
        assert np.all((X.astype(np.float64) * Xh).sum(1) > 0)


def test_dim_one_is_identity_and_row_prod():
    X = np.arange(1, 6, dtype=np.float32).reshape(5, 1)
    rp = np.zeros(5, np.float32)
    core = _core.OnlineNaturalGradient()
    assert core.precondition(X, rp) == 1.0
    assert np.array_equal(X[:, 0], np.arange(1, 6)) and np.allclose(rp, np.arange(1, 6) ** 2)
    assert core.state()["t"] == -1


@pytest.mark.parametrize("dim", [31, 32, 33, 200, 2001])
@pytest.mark.parametrize("threads", [1, 2])
def test_row_prod_is_the_float64_row_norm_of_x_hat(dim, threads):
    """row_prod (the core's row-norm kernel, RowSquaredNorms: 32 fixed double lanes, then the tail) against
    NumPy's float64 squared row norms of the returned X_hat, rounded to float32: a consistency check of our
    own kernel (the sum order differs, so at most 1 ulp apart), on dimensions around the lane width, on 1 and
    2 threads (each row is one thread's: the same bits). The fused copy + norms of the same kernel
    (CopyMatRowNorms, the materialized output side) is covered against the float64 reference by
    test_affine_update_matches_reference (O = 20: the tail only; O = 80: two blocks of 32 lanes and a tail)."""
    prev = _core.get_num_threads()
    _core.set_num_threads(threads)
    try:
        rng = np.random.default_rng(dim)
        core = _core.OnlineNaturalGradient(rank=min(10, dim - 1), update_period=2)
        for _ in range(6):  # past the initialization, with and without a Fisher update
            X = (rng.standard_normal((64, dim)) * rng.uniform(0.1, 3.0, dim)).astype(np.float32)
            rp = np.full(64, np.nan, np.float32)
            core.precondition(X, rp)
            ref = np.square(X.astype(np.float64)).sum(axis=1).astype(np.float32)
            ulps = np.abs(rp.view(np.int32).astype(np.int64) - ref.view(np.int32))
            assert ulps.max() <= 1, (dim, ulps.max())
    finally:
        _core.set_num_threads(prev)


# (N, D, R) around the edges of the CPU kernel for H = X W^T (csrc/ngd/projection.h): row tiles of 8 (then 4,
# then 1), panels of 16 columns of H in groups of 3, any D; and D below, at and above the 2-way column split of
# the update step's J and K.
KERNEL_EDGES = [(1, 2, 1), (7, 17, 15), (9, 31, 16), (13, 33, 17), (20, 70, 33), (40, 300, 49), (130, 2001, 80)]


@pytest.mark.parametrize("shape", KERNEL_EDGES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("threads", [1, 2])
def test_kernel_edges_match_the_reference(shape, threads):
    """One minibatch that skips the Fisher update and one that makes it, from the same installed state, against
    the float64 NumPy twin (a consistency check of our own code): X_hat, the row norms, gamma, and after the
    update W (up to row signs), d and rho. On a CPU with AVX-512 (`_core.ngd_cpu_kernel()`) H comes from the
    packed kernel, and on 2 threads the update step's halves of J and K run side by side and its
    eigenproblem beside X_hat; elsewhere the same steps run through OpenBLAS in turn."""
    N, D, R = shape
    prev = _core.get_num_threads()
    _core.set_num_threads(threads)
    try:
        rng = np.random.default_rng(N * 10007 + D * 101 + R)
        d = np.sort(rng.uniform(0.5, 5.0, R))[::-1] * 2.0 ** -np.arange(R)
        rho = 0.05
        W = make_state(rng, D, R, d, rho)
        X = (rng.standard_normal((N, D)) * rng.uniform(0.2, 2.0, D)).astype(np.float32)
        for period in (4, 1):  # t = 20, nothing skipped: period 4 skips the update, period 1 makes it
            core = _core.OnlineNaturalGradient(rank=R, update_period=period)
            core.set_state(W, d, rho, 20, 0)
            ref = RefNgd(rank=R, update_period=period)
            ref.set_state(W, d, rho, 20)
            Xc, rp = X.copy(), np.full(N, np.nan, np.float32)
            gc = core.precondition(Xc, rp)
            Xr, rpr, gr = ref.precondition(X)
            assert np.abs(Xc - Xr).max() <= 1e-4 * np.abs(Xr).max(), period
            assert np.abs(rp - rpr).max() <= 1e-4 * rpr.max(), period
            assert gc == pytest.approx(gr, rel=1e-4), period
            s = core.state()
            assert s["t"] == ref.t, period
            if period == 1:
                assert sign_aligned_err(s["W"], ref.W) <= 1e-3
                assert np.abs(s["d"] - ref.d).max() <= 1e-4 * ref.d.max()
                assert s["rho"] == pytest.approx(ref.rho, rel=1e-4)
    finally:
        _core.set_num_threads(prev)


@pytest.mark.parametrize("shape", [(128, 2000, 80), (128, 201, 20), (9, 33, 17)], ids=lambda s: "x".join(map(str, s)))
def test_two_threads_precondition_what_one_does(shape):
    """20 minibatches from a fresh preconditioner (initialization, the first 10 updates, then skips and
    updates at period 4) on 1 and on 2 threads: the same outputs and state to float32 roundoff (OpenBLAS's own
    2-thread split of X_hat = X - H W is not bit-identical to its 1-thread one), and run twice on 2 threads the
    same bits (the side-by-side parts of the update step do not race). A consistency check of our threading."""
    N, D, R = shape
    prev = _core.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 2):
            _core.set_num_threads(threads)
            rng = np.random.default_rng(5)
            core = _core.OnlineNaturalGradient(rank=R, update_period=4)
            out = []
            for _ in range(20):
                X = (rng.standard_normal((N, D)) * np.linspace(0.1, 3.0, D)).astype(np.float32)
                rp = np.empty(N, np.float32)
                out.append((core.precondition(X, rp), X, rp))
            s = core.state()
            runs.append((out, s["W"], np.asarray(s["d"]), s["rho"]))
    finally:
        _core.set_num_threads(prev)
    (o1, W1, d1, r1), (o2, W2, d2, r2), (o3, W3, d3, r3) = runs
    for (g1, X1, p1), (g2, X2, p2) in zip(o1, o2):
        assert g2 == pytest.approx(g1, rel=1e-4)
        np.testing.assert_allclose(X2, X1, rtol=1e-3, atol=1e-4 * np.abs(X1).max())
        np.testing.assert_allclose(p2, p1, rtol=1e-3)
    assert sign_aligned_err(W2, W1) <= 1e-3 and r2 == pytest.approx(r1, rel=1e-3)
    for (g2, X2, p2), (g3, X3, p3) in zip(o2, o3):
        assert g2 == g3 and np.array_equal(X2, X3) and np.array_equal(p2, p3)
    assert np.array_equal(W2, W3) and np.array_equal(d2, d3) and r2 == r3


def test_strided_rows_are_preconditioned_in_place():
    gen, _ = gaussian_source(np.random.default_rng(4), 32, 20, 0.7 ** np.arange(20))
    X = gen()
    big = np.full((32, 27), 7.0, np.float32)
    big[:, :20] = X
    a, b = _core.OnlineNaturalGradient(rank=5), _core.OnlineNaturalGradient(rank=5)
    Xc = X.copy()
    assert a.precondition(big[:, :20]) == b.precondition(Xc)
    assert np.array_equal(big[:, :20], Xc) and np.all(big[:, 20:] == 7.0)


def test_reset_options_and_state_roundtrip():
    core = _core.OnlineNaturalGradient(rank=7, update_period=4, num_samples_history=1000.0, alpha=2.0)
    assert (core.rank, core.update_period, core.num_samples_history, core.alpha) == (7, 4, 1000.0, 2.0)
    X = np.random.default_rng(0).standard_normal((50, 12)).astype(np.float32)
    core.precondition(X.copy())
    s = core.state()
    assert s["t"] == 1 and s["W"].shape == (7, 12) and s["d"].shape == (7,)
    other = _core.OnlineNaturalGradient(rank=7, update_period=4, num_samples_history=1000.0, alpha=2.0)
    other.set_state(s["W"], s["d"], s["rho"], s["t"], s["num_updates_skipped"])
    A, B = X.copy(), X.copy()
    assert core.precondition(A) == other.precondition(B) and np.array_equal(A, B)
    core.reset()
    assert core.state()["t"] == -1
    core.rank = 3  # changing the rank drops the state
    core.precondition(X.copy())
    assert core.state()["rank"] == 3


def test_bad_inputs():
    core = _core.OnlineNaturalGradient(rank=4)
    with pytest.raises(ValueError, match="float32"):
        core.precondition(np.zeros((10, 8)))
    with pytest.raises(ValueError, match="row_prod"):
        core.precondition(np.ones((10, 8), np.float32), np.zeros(9, np.float32))
    core.precondition(np.random.default_rng(0).standard_normal((10, 8)).astype(np.float32))
    with pytest.raises(ValueError, match="initialized with dimension 8"):
        core.precondition(np.ones((10, 9), np.float32))
    with pytest.raises(ValueError, match="read-only"):
        ro = np.ones((10, 8), np.float32)
        ro.setflags(write=False)
        core.precondition(ro)
    for kw in ({"rank": 0}, {"update_period": 0}, {"num_samples_history": -1.0}, {"alpha": -0.5}):
        with pytest.raises(ValueError, match=list(kw)[0]):
            _core.OnlineNaturalGradient(**kw)
    with pytest.raises(ValueError, match="rank must be > 0"):
        core.rank = -2
    with pytest.raises(ValueError, match="SetState"):
        core.set_state(np.zeros((8, 8), np.float32), np.ones(8), 1.0)
    bad = np.full((10, 8), np.nan, np.float32)
    with pytest.raises(ValueError, match="non-finite|eigendecomposition"):
        _core.OnlineNaturalGradient(rank=4).precondition(bad)


# -- docs/ngd.md §8: the preconditioned affine update -------------------------------------------------------------


def affine_problem(rng, N=96, I=30, O=20):
    x = rng.standard_normal((N, I)).astype(np.float32) * np.linspace(2, 0.1, I).astype(np.float32)
    dy = rng.standard_normal((N, O)).astype(np.float32) * np.linspace(1, 0.05, O).astype(np.float32)
    W = rng.standard_normal((O, I)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    return x, dy, W, b


@pytest.mark.parametrize("periods", [(1, 2), (3, 4)], ids=["in1-out2", "in3-out4"])
@pytest.mark.parametrize("max_change", [0.0, 0.05, 100.0])
@pytest.mark.parametrize("shape", [(96, 30, 20), (200, 10, 40), (48, 60, 80)], ids=["materialized", "factored",
                                                                                   "materialized-N<D"])
def test_affine_update_matches_reference(max_change, shape, periods):
    # (200, 10, 40): N * O > O * I + N * (I + 1), so the core uses the factored output side. (48, 60, 80): N < D on
    # both sides (L and K as lower triangles). update_period > 1: the minibatches that do not update take
    # tr(X X^T) from the row norms of the fused copies.
    rng = np.random.default_rng(7)
    x, dy, W, b = affine_problem(rng, *shape)
    pi, po = periods
    ci, co = _core.OnlineNaturalGradient(rank=6, update_period=pi), _core.OnlineNaturalGradient(rank=5, update_period=po)
    ri, ro = RefNgd(rank=6, update_period=pi), RefNgd(rank=5, update_period=po)
    Wr, br = W.astype(np.float64), b.astype(np.float64)
    clipped = 0
    for it in range(25):
        x, dy, _, _ = affine_problem(rng, *shape)
        x0, dy0 = x.copy(), dy.copy()
        info = _core.affine_update_ngd(x, dy, 0.01, W, b, ci, co, max_change)
        assert np.array_equal(x, x0) and np.array_equal(dy, dy0)
        Wr, br, ir = affine_update_ref(x, dy, 0.01, Wr, br, ri, ro, max_change)
        for k in ir:
            assert info[k] == pytest.approx(ir[k], rel=1e-4), (it, k)
        clipped += info["minibatch_scale"] < 1
        assert np.abs(W - Wr).max() <= 1e-4 * np.abs(Wr).max()
        assert np.abs(b - br).max() <= 1e-4 * np.abs(br).max()
    assert (clipped > 0) == (max_change == 0.05) or shape[0] != 96


def test_affine_max_change_bounds_the_step():
    rng = np.random.default_rng(8)
    ci, co = _core.OnlineNaturalGradient(rank=6), _core.OnlineNaturalGradient(rank=5)
    for lr in (1e-3, 1.0, 100.0):
        x, dy, W, b = affine_problem(rng, N=64)
        W0, b0 = W.copy(), b.copy()
        info = _core.affine_update_ngd(x, dy, lr, W, b, ci, co, 0.1)
        step = np.sqrt(((W - W0).astype(np.float64) ** 2).sum() + ((b - b0).astype(np.float64) ** 2).sum())
        assert step <= 0.1 * 64 * (1 + 1e-5), (lr, step)
        if lr == 100.0:
            assert info["minibatch_scale"] < 1


def test_affine_update_bad_inputs():
    rng = np.random.default_rng(9)
    x, dy, W, b = affine_problem(rng)
    ci, co = _core.OnlineNaturalGradient(rank=6), _core.OnlineNaturalGradient(rank=5)
    with pytest.raises(ValueError, match="separate"):
        _core.affine_update_ngd(x, dy, 0.1, W, b, ci, ci, 0.1)
    with pytest.raises(ValueError, match="W"):
        _core.affine_update_ngd(x, dy, 0.1, W[:, :5].copy(), b, ci, co, 0.1)
    with pytest.raises(ValueError, match="rows"):
        _core.affine_update_ngd(x[:10], dy, 0.1, W, b, ci, co, 0.1)
    with pytest.raises(ValueError, match="bias"):
        _core.affine_update_ngd(x, dy, 0.1, W, b[:3].copy(), ci, co, 0.1)


# The GPU versions of these checks are in tests/test_gpu_ngd.py.
