"""tools/bench_train.py times the trainer against the same work done by Nnet.train_step alone. This checks
that the two really do the same work (not how fast either is): with one worker, the step replay's final
parameters equal those of the trainer's last checkpoint, so the replay saw the same minibatches, learning
rates and preconditioner resets. A consistency check of our own tools, not a Kaldi check."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import bench_train as B  # noqa: E402

from nnet2.nnet.model import load_model  # noqa: E402


@pytest.mark.parametrize("net", ["pnorm", "sigmoid"])
def test_step_replay_does_the_trainers_work(tmp_path, net):
    egs, mdl = B.make_setup(str(tmp_path), net, 3000)
    out = str(tmp_path / "out")
    argv = B.train_args(net, egs, mdl, out, 1, 1, "ngd", 3000)
    B.time_trainer(argv)
    run, frames = B.step_replay(argv, str(tmp_path / "scratch"))
    _, nnet = run()
    trained = load_model(os.path.join(out, "2.mdl")).nnet  # 1 epoch x 2 iterations (conf/<net>.conf)
    assert frames > 2000
    np.testing.assert_array_equal(nnet.params, trained.params)
    assert not np.array_equal(nnet.params, load_model(mdl).nnet.params)
