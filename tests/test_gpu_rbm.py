"""RBM pretraining on the GPU against the CPU (consistency checks of our own code; the CPU CD-1 step is
checked against nnet1's formulas in test_rbm.py).

* The Philox fills and Bernoulli samples are bit-identical (test_gpu_kernels.py); one CD-1 step, given
  the same parameters, minibatch, seed and offset, matches to 1e-4 (GEMM summation order), on the
  Bernoulli path and on the Gaussian one including the explosion guard (rescale + momentum reset).
* Whole runs (train_rbm, pretrain_dbn, `nnet2 pretrain-dbn --device cuda`) draw the same uniforms, but a
  hidden unit whose probability the GEMM rounding moves across its uniform is sampled differently, after
  which the two runs follow slightly different paths: they are compared by the per-epoch reconstruction
  error (2% relative) and the parameters (relative Frobenius distance below 2%).
All tests are marked `gpu` and skip where cupy.is_available() is false.
"""

import numpy as np
import pytest

from conftest import cupy_or_skip
from nnet2 import _core
from nnet2.rbm.train import DbnOptions, RbmTrainOptions, init_rbm, pretrain_dbn, train_rbm

pytestmark = pytest.mark.gpu


@pytest.fixture
def cp():
    return cupy_or_skip()


def rel_frob(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / max(np.linalg.norm(np.asarray(b, np.float64)), 1e-30))


@pytest.mark.parametrize("gaussian", [False, True])
@pytest.mark.parametrize("N,V,H", [(40, 30, 20), (100, 440, 300), (1, 5, 3)])
def test_cd1_step_matches_cpu(cp, N, V, H, gaussian):
    rng = np.random.default_rng(6)
    vis = rng.standard_normal((N, V)).astype(np.float32)
    if not gaussian:
        vis = (vis > 0).astype(np.float32)
    host = [vis, (0.1 * rng.standard_normal((H, V))).astype(np.float32), np.zeros(V, np.float32),
            np.zeros(H, np.float32), np.zeros((H, V), np.float32), np.zeros(V, np.float32), np.zeros(H, np.float32)]
    dev = [cp.asarray(a) for a in host]
    ws = [cp.empty((N, H), cp.float32), cp.empty((N, V), cp.float32), cp.empty((N, H), cp.float32)]
    for step in range(3):
        rc = _core.rbm_cd1_step(*host, 0.01, 0.9, 2e-4, gaussian, 9, step * N * H)
        rg = _core.rbm_cd1_step(*dev, 0.01, 0.9, 2e-4, gaussian, 9, step * N * H, *ws)
        assert rg["skipped"] == rc["skipped"]
        assert rg["mse"] == pytest.approx(rc["mse"], rel=1e-4)
        assert rg["pos_vis_std"] == pytest.approx(rc["pos_vis_std"], rel=1e-5)
        for a, b in zip(host[1:], dev[1:]):
            np.testing.assert_allclose(cp.asnumpy(b), a, rtol=1e-4, atol=1e-6)


def test_gaussian_guard_on_gpu_matches_cpu(cp):
    """Unnormalized input: the reconstruction spreads more than twice the data, the step rescales W and the
    biases, zeroes the momenta and lowers the learning rate (ScaleInPlace kernels)."""
    rng = np.random.default_rng(2)
    v = (0.3 * rng.standard_normal((50, 30)) + 5.0).astype(np.float32)
    W0 = (0.5 * rng.standard_normal((400, 30))).astype(np.float32)
    host = [v, W0.copy(), np.ones(30, np.float32), np.ones(400, np.float32), np.ones((400, 30), np.float32),
            np.ones(30, np.float32), np.ones(400, np.float32)]
    dev = [cp.asarray(a) for a in host]
    ws = [cp.empty((50, 400), cp.float32), cp.empty((50, 30), cp.float32), cp.empty((50, 400), cp.float32)]
    rc = _core.rbm_cd1_step(*host, 0.01, 0.9, 2e-4, True, 3, 0)
    rg = _core.rbm_cd1_step(*dev, 0.01, 0.9, 2e-4, True, 3, 0, *ws)
    assert rc["skipped"] and rg["skipped"] and rg["lr"] == pytest.approx(rc["lr"])
    for a, b in zip(host[1:], dev[1:]):
        np.testing.assert_allclose(cp.asnumpy(b), a, rtol=1e-4, atol=1e-6)
    assert not cp.asnumpy(dev[4]).any()


