"""e.g.:   nnet2 compute-prob 1.mdl ark:valid_diagnostic.egs

Kaldi's nnet-compute-prob: the average log-probability per frame of the examples' labels under the
model (weighted by the label weights), printed on the standard output; the log (standard error) also
gives the accuracy and the total weight.
"""

NAME = "compute-prob"
KALDI = "nnet-compute-prob"
USAGE = "nnet2 compute-prob [options] <model-in> <training-examples-in>"
HELP = "nnet-compute-prob: average log-prob per frame of Kaldi egs (stdout)"


def add_arguments(p):
    p.add_argument("model_in", metavar="model-in", help="model (.mdl)")
    p.add_argument("egs", metavar="training-examples-in", help="examples rspecifier, e.g. ark:valid_diagnostic.egs")


def run(args) -> int:
    from nnet2 import api
    from nnet2.train.simple import _g

    r = api.compute_prob(args.model_in, args.egs)
    print(_g(r["logprob_per_frame"]), flush=True)
    return 0
