"""The MPI world for training. Without mpiexec, mpi4py's singleton init gives size 1, so the same code
runs with one worker and no launcher."""

from __future__ import annotations


def world():
    """COMM_WORLD (size 1 when started without mpiexec)."""
    from mpi4py import MPI  # mpi4py.MPI initializes MPI when imported: import it on first use

    return MPI.COMM_WORLD


def local_rank(comm) -> int:
    """This process's rank among the ranks of `comm` on the same node (an MPI_COMM_TYPE_SHARED split);
    used to spread the ranks of a node over its GPUs. Collective: every rank of `comm` calls it."""
    from mpi4py import MPI  # mpi4py.MPI initializes MPI when imported: import it on first use

    if comm.Get_size() == 1:
        return 0
    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    try:
        return node.Get_rank()
    finally:
        node.Free()
