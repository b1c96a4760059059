"""One training minibatch against a float64 NumPy re-derivation of Kaldi's order of operations.

These are CONSISTENCY checks against our reading of Kaldi's source, not against Kaldi's output:
`NnetUpdater::ComputeForMinibatch` / `Backprop` (src/nnet2/nnet-update.cc), `CuMatrix::CompObjfAndDeriv`,
`AffineComponent::Backprop` (input derivative with the old parameters, then `Update`),
`SigmoidComponent`/`TanhComponent`/`SoftmaxComponent::Backprop` with `NonlinearComponent::UpdateStats`
(src/nnet2/nnet-component.cc), `Nnet::ZeroStats`, and `Nnet::Scale`/`AddNnet` as nnet-am-average uses them.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from ngd_reference import RefNgd, affine_update_ref  # noqa: E402

from nnet2.nnet import components as C  # noqa: E402
from nnet2.nnet.ngd_config import NgdConfig  # noqa: E402
from nnet2.nnet.nnet import Nnet, make_soft_labels  # noqa: E402


def _net(rng, kind="sgd", nonlin="sigmoid", lr=(0.05, 0.02)):
    I, H, O = 6, 8, 5
    W1, b1 = rng.standard_normal((H, I)) * 0.5, rng.standard_normal(H) * 0.1
    W2, b2 = rng.standard_normal((O, H)) * 0.5, rng.standard_normal(O) * 0.1
    if kind == "sgd":
        a1, a2 = C.AffineComponent(W1, b1, lr[0]), C.AffineComponent(W2, b2, lr[1])
    else:
        ngd = NgdConfig(rank_in=3, rank_out=2, update_period=1, num_samples_history=2000.0, alpha=4.0,
                        max_change_per_sample=0.075)
        a1 = C.AffineComponentPreconditionedOnline(W1, b1, lr[0], ngd=ngd)
        a2 = C.AffineComponentPreconditionedOnline(W2, b2, lr[1], ngd=ngd)
    nl = C.SigmoidComponent(H) if nonlin == "sigmoid" else C.TanhComponent(H)
    return Nnet([a1, nl, a2, C.SoftmaxComponent(O)])


def _reference_step(net, x, frames, lr, ngd=None):
    """Kaldi's minibatch in float64. frames: [[(pdf, weight), ...] per row]. Returns the new parameters,
    the statistics and the objective."""
    W1, b1 = (np.asarray(a, np.float64) for a in (net.components[0].W, net.components[0].b))
    W2, b2 = (np.asarray(a, np.float64) for a in (net.components[2].W, net.components[2].b))
    sig = isinstance(net.components[1], C.SigmoidComponent)
    x = np.asarray(x, np.float64)
    # Propagate
    h = 1 / (1 + np.exp(-(x @ W1.T + b1))) if sig else np.tanh(x @ W1.T + b1)
    z = h @ W2.T + b2
    y = np.exp(z - z.max(1, keepdims=True))
    y = np.maximum(y / y.sum(1, keepdims=True), 1e-20)
    # ComputeObjfAndDeriv: objf += w log y, deriv += w / y (at the softmax output)
    d_out = np.zeros_like(y)
    objf = weight = correct = 0.0
    for m, fr in enumerate(frames):
        for pdf, w in fr:
            objf += w * np.log(y[m, pdf])
            weight += w
            d_out[m, pdf] += w / y[m, pdf]
            correct += w * (np.argmax(y[m]) == pdf)
    # Backprop, last component first. Softmax: DiffSoftmaxPerRow, then UpdateStats(out_value).
    dz = y * (d_out - (d_out * y).sum(1, keepdims=True))
    soft_stats = (y.sum(0), len(x))
    # Affine 2: input derivative with the OLD W2, then the update.
    dh = dz @ W2
    if ngd is None:
        W2n, b2n = W2 + lr[1] * dz.T @ h, b2 + lr[1] * dz.sum(0)
    else:
        W2n, b2n, _ = affine_update_ref(h, dz, lr[1], W2, b2, ngd[2], ngd[3], 0.075)
    # Nonlinearity: derivative of the nonlinearity, UpdateStats(out_value, deriv), then times dh.
    dnl = h * (1 - h) if sig else 1 - h * h
    nl_stats = (h.sum(0), dnl.sum(0), len(x))
    da = dh * dnl
    # Affine 1 (the first updatable component: no input derivative needed).
    if ngd is None:
        W1n, b1n = W1 + lr[0] * da.T @ x, b1 + lr[0] * da.sum(0)
    else:
        W1n, b1n, _ = affine_update_ref(x, da, lr[0], W1, b1, ngd[0], ngd[1], 0.075)
    return dict(W1=W1n, b1=b1n, W2=W2n, b2=b2n, nl=nl_stats, soft=soft_stats, objf=objf, weight=weight,
                correct=correct)


def _check(net, ref, st, nsteps_stats=1):
    for name, arr in (("W1", net.components[0].W), ("b1", net.components[0].b),
                      ("W2", net.components[2].W), ("b2", net.components[2].b)):
        err = np.abs(np.asarray(arr, np.float64) - ref[name]).max() / np.abs(ref[name]).max()
        assert err < 2e-5, (name, err)
    assert st.objf == pytest.approx(ref["objf"], rel=1e-5)
    assert st.weight == pytest.approx(ref["weight"], rel=1e-6)
    assert st.correct == pytest.approx(ref["correct"])
    nl, sm = net.components[1], net.components[3]
    np.testing.assert_allclose(nl.value_sum, ref["nl"][0], rtol=1e-5)
    np.testing.assert_allclose(nl.deriv_sum, ref["nl"][1], rtol=1e-5)
    assert nl.count == ref["nl"][2]
    np.testing.assert_allclose(sm.value_sum, ref["soft"][0], rtol=1e-5, atol=1e-7)
    assert sm.count == ref["soft"][1]


@pytest.mark.parametrize("nonlin", ["sigmoid", "tanh"])
@pytest.mark.parametrize("soft", [False, True])
def test_sgd_step_in_kaldi_order(nonlin, soft):
    """Plain SGD (AffineComponent): parameters, objective and statistics after one minibatch equal the
    float64 re-derivation of Kaldi's order, with one-hot labels (the fused softmax path) and with soft
    (weighted, several per frame) labels (Kaldi's w/y derivative path)."""
    rng = np.random.default_rng(3)
    net = _net(rng, "sgd", nonlin)
    net.zero_stats()
    x = rng.standard_normal((32, 6)).astype(np.float32)
    if soft:
        frames = [[(int(rng.integers(5)), 0.7), (int(rng.integers(5)), 0.3)] if i % 3 else
                  [(int(rng.integers(5)), 1.0)] for i in range(32)]
        labels = make_soft_labels(frames)
    else:
        lab = rng.integers(0, 5, 32).astype(np.int32)
        frames, labels = [[(int(p), 1.0)] for p in lab], lab
    ref = _reference_step(net, x, frames, (0.05, 0.02))
    st = net.train_step(x, labels)
    _check(net, ref, st)


def test_ngd_step_in_kaldi_order():
    """NG-SGD (AffineComponentPreconditionedOnline): two minibatches (the preconditioners carry state)
    against the float64 NG-SGD reference of tests/ngd_reference.py applied in Kaldi's order."""
    rng = np.random.default_rng(4)
    net = _net(rng, "ngd", "sigmoid", lr=(0.2, 0.1))
    net.zero_stats()
    refs = [RefNgd(rank=3), RefNgd(rank=2), RefNgd(rank=3), RefNgd(rank=2)]
    tot_nl = tot_soft = None
    for step in range(2):
        x = rng.standard_normal((40, 6)).astype(np.float32)
        lab = rng.integers(0, 5, 40).astype(np.int32)
        ref = _reference_step(net, x, [[(int(p), 1.0)] for p in lab], (0.2, 0.1), ngd=refs)
        tot_nl = ref["nl"] if tot_nl is None else tuple(a + b for a, b in zip(tot_nl, ref["nl"]))
        tot_soft = ref["soft"] if tot_soft is None else tuple(a + b for a, b in zip(tot_soft, ref["soft"]))
        st = net.train_step(x, lab)
        ref.update(nl=tot_nl, soft=tot_soft)
        _check(net, ref, st)


def test_gradient_mode_changes_nothing_and_matches_a_finite_difference():
    """Nnet.gradient (the "is-gradient" copy Kaldi's combination uses) leaves parameters and statistics
    alone, and its W gradient matches a central finite difference of the summed objective."""
    rng = np.random.default_rng(5)
    net = _net(rng, "sgd", "tanh")
    x = rng.standard_normal((16, 6)).astype(np.float32)
    lab = rng.integers(0, 5, 16).astype(np.int32)
    p0 = net.params.copy()
    st, grads = net.gradient(x, lab)
    assert np.array_equal(net.params, p0) and net.components[1].count == 0
    dW1 = grads[0][0]
    for (r, c) in [(0, 0), (3, 2), (7, 5)]:
        W = net.components[0].W
        old = W[r, c]
        W[r, c] = old + 1e-2
        fp = net.evaluate(x, lab).objf
        W[r, c] = old - 1e-2
        fm = net.evaluate(x, lab).objf
        W[r, c] = old
        assert dW1[r, c] == pytest.approx((fp - fm) / 2e-2, rel=2e-2, abs=1e-3)


def test_reused_scratch_views_give_the_same_steps_and_a_used_network_deep_copies():
    """Nnet keeps one scratch view per (key, shape) between calls (Nnet._buf): steps that alternate
    minibatch sizes and evaluations give the same bits as a fresh network fed the same sequence, and a
    network that has computed still deep-copies (the scratch table holds no module object)."""
    import copy

    rng = np.random.default_rng(11)
    a, b = _net(np.random.default_rng(3)), _net(np.random.default_rng(3))
    seq = [(n, rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 5, n).astype(np.int32))
           for n in (16, 7, 16, 0, 33, 7)]
    for n, x, lab in seq:
        sa = a.train_step(x, lab)
        b._buffers.clear()  # b never reuses a view
        sb = b.train_step(x, lab)
        assert (sa.objf, sa.correct) == (sb.objf, sb.correct)
        assert np.array_equal(a.params, b.params)
        ea, eb = a.evaluate(x, lab), b.evaluate(x, lab)
        assert ea.objf == eb.objf
    c = copy.deepcopy(a)
    x, lab = seq[0][1], seq[0][2]
    assert c.evaluate(x, lab).objf == a.evaluate(x, lab).objf


