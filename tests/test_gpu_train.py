"""`nnet2 train --device cuda` against the same run on the CPU, with 1 rank and with 2 MPI ranks
(mpiexec -n 2 python -m mpi4py), plain, BMUF and overlapped averaging.

A consistency check of our own code: the CPU run is the reference. The two runs start from the same
model, see the same minibatches and average at the same points, but the GPU sums in other orders
(cuBLAS, block reductions), and those float32 differences grow through NG-SGD's data-dependent
preconditioning over the 6 iterations. Stated tolerance: per-iteration training objective within 1%
(relative), validation accuracy within 0.02 (absolute), final parameters within 2% (relative Frobenius
distance) and priors within 1e-3. The ranks' GPU choice (local rank % number of GPUs) is read from the
logs. All tests are marked `gpu` and skip where cupy.is_available() is false; the MPI staging through
host memory is what runs here (the MPICH wheel is not CUDA-aware).
"""

import json
import os

import numpy as np
import pytest

from conftest import cupy_or_skip
from test_train import NUM_ITERS, run
from train_fixtures import make_egs_dir, make_init_model

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("gputrain"))
    return make_egs_dir(d), make_init_model(os.path.join(d, "0.mdl"))


def history(out):
    with open(os.path.join(out, "state", f"{NUM_ITERS}.json")) as f:
        return json.load(f)["history"]


@pytest.mark.parametrize("n,averaging", [(1, "plain"), (2, "plain"), (2, "bmuf"), (2, "overlap")])
def test_train_on_gpu_matches_cpu(setup, tmp_path, n, averaging):
    cp = cupy_or_skip()
    from nnet2.nnet.model import load_model

    runs = {}
    for dev in ("cpu", "cuda"):
        out = tmp_path / dev
        p = run(n, setup, out, "--device", dev, "--averaging", averaging, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        runs[dev] = str(out)
    hc, hg = history(runs["cpu"]), history(runs["cuda"])
    assert len(hc) == len(hg) == NUM_ITERS
    for a, b in zip(hc, hg):
        assert b["train_objf"] == pytest.approx(a["train_objf"], rel=1e-2)
        if "valid_acc" in a:
            assert abs(b["valid_acc"] - a["valid_acc"]) <= 0.02
    mc, mg = load_model(os.path.join(runs["cpu"], "final.mdl")), load_model(os.path.join(runs["cuda"], "final.mdl"))
    pc, pg = np.asarray(mc.nnet.params, np.float64), np.asarray(mg.nnet.params, np.float64)
    assert np.linalg.norm(pg - pc) / np.linalg.norm(pc) < 0.02
    np.testing.assert_allclose(mg.priors, mc.priors, atol=1e-3)
    ngpu = cp.cuda.runtime.getDeviceCount()
    for r in range(n):
        with open(os.path.join(runs["cuda"], "log", f"train.setup.{r}.log")) as f:
            assert f"Rank {r} computes on cuda:{r % ngpu} " in f.read()
