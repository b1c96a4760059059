"""RBM pretraining: Philox stream, CD-1 step vs a float64 reference, the Gaussian explosion guard, nnet1's
schedule and shuffling, learning on data from a known RBM (exact log-likelihood), nnet1 file I/O, CLI."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from nnet2 import _core
from nnet2.io import nnet1 as nnet1_io
from nnet2.io.nnet1 import AddShift, AffineTransform, Rbm, Rescale, Sigmoid, Splice
from nnet2.rbm.train import (DbnOptions, FrameRandomizer, MomentumSchedule, RbmTrainOptions, init_rbm,
                             pretrain_dbn, splice_utterance, train_rbm)
from nnet2.utils.errors import DataError, ModelFormatError


@pytest.fixture(autouse=True)
def one_thread():
    prev = _core.get_num_threads()
    _core.set_num_threads(1)  # results bit-reproducible and no spin contention on a shared 2-core box
    yield
    _core.set_num_threads(prev)


# ------------------------------------------------------------------------------------------ random numbers
def test_philox_known_answers():
    # Random123 kat_vectors, philox4x32 10 lines: counter, key -> output.
    kat = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
           ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
           ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for ctr, key, want in kat:
        assert _core.philox4x32_10(ctr, key) == want


def _stream_uniforms(seed: int, offset: int, n: int) -> np.ndarray:
    out = []
    for i in range(offset, offset + n):
        j = i >> 2
        w = _core.philox4x32_10((j & 0xFFFFFFFF, j >> 32, 0, 0), (seed & 0xFFFFFFFF, seed >> 32))[i & 3]
        out.append((w >> 8) / 16777216.0)
    return np.array(out, np.float32)


def test_fill_uniform_follows_stream_convention_and_strides():
    seed, offset = (7 << 33) + 12345, 2**32 * 4 + 3  # 64-bit seed and counter, offset not a multiple of 4
    big = np.full((5, 9), -1.0, np.float32)
    view = big[:, 1:8]  # strided rows
    _core.fill_uniform(view, seed, offset)
    np.testing.assert_array_equal(view.ravel(), _stream_uniforms(seed, offset, view.size))
    assert np.all(big[:, 0] == -1) and np.all(big[:, 8] == -1)
    u = np.empty((300, 333), np.float32)
    _core.fill_uniform(u, 1, 0)
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.005


def test_bernoulli_sample_is_threshold_of_stream():
    p = np.random.default_rng(0).random((17, 23)).astype(np.float32)
    u = np.empty_like(p)
    _core.fill_uniform(u, 5, 11)
    out = np.empty_like(p)
    _core.bernoulli_sample(p, out, 5, 11)
    np.testing.assert_array_equal(out, (u < p).astype(np.float32))


# ------------------------------------------------------------------------------------------ CD-1 step
def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _reference_step(v, W, bv, bh, dW, dbv, dbh, lr, mom, l2, gaussian, pos_hid_core, u):
    """float64 nnet1 RbmUpdate; the binary states come from the core's float32 pos_hid (same u)."""
    v, W, bv, bh, dW, dbv, dbh = (np.asarray(a, np.float64) for a in (v, W, bv, bh, dW, dbv, dbh))
    pos_hid = _sig(v @ W.T + bh)
    h = (u < pos_hid_core).astype(np.float64)
    neg_vis = h @ W + bv
    if not gaussian:
        neg_vis = _sig(neg_vis)
    neg_hid = _sig(neg_vis @ W.T + bh)
    N = v.shape[0]
    dW = mom * dW + (lr / N) * (pos_hid.T @ v - neg_hid.T @ neg_vis) - lr * l2 * W
    dbv = mom * dbv + (lr / N) * (v.sum(0) - neg_vis.sum(0))
    dbh = mom * dbh + (lr / N) * (pos_hid.sum(0) - neg_hid.sum(0))
    return dict(W=W + dW, bv=bv + dbv, bh=bh + dbh, dW=dW, dbv=dbv, dbh=dbh, pos_hid=pos_hid, neg_vis=neg_vis,
                neg_hid=neg_hid, mse=np.mean((neg_vis - v) ** 2))


