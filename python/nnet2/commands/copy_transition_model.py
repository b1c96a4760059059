"""Copy the TransitionModel out of any Kaldi model file (GMM final.mdl, nnet2 .mdl, or a bare
transition model), text or binary -- like Kaldi's copy-transition-model. Comparing the text forms of
two models shows whether they share the same HMM topology, tree-derived pdfs and transition-ids.

    nnet2 copy-transition-model --binary false exp/tri4_ali_nodup/final.mdl gmm.tm.txt
"""

from nnet2.utils.options import parse_bool

NAME = "copy-transition-model"
HELP = "extract/copy the TransitionModel of a model file (text <-> binary)"


def add_arguments(p):
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false", help="write in binary mode")
    p.add_argument("model_in", help="GMM final.mdl, nnet2 .mdl or transition-model file")
    p.add_argument("tm_out", help="output transition-model file (written atomically)")


def run(args) -> int:
    from nnet2 import api

    api.copy_transition_model(args.model_in, args.tm_out, binary=args.binary)
    return 0
