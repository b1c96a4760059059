"""Final model combination (nnet2.train.combine, after Kaldi's nnet-combine-fast). Consistency checks
against our reading of src/nnet2/combine-nnet-fast.cc (objective per example, gradient
<theta[n,c], dObjf/dparams_c> / weight, start at 1/N, best point kept), not against Kaldi's output."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from nnet2.nnet import components as C  # noqa: E402
from nnet2.nnet.nnet import Nnet  # noqa: E402
from nnet2.train.combine import CombineOptions, _Combiner, combine_nnets  # noqa: E402


def _problem(seed=0, n_models=3):
    rng = np.random.default_rng(seed)
    proj = rng.standard_normal((6, 4))
    X = rng.standard_normal((300, 6)).astype(np.float32)
    y = np.argmax(X @ proj, axis=1).astype(np.int32)
    base = Nnet([C.AffineComponent(rng.standard_normal((10, 6)) * 0.3, np.zeros(10), 0.01), C.TanhComponent(10),
                 C.AffineComponent(rng.standard_normal((4, 10)) * 0.3, np.zeros(4), 0.01), C.SoftmaxComponent(4)])
    nets = []
    for k in range(n_models):  # a short SGD run, a snapshot after each stretch (like the last iterations)
        for s in range(0, 300, 30):
            base.train_step(X[s:s + 30], y[s:s + 30])
        nets.append(base.copy())
    return nets, X, y


# minibatches of 100 and Fisher minibatches of 64 on 300 examples: 3 and 5 minibatches to share over ranks
OPTS = dict(num_lbfgs_iters=15, minibatch_size=100)


def test_gradient_matches_finite_differences():
    nets, X, y = _problem()
    cb = _Combiner(nets, X, y, CombineOptions())
    a = np.random.default_rng(1).uniform(0.2, 0.5, cb.N * cb.U)
    f, g = cb.objf_and_grad(a)
    for i in range(len(a)):
        e = np.zeros_like(a)
        e[i] = 1e-3
        fd = (cb.objf_and_grad(a + e)[0] - cb.objf_and_grad(a - e)[0]) / 2e-3
        assert g[i] == pytest.approx(fd, rel=2e-2, abs=2e-3), i


def test_combination_improves_and_is_the_weighted_sum():
    nets, X, y = _problem()
    out, info = combine_nnets(nets, X, y, CombineOptions(num_lbfgs_iters=15))
    assert info["objf_after"] > info["objf_before"]
    # the objective at the start is that of the plain average of the models
    avg = nets[0].copy()
    avg.params[...] = sum(n.params.astype(np.float64) for n in nets) / len(nets)
    st = avg.evaluate(X, y)
    assert info["objf_before"] == pytest.approx(st.objf / len(y), rel=1e-5)
    w = np.array(info["weights"])  # [N, U]
    for u, idx in enumerate([0, 2]):
        want = sum(w[n, u] * nets[n].components[idx].W.astype(np.float64) for n in range(3))
        np.testing.assert_allclose(out.components[idx].W, want, rtol=1e-5, atol=1e-6)
    assert out.evaluate(X, y).objf / len(y) == pytest.approx(info["objf_after"], rel=1e-5)


def test_bad_input():
    from nnet2.utils.errors import UserError

    nets, X, y = _problem(n_models=1)
    with pytest.raises(UserError, match="combination examples"):
        combine_nnets(nets, X[:0], y[:0])
    other = Nnet([C.AffineComponent(np.zeros((4, 6)), np.zeros(4)), C.SoftmaxComponent(4)])
    with pytest.raises(UserError, match="same structure"):
        combine_nnets([nets[0], other], X, y)


def test_train_combine_false_keeps_the_last_model(tmp_path):
    """--combine false: final.mdl has the parameters of the last iteration's model."""
    import train_fixtures as tf

    from nnet2.cli import main
    from nnet2.nnet.model import load_model

    egs = tf.make_egs_dir(str(tmp_path / "d"), n_utts=16)
    mdl = tf.make_init_model(str(tmp_path / "0.mdl"))
    for comb in ("false", "true"):
        out = str(tmp_path / f"exp_{comb}")
        assert main(["train", "--num-epochs", "4", "--minibatch-size", "64", "--progress", "false",
                     "--combine", comb, egs, mdl, out]) == 0
        last = load_model(os.path.join(out, "4.mdl")).nnet.params
        final = load_model(os.path.join(out, "final.mdl")).nnet.params
        assert np.array_equal(last, final) == (comb == "false")


