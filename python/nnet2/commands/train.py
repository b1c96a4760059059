"""Train a DNN acoustic model on egs with N data-parallel workers that average their parameters.

Launch N workers with MPI (always through `python -m mpi4py`, so that a failing rank aborts the job):
  mpiexec -n 4 python -m mpi4py -m nnet2 train --update ngd --average-every 10 exp/egs exp/nnet/0.mdl exp/nnet
One worker needs no launcher:
  nnet2 train exp/egs exp/nnet/0.mdl exp/nnet

Writes exp/nnet/<iter>.mdl after every iteration (rank 0, atomically), exp/nnet/state/<iter>.json,
per-rank logs exp/nnet/log/train.<iter>.<rank>.log, and exp/nnet/final.mdl (with priors). Rerun with
--resume true to continue after an interruption; the result equals an uninterrupted run. One run at a
time per output directory (a second is refused, naming the pid and host that holds it).
"""

from nnet2.train.trainer import TrainOptions
from nnet2.utils.options import add_options, from_args

NAME = "train"
HELP = "parallel training with model averaging (SGD or NG-SGD)"


def add_arguments(p):
    add_options(p, TrainOptions)
    p.add_argument("egs_dir", help="egs directory from `nnet2 get-egs`")
    p.add_argument("init_model", help="initial model (.mdl), e.g. from `nnet2 am-init` or `nnet2 dbn-to-nnet`")
    p.add_argument("out_dir", help="output directory (checkpoints, logs, final.mdl)")


def run(args) -> int:
    import sys

    from nnet2.parallel.comm import world
    from nnet2.train.trainer import train
    from nnet2.utils.log import get_logger

    comm = world()
    try:
        train(args.egs_dir, args.init_model, args.out_dir, from_args(TrainOptions, args), comm)
    except BaseException as e:
        if comm.Get_size() > 1:
            _end_mpi_job(comm, e, get_logger)
        raise
    return 0


def _end_mpi_job(comm, e: BaseException, get_logger) -> None:
    """End one rank of a failed MPI job so that the job prints one line for one error.

    * An error all ranks found together (`SharedError`): the rank it names prints it, every rank leaves MPI
      cleanly and exits 1 (no abort).
    * Ctrl-C (mpiexec forwards SIGINT to every rank): rank 0 prints `interrupted`, every rank exits 130.
    * Anything else happened on this rank alone: it prints its line (a bug also gets its traceback in the
      rank's log file), then aborts the job so that no rank waits in a collective.
    """
    import os
    import sys

    from nnet2.utils.errors import SharedError, error_line

    rank = comm.Get_rank()
    if isinstance(e, SharedError):
        from mpi4py import MPI

        MPI.Finalize()  # every rank reaches this point: nothing to abort
        if rank != e.rank:
            raise SystemExit(1)
        return  # the CLI prints the line and exits 1
    if isinstance(e, KeyboardInterrupt):
        # Other ranks may be inside a collective, so neither finalize nor abort can wait for them: leave with
        # os._exit. Rank 0 says `interrupted` and exits, and mpiexec then ends the other ranks. They wait
        # for that (exiting first could end rank 0 before its line is out); if it does not come, rank 0 is
        # stuck in a collective that cannot see the signal, and the waiting rank says it instead.
        if rank != 0:
            import signal
            import time

            signal.signal(signal.SIGINT, signal.SIG_IGN)
            time.sleep(5 * (rank + 1))  # rank 1 first, so that one line at most is printed
        print("nnet2 train: interrupted", file=sys.stderr)
        sys.stderr.flush()
        os._exit(130)
    line = error_line(e)
    if line is None:
        get_logger("train").error(f"rank {rank} failed: {type(e).__name__}: {e}; aborting the job", exc_info=True)
        line = f"{type(e).__name__}: {e} (traceback in the rank's log file)"
    print(f"nnet2 train: error: rank {rank} failed: {line}; aborting the job", file=sys.stderr)
    sys.stderr.flush()
    comm.Abort(1)
    os._exit(1)  # MPICH's MPI_Abort can return to the caller: the line above stays the only one