@pytest.mark.parametrize("gaussian", [False, True])
def test_cd1_step_matches_float64_reference(gaussian):
    rng = np.random.default_rng(1)
    N, V, H = 50, 37, 29
    W = (0.1 * rng.standard_normal((H, V))).astype(np.float32)
    bv = (0.1 * rng.standard_normal(V)).astype(np.float32)
    bh = (0.1 * rng.standard_normal(H)).astype(np.float32)
    dW, dbv, dbh = np.zeros_like(W), np.zeros_like(bv), np.zeros_like(bh)
    ws = [np.empty((N, H), np.float32), np.empty((N, V), np.float32), np.empty((N, H), np.float32)]
    seed = 99
    for step, (lr, mom) in enumerate([(0.2, 0.5), (0.1, 0.9), (0.1, 0.9)]):
        v = rng.standard_normal((N, V)).astype(np.float32) if gaussian else \
            (rng.random((N, V)) < 0.3).astype(np.float32)
        u = np.empty((N, H), np.float32)
        _core.fill_uniform(u, seed, step * N * H)
        ref_in = (W.copy(), bv.copy(), bh.copy(), dW.copy(), dbv.copy(), dbh.copy())
        r = _core.rbm_cd1_step(v, W, bv, bh, dW, dbv, dbh, lr, mom, 2e-4, gaussian, seed, step * N * H, *ws)
        assert not r["skipped"] and r["lr"] == pytest.approx(lr)
        ref = _reference_step(v, *ref_in, lr, mom, 2e-4, gaussian, ws[0], u)
        tol = dict(rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ws[0], ref["pos_hid"], **tol)
        np.testing.assert_allclose(ws[1], ref["neg_vis"], **tol)
        np.testing.assert_allclose(ws[2], ref["neg_hid"], **tol)
        for got, key in ((W, "W"), (bv, "bv"), (bh, "bh"), (dW, "dW"), (dbv, "dbv"), (dbh, "dbh")):
            np.testing.assert_allclose(got, ref[key], err_msg=key, **tol)
        assert r["mse"] == pytest.approx(ref["mse"], rel=1e-5)
        assert r["pos_vis_std"] == pytest.approx(np.std(v.astype(np.float64)), rel=1e-6)


def test_cd1_step_allocates_workspace_and_checks_shapes():
    V, H, N = 6, 4, 10
    W = np.zeros((H, V), np.float32)
    args = [np.zeros(V, np.float32), np.zeros(H, np.float32), np.zeros((H, V), np.float32),
            np.zeros(V, np.float32), np.zeros(H, np.float32)]
    r = _core.rbm_cd1_step(np.ones((N, V), np.float32), W, *args, 0.1, 0.5, 0.0, False, 1, 0)
    assert set(r) >= {"mse", "sse", "lr", "skipped"}
    with pytest.raises(ValueError, match="visible units"):
        _core.rbm_cd1_step(np.ones((N, V + 1), np.float32), W, *args, 0.1, 0.5, 0.0, False, 1, 0)
    with pytest.raises(ValueError, match="float32"):
        _core.rbm_cd1_step(np.ones((N, V)), W, *args, 0.1, 0.5, 0.0, False, 1, 0)
    bad = np.ones((N, V), np.float32)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _core.rbm_cd1_step(bad, W, *args, 0.1, 0.5, 0.0, True, 1, 0)


