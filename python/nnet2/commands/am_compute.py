"""Compute the network's per-frame outputs for every utterance -- like Kaldi's nnet-am-compute.
Edge frames are repeated for the splice context (--pad-input=true). With --divide-by-priors each row
is posterior / prior renormalized to sum to one (Kaldi's behaviour), then the optional log.

Examples:
  nnet2 am-compute final.mdl scp:data/test/feats.scp ark:out.ark
  nnet2 am-compute --apply-log=true final.mdl 'ark:apply-cmvn ... |' ark,t:-
"""

from nnet2.utils.options import parse_bool

NAME = "am-compute"
KALDI = "nnet-am-compute"
USAGE = "nnet2 am-compute [options] <model-in> <feature-rspecifier> <feature-or-loglikes-wspecifier>"
HELP = "per-frame network outputs for each utterance (Kaldi rspecifier -> wspecifier)"


def add_arguments(p):
    p.add_argument("--apply-log", type=parse_bool, default=False, metavar="true|false", help="output log of the values")
    p.add_argument("--divide-by-priors", type=parse_bool, default=False, metavar="true|false",
                   help="divide by the priors and renormalize each row (Kaldi semantics)")
    p.add_argument("--pad-input", type=parse_bool, default=True, metavar="true|false",
                   help="If true, duplicate the first and last frames of input features as required for "
                        "temporal context, to prevent reduction in output dimension (only true is supported)")
    p.add_argument("--use-gpu", default="no", choices=["yes", "no", "optional", "wait"],
                   help="accepted for compatibility with Kaldi; the computation runs on the CPU")
    p.add_argument("--threads", type=int, default=0, help="BLAS/OpenMP threads (0 = library default)")
    p.add_argument("model", help="nnet2 .mdl")
    p.add_argument("feats_rspecifier", help="features, e.g. scp:feats.scp or ark:-")
    p.add_argument("out_wspecifier", help="output, e.g. ark:out.ark, ark,t:-, ark,scp:o.ark,o.scp")


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.errors import UserError

    if not args.pad_input:
        raise UserError("--pad-input=false is not supported")
    api.compute(args.model, args.feats_rspecifier, args.out_wspecifier, apply_log=args.apply_log,
                divide_by_priors=args.divide_by_priors, threads=args.threads)
    return 0
