"""Runs tests/mpi/averaging_checks.py under `mpiexec -n 2` and `-n 4` (through `python -m mpi4py`, so a
failed assertion on any rank aborts the job with a non-zero status instead of hanging it)."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import subprocess_pythonpath

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "mpi", "averaging_checks.py")


def mpiexec():
    exe = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(exe):
        pytest.skip("mpiexec not found")
    return exe


def run_mpi(n: int, args: list[str], timeout: float = 120, env=None, **kw):
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=subprocess_pythonpath(), **(env or {}))
    return subprocess.run([mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", *args], env=e,
                          capture_output=True, text=True, timeout=timeout, **kw)


@pytest.mark.parametrize("n", [2, 4])
def test_averaging_checks_under_mpiexec(n):
    p = run_mpi(n, [SCRIPT])
    assert p.returncode == 0, p.stdout + p.stderr
    for name in ("plain_average", "eq1", "bmuf_without_momentum", "bmuf_update_rule", "bmuf_hand_computed",
                 "overlap_update_rule"):
        assert name in p.stdout, p.stdout