def test_gaussian_guard_rescales_and_skips():
    rng = np.random.default_rng(2)
    N, V, H = 100, 20, 50
    v = rng.standard_normal((N, V)).astype(np.float32)
    W = (3.0 * rng.standard_normal((H, V))).astype(np.float32)  # reconstruction far wider than the data
    bv, bh = np.full(V, 0.5, np.float32), np.full(H, -0.2, np.float32)
    dW, dbv, dbh = np.ones_like(W), np.ones_like(bv), np.ones_like(bh)
    W0, bv0, bh0 = W.copy(), bv.copy(), bh.copy()
    r = _core.rbm_cd1_step(v, W, bv, bh, dW, dbv, dbh, 0.01, 0.9, 2e-4, True, 3, 0)
    assert r["skipped"] and r["neg_vis_std"] > 2 * r["pos_vis_std"]
    assert r["lr"] == pytest.approx(0.009)
    s = np.float32(r["pos_vis_std"] / r["neg_vis_std"])
    np.testing.assert_allclose(W, W0 * s, rtol=1e-6)
    np.testing.assert_allclose(bv, bv0 * s, rtol=1e-6)
    np.testing.assert_allclose(bh, bh0 * s, rtol=1e-6)
    assert not dW.any() and not dbv.any() and not dbh.any()
    # Bernoulli visibles never trigger the guard.
    r = _core.rbm_cd1_step((v > 0).astype(np.float32), W0.copy(), bv0.copy(), bh0.copy(), np.zeros_like(W0),
                           np.zeros_like(bv0), np.zeros_like(bh0), 0.01, 0.9, 2e-4, False, 3, 0)
    assert not r["skipped"]


def test_gaussian_layer_survives_unnormalized_input():
    rng = np.random.default_rng(3)
    # Mean 5, std 0.3: not normalized; 400 hidden units with stddev-0.1 weights reconstruct far too widely.
    x = (0.3 * rng.standard_normal((3000, 30)) + 5.0).astype(np.float32)
    rbm = init_rbm(30, 400, "gauss", 0.1, 0)
    h = train_rbm(x, rbm, RbmTrainOptions(learn_rate=0.1, momentum_step_period=1000, num_iters=2),
                  progress=False)
    assert h["guard_hits"] > 0
    assert h["epoch_mse"][-1] < 1.0
    assert np.all(np.isfinite(rbm.W)) and np.all(np.isfinite(rbm.b_vis)) and np.all(np.isfinite(rbm.b_hid))
    assert np.all(np.isfinite(h["epoch_mse"]))


# ------------------------------------------------------------------------------------------ schedule, shuffling
def test_momentum_schedule_matches_nnet1_with_bug():
    o = RbmTrainOptions(learn_rate=0.4, momentum_step_period=1000)
    s = MomentumSchedule(o)
    assert (s.momentum, s.lr) == (0.5, pytest.approx(0.2))
    seen = []
    for _ in range(5000):
        s.after_minibatch(100)
        seen.append((s.momentum, s.lr))
    assert seen[0] == (pytest.approx(0.9), pytest.approx(0.2))  # k = 0 after the first minibatch
    assert seen[9] == (pytest.approx(0.9), pytest.approx(0.4 * (1 - 0.51)))  # 1000 frames: k = 1
    assert seen[-1] == (pytest.approx(0.9), pytest.approx(0.4 * 0.1, rel=1e-5))  # k > 40: m_max
    s2 = MomentumSchedule(RbmTrainOptions(learn_rate=0.4, momentum_step_period=1000, with_bug=False))
    for _ in range(20):
        s2.after_minibatch(100)
    assert s2.momentum == pytest.approx(0.52)


@pytest.mark.parametrize("size", [0, 250, 32768])
def test_frame_randomizer(size):
    r = FrameRandomizer(1030, 100, size, 777)
    mbs = list(r.minibatches(3))
    assert len(mbs) == r.num_minibatches(3) == 30 and all(len(m) == 100 for m in mbs)
    counts = np.bincount(np.concatenate(mbs), minlength=1030)
    assert counts.max() <= 3 and counts.sum() == 3000
    first_epoch = np.concatenate(mbs[:10])
    assert not np.array_equal(first_epoch, np.sort(first_epoch))  # shuffled
    again = list(FrameRandomizer(1030, 100, size, 777).minibatches(3))
    assert all(np.array_equal(a, b) for a, b in zip(mbs, again))


# ------------------------------------------------------------------------------------------ learning
def _all_states(n):
    return np.array(list(itertools.product([0, 1], repeat=n)), np.float64)


