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
    from nnet2 import api

    api.train(args.egs_dir, args.init_model, args.out_dir, from_args(TrainOptions, args))  # a failing rank ends the job
    return 0