def test_two_workers_average_the_nonlinear_statistics(tmp_path, tmp_path_factory):
    """mpiexec -n 2: an iteration's checkpoint holds the sigmoid's and softmax's statistics averaged over
    the ranks (nnet-am-average's mean of the jobs' models): count = the mean of the ranks' frames in
    that iteration, value/deriv sums of the hidden layer's dimension, the softmax's value sum = its count
    (rows of a softmax sum to 1). A consistency check of the bookkeeping, not of Kaldi's numbers."""
    from test_train import IPE, run  # noqa: F401

    import train_fixtures as tf
    from nnet2.data.egs import EgsReader, _batch_sizes
    from nnet2.nnet.model import load_model

    d = str(tmp_path_factory.mktemp("stats"))
    setup = (tf.make_egs_dir(d), tf.make_init_model(os.path.join(d, "0.mdl")))
    out = tmp_path / "two"
    p = run(2, setup, out, "--combine", "false")
    assert p.returncode == 0, p.stderr[-3000:]
    egs = EgsReader(setup[0])
    k = egs.num_minibatches(0, 2, 32)
    frames = [int(_batch_sizes(egs.num_examples(w, 2), 32, k)[: k // IPE].sum()) for w in range(2)]
    nnet = load_model(os.path.join(out, "1.mdl")).nnet
    sig, soft = nnet.components[2], nnet.components[4]
    assert sig.count == soft.count == pytest.approx(np.mean(frames))
    assert sig.value_sum.size == sig.deriv_sum.size == 16
    assert np.all(sig.deriv_sum > 0) and np.all(sig.deriv_sum <= 0.25 * sig.count)  # y(1-y) <= 1/4
    assert soft.value_sum.sum() == pytest.approx(soft.count, rel=1e-5)


@pytest.mark.parametrize("n", [2, 3])
def test_combination_shared_over_ranks_matches_one_rank(tmp_path, n):
    """mpiexec -n N: the ranks split the gradient passes of the combination and add up their sums. The
    objective, its gradient and the Fisher matrix agree with one rank's to single-precision rounding (the same
    minibatches summed in another order) and every rank ends with the same bits. The optimizer's path is not
    compared step by step (L-BFGS's accept/halve decisions amplify rounding), only where it ends. A consistency
    check of the distribution, not of Kaldi."""
    from test_averaging_mpi import run_mpi

    nets, X, y = _problem()
    out = str(tmp_path / "combined.npz")
    p = run_mpi(n, [os.path.join(os.path.dirname(__file__), "mpi", "combine_check.py"), out])
    assert p.returncode == 0, p.stdout + p.stderr
    r = np.load(out)
    cb = _Combiner(nets, X, y, CombineOptions(**OPTS))
    for point, fg in zip(r["points"], r["fg"]):
        f, g = cb.objf_and_grad(point)
        assert fg[0] == pytest.approx(f, rel=1e-6)
        np.testing.assert_allclose(fg[1:], g, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(r["chol"], cb.fisher_cholesky(r["points"][0]), rtol=1e-5, atol=1e-7)
    _, info = combine_nnets(nets, X, y, CombineOptions(**OPTS))
    assert r["objf"][0] == pytest.approx(info["objf_before"], rel=1e-6)
    assert r["objf"][1] > r["objf"][0]
    assert r["objf"][1] == pytest.approx(info["objf_after"], rel=0.05)