def test_zero_stats_keeps_dimensions_and_averaging_follows_nnet_am_average():
    """ZeroStats is Scale(0) (dimensions kept); nnet-am-average = Scale(1/N) then AddNnet(1/N, other):
    weighted means of value_sum/deriv_sum/count, an empty vector contributing nothing."""
    from nnet2.nnet.model import AmNnet, Model, average_models

    a = C.SigmoidComponent(3, [1.0, 2.0, 3.0], [0.5, 0.5, 0.5], 10.0)
    a.zero_stats()
    assert a.value_sum.tolist() == [0, 0, 0] and a.deriv_sum.size == 3 and a.count == 0
    rng = np.random.default_rng(0)
    models = []
    for vs, ds, cnt in (([2.0, 4.0, 6.0], [1.0, 1.0, 1.0], 4.0), ([4.0, 0.0, 2.0], [], 2.0)):
        net = Nnet([C.AffineComponent(rng.standard_normal((3, 2)), np.zeros(3)), C.SigmoidComponent(3, vs, ds, cnt)])
        models.append(Model(None, AmNnet(net, np.zeros(0))))
    avg = average_models(models).nnet.components[1]
    assert avg.value_sum.tolist() == [3.0, 2.0, 4.0]
    assert avg.deriv_sum.tolist() == [0.5, 0.5, 0.5]
    assert avg.count == 3.0
    tot = average_models(models, total=True).nnet.components[1]
    assert tot.value_sum.tolist() == [6.0, 4.0, 8.0] and tot.count == 6.0


