"""The device layer without a GPU (nnet2.device, nnet2.parallel.comm.local_rank, the CUDA-aware switch):
consistency checks of our own code, no Kaldi reference involved. The GPU side is in tests/test_gpu_*.py."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import subprocess_pythonpath
from test_averaging_mpi import mpiexec

from nnet2 import device
from nnet2.nnet.nnet import init_nnet_from_config
from nnet2.parallel import average
from nnet2.utils.errors import UserError


def _cuda_usable() -> bool:
    try:
        import cupy

        return bool(cupy.is_available())
    except Exception:
        return False


def _nnet():
    return init_nnet_from_config("AffineComponent input-dim=4 output-dim=3\nSoftmaxComponent dim=3\n", seed=1)


def test_cpu_network_layer_helpers():
    n = _nnet()
    assert n.device == "cpu"
    p = n.params
    assert n.to("cpu") is n and n.params is p  # already there: no repack, no copy
    assert n.params_host() is p or np.shares_memory(n.params_host(), p)
    n.set_params(np.arange(p.size, dtype=np.float32))
    assert np.array_equal(n.components[0].b, np.arange(12, 15, dtype=np.float32))  # views follow the buffer
    st = n.train_step(np.ones((2, 4), np.float32), np.array([0, 2], np.int64))  # int64 labels are converted
    assert st.frames == 2
    assert device.activate("cpu") == "cpu"
    with pytest.raises(UserError, match="unknown device 'tpu'"):
        device.xp_for("tpu")


@pytest.mark.skipif(_cuda_usable(), reason="a GPU is present: the no-GPU message cannot be checked")
def test_cuda_without_gpu_fails_with_one_line():
    with pytest.raises(UserError, match="--device cuda") as e:
        device.activate("cuda")
    assert "\n" not in str(e.value)


def test_cuda_aware_switch(monkeypatch):
    average.cuda_aware_mpi.cache_clear()
    monkeypatch.setenv("NNET2_MPI_CUDA_AWARE", "1")
    assert average.cuda_aware_mpi() is True
    average.cuda_aware_mpi.cache_clear()
    monkeypatch.setenv("NNET2_MPI_CUDA_AWARE", "yes")
    with pytest.raises(UserError, match="NNET2_MPI_CUDA_AWARE must be 0 or 1"):
        average.cuda_aware_mpi()
    average.cuda_aware_mpi.cache_clear()
    monkeypatch.delenv("NNET2_MPI_CUDA_AWARE")
    assert average.cuda_aware_mpi() in (True, False)  # MPI's own answer (False for the MPICH wheel)
    average.cuda_aware_mpi.cache_clear()
    buf = np.ones(3, np.float32)
    assert average.mpi_buffer(buf) is buf  # host buffers are never staged


LOCAL_RANK = """
from mpi4py import MPI
from nnet2.parallel.comm import local_rank
c = MPI.COMM_WORLD
lr = local_rank(c)
assert lr == c.Get_rank(), (lr, c.Get_rank())  # one node: local rank == rank
ranks = c.gather(lr, root=0)
if c.Get_rank() == 0:
    print("local_ranks", *ranks, flush=True)
"""


@pytest.mark.mpi
def test_local_rank_under_mpiexec(tmp_path):
    """Rank -> GPU uses the rank within the node (an MPI shared-memory split); on one node it is the rank."""
    script = tmp_path / "lr.py"
    script.write_text(LOCAL_RANK)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=subprocess_pythonpath())
    p = subprocess.run([mpiexec(), "-n", "3", sys.executable, "-m", "mpi4py", str(script)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "local_ranks 0 1 2" in p.stdout, p.stdout


def test_cuda_build_finds_cublas_without_a_gpu():
    """A CUDA build loads cuBLAS on first use (dlopen along the extension's RUNPATH: the nvidia-cublas
    wheel beside it), so the CPU path never needs it; here we check it is found where the build put it."""
    from nnet2 import _core

    if not _core.cuda_compiled():
        with pytest.raises(ValueError, match="built without CUDA"):
            _core.cublas_library()
        return
    assert "libcublas.so" in os.path.basename(_core.cublas_library())


@pytest.mark.skipif(_cuda_usable(), reason="a GPU is present: the no-GPU message cannot be checked")
def test_train_device_cuda_without_gpu_is_one_line_and_writes_nothing(tmp_path):
    from train_fixtures import make_egs_dir, make_init_model

    egs, init = make_egs_dir(str(tmp_path / "d")), make_init_model(str(tmp_path / "0.mdl"))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=subprocess_pythonpath(), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "nnet2", "train", "--device", "cuda", "--progress", "false", egs,
                        init, str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and "--device cuda" in err[0] and "Traceback" not in p.stderr, p.stderr
    assert not out.exists()
