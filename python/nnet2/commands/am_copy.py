"""Copy a Kaldi nnet2 acoustic model, converting between text and binary forms, optionally
changing learning rates -- like Kaldi's nnet-am-copy.

Examples:
  nnet2 am-copy --binary=false final.mdl final.txt
  nnet2 am-copy --learning-rate=0.001 0.mdl 0_lr.mdl
"""

from nnet2.utils.options import parse_bool

NAME = "am-copy"
HELP = "copy a .mdl (text <-> binary, set learning rates)"


def add_arguments(p):
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false", help="write in binary mode")
    p.add_argument("--learning-rate", type=float, default=None, help="set every updatable component's learning rate")
    p.add_argument("--remove-preconditioning", type=parse_bool, default=False, metavar="true|false",
                   help="turn AffineComponentPreconditionedOnline into plain AffineComponent")
    p.add_argument("model_in", help="input .mdl")
    p.add_argument("model_out", help="output .mdl (written atomically)")


def run(args) -> int:
    from nnet2.nnet.model import load_model, save_model
    from nnet2.nnet.convert import set_update_type

    m = load_model(args.model_in)
    if args.remove_preconditioning:
        set_update_type(m.nnet, "sgd")
    if args.learning_rate is not None:
        m.nnet.set_learning_rate(args.learning_rate)
    save_model(m, args.model_out, binary=args.binary)
    return 0