def _log_likelihood(v, W, bv, bh):
    """Exact mean log p(v) of a small Bernoulli RBM (log Z by enumerating the visible states)."""
    W, bv, bh = (np.asarray(a, np.float64) for a in (W, bv, bh))

    def free(x):  # -free energy
        return x @ bv + np.logaddexp(0, x @ W.T + bh).sum(1)

    logz = np.logaddexp.reduce(free(_all_states(W.shape[1])))
    return float(np.mean(free(np.asarray(v, np.float64)) - logz))


def test_learns_data_from_a_known_rbm():
    rng = np.random.default_rng(4)
    V, H = 6, 4
    Wt = rng.normal(0, 2.0, (H, V))
    bvt, bht = rng.normal(0, 1.0, V), rng.normal(0, 1.0, H)
    states = _all_states(V)
    logp = states @ bvt + np.logaddexp(0, states @ Wt.T + bht).sum(1)
    p = np.exp(logp - np.logaddexp.reduce(logp))
    data = states[rng.choice(len(states), size=6000, p=p)].astype(np.float32)
    rbm = init_rbm(V, H, "bern", 0.1, 1, vis_mean=data.mean(0))
    ll0 = _log_likelihood(data, rbm.W, rbm.b_vis, rbm.b_hid)
    h = train_rbm(data, rbm, RbmTrainOptions(learn_rate=0.4, momentum_step_period=600, num_iters=20),
                  progress=False)
    ll1 = _log_likelihood(data, rbm.W, rbm.b_vis, rbm.b_hid)
    ll_true = _log_likelihood(data, Wt, bvt, bht)
    # CD-1 is biased, so it does not reach the generating model; it must close a good part of the gap
    # left by the independent-units start (the visible biases already match the marginals).
    assert ll1 > ll0 + 0.05, (ll0, ll1, ll_true)
    assert ll1 - ll0 > 0.3 * (ll_true - ll0), (ll0, ll1, ll_true)
    assert h["epoch_mse"][-1] < h["epoch_mse"][0]


# ------------------------------------------------------------------------------------------ DBN + files
def _utts(n=12, T=120, D=5, seed=0):
    rng = np.random.default_rng(seed)
    return [(3.0 * rng.standard_normal((T + i, D)) + 2.0).astype(np.float32) for i in range(n)]


def _small_opts(**kw):
    base = dict(nn_depth=2, hid_dim=16, splice=2, momentum_step_period=500, randomizer_size=512)
    base.update(kw)
    return DbnOptions(**base)


def test_pretrain_dbn_writes_kaldi_layout_and_is_reproducible(tmp_path):
    d1, d2, d3 = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    r1 = pretrain_dbn(_utts(), _small_opts(), str(d1), progress=False)
    pretrain_dbn(_utts(), _small_opts(), str(d2), progress=False)
    pretrain_dbn(_utts(), _small_opts(seed=778), str(d3), progress=False)
    names = sorted(os.listdir(d1))
    assert names == ["1.dbn", "1.rbm", "2.dbn", "2.rbm", "final.feature_transform"]
    for n in names:
        assert (d1 / n).read_bytes() == (d2 / n).read_bytes(), n
    assert (d1 / "2.dbn").read_bytes() != (d3 / "2.dbn").read_bytes()
    layers = nnet1_io.dbn_to_layers(str(d1 / "2.dbn"))
    assert [W.shape for W, _ in layers] == [(16, 25), (16, 16)]
    np.testing.assert_array_equal(layers[1][0], r1.rbms[1].W)
    offs, mean, std = nnet1_io.feature_transform_to_mean_std(str(d1 / "final.feature_transform"))
    x = np.concatenate([splice_utterance(u, 2) for u in _utts()])
    np.testing.assert_array_equal(offs, np.arange(-2, 3))
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, x.std(0), rtol=1e-4)
    assert r1.rbms[1].vis_type == "bern" and r1.rbms[0].vis_type == "gauss"
    # Resume: existing k.rbm files are reused.
    r4 = pretrain_dbn(_utts(), _small_opts(), str(d1), progress=False)
    assert r4.history == [{}, {}] and np.array_equal(r4.rbms[1].W, r1.rbms[1].W)


