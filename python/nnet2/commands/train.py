"""Train a DNN acoustic model on egs with N data-parallel workers that average their parameters.

Launch N workers with MPI (always through `python -m mpi4py`, so that a failing rank aborts the job):
  mpiexec -n 4 python -m mpi4py -m nnet2 train --update ngd --average-every 10 exp/egs exp/nnet/0.mdl exp/nnet
One worker needs no launcher:
  nnet2 train exp/egs exp/nnet/0.mdl exp/nnet

Writes exp/nnet/<iter>.mdl after every iteration (rank 0, atomically), exp/nnet/state/<iter>.json,
per-rank logs exp/nnet/log/train.<iter>.<rank>.log, and exp/nnet/final.mdl (with priors). Rerun with
--resume true to continue after an interruption; the result equals an uninterrupted run.
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
            # Make the whole job stop promptly instead of leaving the other ranks in a collective.
            from nnet2.utils.errors import UserError

            # A bad input is one clear line; anything else also gets its traceback in the rank's log.
            get_logger("train").error(f"rank {comm.Get_rank()} failed: {type(e).__name__}: {e}; aborting the job",
                                      exc_info=not isinstance(e, UserError))
            if comm.Get_rank() != 0:  # only rank 0 logs to stderr: say it there too
                print(f"nnet2 train: error: rank {comm.Get_rank()} failed: {type(e).__name__}: {e}; aborting the job",
                      file=sys.stderr)
            sys.stderr.flush()
            comm.Abort(1)
        raise
    return 0