def test_workspaces_are_required_for_gpu_inputs(cp):
    a = [cp.zeros((4, 3), cp.float32), cp.zeros((2, 3), cp.float32), cp.zeros(3, cp.float32),
         cp.zeros(2, cp.float32), cp.zeros((2, 3), cp.float32), cp.zeros(3, cp.float32), cp.zeros(2, cp.float32)]
    with pytest.raises(ValueError, match="pass the workspace array 'pos_hid'"):
        _core.rbm_cd1_step(*a, 0.01, 0.9, 2e-4, False, 1, 0)


@pytest.mark.parametrize("gaussian", [False, True])
def test_train_rbm_on_gpu_follows_the_cpu(cp, gaussian):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3000, 24)).astype(np.float32)
    if not gaussian:
        x = (x > 0.3).astype(np.float32)
    runs = {}
    for dev in ("cpu", "cuda"):
        rbm = init_rbm(24, 32, "gauss" if gaussian else "bern", 0.1, 0, None if gaussian else x.mean(0))
        h = train_rbm(x, rbm, RbmTrainOptions(learn_rate=0.01 if gaussian else 0.4, momentum_step_period=2000,
                                              num_iters=2), seed=5, progress=False, device=dev)
        assert isinstance(rbm.W, np.ndarray)  # the trained RBM is handed back on the host
        runs[dev] = (h, rbm)
    (hc, rc), (hg, rg) = runs["cpu"], runs["cuda"]
    np.testing.assert_allclose(hg["epoch_mse"], hc["epoch_mse"], rtol=0.02)
    assert rel_frob(rg.W, rc.W) < 0.02
    assert rel_frob(rg.b_hid, rc.b_hid) < 0.05


def test_pretrain_dbn_on_gpu_follows_the_cpu(cp, tmp_path):
    rng = np.random.default_rng(0)
    utts = [(3.0 * rng.standard_normal((120 + i, 5)) + 2.0).astype(np.float32) for i in range(12)]
    opts = dict(nn_depth=2, hid_dim=16, splice=2, momentum_step_period=500, randomizer_size=512)
    rc = pretrain_dbn(utts, DbnOptions(**opts), str(tmp_path / "cpu"), progress=False)
    rg = pretrain_dbn(utts, DbnOptions(device="cuda", **opts), str(tmp_path / "gpu"), progress=False)
    for a, b, ha, hb in zip(rc.rbms, rg.rbms, rc.history, rg.history):
        assert rel_frob(b.W, a.W) < 0.02
        np.testing.assert_allclose(hb["epoch_mse"], ha["epoch_mse"], rtol=0.02)
    for name in ("final.feature_transform", "1.rbm", "2.rbm", "2.dbn"):
        assert (tmp_path / "gpu" / name).exists()


def test_cli_pretrain_dbn_device_cuda(cp, tmp_path):
    import kaldiio

    from nnet2.cli import main

    rng = np.random.default_rng(1)
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'f.ark'},{tmp_path / 'f.scp'}") as w:
        for i in range(6):
            w(f"utt{i}", (rng.standard_normal((100, 5)) + 1.0).astype(np.float32))
    out = tmp_path / "dbn"
    assert main(["pretrain-dbn", "--device", "cuda", "--nn-depth", "2", "--hid-dim", "8", "--splice", "1",
                 "--momentum-step-period", "200", f"scp:{tmp_path / 'f.scp'}", str(out)]) == 0
    log = (out / "log" / "pretrain_dbn.log").read_text()
    assert "computes on cuda:" in log and "epoch 2/2: reconstruction MSE" in log
    assert (out / "2.dbn").exists()