def test_init_rbm_visible_bias_is_clipped_logit_of_mean():
    r = init_rbm(4, 3, "bern", 0.1, 0, vis_mean=np.array([0.0, 0.5, 0.9, 1.0]))
    np.testing.assert_allclose(r.b_vis, [np.log(1e-4 / (1 - 1e-4)), 0.0, np.log(9.0), np.log(0.9999 / 1e-4)],
                               rtol=1e-6)
    assert not r.b_hid.any() and r.W.shape == (3, 4) and abs(r.W.std() - 0.1) < 0.08


def test_splice_repeats_edges():
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    y = splice_utterance(x, 1)
    np.testing.assert_array_equal(y[0], [0, 1, 0, 1, 2, 3])
    np.testing.assert_array_equal(y[3], [4, 5, 6, 7, 6, 7])


def _example_components():
    rng = np.random.default_rng(5)
    rbm = Rbm(rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal(6).astype(np.float32),
              rng.standard_normal(4).astype(np.float32), "gauss", "bern")
    ft = [Splice(2, np.array([-1, 0, 1], np.int32)), AddShift(rng.standard_normal(6).astype(np.float32)),
          Rescale(rng.random(6).astype(np.float32) + 0.5)]
    return rbm, ft


@pytest.mark.parametrize("binary", [True, False])
def test_nnet1_round_trip(tmp_path, binary):
    rbm, ft = _example_components()
    for comps in ([rbm], ft, nnet1_io.rbm_to_components(rbm) * 1):
        p = tmp_path / "m"
        nnet1_io.write_nnet1(p, comps, binary=binary)
        back = nnet1_io.read_nnet1(p)
        assert [type(c) for c in back] == [type(c) for c in comps]
        for a, b in zip(comps, back):
            for f in ("W", "b_vis", "b_hid", "b", "shift", "scale", "offsets"):
                if hasattr(a, f):
                    if binary:
                        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
                    else:
                        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-6)
        # Writing what was read reproduces the bytes.
        assert nnet1_io.nnet1_to_bytes(back, binary) == p.read_bytes()


def test_nnet1_exact_bytes():
    W = np.array([[1.0, -0.5]], np.float32)
    b = np.array([0.25], np.float32)
    comps = [AffineTransform(W, b), Sigmoid(1)]
    assert nnet1_io.nnet1_to_bytes(comps, binary=False) == (
        b"<Nnet> \n<AffineTransform> 1 2 \n<LearnRateCoef> 1 <BiasLearnRateCoef> 1 <MaxNorm> 0 \n"
        b" [\n  1 -0.5 ]\n [ 0.25 ]\n<!EndOfComponent> \n<Sigmoid> 1 1 \n<!EndOfComponent> \n</Nnet> \n")
    i4 = lambda v: b"\x04" + np.int32(v).tobytes()  # noqa: E731
    f4 = lambda v: b"\x04" + np.float32(v).tobytes()  # noqa: E731
    assert nnet1_io.nnet1_to_bytes(comps, binary=True) == (
        b"\0B<Nnet> <AffineTransform> " + i4(1) + i4(2) + b"<LearnRateCoef> " + f4(1) + b"<BiasLearnRateCoef> "
        + f4(1) + b"<MaxNorm> " + f4(0) + b"FM " + i4(1) + i4(2) + W.tobytes() + b"FV " + i4(1) + b.tobytes()
        + b"<!EndOfComponent> <Sigmoid> " + i4(1) + i4(1) + b"<!EndOfComponent> </Nnet> ")
    text_rbm = nnet1_io.nnet1_to_bytes([Rbm(W, np.zeros(2, np.float32), b, "gauss", "bern")], binary=False)
    assert text_rbm.startswith(b"<Nnet> \n<Rbm> 1 2 \ngauss bern  [\n  1 -0.5 ]\n [ 0 0 ]\n [ 0.25 ]\n")
    # rbm-convert-to-nnet style AffineTransform without the coefficient tokens is accepted.
    old = b"<Nnet>\n<AffineTransform> 1 2\n [\n  1 -0.5 ]\n [ 0.25 ]\n<Sigmoid> 1 1\n</Nnet>\n"
    back = nnet1_io.nnet1_from_bytes(old)
    np.testing.assert_array_equal(back[0].W, W)
    assert isinstance(back[1], Sigmoid)


