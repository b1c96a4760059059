"""The paper-experiment grid and its bookkeeping (the runs themselves are in egs/fsdd/local)."""

import dataclasses

from nnet2 import experiments as X


def test_grid_covers_every_table_cell_once():
    exps = X.all_experiments()
    names = [e.name for e in exps]
    assert len(names) == len(set(names))
    assert {e.workers for e in exps} == {1, 2, 4, 8, 16}
    # every comparison of the paper is present
    b16 = dataclasses.replace(X.BASE, workers=16)
    for e in (dataclasses.replace(b16, update="sgd"), dataclasses.replace(b16, init="random"),
              dataclasses.replace(b16, average_every=20), dataclasses.replace(b16, minibatch=64),
              dataclasses.replace(b16, lr_schedule="newbob"), dataclasses.replace(b16, averaging="bmuf"),
              dataclasses.replace(b16, averaging="overlap")):
        assert e in exps, e


def test_train_command_carries_the_experiment():
    e = dataclasses.replace(X.BASE, workers=4, update="sgd", average_every=20, minibatch=64)
    cmd = X.train_command(e, "egs", "init.mdl", "out", 3, (0.01, 0.001), 7)
    assert cmd[:3] == ["mpiexec", "-n", "4"] and "-m" in cmd and "mpi4py" in cmd
    s = " ".join(cmd)
    for part in ("--update sgd", "--average-every 20", "--minibatch-size 64", "--num-epochs 3", "--seed 7",
                 "--resume true"):
        assert part in s
    assert cmd[-3:] == ["egs", "init.mdl", "out"]


def test_frames_to_reach():
    hist = [{"frames": 100, "train_objf": -3.0}, {"frames": 100, "train_objf": -2.0}, {"frames": 50, "train_objf": -1.5}]
    assert X._frames_to_reach(hist, -2.0) == 200
    assert X._frames_to_reach(hist, -1.5) == 250
    assert X._frames_to_reach(hist, -1.0) is None
