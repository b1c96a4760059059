"""The MPI world for training. Without mpiexec, mpi4py's singleton init gives size 1, so the same code
runs with one worker and no launcher."""

from __future__ import annotations


def world():
    """COMM_WORLD (size 1 when started without mpiexec)."""
    from mpi4py import MPI

    return MPI.COMM_WORLD