def test_nnet1_bad_files(tmp_path):
    rbm, ft = _example_components()
    data = nnet1_io.nnet1_to_bytes([rbm], binary=True)
    p = tmp_path / "trunc.rbm"
    p.write_bytes(data[:60])
    with pytest.raises(ModelFormatError, match=r"trunc\.rbm: at byte \d+: truncated"):
        nnet1_io.read_nnet1(p)
    with pytest.raises(ModelFormatError, match="unsupported nnet1 component <Lstm>"):
        nnet1_io.nnet1_from_bytes(b"<Nnet> <Lstm> 3 3 </Nnet>", "x.nnet")
    with pytest.raises(ModelFormatError, match="header says"):
        nnet1_io.nnet1_from_bytes(b"<Nnet> <AffineTransform> 2 2 [ 1 2 ] [ 0 0 ] </Nnet>", "x.nnet")
    with pytest.raises(ModelFormatError, match="cannot read"):
        nnet1_io.read_nnet1(tmp_path / "missing.dbn")
    with pytest.raises(ModelFormatError, match="AffineTransform> and <Sigmoid>"):
        nnet1_io.dbn_to_layers(ft[1:] + ft[1:])
    with pytest.raises(ModelFormatError, match="expected <Splice> <AddShift> <Rescale>"):
        nnet1_io.feature_transform_to_mean_std([rbm])


def test_pretrain_dbn_bad_input():
    with pytest.raises(DataError, match="fewer than one minibatch"):
        pretrain_dbn([np.zeros((50, 3), np.float32)], _small_opts(), None, progress=False)
    bad = _utts(2)
    bad[1][4, 1] = np.inf
    with pytest.raises(DataError, match="utterance 1 contains NaN or Inf"):
        pretrain_dbn(bad, _small_opts(), None, progress=False)
    with pytest.raises(DataError, match="one feature dimension"):
        pretrain_dbn([np.zeros((50, 3), np.float32), np.zeros((50, 4), np.float32)], _small_opts(), None)


def test_cli_pretrain_dbn(tmp_path):
    import kaldiio

    from nnet2.cli import main

    ark = tmp_path / "feats.ark"
    with kaldiio.WriteHelper(f"ark,scp:{ark},{tmp_path / 'feats.scp'}") as w:
        for i, u in enumerate(_utts(6)):
            w(f"utt{i}", u)
    out = tmp_path / "dbn"
    rc = main(["pretrain-dbn", "--nn-depth", "2", "--hid-dim", "8", "--splice", "1", "--binary", "false",
               "--momentum-step-period", "200", f"scp:{tmp_path / 'feats.scp'}", str(out)])
    assert rc == 0
    assert (out / "2.dbn").read_bytes().startswith(b"<Nnet> \n<AffineTransform> 8 15 \n")
    assert "epoch 2/2: reconstruction MSE" in (out / "log" / "pretrain_dbn.log").read_text()
    assert main(["pretrain-dbn", f"scp:{tmp_path / 'nope.scp'}", str(out)]) == 1


# The GPU versions (CD-1 step, Philox fills, train_rbm, pretrain-dbn --device cuda): tests/test_gpu_rbm.py.


# ------------------------------------------------------------------------------------------ MPI
_MPI_SCRIPT = r"""
import sys, numpy as np
from mpi4py import MPI
from nnet2 import _core
from nnet2.parallel.average import average_flat_
from nnet2.rbm.train import RbmTrainOptions, init_rbm, train_rbm
_core.set_num_threads(1)
comm = MPI.COMM_WORLD
r = comm.Get_rank()
buf = np.full(5, float(r + 1), np.float32)
average_flat_(comm, buf)
assert np.allclose(buf, 1.5), buf
x = (np.random.default_rng(r).random((1000 + 230 * r, 8)) < 0.3).astype(np.float32)  # own shard per rank
rbm = init_rbm(8, 6, "bern", 0.1, 0, vis_mean=x.mean(0))
train_rbm(x, rbm, RbmTrainOptions(momentum_step_period=500, num_iters=2), comm=comm, average_every=3,
          progress=False)
flat = np.concatenate([rbm.W.ravel(), rbm.b_vis, rbm.b_hid])
allp = comm.gather(flat, root=0)
if r == 0:
    assert np.array_equal(allp[0], allp[1]), "ranks differ after the final average"
    print("MPI-OK")
"""


