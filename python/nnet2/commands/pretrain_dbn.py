"""RBM pretraining of a DBN, as Kaldi nnet1's steps/nnet/pretrain_dbn.sh.

Reads features (any Kaldi rspecifier: scp:feats.scp, ark:feats.ark, 'ark:copy-feats ... |'), splices
+-splice frames within each utterance (edges repeated), normalizes by the global mean/std of the spliced
frames, then trains nn_depth RBMs with CD-1: a Gaussian-Bernoulli first RBM (lr rbm_lrate_low, 2*rbm_iter
epochs) and Bernoulli-Bernoulli RBMs above (lr rbm_lrate, rbm_iter epochs) on the sigmoid outputs of the
layers below. Writes DIR/final.feature_transform (<Splice> <AddShift> <Rescale>), DIR/{k}.rbm and
DIR/{k}.dbn (<AffineTransform>+<Sigmoid> pairs) in Kaldi nnet1 format, logs in DIR/log/pretrain_dbn.log.
Existing DIR/{k}.rbm files are reused (resume). For small data lower --momentum-step-period or raise
--min-frames-per-layer. With an scp rspecifier the utterances are read from disk on demand: when the
spliced frames do not fit in --input-cache-mb every pass streams them through the shuffling buffer, so
the whole training set is used in bounded memory (other rspecifiers are read into memory first).
After each RBM the number of dead hidden units (mean activation < 0.01) is logged, with a warning when
more than 5% of a layer is dead. Under mpiexec each rank reads its own FEATS and --average-every K averages the
RBMs every K minibatches.
"""

from __future__ import annotations

import os

from nnet2.rbm.train import DbnOptions
from nnet2.utils.options import add_options, from_args

NAME = "pretrain-dbn"
HELP = "RBM pretraining of a sigmoid DBN (Kaldi nnet1 pretrain_dbn.sh)"


def add_arguments(parser) -> None:
    add_options(parser, DbnOptions, title="DBN pretraining")
    parser.add_argument("--num-threads", type=int, default=1, help="BLAS/OpenMP threads")
    parser.add_argument("feats", metavar="FEATS_RSPECIFIER", help="features, e.g. scp:data/train/feats.scp")
    parser.add_argument("dir", metavar="DIR", help="output directory")


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.log import env_rank_world

    # Under mpiexec every rank trains on the FEATS it is given and the RBMs are averaged (--average-every).
    comm = api.world() if env_rank_world()[1] > 1 else None
    api.pretrain_dbn(args.feats, args.dir, from_args(DbnOptions, args), threads=args.num_threads, comm=comm)
    return 0
