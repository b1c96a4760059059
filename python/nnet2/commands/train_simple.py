"""e.g.:   nnet-shuffle-egs --srand=1 ark:egs.1.ark ark:- | nnet2 train-simple 1.mdl ark:- 2.mdl
        nnet2 train-simple --minibatch-size=128 exp/nnet/0.mdl ark:exp/nnet/egs/egs.1.0.ark exp/nnet/1.1.mdl

Kaldi's nnet-train-simple: one pass of backprop with minibatch SGD over the examples (NnetExample, as
written by Kaldi's nnet-get-egs or `steps/nnet2/get_egs.sh`) in the order they are read. Each updatable
component uses its own learning rate from the model; AffineComponentPreconditionedOnline layers take
the online natural-gradient step, AffineComponent layers plain SGD, in Kaldi's order of operations.
Labels are sparse posteriors (pdf, weight) per frame. The log gives the objective per phase of
--minibatches-per-phase minibatches and the line "log-prob-per-frame=X" that Kaldi's scripts parse.
The nonlinearities' statistics are zeroed first (--zero-stats) and accumulated during the pass.
"""

from nnet2.utils.options import parse_bool

NAME = "train-simple"
KALDI = "nnet-train-simple"
USAGE = "nnet2 train-simple [options] <model-in> <training-examples-in> <model-out>"
HELP = "nnet-train-simple: one pass of minibatch SGD/NG-SGD over Kaldi egs"


def add_arguments(p):
    p.add_argument("--minibatch-size", type=int, default=500, help="number of samples per minibatch of training data")
    p.add_argument("--minibatches-per-phase", type=int, default=50,
                   help="number of minibatches to wait before printing the training-set objective")
    p.add_argument("--zero-stats", type=parse_bool, default=True, metavar="true|false",
                   help="zero the statistics stored with the network (value/derivative sums, counts) first")
    p.add_argument("--srand", type=int, default=0,
                   help="seed for Kaldi's random number generator; these components use none (no effect)")
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false", help="write output in binary mode")
    p.add_argument("model_in", metavar="model-in", help="input model (.mdl)")
    p.add_argument("egs", metavar="training-examples-in", help="examples rspecifier, e.g. ark:egs.1.ark or ark:-")
    p.add_argument("model_out", metavar="model-out", help="output model (.mdl)")


def run(args) -> int:
    from nnet2 import api

    api.train_simple(args.model_in, args.egs, args.model_out, minibatch_size=args.minibatch_size,
                     minibatches_per_phase=args.minibatches_per_phase, zero_stats=args.zero_stats,
                     binary=args.binary)
    return 0