def test_mpi_rbm_averaging(tmp_path):
    import shutil
    import subprocess
    import sys

    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("mpiexec not found")
    pytest.importorskip("mpi4py")
    script = tmp_path / "avg.py"
    script.write_text(_MPI_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", str(script)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "MPI-OK" in out.stdout, out.stderr[-2000:]


def test_mpi_pretrain_dbn_caps_threads_at_the_cores(tmp_path):
    """`nnet2 pretrain-dbn` under mpiexec with 2 workers x T threads, 2T > the cores: one warning and T capped
    at cores / 2, as `nnet2 train` does (spinning threads that wait for cores another rank holds made
    training about 20x slower)."""
    import shutil
    import subprocess
    import sys

    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("mpiexec not found")
    scp, _ = _disk_corpus(tmp_path, n_utts=20)
    cores = len(os.sched_getaffinity(0))
    threads = cores // 2 + 1
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", "-m", "nnet2", "pretrain-dbn",
                          "--num-threads", str(threads), "--nn-depth", "1", "--hid-dim", "16", "--rbm-iter", "1",
                          "--splice", "1", f"scp:{scp}", str(tmp_path / "dbn")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    want = (f"2 workers x {threads} threads on this node need {2 * threads} cores, it has {cores}: "
            f"using --threads {max(1, cores // 2)}")
    assert out.stderr.count(want) == 1, out.stderr[-2000:]
    assert os.path.exists(tmp_path / "dbn" / "1.dbn")


# ------------------------------------------------------------------------------------------ streaming
def test_buffer_randomizer_equals_frame_randomizer_on_an_array():
    """Fed the frames 0..N-1 in blocks of any size, the streaming randomizer yields FrameRandomizer's
    minibatches exactly (consistency check of the two implementations of nnet1's buffer)."""
    from nnet2.rbm.train import BufferRandomizer

    n, epochs = 1030, 3
    ref = list(FrameRandomizer(n, 100, 250, 777).minibatches(epochs))
    rng = np.random.default_rng(0)
    cuts = np.cumsum(rng.integers(1, 90, 200))
    cuts = cuts[cuts < n]

    def blocks():
        for _ in range(epochs):
            yield from np.split(np.arange(n)[:, None], cuts)

    got = [m[:, 0] for m in BufferRandomizer(100, 250, 777).minibatches(blocks())]
    assert len(got) == len(ref) and all(np.array_equal(a, b) for a, b in zip(got, ref))


def _disk_corpus(tmp_path, n_utts=150, D=8, seed=0):
    """Utterances on disk whose column 0 is a global frame id."""
    import kaldiio

    rng = np.random.default_rng(seed)
    fid = 0
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'f.ark'},{tmp_path / 'f.scp'}") as w:
        for i in range(n_utts):
            T = int(rng.integers(50, 300))
            x = rng.standard_normal((T, D)).astype(np.float32)
            x[:, 0] = np.arange(fid, fid + T)
            fid += T
            w(f"u{i:04d}", x)
    return str(tmp_path / "f.scp"), fid


def _stream_ids(scp, N, mb, size, epochs):
    """Frame ids of every minibatch streamed from `scp`, the randomizer and the traced memory peak."""
    import tracemalloc

    import kaldiio

    from nnet2.rbm.train import BufferRandomizer, UtteranceSource, _layer_blocks

    src = UtteranceSource(kaldiio.load_scp(scp), splice=0, seed=777)
    assert src.order != sorted(src.order)  # nnet1 shuffles the utterance list
    src.num_frames, src.dim = N, 32
    rnd = BufferRandomizer(mb, size, 777)
    ids = np.full(epochs * N, -1, np.int64)  # allocated before measuring
    k = 0
    tracemalloc.start()
    for m in rnd.minibatches(_layer_blocks(src, [], epochs)):
        ids[k:k + mb] = m[:, 0]
        k += mb
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return ids[:k], rnd, peak


