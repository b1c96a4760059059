"""Print information about a Kaldi nnet2 acoustic model (.mdl): dimensions, components, parameter
count, priors summary -- like Kaldi's nnet-am-info.

Example:  nnet2 am-info exp/nnet/final.mdl
"""

NAME = "am-info"
KALDI = "nnet-am-info"
USAGE = "nnet2 am-info [options] <nnet-in>"
HELP = "print dims, components, parameter count and priors of a .mdl"


def add_arguments(p):
    p.add_argument("model", help="input model (Kaldi nnet2 .mdl, text or binary)")


def run(args) -> int:
    from nnet2 import api

    print(api.model_info(args.model), end="")
    return 0
