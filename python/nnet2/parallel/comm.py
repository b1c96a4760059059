"""MPI world for training: mpi4py when available, a one-rank stand-in otherwise is NOT provided on
purpose -- mpi4py's singleton init gives size 1 without mpiexec, so the same code runs everywhere."""

from __future__ import annotations

import sys


def world():
    """COMM_WORLD (size 1 when started without mpiexec)."""
    from mpi4py import MPI

    return MPI.COMM_WORLD


def launched_with_mpi4py_module() -> bool:
    """True when started as `python -m mpi4py ...`, which aborts the whole job when one rank raises."""
    return "mpi4py.run" in sys.modules or any("mpi4py" in a for a in sys.orig_argv[:3])
