"""Parameter averaging across MPI workers: one in-place Allreduce on a flat buffer (style rule 4)."""

from __future__ import annotations


def average_flat_(comm, buf):
    """Replace `buf` (a contiguous 1-D float array, numpy or cupy) on every rank of `comm` by its mean over
    the ranks, in place: an MPI Allreduce(SUM) with MPI.IN_PLACE, then x 1/size. Returns `buf`.
    `comm` None or of size 1 leaves `buf` unchanged. GPU arrays are synchronized first (CUDA-aware MPI)."""
    if comm is None or comm.Get_size() == 1:
        return buf
    from mpi4py import MPI

    if getattr(buf, "ndim", 1) != 1 or not buf.flags.c_contiguous:
        raise ValueError("average_flat_: expected a contiguous 1-D array")
    if hasattr(buf, "__cuda_array_interface__"):
        from nnet2 import _core

        _core.synchronize()
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    buf *= buf.dtype.type(1.0 / comm.Get_size())
    return buf
