import numpy as np
import pytest

from nnet2.feat.lda import GlobalCmvnStats, LdaStats, apply_affine, estimate_lda, splice
from nnet2.utils.errors import DataError


def test_splice_edges():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    y = splice(x, 2, 1)
    assert y.shape == (4, 12)
    for t in range(4):
        ref = np.concatenate([x[min(max(t + c, 0), 3)] for c in range(-2, 2)])
        np.testing.assert_array_equal(y[t], ref)
    assert splice(x[:0], 4, 4).shape == (0, 27)


def make_data(rng, n=4000, d=6, c=5, scale=1.0):
    means = rng.standard_normal((c, d)) * 2
    a = rng.standard_normal((d, d))
    labels = rng.integers(0, c, n)
    x = (means[labels] + rng.standard_normal((n, d)) @ a) * scale + 3.0
    return x, labels


def ref_covs(x, labels, c):
    mu = x.mean(0)
    t = (x - mu).T @ (x - mu) / len(x)
    b = np.zeros_like(t)
    for k in range(c):
        xk = x[labels == k]
        dk = xk.mean(0) - mu
        b += len(xk) / len(x) * np.outer(dk, dk)
    return t, b, mu


def test_stats_match_reference_and_weights():
    rng = np.random.default_rng(1)
    x, lab = make_data(rng)
    st = LdaStats(5, 6)
    st.accumulate(x[:1000], lab[:1000])
    st.accumulate(x[1000:], lab[1000:])
    t, b, mu, n = st.covariances()
    tr, br, mr = ref_covs(x, lab, 5)
    np.testing.assert_allclose(t, tr, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(b, br, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(mu, mr, rtol=1e-12)
    # weight 0 (silence) is the same as leaving the frames out
    w = (lab != 2).astype(float)
    s1, s2 = LdaStats(5, 6), LdaStats(5, 6)
    s1.accumulate(x, lab, w)
    s2.accumulate(x[lab != 2], lab[lab != 2])
    for a, bb in zip(s1.covariances()[:3], s2.covariances()[:3]):
        np.testing.assert_allclose(a, bb, rtol=1e-10, atol=1e-12)


def test_lda_against_generalized_eigenproblem():
    rng = np.random.default_rng(2)
    x, lab = make_data(rng)
    st = LdaStats(5, 6)
    st.accumulate(x, lab)
    t, b, mu = ref_covs(x, lab, 5)
    w = t - b
    # reference: eigen-decomposition of the non-symmetric W^-1 B (a different route than Cholesky)
    ev = np.sort(np.linalg.eigvals(np.linalg.solve(w, b)).real)[::-1]
    mat = estimate_lda(st, within_class_factor=1.0, max_singular_value=0.0).astype(np.float64)
    m = mat[:, :-1]
    np.testing.assert_allclose(m @ w @ m.T, np.eye(6), atol=1e-4)  # within-class -> identity
    mb = m @ b @ m.T
    np.testing.assert_allclose(mb, np.diag(np.diag(mb)), atol=1e-4)  # between-class diagonal
    np.testing.assert_allclose(np.diag(mb), ev, rtol=1e-4, atol=1e-4)
    for i in range(6):  # rows are generalized eigenvectors: B v = s W v
        np.testing.assert_allclose(b @ m[i], ev[i] * (w @ m[i]), atol=1e-4 * (1 + ev[i]))
    np.testing.assert_allclose(mat[:, -1], -m @ mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(apply_affine(mu[None], mat)[0], 0, atol=1e-4)

    # within-class factor: total variance of output i becomes wcf + s_i
    wcf = 1e-4
    m2 = estimate_lda(st, within_class_factor=wcf, max_singular_value=0.0).astype(np.float64)[:, :-1]
    np.testing.assert_allclose(np.diag(m2 @ t @ m2.T), wcf + ev, rtol=1e-4, atol=1e-6)
    # reduced dim keeps the leading rows
    m3 = estimate_lda(st, dim=3, within_class_factor=wcf, max_singular_value=0.0)
    assert m3.shape == (3, 7)
    np.testing.assert_allclose(m3[:, :-1], m2[:3], rtol=1e-5, atol=1e-6)


def test_singular_value_clamp():
    rng = np.random.default_rng(3)
    x, lab = make_data(rng, scale=0.01)  # tiny features -> a transform with huge singular values
    st = LdaStats(5, 6)
    st.accumulate(x, lab)
    m0 = estimate_lda(st, max_singular_value=0.0)[:, :-1].astype(np.float64)
    m = estimate_lda(st, max_singular_value=5.0)[:, :-1].astype(np.float64)
    s0, s = np.linalg.svd(m0, compute_uv=False), np.linalg.svd(m, compute_uv=False)
    assert s0.max() > 5
    np.testing.assert_allclose(s, np.minimum(s0, 5.0), rtol=1e-4)
    # the clamp keeps singular vectors: m = U min(s, 5) Vt
    u, sv, vt = np.linalg.svd(m0)
    np.testing.assert_allclose(m, (u * np.minimum(sv, 5)) @ vt, rtol=1e-4, atol=1e-4)


def test_lda_errors():
    st = LdaStats(3, 2)
    with pytest.raises(DataError, match="no .*frames"):
        estimate_lda(st)
    with pytest.raises(DataError, match="dim 2"):
        st.accumulate(np.zeros((4, 3)), np.zeros(4, int))
    with pytest.raises(DataError, match="out of range"):
        st.accumulate(np.zeros((1, 2)), np.array([3]))
    # singular within-class covariance (a constant dimension) is smoothed, as Kaldi does
    rng = np.random.default_rng(0)
    x = np.c_[rng.standard_normal(100), np.ones(100)]
    st.accumulate(x, rng.integers(0, 3, 100))
    assert np.isfinite(estimate_lda(st)).all()


def test_global_cmvn():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1000, 4)) * [1, 2, 3, 0] + [5, -1, 0, 7]
    g = GlobalCmvnStats(4)
    g.accumulate(x[:300])
    g.accumulate(x[300:])
    shift, scale = g.shift_scale()
    y = (x + shift) * scale
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(y[:, :3].std(0), 1, rtol=1e-4)
    assert scale[3] == pytest.approx(1e5, rel=1e-3)  # variance floored at 1e-10
