"""nnet1's max-norm weight cap (`src/nnet/nnet-affine-transform.h`: after each update, rows of the linear
part whose L2 norm exceeds max_norm are scaled onto the sphere; the bias is not touched) and the
`nnet2 train --max-norm` / `--preconditioner-lifetime` options. Hand-computed cases are proof of the rule as
nnet1's source states it; the training run is a consistency check."""

import json
import os

import numpy as np
import pytest

from test_train import IPE, run, setup  # noqa: F401 (fixture)


def tiny():
    from nnet2.nnet.nnet import init_nnet_from_config

    return init_nnet_from_config(
        "AffineComponent input-dim=2 output-dim=3 learning-rate=0.01 param-stddev=0.1 bias-stddev=0.1\n"
        "SigmoidComponent dim=3\n"
        "AffineComponentPreconditionedOnline input-dim=3 output-dim=2 learning-rate=0.01 param-stddev=0.1 "
        "bias-stddev=0.1\nSoftmaxComponent dim=2\n", seed=1)


def test_max_norm_hand_computed():
    net = tiny()
    a, b = net.updatable()
    a.W[...] = [[30.0, 40.0], [6.0, 8.0], [0.0, -12.0]]  # norms 50, 10, 12
    b.W[...] = [[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]]          # norms 3, 0
    bias = [np.asarray(c.b).copy() for c in (a, b)]
    before_b = np.asarray(b.W).copy()
    assert net.apply_max_norm(10.0) == 2
    np.testing.assert_allclose(a.W, [[6.0, 8.0], [6.0, 8.0], [0.0, -10.0]], rtol=1e-6)
    assert np.asarray(a.W)[1].tolist() == [6.0, 8.0]  # a row exactly at the cap is left alone
    np.testing.assert_array_equal(b.W, before_b)      # rows under the cap: bitwise unchanged
    for c, b0 in zip((a, b), bias):
        np.testing.assert_array_equal(c.b, b0)        # the bias is never capped
    # the component views still alias the packed parameter buffer (the averager sees the capped rows)
    assert np.shares_memory(a.W, net.params)
    assert net.apply_max_norm(0.0) == 0 and net.apply_max_norm(10.0) == 0


def test_train_with_max_norm_caps_every_row(setup, tmp_path):  # noqa: F811
    from nnet2.nnet.model import load_model

    cap = 1.5  # well below the rows' norms after training without a cap
    p = run(2, setup, tmp_path / "mn", "--max-norm", str(cap), "--num-epochs", "2",
            "--preconditioner-lifetime", "epoch")
    assert p.returncode == 0, p.stderr[-3000:]
    nnet = load_model(os.path.join(tmp_path / "mn", "final.mdl")).nnet
    for c in nnet.updatable():
        norms = np.sqrt((np.asarray(c.W, np.float64) ** 2).sum(axis=1))
        assert norms.max() <= cap * (1 + 1e-5)
    assert norms.max() > 0.9 * cap  # the cap was reached, i.e. it did something
    log = open(os.path.join(tmp_path / "mn", "log", "train.0.0.log")).read()
    assert "max-norm 1.5 capped" in log
    st = json.load(open(os.path.join(tmp_path / "mn", "state", f"{2 * IPE}.json")))
    assert st["identity"]["max_norm"] == cap and st["identity"]["preconditioner_lifetime"] == "epoch"
