"""The MPI world for training. Without mpiexec, mpi4py's singleton init gives size 1, so the same code
runs with one worker and no launcher."""

from __future__ import annotations

import os


def world():
    """COMM_WORLD (size 1 when started without mpiexec)."""
    from mpi4py import MPI  # mpi4py.MPI initializes MPI when imported: import it on first use

    return MPI.COMM_WORLD


def local_rank(comm) -> int:
    """This process's rank among the ranks of `comm` on the same node (an MPI_COMM_TYPE_SHARED split);
    used to spread the ranks of a node over its GPUs. Collective: every rank of `comm` calls it."""
    return _node(comm)[0]


def fit_threads(comm, requested: int) -> tuple[int, str | None]:
    """(threads per worker, a warning or None): `requested` (0: as many as fit) capped at the node's cores over
    the workers of `comm` on this node. More would make one worker's threads wait for cores another worker
    holds (2 workers x 2 threads on 2 cores trained about 20x slower than 1 thread). Collective with several
    ranks."""
    on_node = node_size(comm) if comm is not None and comm.Get_size() > 1 else 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    fit = max(1, cores // on_node)
    threads = requested or fit
    if threads <= fit:
        return threads, None
    return fit, (f"{on_node} workers x {threads} threads on this node need {on_node * threads} cores, it has "
                 f"{cores}: using --threads {fit}")


def node_size(comm) -> int:
    """How many ranks of `comm` share this process's node. Collective: every rank of `comm` calls it."""
    return _node(comm)[1]


def _node(comm) -> tuple[int, int]:
    from mpi4py import MPI  # mpi4py.MPI initializes MPI when imported: import it on first use

    if comm.Get_size() == 1:
        return 0, 1
    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    try:
        return node.Get_rank(), node.Get_size()
    finally:
        node.Free()
