"""egs/fsdd/local/paper_tables.py (the recipe-local study of the paper's comparisons): its experiment
grid, the training command it hands cmd.sh's mpi_cmd, and its bookkeeping. Consistency checks of the
script's own logic; the study itself is run by egs/fsdd/local/run_paper_tables.sh."""

import dataclasses
import os
import subprocess
import sys

from conftest import subprocess_pythonpath

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LOCAL = os.path.join(REPO, "egs", "fsdd", "local")
sys.path.insert(0, LOCAL)
import paper_tables as X  # noqa: E402


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


def test_training_goes_through_cmd_sh_mpi_cmd(tmp_path):
    """The command runs the recipe's cmd.sh and calls its mpi_cmd with N and the train arguments: here
    a cmd.sh whose mpi_cmd records what it was given."""
    cmd_sh = tmp_path / "cmd.sh"
    rec = tmp_path / "args"
    cmd_sh.write_text(f'mpi_cmd() {{ printf "%s\\n" "$@" > "{rec}"; }}\n')
    e = dataclasses.replace(X.BASE, workers=4, update="sgd", average_every=20, minibatch=64)
    cmd = X.train_command(e, "egs", "init.mdl", "out", 3, (0.01, 0.001), 7, cmd_sh=str(cmd_sh))
    subprocess.run(cmd, check=True)
    got = rec.read_text().split("\n")[:-1]
    assert got[:4] == ["4", "-m", "nnet2", "train"]
    s = " ".join(got)
    for part in ("--update sgd", "--average-every 20", "--minibatch-size 64", "--num-epochs 3", "--seed 7",
                 "--resume true"):
        assert part in s
    assert got[-3:] == ["egs", "init.mdl", "out"]
    # the recipe's own cmd.sh defines the contract the script relies on
    real = subprocess.run(["bash", "-c", '. ./cmd.sh && type mpi_cmd'], cwd=os.path.dirname(LOCAL),
                          capture_output=True, text=True)
    assert real.returncode == 0 and "mpi4py" in real.stdout


def test_frames_to_reach():
    hist = [{"frames": 100, "train_objf": -3.0}, {"frames": 100, "train_objf": -2.0}, {"frames": 50, "train_objf": -1.5}]
    assert X._frames_to_reach(hist, -2.0) == 200
    assert X._frames_to_reach(hist, -1.5) == 250
    assert X._frames_to_reach(hist, -1.0) is None


def test_sigmoid_shape_and_random_init(tmp_path):
    """The random-init model gets the RBM-initialized model's depth and width, read from the model
    (no scraping of am-info output)."""
    import numpy as np

    from nnet2.nnet.model import load_model
    from nnet2.io.nnet1 import AddShift, Rescale, Splice, write_nnet1

    from train_fixtures import TM_SOURCE

    ft = tmp_path / "final.feature_transform"
    write_nnet1(ft, [Splice(3, np.arange(-1, 2, dtype=np.int32)), AddShift(np.zeros(9, np.float32)),
                     Rescale(np.ones(9, np.float32))])
    rbm = tmp_path / "init.mdl"
    env = dict(os.environ, PYTHONPATH=subprocess_pythonpath())
    subprocess.run([sys.executable, "-m", "nnet2", "dbn-to-nnet", "--random-init", "true", "--nn-depth", "2",
                    "--hid-dim", "8", "--seed", "3", str(ft), "-", TM_SOURCE, str(rbm)], check=True, env=env)
    assert X.sigmoid_shape(str(rbm)) == (2, 8)
    out = X.make_random_init(str(rbm), str(ft), TM_SOURCE, str(tmp_path / "rand.mdl"), 0)
    a, b = load_model(str(rbm)).nnet, load_model(out).nnet
    assert [c.type_name for c in a.components] == [c.type_name for c in b.components]
    assert not np.array_equal(np.asarray(a.params), np.asarray(b.params))  # seed 0, not 3


def test_only_unknown_experiment_is_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=subprocess_pythonpath())
    r = subprocess.run([sys.executable, os.path.join(LOCAL, "paper_tables.py"), "--only", "nope", *["x"] * 11],
                       capture_output=True, text=True, env=env)
    assert r.returncode != 0 and "unknown experiment(s) nope" in r.stderr and "Traceback" not in r.stderr


def test_bmuf_rows_and_their_controls(tmp_path):
    """The BMUF row runs Chen & Huo's defaults (no LR x N, block momentum auto); the earlier row's setting
    (block momentum 0.5 with LR x N) has a plain-averaging control at twice the LR: the same step."""
    exps = {e.name: e for e in X.all_experiments()}
    b16 = dataclasses.replace(X.BASE, workers=16)
    bmuf = dataclasses.replace(b16, averaging="bmuf")
    old = dataclasses.replace(bmuf, block_momentum="0.5", scale_lr="true")
    ctrl = dataclasses.replace(b16, lr_factor=2.0)
    for e in (bmuf, old, ctrl):
        assert e.name in exps
    cmd_sh = str(tmp_path / "cmd.sh")
    s = " ".join(X.train_command(bmuf, "egs", "i", "o", 3, (0.004, 0.0004), 0, cmd_sh=cmd_sh))
    assert "--block-momentum auto --scale-lr-by-workers auto" in s and "--initial-lr 0.004 " in s
    s = " ".join(X.train_command(old, "egs", "i", "o", 3, (0.004, 0.0004), 0, cmd_sh=cmd_sh))
    assert "--block-momentum 0.5 --scale-lr-by-workers true" in s
    s = " ".join(X.train_command(ctrl, "egs", "i", "o", 3, (0.004, 0.0004), 0, cmd_sh=cmd_sh))
    assert "--initial-lr 0.008 --final-lr 0.0008" in s and "--averaging plain" in s
