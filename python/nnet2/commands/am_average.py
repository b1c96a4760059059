"""Average the parameters of several nnet2 models (same structure) -- like Kaldi's nnet-am-average:
weights 1/N (or --weights, normalized) on every updatable component's W and b and on the
nonlinearities' statistics; everything else (TransitionModel, priors) comes from the first model.

Example:  nnet2 am-average 1.1.mdl 1.2.mdl 1.3.mdl 1.mdl
"""

from nnet2.utils.options import parse_bool

NAME = "am-average"
KALDI = "nnet-am-average"
USAGE = "nnet2 am-average [options] <model1> <model2> ... <modelN> <model-out>"
HELP = "average the parameters of several models"


def add_arguments(p):
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false", help="write in binary mode")
    p.add_argument("--weights", default="", help="colon-separated weights, e.g. 0.5:0.25:0.25 (normalized)")
    p.add_argument("--sum", type=parse_bool, default=False, metavar="true|false",
                   help="if true, sums instead of averages (parameters and statistics)")
    p.add_argument("models", nargs="+", help="input models followed by the output model")


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.errors import UserError

    if len(args.models) < 2:
        raise UserError("need at least one input model and an output model")
    weights = None
    if args.weights:
        try:
            weights = [float(w) for w in args.weights.split(":")]
        except ValueError:
            raise UserError(f"--weights: cannot parse '{args.weights}'") from None
    api.average_models(args.models[:-1], args.models[-1], weights, binary=args.binary, total=args.sum)
    return 0