def test_streaming_uses_every_frame_once_per_epoch_in_bounded_memory(tmp_path):
    """Utterances streamed from disk (kaldiio.load_scp) in nnet1's shuffled utterance order through a
    512-frame buffer: in each epoch every frame is drawn once (up to the < 1 minibatch carried into the
    next); the frames held stay within the buffer + one utterance, and the traced memory peak does not
    grow with the data (4x the utterances: same peak) and stays far below the data size."""
    mb, size, epochs = 100, 512, 2
    peaks = []
    for n_utts in (100, 400):
        d = tmp_path / str(n_utts)
        d.mkdir()
        scp, N = _disk_corpus(d, n_utts=n_utts, D=32)
        ids, rnd, peak = _stream_ids(scp, N, mb, size, epochs)
        assert len(ids) == (epochs * N) // mb * mb
        counts = np.bincount(ids, minlength=N)
        assert counts.max() == epochs and (counts < epochs).sum() < mb  # all but the last leftover, twice
        first = ids[: (N // mb) * mb - size]  # frames drawn before the second epoch can enter the buffer
        assert len(np.unique(first)) == len(first)  # no frame twice within an epoch
        assert rnd.max_held <= size + 300  # the buffer + one utterance (at most 300 frames)
        peaks.append(peak)
    assert peaks[1] < 1.5 * peaks[0], peaks
    assert peaks[1] < N * 32 * 4 / 20, (peaks, N)


def test_pretrain_dbn_streamed_from_disk_equals_in_memory(tmp_path):
    import kaldiio

    scp, N = _disk_corpus(tmp_path, n_utts=40)
    mem = pretrain_dbn(kaldiio.load_scp(scp), _small_opts(), None, progress=False)
    streamed = pretrain_dbn(kaldiio.load_scp(scp), _small_opts(input_cache_mb=0), None, progress=False)
    for a, b in zip(mem.rbms, streamed.rbms):
        np.testing.assert_allclose(a.W, b.W, rtol=1e-4, atol=1e-5)
    h = streamed.history[1]
    assert h["max_frames_held"] <= 512 + 300 and h["frames"] == (N // 100) * 100
    assert {"dead_units", "mean_activation", "saturated_units"} <= set(h)


def test_pretrain_dbn_reports_dead_units(tmp_path, caplog):
    """A layer whose hidden biases are pushed far negative has dead units: counted and warned about."""
    import logging

    r = pretrain_dbn(_utts(), _small_opts(nn_depth=1, rbm_iter=1), None, progress=False)
    assert 0 <= r.history[0]["dead_units"] <= 16
    from nnet2.rbm.train import UtteranceSource, _mean_activations

    src = UtteranceSource(_utts(), 2, 777)
    caplog.set_level(logging.INFO)
    # hand-made dead layer: activations sigmoid(-20) ~ 2e-9 for 10 of 16 units
    rbm = r.rbms[0]
    rbm.b_hid[:10] = -20.0
    rbm.W[:10] = 0.0
    mean, std, n, _ = __import__("nnet2.rbm.train", fromlist=["_global_cmvn"])._global_cmvn(src, None, 1e-10)
    src.shift, src.scale, src.num_frames, src.dim = (-mean).astype(np.float32), (1 / std).astype(np.float32), n, 25
    act = _mean_activations(src, nnet1_io.dbn_to_layers(nnet1_io.rbm_to_components(rbm)), None)
    assert (act[:10] < 0.01).all() and int((act < 0.01).sum()) >= 10
    with caplog.at_level(logging.INFO):
        pretrain_dbn(_utts(), _small_opts(nn_depth=2, rbm_lrate=50.0, hid_dim=64), None, progress=False)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "hidden units dead" in r.getMessage()]
    assert warned and "RBM 2:" in warned[0].getMessage()