def _affine_case(seed, O, I=130):
    """(rng, W0 [O, I], b0 [O]) for the fused-update tests below."""
    rng = np.random.default_rng(seed)
    W0 = (0.1 * rng.standard_normal((O, I))).astype(np.float32)
    b0 = rng.standard_normal(O).astype(np.float32)
    return rng, W0, b0


def _ngd_pair():
    """(input side, output side) preconditioners of one NG-SGD layer, ranks 20 and 40, update period 4."""
    from nnet2 import _core

    return _core.OnlineNaturalGradient(rank=20, update_period=4), _core.OnlineNaturalGradient(rank=40, update_period=4)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("O", [300, 2100])
@pytest.mark.parametrize("N", [96, 300])
def test_fused_derivative_and_update_match_the_separate_calls(threads, O, N):
    """`affine_backprop_update` and `affine_update_ngd(..., dx)` against `affine_backward` before the separate
    update (Kaldi's order: the derivative sees W before the step), and the SGD one against its float64
    re-derivation. With 2 threads and O >= 1024 the fused call gives each thread a block of W's rows (dx is
    then the sum of two partial products: float32 rounding apart); otherwise it makes the separate calls.
    N = 300 > I takes NG-SGD's factored branch (the output side never materialized), N = 96 the other."""
    from nnet2 import _core

    rng, W0, b0 = _affine_case(11, O)
    I, lr = W0.shape[1], 0.01
    prev = _core.set_num_threads(threads)
    try:
        x = rng.standard_normal((N, I)).astype(np.float32)
        dy = (0.1 * rng.standard_normal((N, O))).astype(np.float32)
        W1, b1, dx1 = W0.copy(), b0.copy(), np.empty((N, I), np.float32)
        _core.affine_backward(dy, W1, dx1)
        _core.affine_update(x, dy, lr, W1, b1)
        W2, b2, dx2 = W0.copy(), b0.copy(), np.full((N, I), np.nan, np.float32)
        _core.affine_backprop_update(x, dy, lr, W2, b2, dx2)
        d64, x64 = dy.astype(np.float64), x.astype(np.float64)
        np.testing.assert_allclose(dx2, d64 @ W0, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(W2, W0 + lr * d64.T @ x64, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b2, b0 + lr * d64.sum(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dx2, dx1, rtol=1e-5, atol=1e-6)
        if threads == 1 or O < 1024:  # the same calls
            np.testing.assert_array_equal(W2, W1)
            np.testing.assert_array_equal(dx2, dx1)
        else:
            np.testing.assert_allclose(W2, W1, rtol=1e-6, atol=1e-7)

        # NG-SGD: 12 steps (past the 10 initial preconditioner updates), two preconditioner pairs in lockstep
        p1, p2 = _ngd_pair(), _ngd_pair()
        W1, b1, W2, b2 = W0.copy(), b0.copy(), W0.copy(), b0.copy()
        for _ in range(12):
            x = rng.standard_normal((N, I)).astype(np.float32)
            dy = (0.1 * rng.standard_normal((N, O))).astype(np.float32)
            _core.affine_backward(dy, W1, dx1)
            i1 = _core.affine_update_ngd(x, dy, lr, W1, b1, *p1, 0.075)
            dx2[:] = np.nan
            i2 = _core.affine_update_ngd(x, dy, lr, W2, b2, *p2, 0.075, dx2)
            np.testing.assert_allclose(dx2, dx1, rtol=1e-4, atol=1e-5)
            for k in i1:
                assert i2[k] == pytest.approx(i1[k], rel=1e-4)
        np.testing.assert_allclose(W2, W1, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b2, b1, rtol=1e-4, atol=1e-6)
    finally:
        _core.set_num_threads(prev)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("O", [300, 2100])
@pytest.mark.parametrize("N", [96, 300])
@pytest.mark.parametrize("with_dx", [True, False])
def test_ngd_update_on_a_scratch_dy_gives_the_same_bits(threads, O, N, with_dx):
    """`affine_update_ngd(..., dy_scratch=True)` (what `Nnet.train_step` passes: dy preconditioned in place where
    the backward's products run in turn, dx made first) against the call that keeps dy (a copy of it
    preconditioned), 14 minibatches in lockstep (past the 10 initial preconditioner updates, then skipping and
    updating ones): W, b, dx and the gammas bit for bit -- a consistency check of the two orders of our own
    core. Where the row split runs (2 threads, O >= 1024, dx wanted) and on the factored branch (N = 300 > I),
    dy must come back as it was."""
    from nnet2 import _core

    rng, W0, b0 = _affine_case(5, O)
    I, lr = W0.shape[1], 0.01
    prev = _core.set_num_threads(threads)
    try:
        p1, p2 = _ngd_pair(), _ngd_pair()
        W1, b1, W2, b2 = W0.copy(), b0.copy(), W0.copy(), b0.copy()
        dx1, dx2 = (np.full((N, I), np.nan, np.float32) if with_dx else None for _ in range(2))
        kept = (threads == 2 and O >= 1024 and with_dx) or N * O > O * I + N * (I + 1)
        for _ in range(14):
            x = rng.standard_normal((N, I)).astype(np.float32)
            dy = (0.1 * rng.standard_normal((N, O))).astype(np.float32)
            dy1, dy2 = dy.copy(), dy.copy()
            i1 = _core.affine_update_ngd(x, dy1, lr, W1, b1, *p1, 0.075, dx1)
            i2 = _core.affine_update_ngd(x, dy2, lr, W2, b2, *p2, 0.075, dx2, dy_scratch=True)
            assert i2 == i1
            np.testing.assert_array_equal(W2, W1)
            np.testing.assert_array_equal(b2, b1)
            if with_dx:
                np.testing.assert_array_equal(dx2, dx1)
            np.testing.assert_array_equal(dy1, dy)  # without dy_scratch dy is never touched
            if kept:
                np.testing.assert_array_equal(dy2, dy)
            else:
                assert not np.array_equal(dy2, dy)  # it did take the in-place branch
    finally:
        _core.set_num_threads(prev)
