"""In-place parameter averaging over MPI (one buffer collective, never pickled objects)."""

from __future__ import annotations

import numpy as np


def average_flat_(comm, buf) -> None:
    """buf <- mean over ranks of buf, in place: one Allreduce(SUM) on the flat buffer, then x 1/N.

    `buf` is a contiguous float32 numpy array (or cupy array: the stream is synchronized first and
    the device pointer is handed to MPI, which needs a CUDA-aware MPI; otherwise pass a host copy)."""
    n = comm.Get_size()
    if n == 1:
        return
    from mpi4py import MPI

    if hasattr(buf, "__cuda_array_interface__"):
        from nnet2 import _core

        _core.synchronize()
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    buf *= np.float32(1.0 / n)
