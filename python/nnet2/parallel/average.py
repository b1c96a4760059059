"""Parameter averaging across MPI workers: one in-place Allreduce on a flat buffer (style rule 4).

GPU buffers: MPI reads device memory directly only when it is CUDA-aware. That is asked once of MPI
(`MPI.Query_cuda_support()`, mpi4py >= 4 with an MPI that implements MPIX_Query_cuda_support; the
MPICH wheel from PyPI is not CUDA-aware) and can be forced with NNET2_MPI_CUDA_AWARE=1 or 0. Otherwise
the averager stages the buffer through host memory (one device->host and one host->device copy per
average), which is what `mpi_buffer` / `from_mpi_buffer` do.
"""

from __future__ import annotations

import functools
import os

from nnet2.device import copy_into, is_device_array, synchronize, to_host
from nnet2.utils.errors import UserError


@functools.lru_cache(maxsize=1)
def cuda_aware_mpi() -> bool:
    """True if MPI may be handed device (GPU) buffers: NNET2_MPI_CUDA_AWARE=1/0 if set, else MPI's answer."""
    env = os.environ.get("NNET2_MPI_CUDA_AWARE", "").strip()
    if env:
        if env not in ("0", "1"):
            raise UserError(f"NNET2_MPI_CUDA_AWARE must be 0 or 1, got '{env}'")
        return env == "1"
    from mpi4py import MPI  # mpi4py.MPI initializes MPI when imported: import it on first use

    query = getattr(MPI, "Query_cuda_support", None)
    if query is None:
        return False
    try:
        return bool(query())
    except Exception:  # the MPI library does not implement MPIX_Query_cuda_support
        return False


def mpi_buffer(buf):
    """The array to hand MPI for `buf`: buf itself (synchronized first if on a GPU and MPI is CUDA-aware),
    or a host copy when buf is on a GPU and MPI is not CUDA-aware."""
    if not is_device_array(buf):
        return buf
    if cuda_aware_mpi():
        synchronize(buf)
        return buf
    return to_host(buf)


def from_mpi_buffer(buf, staged) -> None:
    """Copy the result of a collective on `staged` (from mpi_buffer(buf)) back into buf if it was staged."""
    if staged is not buf:
        copy_into(buf, staged)


def average_flat_(comm, buf):
    """Replace `buf` (a contiguous 1-D float array, numpy or cupy) on every rank of `comm` by its mean over
    the ranks, in place: an MPI Allreduce(SUM) with MPI.IN_PLACE, then x 1/size. Returns `buf`.
    `comm` None or of size 1 leaves `buf` unchanged (no copy). GPU buffers go through `mpi_buffer`."""
    if comm is None or comm.Get_size() == 1:
        return buf
    from mpi4py import MPI  # mpi4py.MPI initializes MPI when imported: import it on first use

    if getattr(buf, "ndim", 1) != 1 or not buf.flags.c_contiguous:
        raise ValueError("average_flat_: expected a contiguous 1-D array")
    staged = mpi_buffer(buf)
    comm.Allreduce(MPI.IN_PLACE, staged, op=MPI.SUM)
    staged *= staged.dtype.type(1.0 / comm.Get_size())
    from_mpi_buffer(buf, staged)
    return buf
